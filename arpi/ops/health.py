"""The process health report behind `GET /api/health`: actors, database, modem.

Overall status: `failing` (HTTP 503) when the root supervisor, the database or an
actor the alarm cannot work without (`CRITICAL_ACTORS`) is down or unresponsive;
`degraded` (HTTP 200) when any other actor is not running (a `hung` actor, one
that has not answered its supervisor's liveness ping in time, counts as not
running), or the modem is not `ok` (silent, absent, answering with errors, not
registered on a network, or its actor does not answer); `ok` (HTTP 200)
otherwise. Restarts alone do not degrade: they are history, shown per actor.

The modem part comes from the `gsm` actor's `GetModemStatus` (answered from
memory, asked with a short timeout): `{"status": "ok" | "degraded" | "absent" |
"unresponsive" | "down", "reason"?, "state"?, "registration"?, "signal"?,
"checked_at"?}`. `absent` means no `gsm` actor in this process.

The report is public (a probe), so every text in it passes the log redaction, and
URLs lose their credentials.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import asdict
from typing import Any

import structlog

from arpi.actors import (
    ActorUnavailable,
    AskTimeout,
    health_snapshot_async,
)
from arpi.actors.gsm import GetModemStatus, ModemStatus
from arpi.db import sql
from arpi.logs import redact

__all__ = [
    "CRITICAL_ACTORS",
    "HTTP_STATUS",
    "DatabaseProbe",
    "collect_health",
    "modem_report",
    "overall_status",
]

log = structlog.get_logger("arpi.ops")

CRITICAL_ACTORS = frozenset({"storage", "core", "alarm", "siren", "outputs"})
HTTP_STATUS = {"ok": 200, "degraded": 200, "failing": 503}
_RUNNING = ("running",)
_URL_CREDENTIALS = re.compile(
    r"([a-z][a-z0-9+.-]*://[^/\s:@]*):[^@\s/]*@", re.IGNORECASE
)


def _clean(text: str | None) -> str | None:
    """A one-line error text safe to show without authentication."""
    if text is None:
        return None
    text = _URL_CREDENTIALS.sub(r"\1:******@", " ".join(str(text).split()))
    return str(redact(None, "", {"error": text})["error"])[:300]


class DatabaseProbe:
    """`SELECT 1` on a fresh connection, in a worker thread, bounded by a timeout.

    At most one check runs at a time: concurrent health requests share it, so a
    hanging server cannot pile up connections.
    """

    def __init__(self, db: Any, timeout: float = 2.0) -> None:
        self.db = db
        self.timeout = timeout
        self._inflight: asyncio.Future[dict[str, Any]] | None = None

    async def check(self) -> dict[str, Any]:
        """`{"status": "ok", "latency_ms": n}` or `{"status": "down"|"timeout",
        "error": text}`. Runs on the loop, never blocks it, never raises."""
        if self.db is None:
            return {"status": "absent"}
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.ensure_future(self._run())
        return await asyncio.shield(self._inflight)

    async def _run(self) -> dict[str, Any]:
        started = time.monotonic()
        try:
            await asyncio.wait_for(asyncio.to_thread(self._select_one), self.timeout)
        except TimeoutError:
            return {"status": "timeout", "error": f"no answer within {self.timeout}s"}
        except Exception as exc:  # noqa: BLE001 - any failure is "down", shown cleaned
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            return {"status": "down", "error": _clean(f"{type(exc).__name__}: {first}")}
        return {
            "status": "ok",
            "latency_ms": round((time.monotonic() - started) * 1000),
        }

    def _select_one(self) -> None:
        # Worker thread. connect_timeout bounds the connect; the statement timeout
        # bounds the query, so the thread ends soon after the loop stopped waiting.
        conn = self.db.connect(
            application_name="arpi-health", connect_timeout=self.timeout
        )
        try:
            with conn.cursor() as cur:
                # SET is a session setting, not a query: pypika has no builder for it.
                cur.execute("SET statement_timeout = %s", (int(self.timeout * 1000),))
                sql.fetch_value(cur, sql.Q.select(1))
        finally:
            conn.close()


async def _modem(directory: Any, timeout: float) -> dict[str, Any]:
    try:
        known = "gsm" in directory.names() or directory.last_exit("gsm") is not None
    except Exception:  # noqa: BLE001 - a directory without these methods
        known = False
    if not known:
        return {"status": "absent"}
    try:
        status = await directory.address("gsm").ask_async(GetModemStatus(), timeout)
    except AskTimeout:
        return {"status": "unresponsive", "reason": "the gsm actor is busy or hung"}
    except ActorUnavailable:
        record = directory.last_exit("gsm")
        return {"status": "down", "error": _clean(record.error if record else None)}
    if not isinstance(status, ModemStatus):
        return {"status": "degraded", "reason": "the gsm actor gave no modem status"}
    return modem_report(status)


def modem_report(status: ModemStatus) -> dict[str, Any]:
    """The `modem` part of the report from a `ModemStatus` (pure function)."""
    report: dict[str, Any] = {
        "status": "ok",
        "state": status.state,
        "registration": status.registration,
        "signal": status.signal,
        "checked_at": (
            status.checked_at.isoformat() if status.checked_at is not None else None
        ),
    }
    if status.state != "ok":
        report["status"] = "degraded"
        report["reason"] = _clean(
            f"modem {status.state}: {status.error}" if status.error else status.state
        )
    elif status.registered is False:
        report["status"] = "degraded"
        report["reason"] = f"modem not registered on a network ({status.registration})"
    return report


def overall_status(
    actors: list[dict[str, Any]], database: dict[str, Any], modem: dict[str, Any]
) -> str:
    """`ok`, `degraded` or `failing` from the parts of a report (pure function)."""
    if not actors or actors[0]["state"] not in _RUNNING:
        return "failing"
    if database.get("status") not in ("ok", "absent"):
        return "failing"
    degraded = False
    for actor in actors:
        healthy = actor["state"] in _RUNNING and actor["alive"]
        if actor["state"] == "stopped" and not actor["alive"]:
            healthy = True  # a transient child that ended normally
        if healthy:
            continue
        if actor["name"] in CRITICAL_ACTORS:
            return "failing"
        degraded = True
    if modem.get("status") not in ("ok", "absent"):
        degraded = True
    return "degraded" if degraded else "ok"


async def collect_health(
    ctx: Any,
    *,
    root: str = "root",
    actor_timeout: float = 1.0,
    database: DatabaseProbe | None = None,
) -> tuple[dict[str, Any], int]:
    """The health report and its HTTP status. Runs on the loop; never blocks it
    (every ask and the database check are bounded) and never raises."""
    directory = ctx.directory
    database = database or DatabaseProbe(getattr(ctx, "db", None))
    snapshot_task = health_snapshot_async(directory, root, actor_timeout)
    entries, db_status, modem = await asyncio.gather(
        snapshot_task, database.check(), _modem(directory, actor_timeout)
    )
    actors = []
    for entry in entries:
        item = asdict(entry)
        item["last_failure"] = _clean(item["last_failure"])
        actors.append(item)
    status = overall_status(actors, db_status, modem)
    report = {
        "status": status,
        "actors": actors,
        "database": db_status,
        "modem": modem,
        "dead_letters": getattr(directory, "dead_letters", 0),
    }
    if status == "failing":
        # Every non-2xx answer of the API carries `error`; a probe reads it first.
        report["error"] = "failing: the alarm core, storage or database is down or hung"
    return report, HTTP_STATUS[status]

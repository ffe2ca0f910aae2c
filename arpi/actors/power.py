"""The `power` actor: mains ("network") or battery, debounced; tells who must know.

It polls the power detector (`ctx.drivers.power_detector`, debounced by `hold`
seconds) every `poll_interval` seconds of `ctx.clock`. On a transition it tells
`alarm` `PowerChanged(source, at)` (`at` monotonic) and publishes
`UiEvent("power_state_change", source)` at once, then stores the source in
`runtime_state.power_source` through `storage` and, in the same transaction, queues
the `power_outage_started` / `power_outage_stopped` notifications in the outbox
(`arpi.notify.outbox.enqueue_notifications`, event key `<kind>:<wall time of the
transition, ISO>`), so the new source and its messages commit together or not at
all. After the commit it tells `notifier` `NotificationsQueued(event_key)` when
rows were added. A write that fails (storage down, or the batch failed) is retried
every `retry_interval` seconds with the current source and every notification not
yet committed (the same keys: a repeat adds nothing). A notification that cannot be
queued (e.g. unreadable options) is logged (`power_notification_failed`) and does
not keep the source from being stored.

The last known source is durable, so a restart alone is no transition: a restart
during an outage finds "battery" stored, reads "battery", and says nothing. A source
that changed while the process was down (stored "network", now "battery") is a
real transition and is reported. With nothing stored (first start) the first
stable reading is stored and published without a notification, as the reference
did. A failed read is logged (`power_read_failed`) and never taken for either
source.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pykka
import structlog

from arpi.actors import Actor, ActorUnavailable
from arpi.alarm.messages import PowerChanged
from arpi.bus import UiEvent
from arpi.db import sql
from arpi.db.storage import submit
from arpi.db.tables import runtime_state
from arpi.drivers.power import PowerReadError
from arpi.notify.outbox import enqueue_notifications

__all__ = ["GetPower", "PowerActor", "PowerChanged", "PowerReport", "load_power_source"]


@dataclass(frozen=True, slots=True)
class GetPower:
    """Ask for a `PowerReport`."""


@dataclass(frozen=True, slots=True)
class PowerReport:
    """`source`: the debounced source (None before the first stable reading);
    `readable`: the last read worked."""

    source: str | None
    readable: bool


@dataclass(frozen=True, slots=True)
class _Poll:
    pass


@dataclass(frozen=True, slots=True)
class _Stored:
    keys: tuple[str, ...]
    future: Future


@dataclass(frozen=True, slots=True)
class _RetryStore:
    pass


@dataclass(frozen=True, slots=True)
class _Note:
    """A power notification waiting for its commit."""

    key: str
    kind: str
    at: datetime


log = structlog.get_logger("arpi.power")


def _write_power(
    cur: Any, source: str, now: datetime, notes: tuple[_Note, ...], tz: Any
) -> list[str]:
    """Store `source` and queue `notes` in one transaction (storage thread).

    Returns the event keys that added outbox rows. A note whose rows cannot be
    written is rolled back to its own savepoint and logged; the source is kept.
    """
    t = runtime_state
    query = (
        sql.Q.update(t)
        .set(t.power_source, sql.param("source"))
        .set(t.updated_at, sql.param("now"))
    )
    sql.execute(cur, query, {"source": source, "now": now})
    queued = []
    for note in notes:
        # Transaction control is not a query: pypika has no builder for it.
        cur.execute("SAVEPOINT arpi_power_notify")
        try:
            added = enqueue_notifications(
                cur, note.key, note.kind, {"at": note.at}, tz=tz
            )
        except Exception as exc:  # noqa: BLE001 - the source must not be lost over a text
            cur.execute("ROLLBACK TO SAVEPOINT arpi_power_notify")
            log.error("power_notification_failed", event_key=note.key, error=str(exc))
            continue
        cur.execute("RELEASE SAVEPOINT arpi_power_notify")
        if added:
            queued.append(note.key)
    return queued


def load_power_source(cur: Any) -> str | None:
    """The stored power source, or None. Blocks on the database."""
    t = runtime_state
    value = sql.fetch_value(cur, sql.Q.from_(t).select(t.power_source).limit(1))
    return value if value in ("network", "battery") else None


class PowerActor(Actor):
    """See the module docstring. Runs under `hardware` as `power`.

    Options: `poll_interval` (0.25 s), `hold` (debounce, 2.0 s), `retry_interval`
    (5.0 s), `alarm`, `notifier`, `storage` (actor names), `tz` (tzinfo for the
    notification texts).
    """

    def setup(self) -> None:
        self._detector: Any = None
        self._timer: Any = None
        self._interval = float(self.options.get("poll_interval", 0.25))
        hold = float(self.options.get("hold", 2.0))
        if not self._interval > 0:
            raise ValueError("poll_interval: must be positive")
        self._alarm = self.address(str(self.options.get("alarm", "alarm")))
        self._notifier = self.address(str(self.options.get("notifier", "notifier")))
        self._storage = self.address(str(self.options.get("storage", "storage")))
        self._retry_interval = float(self.options.get("retry_interval", 5.0))
        self._tz = self.options.get("tz")
        self._readable = True
        self._unsent: list[_Note] = []  # notifications not committed yet
        self._retry: Any = None

        from arpi.actors.notifier import NotificationsQueued  # heavy: not at import

        self._queued_message = NotificationsQueued

        drivers = self.ctx.drivers
        if drivers is None:
            raise RuntimeError("no hardware drivers configured")
        db = self.ctx.db
        if db is None:
            raise RuntimeError("no database configured")
        conn = db.connect(application_name=f"arpi-{self.name}")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                self._known: str | None = load_power_source(cur)
        finally:
            conn.close()

        self._detector = drivers.power_detector(self.ctx.clock.monotonic, hold)
        self.log.info("power_started", stored=self._known)
        self._next = self.ctx.clock.monotonic()
        self._poll()

    def handle(self, message: object) -> object:
        if isinstance(message, _Poll):
            self._poll()
            return None
        if isinstance(message, _Stored):
            self._stored(message)
            return None
        if isinstance(message, _RetryStore):
            self._retry = None
            if self._known is not None:
                self._store(self._known)
            return None
        if isinstance(message, GetPower):
            return PowerReport(self._known, self._readable)
        return super().handle(message)

    def release(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if getattr(self, "_retry", None) is not None:
            self._retry.cancel()
        if self._detector is not None:
            try:
                self._detector.close()
            # release must not raise; any driver error is logged
            except Exception as exc:
                self.log.warning("power_close_failed", error=str(exc))

    # -- internals --------------------------------------------------------------------

    def _poll(self) -> None:
        self._next += self._interval
        now = self.ctx.clock.monotonic()
        if self._next <= now:
            self._next = now + self._interval
        self._timer = self.tell_self_at(self._next, _Poll())
        try:
            source = self._detector.poll()
        except PowerReadError as exc:
            if self._readable:
                self._readable = False
                self.log.warning("power_read_failed", error=str(exc))
            source = None
        else:
            if not self._readable:
                self._readable = True
                self.log.info("power_read_recovered")
        if source is not None and source != self._known:
            self._changed(source)

    def _changed(self, source: str) -> None:
        previous, self._known = self._known, source
        at = self.ctx.clock.monotonic()
        self.ctx.bus.publish(UiEvent("power_state_change", source))
        if previous is None:
            self.log.info("power_source_known", source=source)
            self._store(source)
            return
        kind = "power_outage_started" if source == "battery" else "power_outage_stopped"
        self.log.warning(kind, source=source)
        self._alarm.tell(PowerChanged(source, at))
        wall = self.ctx.clock.wall()
        self._unsent.append(_Note(f"{kind}:{wall.isoformat()}", kind, wall))
        self._store(source)

    def _store(self, source: str) -> None:
        notes = tuple(self._unsent)
        now = self.ctx.clock.wall()
        tz = self._tz

        def write(cur: Any) -> list[str]:
            return _write_power(cur, source, now, notes, tz)

        try:
            future = submit(self._storage, write, "power_source")
        except ActorUnavailable:
            self.log.error(
                "power_source_not_stored", source=source, error="storage down"
            )
            self._retry_later()
            return
        ref = self.actor_ref
        keys = tuple(note.key for note in notes)

        def done(f: Future) -> None:
            try:
                ref.tell(_Stored(keys, f))
            except pykka.ActorDeadError:
                pass

        future.add_done_callback(done)

    def _stored(self, message: _Stored) -> None:
        error = message.future.exception()
        if error is not None:
            self.log.error(
                "power_source_not_stored", source=self._known, error=str(error)
            )
            self._retry_later()
            return
        committed = set(message.keys)
        self._unsent = [n for n in self._unsent if n.key not in committed]
        for key in message.future.result():
            self._notifier.tell(self._queued_message(key))

    def _retry_later(self) -> None:
        if self._retry is None:
            self._retry = self.tell_self_later(self._retry_interval, _RetryStore())

"""Wrong-code lockouts that survive a restart (F8), kept in table `auth_throttle`.

Only lockouts are stored, never single failures: `LockoutStore.started` is the
limiter's `on_lockout` callback and queues one upsert with the `storage` actor
(a tell; it never waits, so the request that caused the lockout is not held).
`LockoutStore.restore` runs once at front start and puts every lockout that has
not yet ended back into the limiter. Times are `ctx.clock.wall()` times.

A key ``"<scope>:<subject>"`` maps to the row's `scope` / `subject`; only the
scopes the table allows (source, user, keypad, phone) are stored.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog

from arpi.db import sql, tables
from arpi.http.limiter import AttemptLimiter, Lockout

__all__ = ["LockoutStore", "load_lockouts", "store_lockout"]

log = structlog.get_logger("arpi.auth")

SCOPES = frozenset({"source", "user", "keypad", "phone"})

_T = tables.auth_throttle
_UPSERT = sql.to_sql(
    sql.Q.into(_T)
    .columns(
        _T.scope,
        _T.subject,
        _T.failures,
        _T.first_failure_at,
        _T.last_failure_at,
        _T.locked_until,
    )
    .insert(*[sql.param() for _ in range(6)])
    .on_conflict(_T.scope, _T.subject)
    .do_update(_T.failures)  # = EXCLUDED.failures
    .do_update(_T.last_failure_at)
    .do_update(_T.locked_until)
)
_PRUNE = sql.to_sql(sql.Q.from_(_T).delete().where(_T.locked_until < sql.param()))
_ACTIVE = (
    sql.Q.from_(_T)
    .select(_T.scope, _T.subject, _T.failures, _T.locked_until)
    .where(_T.locked_until > sql.param())
    .orderby(_T.locked_until)
)


def split_key(key: str) -> tuple[str, str] | None:
    """(scope, subject) of a limiter key, or None if the table cannot hold it."""
    scope, sep, subject = key.partition(":")
    if not sep or scope not in SCOPES or not subject:
        return None
    return scope, subject


def store_lockout(
    cur: Any, scope: str, subject: str, failures: int, at: datetime, until: datetime
) -> None:
    """Upsert one lockout and drop rows whose lockout ended. Storage thread only."""
    cur.execute(_UPSERT, (scope, subject, failures, at, at, until))
    cur.execute(_PRUNE, (at,))


def load_lockouts(cur: Any, now: datetime) -> list[dict[str, Any]]:
    """Lockouts still running at `now`: scope, subject, failures, locked_until."""
    return sql.fetch_all(cur, _ACTIVE, (now,))


class LockoutStore:
    """Connects one `AttemptLimiter` to the `auth_throttle` table.

    `started` may be called on any thread and never blocks; `restore` runs on the
    loop (its read runs on a read-pool thread).
    """

    def __init__(self, ctx: Any, storage: str = "storage") -> None:
        self._ctx = ctx
        self._storage = storage

    def started(self, lockout: Lockout) -> None:
        """Queue the write of a lockout that just started (`on_lockout`)."""
        from arpi.actors import ActorUnavailable
        from arpi.db.storage import submit

        parts = split_key(lockout.key)
        if parts is None:
            log.warning("auth_lockout_not_stored", key=lockout.key, reason="bad key")
            return
        at = self._ctx.clock.wall()
        until = at + timedelta(seconds=lockout.seconds)
        scope, subject = parts
        try:
            future = submit(
                self._ctx.directory.address(self._storage),
                lambda cur: store_lockout(
                    cur, scope, subject, lockout.failures, at, until
                ),
                "auth_lockout",
            )
        except ActorUnavailable:
            log.error("auth_lockout_not_stored", key=lockout.key, reason="storage down")
            return
        future.add_done_callback(lambda f: _written(f, lockout.key))

    async def restore(self, limiter: AttemptLimiter, reads: Any) -> int:
        """Put the stored, still running lockouts into `limiter`; how many.

        A database failure is logged and leaves the limiter as it was.
        """
        now = self._ctx.clock.wall()
        try:
            rows = await reads.run(lambda cur: load_lockouts(cur, now))
        except Exception as exc:  # noqa: BLE001 - start must go on; logged
            log.error("auth_lockouts_not_loaded", error=f"{type(exc).__name__}")
            return 0
        for row in rows:
            seconds = (row["locked_until"] - now).total_seconds()
            key = f"{row['scope']}:{row['subject']}"
            limiter.restore_lockout(key, seconds, int(row["failures"]))
        if rows:
            log.warning("auth_lockouts_restored", count=len(rows))
        return len(rows)


def _written(future: Any, key: str) -> None:
    error = None if future.cancelled() else future.exception()
    if future.cancelled() or error is not None:
        log.error(
            "auth_lockout_not_stored",
            key=key,
            reason=type(error).__name__ if error else "cancelled",
        )

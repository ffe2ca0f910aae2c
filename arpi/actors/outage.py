"""Riding out a database outage inside a running actor: log once, retry with backoff.

An actor that reads configuration while it runs must not crash when PostgreSQL is
away (a crash would restart its siblings, and their start needs the database).
`DatabaseOutage` keeps the bookkeeping: the first failure logs
`<name>_database_unavailable` once, retries are told to the actor on `ctx.clock`
with a doubling delay, and the first success logs `<name>_database_available`.
Everything runs on the owning actor's thread.
"""

from __future__ import annotations

from typing import Any

import psycopg2

from arpi.actors._actor import Actor
from arpi.clock import TimerHandle

__all__ = ["DATABASE_ERRORS", "DatabaseOutage"]

# A lost or refused connection; other database errors are bugs and still crash.
DATABASE_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError)


class DatabaseOutage:
    """The outage state of one actor's database reads.

    `retry_message` is told to the actor when a retry is due; the actor's handler
    calls `timer_fired()` and reads again.
    """

    def __init__(
        self,
        actor: Actor,
        name: str,
        retry_message: object,
        *,
        first: float = 1.0,
        maximum: float = 30.0,
    ) -> None:
        self._actor = actor
        self._name = name
        self._message = retry_message
        self._first = first
        self._maximum = maximum
        self._delay = first
        self._timer: TimerHandle | None = None
        self.down = False

    def failed(self, exc: BaseException) -> None:
        """A read failed with one of DATABASE_ERRORS: log once, schedule a retry."""
        if not self.down:
            self.down = True
            self._actor.log.warning(
                f"{self._name}_database_unavailable",
                error=type(exc).__name__,
                retry_in=self._delay,
            )
        if self._timer is None:
            self._timer = self._actor.tell_self_later(self._delay, self._message)
            self._delay = min(self._delay * 2.0, self._maximum)

    def succeeded(self) -> None:
        """A read worked: no retry pending, the delay starts over."""
        self.cancel()
        self._delay = self._first
        if self.down:
            self.down = False
            self._actor.log.info(f"{self._name}_database_available")

    def timer_fired(self) -> None:
        """The retry message arrived: the timer is spent."""
        self._timer = None

    def cancel(self) -> None:
        timer: Any = self._timer
        self._timer = None
        if timer is not None:
            timer.cancel()

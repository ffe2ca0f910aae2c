"""The `power` actor: mains ("network") or battery, debounced; tells who must know.

It polls the power detector (`ctx.drivers.power_detector`, debounced by `hold`
seconds) every `poll_interval` seconds of `ctx.clock`. On a transition it tells
`alarm` `PowerChanged(source, at)` (`at` monotonic) and publishes
`UiEvent("power_state_change", source)` at once, stores the source in
`runtime_state.power_source` through `storage`, and tells `notifier` once that
write committed.

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
from typing import Any

import pykka

from arpi.actors import Actor, ActorUnavailable
from arpi.alarm.messages import PowerChanged
from arpi.bus import UiEvent
from arpi.db import sql
from arpi.db.storage import submit
from arpi.db.tables import runtime_state
from arpi.drivers.power import PowerReadError

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
    source: str
    at: float
    future: Future


def load_power_source(cur: Any) -> str | None:
    """The stored power source, or None. Blocks on the database."""
    t = runtime_state
    value = sql.fetch_value(cur, sql.Q.from_(t).select(t.power_source).limit(1))
    return value if value in ("network", "battery") else None


class PowerActor(Actor):
    """See the module docstring. Runs under `hardware` as `power`.

    Options: `poll_interval` (0.25 s), `hold` (debounce, 2.0 s), `alarm`,
    `notifier`, `storage` (actor names).
    """

    def setup(self) -> None:
        self._detector: Any = None
        self._timer: Any = None
        self._interval = float(self.options.get("poll_interval", 0.25))  # type: ignore[arg-type]
        hold = float(self.options.get("hold", 2.0))  # type: ignore[arg-type]
        if not self._interval > 0:
            raise ValueError("poll_interval: must be positive")
        self._alarm = self.address(str(self.options.get("alarm", "alarm")))
        self._notifier = self.address(str(self.options.get("notifier", "notifier")))
        self._storage = self.address(str(self.options.get("storage", "storage")))
        self._readable = True

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
        if isinstance(message, GetPower):
            return PowerReport(self._known, self._readable)
        return super().handle(message)

    def release(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
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
            self._store(source, at, notify=False)
            return
        self.log.warning(
            "power_outage_started" if source == "battery" else "power_outage_stopped",
            source=source,
        )
        self._alarm.tell(PowerChanged(source, at))  # type: ignore[arg-type]
        self._store(source, at, notify=True)

    def _store(self, source: str, at: float, *, notify: bool) -> None:
        def write(cur: Any) -> None:
            t = runtime_state
            query = (
                sql.Q.update(t)
                .set(t.power_source, sql.param("source"))
                .set(t.updated_at, sql.param("now"))
            )
            sql.execute(cur, query, {"source": source, "now": self.ctx.clock.wall()})

        try:
            future = submit(self._storage, write, "power_source")
        except ActorUnavailable:
            # Not durable: a restart may report this transition again. Better twice
            # than never for a power outage.
            self.log.error("power_source_not_stored", source=source)
            if notify:
                self._notifier.tell(PowerChanged(source, at))  # type: ignore[arg-type]
            return
        if not notify:
            return
        ref = self.actor_ref

        def done(f: Future) -> None:
            try:
                ref.tell(_Stored(source, at, f))
            except pykka.ActorDeadError:
                pass

        future.add_done_callback(done)

    def _stored(self, message: _Stored) -> None:
        error = message.future.exception()
        if error is not None:
            self.log.error(
                "power_source_not_stored", source=message.source, error=str(error)
            )
        # The notifier stores the notification before sending it (F16).
        self._notifier.tell(PowerChanged(message.source, message.at))  # type: ignore[arg-type]

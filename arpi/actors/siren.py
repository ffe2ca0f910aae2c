"""The `siren` actor: switches channel 0 through `outputs` by the siren's schedule.

The alarm decides whether and how the siren runs and publishes every
`syren_state_change`; this actor only turns `StartSiren` / `StopSiren` into
`SetOutput(0, on)` for the `outputs` actor (the one owner of the chip, F14), using
`arpi.alarm.siren.SirenSchedule.from_wall`: on after the delay, off once `duration`
seconds have passed since the alert started. A `StartSiren` with the start of the run
it already has (a resumed run, or the alarm re-sending after a restart) changes
nothing, so a restart sounds only the remaining time.

`TestSiren(duration)` (GET /api/config/test_syren) sounds the siren for `duration`
seconds, clamped to 1..30, and is answered at once with `SirenTestStarted` (F14: no
request waits for the test to end). A test never shortens an alarm run; `StopSiren`
(a disarm) ends both.

Restart. `setup` reads the durable state (`runtime_state.alarm_state`) on its own
connection and resumes the open alert's siren run with its original start; it asks
no other actor. It tells `outputs` only if that actor is running, and tells it the
current level again whenever `outputs` publishes `Lifecycle(started)`. All timers run
on `ctx.clock`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pykka

from arpi.actors import Actor, Address, Lifecycle
from arpi.alarm.config import SIREN_CHANNEL
from arpi.alarm.durable import DurableState, DurableStateError
from arpi.alarm.effects import SetOutput, StartSiren, StopSiren
from arpi.alarm.siren import SirenSchedule
from arpi.db import sql, tables

__all__ = [
    "TEST_MAX",
    "TEST_MIN",
    "GetSirenState",
    "Siren",
    "SirenState",
    "SirenTestStarted",
    "StartSiren",
    "StopSiren",
    "TestSiren",
    "clamp_test_duration",
]

TEST_MIN = 1
TEST_MAX = 30


@dataclass(frozen=True, slots=True)
class TestSiren:
    """Sound the siren for `duration` seconds (clamped 1..30); answered at once."""

    __test__ = False  # not a pytest test class

    duration: float


@dataclass(frozen=True, slots=True)
class SirenTestStarted:
    """Reply to `TestSiren`: `ok` False with `message` naming a bad field."""

    ok: bool
    duration: float = 0.0
    message: str = ""


@dataclass(frozen=True, slots=True)
class GetSirenState:
    """Ask for a `SirenState`."""


@dataclass(frozen=True, slots=True)
class SirenState:
    """`on`: channel 0 is wanted on. `phase`: the alarm run's phase (None = no run).
    `remaining`: seconds to the run's cut-off (None = no run or no cut-off).
    `test_remaining`: seconds left of a test (None = no test)."""

    on: bool
    phase: str | None
    remaining: float | None
    test_remaining: float | None


@dataclass(frozen=True, slots=True)
class _Due:
    """A timer fell due at `deadline` (monotonic)."""

    generation: int
    deadline: float


@dataclass(frozen=True, slots=True)
class _OutputsStarted:
    pass


def clamp_test_duration(value: object) -> float:
    """`value` as seconds within TEST_MIN..TEST_MAX; ValueError naming `duration`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"duration: must be a number of seconds, got {value!r}")
    if math.isnan(value):
        raise ValueError("duration: must be a number of seconds, got NaN")
    return float(min(TEST_MAX, max(TEST_MIN, value)))


def _run_key(cmd: StartSiren) -> tuple[datetime, bool, float, float]:
    return (
        cmd.alert_started_at_wall,
        cmd.silent,
        float(cmd.delay),
        float(cmd.duration),
    )


class Siren(Actor):
    """See the module docstring. Runs under `core` as `siren`.

    Options: `outputs` (actor name, default "outputs"), `channel` (default 0).
    """

    def setup(self) -> None:
        self._outputs: Address = self.address(
            str(self.options.get("outputs", "outputs"))
        )
        self._channel = int(self.options.get("channel", SIREN_CHANNEL))
        self._run: SirenSchedule | None = None
        self._run_key: tuple[datetime, bool, float, float] | None = None
        self._test_until: float | None = None
        self._sent: bool | None = None
        self._timer: Any = None
        self._generation = 0
        self._subscribed = False

        record = self._read_durable()
        if record is not None:
            self._start(record, now=self.ctx.clock.monotonic(), restored=True)
        self.ctx.bus.subscribe(Lifecycle, self._on_lifecycle)
        self._subscribed = True
        self._sync(self.ctx.clock.monotonic())

    def release(self) -> None:
        if getattr(self, "_subscribed", False):
            self.ctx.bus.unsubscribe(Lifecycle, self._on_lifecycle)
            self._subscribed = False
        if getattr(self, "_timer", None) is not None:
            self._timer.cancel()
            self._timer = None

    def handle(self, message: object) -> object:
        now = self.ctx.clock.monotonic()
        if isinstance(message, StartSiren):
            started = self._start(message, now=now)
            self._sync(now)
            if started is not None:
                # Logged after the output was told: the alarm's hot path.
                self.log.info("siren_run_started", **started)
            return None
        if isinstance(message, StopSiren):
            if self._run is not None or self._test_until is not None:
                self.log.info("siren_stopped")
            self._run = self._run_key = None
            self._test_until = None
            self._sync(now)
            return None
        if isinstance(message, _Due):
            if message.generation == self._generation:
                self._timer = None
                self._sync(max(now, message.deadline))
            return None
        if isinstance(message, _OutputsStarted):
            self._sent = None  # the new incarnation may hold anything: say it again
            self._sync(now)
            return None
        if isinstance(message, GetSirenState):
            return self._state(now)
        if isinstance(message, TestSiren):
            return self._test(message.duration, now)
        return super().handle(message)

    # -- internals --------------------------------------------------------------------

    def _read_durable(self) -> StartSiren | None:
        db = self.ctx.db
        if db is None:
            raise RuntimeError("no database configured")
        conn = db.connect(application_name=f"arpi-{self.name}")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                t = tables.runtime_state
                raw = sql.fetch_value(
                    cur, sql.Q.from_(t).select(t.alarm_state).limit(1)
                )
        finally:
            conn.close()
        if raw is None:
            return None
        try:
            state = DurableState.from_json(
                json.loads(raw) if isinstance(raw, str) else raw
            )
        except (DurableStateError, ValueError) as exc:
            # The alarm closes what it cannot read; it re-sends its command anyway.
            self.log.error("siren_state_unreadable", problem=str(exc))
            return None
        if state.alert is None:
            return None
        run = state.alert.siren
        return StartSiren(run.started_at, run.silent, run.delay, run.duration, True)

    def _start(
        self, cmd: StartSiren, *, now: float, restored: bool = False
    ) -> dict[str, Any] | None:
        """Adopt the run of `cmd`. A restored run is logged here; a new one returns
        what to log (the caller logs it once the output was told), else None."""
        key = _run_key(cmd)
        if key == self._run_key:
            return None
        clock = self.ctx.clock
        self._run = SirenSchedule.from_wall(
            cmd.alert_started_at_wall,
            silent=cmd.silent,
            delay=float(cmd.delay),
            duration=float(cmd.duration),
            now=now,
            wall=clock.wall(),
        )
        self._run_key = key
        remaining = self._run.remaining(now)
        fields: dict[str, Any] = {
            "resumed": cmd.resumed or restored,
            "silent": cmd.silent,
            "delay": cmd.delay,
            "duration": cmd.duration,
            "remaining": None if remaining is None else round(remaining, 3),
        }
        if restored:
            self.log.info("siren_restored", **fields)
            return None
        return fields

    def _test(self, duration: object, now: float) -> SirenTestStarted:
        try:
            seconds = clamp_test_duration(duration)
        except ValueError as exc:
            return SirenTestStarted(False, message=str(exc))
        self._test_until = now + seconds
        self.log.info("siren_test_started", duration=seconds)
        self._sync(now)
        return SirenTestStarted(True, seconds)

    def _wanted(self, now: float) -> bool:
        if self._test_until is not None and now >= self._test_until:
            self._test_until = None
            self.log.info("siren_test_ended")
        run_on = self._run is not None and self._run.output_on(now)
        return run_on or self._test_until is not None

    def _sync(self, now: float) -> None:
        """Drive channel 0 to what is wanted at `now` and plan the next change.

        The timer is planned first and the output told last, so the outputs actor
        runs as soon as this handler returns (the hot path of an alarm).
        """
        on = self._wanted(now)
        upcoming = [
            t
            for t in (
                None if self._run is None else self._run.next_change(now),
                self._test_until,
            )
            if t is not None
        ]
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._generation += 1
        if upcoming:
            deadline = min(upcoming)
            self._timer = self.tell_self_at(deadline, _Due(self._generation, deadline))
        if on is self._sent:
            return
        if self._outputs.alive() and self._outputs.tell(SetOutput(self._channel, on)):
            self._sent = on
            self.log.info("siren_output", on=on)
        else:
            # Told again when outputs publishes Lifecycle(started).
            self._sent = None
            if on:
                self.log.warning("siren_output_unavailable", outputs=self._outputs.name)

    def _state(self, now: float) -> SirenState:
        run = self._run
        return SirenState(
            on=self._wanted(now),
            phase=None if run is None else run.phase(now).value,
            remaining=None if run is None else run.remaining(now),
            test_remaining=None
            if self._test_until is None
            else max(0.0, self._test_until - now),
        )

    def _on_lifecycle(self, event: Lifecycle) -> None:
        # Runs on the publisher's thread: only tell.
        if event.kind == "started" and event.name == self._outputs.name:
            try:
                self.actor_ref.tell(_OutputsStarted())
            except pykka.ActorDeadError:
                pass

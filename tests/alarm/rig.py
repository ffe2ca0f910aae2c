"""A fake actor around `AlarmMachine`: owns time, timers and the effects log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from arpi.alarm import (
    AlarmConfig,
    AlarmMachine,
    Area,
    LineState,
    MachineSettings,
    Output,
    Sensitivity,
    Sensor,
    SirenConfig,
    Zone,
)
from arpi.alarm.durable import DurableState
from arpi.alarm.effects import (
    CancelTimer,
    Effect,
    Notify,
    PersistState,
    Publish,
    SetTimer,
    StartSiren,
)

BASE_WALL = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
GRACE = 2.0

I, A, C, S, F = (  # noqa: E741 (short names keep the tables readable)
    LineState.IDLE,
    LineState.ACTIVE,
    LineState.CUT,
    LineState.SHORT,
    LineState.FAULT,
)

# Zones: instant, entry/exit door, interior (away only), 24 h instant, 24 h delayed.
INSTANT, ENTRY, INTERIOR, TAMPER, FIRE = 1, 2, 3, 4, 5
ZONES = (
    Zone(INSTANT, None, 0, 0, 0, 0, "instant"),
    Zone(ENTRY, None, 10, 10, 20, 20, "entry"),
    Zone(INTERIOR, None, 0, None, None, None, "interior"),
    Zone(TAMPER, 0, 0, 0, 0, 0, "tamper"),
    Zone(FIRE, 5, 5, 5, 5, 5, "fire"),
)
HOUSE, GARAGE = 1, 2
AREAS = (Area(HOUSE, "House", ui_order=1), Area(GARAGE, "Garage", ui_order=2))
DOOR, WINDOW, MOTION, LID, GARAGE_DOOR, SMOKE = 1, 2, 3, 4, 5, 6
SENSORS = (
    Sensor(DOOR, "door", ENTRY, HOUSE, channel=0, description="Front door"),
    Sensor(WINDOW, "window", INSTANT, HOUSE, channel=1),
    Sensor(MOTION, "motion", INTERIOR, HOUSE, channel=2),
    Sensor(LID, "lid", TAMPER, HOUSE, channel=3, type_id=2),
    Sensor(GARAGE_DOOR, "garage", INSTANT, GARAGE, channel=4),
    Sensor(SMOKE, "smoke", FIRE, GARAGE, channel=5),
)


def make_config(
    *,
    sensors: tuple[Sensor, ...] = SENSORS,
    zones: tuple[Zone, ...] = ZONES,
    areas: tuple[Area, ...] = AREAS,
    outputs: tuple[Output, ...] = (),
    siren: SirenConfig | None = None,
    sensitivity: Sensitivity | None = None,
    invalid_reason: str | None = None,
) -> AlarmConfig:
    return AlarmConfig.build(
        areas=areas,
        zones=zones,
        sensors=sensors,
        outputs=outputs,
        siren=siren or SirenConfig(silent=None),
        sensitivity=sensitivity,
        invalid_reason=invalid_reason,
    )


class Rig:
    """Drives a machine like the actor would; every effect goes to `log`."""

    def __init__(
        self,
        config: AlarmConfig | None = None,
        *,
        state: DurableState | None = None,
        now: float = 1000.0,
        wall: datetime = BASE_WALL,
    ) -> None:
        self.config = config or make_config()
        self.now = now
        self.wall0 = wall - timedelta(seconds=now)
        self.timers: dict[str, float] = {}
        self.log: list[Effect] = []
        self.machine = AlarmMachine(MachineSettings(line_fault_grace=GRACE, tz=UTC))
        self.last: list[Effect] = self._take(
            self.machine.restore(state, self.config, self.now, self.wall)
        )

    @property
    def wall(self) -> datetime:
        return self.wall0 + timedelta(seconds=self.now)

    @property
    def state(self) -> str:
        return str(self.machine.monitoring_state)

    def _take(self, effects: list[Effect]) -> list[Effect]:
        for effect in effects:
            if isinstance(effect, SetTimer):
                self.timers[effect.token] = effect.deadline
            elif isinstance(effect, CancelTimer):
                self.timers.pop(effect.token, None)
        self.log.extend(effects)
        return effects

    # -- events ---------------------------------------------------------------

    def sample(self, **lines: LineState) -> list[Effect]:
        """Lines by name: s1=A means sensor 1 active."""
        states = tuple((int(k[1:]), v) for k, v in lines.items())
        self.last = self._take(
            self.machine.sensors_sampled(states, self.now, self.wall)
        )
        return self.last

    def set(self, sensor_id: int, line: LineState) -> list[Effect]:
        return self.sample(**{f"s{sensor_id}": line})

    def arm(self, mode: str = "arm_away", **kw):
        result = self.machine.arm(mode, now=self.now, wall=self.wall, **kw)
        self.last = self._take(result.effects)
        return result

    def disarm(self, **kw):
        result = self.machine.disarm(now=self.now, wall=self.wall, **kw)
        self.last = self._take(result.effects)
        return result

    def tick(self) -> list[Effect]:
        self.last = self._take(self.machine.tick(self.now, self.wall))
        return self.last

    def advance(self, seconds: float) -> list[Effect]:
        """Move time; deliver every timer that falls due on the way, at its deadline."""
        target = self.now + seconds
        start = len(self.log)
        while True:
            due = [d for d in self.timers.values() if d <= target]
            out = self.machine.next_deadline()
            if out is not None and out <= target:
                due.append(out)
            if not due:
                break
            self.now = max(self.now, min(due))
            for token in [t for t, d in self.timers.items() if d <= self.now]:
                del self.timers[token]
            self._take(self.machine.tick(self.now, self.wall))
        self.now = target
        self.last = self.log[start:]
        return self.last

    # -- views ----------------------------------------------------------------

    def persisted(self) -> DurableState:
        states = [e.state for e in self.log if isinstance(e, PersistState)]
        assert states, "nothing persisted"
        return states[-1]

    def restart(self, after: float = 0.0, config: AlarmConfig | None = None) -> Rig:
        """A new machine restored from the last persisted state, via JSON."""
        stored = json.loads(json.dumps(self.persisted().to_json()))
        state = DurableState.from_json(stored)
        return Rig(
            config or self.config,
            state=state,
            now=self.now
            + 500.0
            + after,  # a new boot: monotonic time restarts elsewhere
            wall=self.wall + timedelta(seconds=after),
        )


def of(effects: list[Effect], kind: type) -> list:
    return [e for e in effects if isinstance(e, kind)]


def published(effects: list[Effect], name: str) -> list:
    return [e.payload for e in effects if isinstance(e, Publish) and e.name == name]


def notifications(effects: list[Effect], kind: str | None = None) -> list[Notify]:
    return [e for e in of(effects, Notify) if kind is None or e.kind == kind]


def siren_starts(effects: list[Effect], *, resumed: bool = False) -> list[StartSiren]:
    return [e for e in of(effects, StartSiren) if e.resumed is resumed]

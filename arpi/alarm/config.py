"""Configuration snapshot of the alarm, built from database rows and validated.

Every type is a frozen dataclass; `from_row` takes a mapping with the database column
names (snake_case) and raises `ConfigError` naming the bad field. `AlarmConfig.build`
checks the references between rows. The snapshot holds non-deleted rows only: the
loader filters `deleted` before building it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from arpi.alarm.states import ArmState, TriggerType

__all__ = [
    "SIREN_CHANNEL",
    "AlarmConfig",
    "Area",
    "ConfigError",
    "Output",
    "Sensitivity",
    "Sensor",
    "SirenConfig",
    "Zone",
]

SIREN_CHANNEL = 0
OUTPUT_CHANNELS = 8


class ConfigError(ValueError):
    """A configuration value is unusable; `field` names it (`sensor[3].zone_id`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


_MISSING = object()


def _get(row: Mapping[str, object], key: str, where: str, default: object = _MISSING):
    if key in row:
        return row[key]
    if default is _MISSING:
        raise ConfigError(f"{where}.{key}", "missing")
    return default


def _int(value: object, name: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(name, f"must be an integer, not {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(name, f"must be >= {minimum}, not {value}")
    return value


def _opt_int(value: object, name: str, *, minimum: int | None = None) -> int | None:
    return None if value is None else _int(value, name, minimum=minimum)


def _number(value: object, name: str, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(name, f"must be a number, not {value!r}")
    if value < minimum:
        raise ConfigError(name, f"must be >= {minimum:g}, not {value}")
    return float(value)


def _bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(name, f"must be true or false, not {value!r}")
    return value


def _tristate(value: object, name: str) -> bool | None:
    return None if value is None else _bool(value, name)


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(name, f"must be text, not {value!r}")
    return value


def _threshold(value: object, name: str) -> int | None:
    threshold = _opt_int(value, name, minimum=0)
    if threshold is not None and threshold > 100:
        raise ConfigError(name, f"must be a percentage 0..100, not {threshold}")
    return threshold


@dataclass(frozen=True, slots=True)
class Area:
    """An area; `arm_state` is the stored one (used when no durable state exists)."""

    id: int
    name: str
    arm_state: ArmState = ArmState.DISARM
    ui_order: int | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, object]) -> Area:
        """Build from an `area` row; raises ConfigError."""
        where = f"area[{row.get('id')}]"
        state = _get(row, "arm_state", where, ArmState.DISARM)
        try:
            arm_state = ArmState.parse(state)
        except ValueError as exc:
            raise ConfigError(f"{where}.arm_state", str(exc)) from None
        if arm_state is ArmState.ARM_MIXED:
            raise ConfigError(f"{where}.arm_state", "an area is never arm_mixed")
        return cls(
            id=_int(_get(row, "id", where), f"{where}.id"),
            name=_text(_get(row, "name", where), f"{where}.name"),
            arm_state=arm_state,
            ui_order=_opt_int(_get(row, "ui_order", where, None), f"{where}.ui_order"),
        )

    def to_json(self, arm_state: ArmState) -> dict[str, object]:
        """Area JSON of the wire contract, with the live arm state."""
        return {
            "id": self.id,
            "name": self.name,
            "armState": str(arm_state),
            "uiOrder": self.ui_order,
        }


@dataclass(frozen=True, slots=True)
class Zone:
    """Delays in seconds; None = the zone does not alert in that mode, 0 = instant.

    A zone with `disarmed_delay` not None is a 24-hour (sabotage) zone: it alerts in
    every state after that delay.
    """

    id: int
    disarmed_delay: int | None = None
    away_alert_delay: int | None = 0
    stay_alert_delay: int | None = 0
    away_arm_delay: int | None = 0
    stay_arm_delay: int | None = 0
    name: str = ""

    @classmethod
    def from_row(cls, row: Mapping[str, object]) -> Zone:
        """Build from a `zone` row; raises ConfigError."""
        where = f"zone[{row.get('id')}]"
        delays = {
            key: _opt_int(_get(row, key, where, None), f"{where}.{key}", minimum=0)
            for key in (
                "disarmed_delay",
                "away_alert_delay",
                "stay_alert_delay",
                "away_arm_delay",
                "stay_arm_delay",
            )
        }
        return cls(
            id=_int(_get(row, "id", where), f"{where}.id"),
            name=_text(_get(row, "name", where, ""), f"{where}.name"),
            **delays,
        )

    @property
    def is_sabotage(self) -> bool:
        """True for a 24-hour zone (it alerts whatever the arm state)."""
        return self.disarmed_delay is not None

    def alert_delay(self, area_state: ArmState) -> int | None:
        """Entry delay for an area in `area_state`; None = no intrusion alert."""
        if area_state is ArmState.ARM_AWAY:
            return self.away_alert_delay
        if area_state is ArmState.ARM_STAY:
            return self.stay_alert_delay
        return None

    def arm_delay(self, mode: ArmState) -> int | None:
        """Exit delay column for arming in `mode`; None = not watched while leaving."""
        if mode is ArmState.ARM_AWAY:
            return self.away_arm_delay
        if mode is ArmState.ARM_STAY:
            return self.stay_arm_delay
        return None


@dataclass(frozen=True, slots=True)
class Sensor:
    """A sensor as the alarm needs it; `silent_alert` None = follow the siren rule."""

    id: int
    name: str
    zone_id: int
    area_id: int
    description: str | None = None
    channel: int | None = None
    type_id: int = 1
    enabled: bool = True
    silent_alert: bool | None = None
    monitor_period: int | None = None
    monitor_threshold: int | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, object]) -> Sensor:
        """Build from a `sensor` row; raises ConfigError."""
        where = f"sensor[{row.get('id')}]"
        description = _get(row, "description", where, None)
        return cls(
            id=_int(_get(row, "id", where), f"{where}.id"),
            name=_text(_get(row, "name", where), f"{where}.name"),
            description=None
            if description is None
            else _text(description, f"{where}.description"),
            channel=_opt_int(_get(row, "channel", where, None), f"{where}.channel"),
            type_id=_int(_get(row, "type_id", where, 1), f"{where}.type_id"),
            zone_id=_int(_get(row, "zone_id", where), f"{where}.zone_id"),
            area_id=_int(_get(row, "area_id", where), f"{where}.area_id"),
            enabled=_bool(_get(row, "enabled", where, True), f"{where}.enabled"),
            silent_alert=_tristate(
                _get(row, "silent_alert", where, None), f"{where}.silent_alert"
            ),
            monitor_period=_opt_int(
                _get(row, "monitor_period", where, None),
                f"{where}.monitor_period",
                minimum=1,
            ),
            monitor_threshold=_threshold(
                _get(row, "monitor_threshold", where, None),
                f"{where}.monitor_threshold",
            ),
        )

    @property
    def label(self) -> str:
        """Description, falling back to the name (as in `arm_sensor` snapshots)."""
        return self.description or self.name


@dataclass(frozen=True, slots=True)
class Output:
    """An output relay or open-collector line. `duration` 0 = until the stop event."""

    id: int
    channel: int | None
    trigger_type: TriggerType
    area_id: int | None = None
    delay: float = 0.0
    duration: float = 0.0
    default_state: bool = False
    enabled: bool = True
    name: str = ""

    def __post_init__(self) -> None:
        where = f"output[{self.id}]"
        if self.channel is not None:
            if self.channel == SIREN_CHANNEL:
                raise ConfigError(
                    f"{where}.channel", "channel 0 is the siren and cannot be an output"
                )
            if not 0 < self.channel < OUTPUT_CHANNELS:
                raise ConfigError(
                    f"{where}.channel",
                    f"must be 1..{OUTPUT_CHANNELS - 1}, not {self.channel}",
                )
        if self.trigger_type is TriggerType.AREA and self.area_id is None:
            raise ConfigError(f"{where}.area_id", "an area output needs an area")
        if self.trigger_type is not TriggerType.AREA and self.area_id is not None:
            raise ConfigError(
                f"{where}.area_id", f"a {self.trigger_type} output has no area"
            )
        if self.delay < 0:
            raise ConfigError(f"{where}.delay", "must be >= 0")
        if self.duration < 0:
            raise ConfigError(f"{where}.duration", "must be >= 0")

    @classmethod
    def from_row(cls, row: Mapping[str, object]) -> Output:
        """Build from an `output` row; raises ConfigError (channel 0 included)."""
        where = f"output[{row.get('id')}]"
        trigger = _get(row, "trigger_type", where)
        try:
            trigger_type = TriggerType(str(trigger))
        except ValueError:
            raise ConfigError(
                f"{where}.trigger_type", f"unknown trigger {trigger!r}"
            ) from None
        delay = _get(row, "delay", where, 0)
        return cls(
            id=_int(_get(row, "id", where), f"{where}.id"),
            name=_text(_get(row, "name", where, "") or "", f"{where}.name"),
            channel=_opt_int(_get(row, "channel", where, None), f"{where}.channel"),
            trigger_type=trigger_type,
            area_id=_opt_int(_get(row, "area_id", where, None), f"{where}.area_id"),
            # A NULL delay crashed the reference's signal thread; it means no delay.
            delay=0.0 if delay is None else _number(delay, f"{where}.delay"),
            duration=_number(_get(row, "duration", where, 0), f"{where}.duration"),
            default_state=_bool(
                _get(row, "default_state", where, False), f"{where}.default_state"
            ),
            enabled=_bool(_get(row, "enabled", where, True), f"{where}.enabled"),
        )


@dataclass(frozen=True, slots=True)
class SirenConfig:
    """Option `syren/timing`: tri-state `silent`, `delay` and `duration` in seconds."""

    silent: bool | None = False
    delay: float = 0.0
    duration: float = 0.0

    @classmethod
    def from_option(cls, value: Mapping[str, object] | None) -> SirenConfig:
        """Build from the stored option JSON (None = defaults); raises ConfigError."""
        if value is None:
            return cls()
        unknown = set(value) - {"silent", "delay", "duration"}
        if unknown:
            raise ConfigError(f"syren.{sorted(unknown)[0]}", "unknown key")
        return cls(
            silent=_tristate(value.get("silent", False), "syren.silent"),
            delay=_number(value.get("delay", 0) or 0, "syren.delay"),
            duration=_number(value.get("duration", 0) or 0, "syren.duration"),
        )


@dataclass(frozen=True, slots=True)
class Sensitivity:
    """Option `alert/sensitivity`: the global alert window (None period = instant)."""

    monitor_period: int | None = None
    monitor_threshold: int | None = None

    @classmethod
    def from_option(cls, value: Mapping[str, object] | None) -> Sensitivity:
        """Build from the stored option JSON (None = defaults); raises ConfigError."""
        if value is None:
            return cls()
        unknown = set(value) - {"monitor_period", "monitor_threshold"}
        if unknown:
            raise ConfigError(f"sensitivity.{sorted(unknown)[0]}", "unknown key")
        return cls(
            monitor_period=_opt_int(
                value.get("monitor_period"), "sensitivity.monitor_period", minimum=1
            ),
            monitor_threshold=_threshold(
                value.get("monitor_threshold"), "sensitivity.monitor_threshold"
            ),
        )


@dataclass(frozen=True, slots=True)
class AlarmConfig:
    """Everything the alarm rules need, as one immutable snapshot.

    `invalid_reason` not None puts the alarm in `monitoring_invalid_config`: nothing
    is monitored and arming is refused. The loader sets it for hardware-level
    problems it finds (more sensors than channels, two sensors on one input);
    `build` sets it for broken references between rows.
    """

    areas: tuple[Area, ...] = ()
    zones: tuple[Zone, ...] = ()
    sensors: tuple[Sensor, ...] = ()
    outputs: tuple[Output, ...] = ()
    siren: SirenConfig = SirenConfig()
    sensitivity: Sensitivity = Sensitivity()
    invalid_reason: str | None = None
    area_by_id: Mapping[int, Area] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    zone_by_id: Mapping[int, Zone] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    sensor_by_id: Mapping[int, Sensor] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "area_by_id", {a.id: a for a in self.areas})
        object.__setattr__(self, "zone_by_id", {z.id: z for z in self.zones})
        object.__setattr__(self, "sensor_by_id", {s.id: s for s in self.sensors})

    @classmethod
    def build(
        cls,
        *,
        areas: Iterable[Area] = (),
        zones: Iterable[Zone] = (),
        sensors: Iterable[Sensor] = (),
        outputs: Iterable[Output] = (),
        siren: SirenConfig | None = None,
        sensitivity: Sensitivity | None = None,
        invalid_reason: str | None = None,
    ) -> AlarmConfig:
        """Check references and return a snapshot; a broken one is marked invalid.

        Raises ConfigError only for duplicate ids, which no database can produce.
        """
        areas, zones, sensors, outputs = (
            tuple(areas),
            tuple(zones),
            tuple(sensors),
            tuple(outputs),
        )
        for kind, rows in (("area", areas), ("zone", zones), ("sensor", sensors)):
            ids = [r.id for r in rows]
            if len(ids) != len(set(ids)):
                raise ConfigError(f"{kind}.id", "duplicate id")
        area_ids = {a.id for a in areas}
        zone_ids = {z.id for z in zones}
        problems = []
        for s in sensors:
            if s.zone_id not in zone_ids:
                problems.append(f"sensor {s.id} refers to unknown zone {s.zone_id}")
            if s.area_id not in area_ids:
                problems.append(f"sensor {s.id} refers to unknown area {s.area_id}")
        for o in outputs:
            if o.area_id is not None and o.area_id not in area_ids:
                problems.append(f"output {o.id} refers to unknown area {o.area_id}")
        channels = [o.channel for o in outputs if o.channel is not None]
        if len(channels) != len(set(channels)):
            problems.append("two outputs share a channel")
        reason = invalid_reason or ("; ".join(problems) if problems else None)
        return cls(
            areas=areas,
            zones=zones,
            sensors=sensors,
            outputs=outputs,
            siren=siren or SirenConfig(),
            sensitivity=sensitivity or Sensitivity(),
            invalid_reason=reason,
        )

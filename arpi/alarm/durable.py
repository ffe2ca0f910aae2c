"""The alarm's runtime state that must survive a restart, and its JSON form.

Times are wall times (timezone-aware); monotonic deadlines are rebuilt from them at
restore. `to_json` gives plain JSON types; `from_json` validates and raises
`DurableStateError` naming the bad field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from arpi.alarm.effects import AlertSensorRow
from arpi.alarm.states import AlertType, ArmState, MonitoringState, TripKind

__all__ = [
    "AlertRecord",
    "DurableState",
    "DurableStateError",
    "EntryDelayRecord",
    "ExitDelayRecord",
    "SirenRecord",
]

VERSION = 1


class DurableStateError(ValueError):
    """The stored state cannot be read; `field` names the first bad part."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class ExitDelayRecord:
    """A running exit delay: its end, and when each area's exit started."""

    deadline: datetime
    area_starts: tuple[tuple[int, datetime], ...]


@dataclass(frozen=True, slots=True)
class EntryDelayRecord:
    """A running entry (or 24-hour zone) countdown of one sensor."""

    sensor_id: int
    kind: TripKind
    tripped_at: datetime
    deadline: datetime
    delay: int


@dataclass(frozen=True, slots=True)
class SirenRecord:
    """The siren run of the open alert; the cut-off counts from `started_at`."""

    started_at: datetime
    silent: bool
    delay: float
    duration: float


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """The open alert with its sensor rows."""

    id: int
    arm_id: int | None
    alert_type: AlertType
    started_at: datetime
    silent: bool
    siren: SirenRecord
    sensors: tuple[AlertSensorRow, ...]


@dataclass(frozen=True, slots=True)
class DurableState:
    """Everything needed to resume exactly where the alarm was.

    `monitoring_state` is informational (the machine derives it again from the rest).
    `latched` are sensors whose current trip was already handled, `tamper_latched`
    sensors whose line fault already raised a tamper alarm: neither raises a new alarm
    until it restores. `next_*_id` are the next free row ids of the history tables;
    the actor raises them to max(id)+1 from the database when it loads the state.
    """

    monitoring_state: MonitoringState = MonitoringState.READY
    areas: tuple[tuple[int, ArmState], ...] = ()
    arm_id: int | None = None
    arm_type: ArmState | None = None
    exit: ExitDelayRecord | None = None
    entries: tuple[EntryDelayRecord, ...] = ()
    alert: AlertRecord | None = None
    bypassed: tuple[int, ...] = ()
    latched: tuple[int, ...] = ()
    tamper_latched: tuple[int, ...] = ()
    next_arm_id: int = 1
    next_alert_id: int = 1
    next_disarm_id: int = 1
    version: int = field(default=VERSION)

    def with_next_ids(
        self, *, arm: int = 1, alert: int = 1, disarm: int = 1
    ) -> DurableState:
        """A copy whose id counters are at least the given ones."""
        from dataclasses import replace

        return replace(
            self,
            next_arm_id=max(self.next_arm_id, arm),
            next_alert_id=max(self.next_alert_id, alert),
            next_disarm_id=max(self.next_disarm_id, disarm),
        )

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types (datetimes as ISO 8601 text)."""
        return {
            "version": self.version,
            "monitoring_state": str(self.monitoring_state),
            "areas": [[a, str(s)] for a, s in self.areas],
            "arm_id": self.arm_id,
            "arm_type": None if self.arm_type is None else str(self.arm_type),
            "exit": None
            if self.exit is None
            else {
                "deadline": self.exit.deadline.isoformat(),
                "area_starts": [[a, t.isoformat()] for a, t in self.exit.area_starts],
            },
            "entries": [
                {
                    "sensor_id": e.sensor_id,
                    "kind": str(e.kind),
                    "tripped_at": e.tripped_at.isoformat(),
                    "deadline": e.deadline.isoformat(),
                    "delay": e.delay,
                }
                for e in self.entries
            ],
            "alert": None if self.alert is None else _alert_json(self.alert),
            "bypassed": list(self.bypassed),
            "latched": list(self.latched),
            "tamper_latched": list(self.tamper_latched),
            "next_arm_id": self.next_arm_id,
            "next_alert_id": self.next_alert_id,
            "next_disarm_id": self.next_disarm_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DurableState:
        """Parse `to_json` output; raises DurableStateError."""
        r = _Reader(data, "state")
        version = r.int("version")
        if version != VERSION:
            raise DurableStateError("state.version", f"unsupported version {version}")
        exit_data = r.opt_map("exit")
        alert_data = r.opt_map("alert")
        arm_type = r.opt("arm_type")
        return cls(
            version=version,
            monitoring_state=r.enum("monitoring_state", MonitoringState),
            areas=tuple(
                (_int(p[0], "state.areas"), _enum(p[1], ArmState, "state.areas"))
                for p in r.list("areas")
            ),
            arm_id=r.opt_int("arm_id"),
            arm_type=None
            if arm_type is None
            else _enum(arm_type, ArmState, "state.arm_type"),
            exit=None if exit_data is None else _exit_from(exit_data),
            entries=tuple(_entry_from(e) for e in r.list("entries")),
            alert=None if alert_data is None else _alert_from(alert_data),
            bypassed=tuple(_int(x, "state.bypassed") for x in r.list("bypassed")),
            latched=tuple(_int(x, "state.latched") for x in r.list("latched")),
            tamper_latched=tuple(
                _int(x, "state.tamper_latched") for x in r.list("tamper_latched")
            ),
            next_arm_id=r.int("next_arm_id"),
            next_alert_id=r.int("next_alert_id"),
            next_disarm_id=r.int("next_disarm_id"),
        )


def _dt(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _alert_json(alert: AlertRecord) -> dict[str, Any]:
    return {
        "id": alert.id,
        "arm_id": alert.arm_id,
        "alert_type": str(alert.alert_type),
        "started_at": alert.started_at.isoformat(),
        "silent": alert.silent,
        "siren": {
            "started_at": alert.siren.started_at.isoformat(),
            "silent": alert.siren.silent,
            "delay": alert.siren.delay,
            "duration": alert.siren.duration,
        },
        "sensors": [
            {
                "sensor_id": s.sensor_id,
                "channel": s.channel,
                "type_id": s.type_id,
                "name": s.name,
                "description": s.description,
                "start_time": s.start_time.isoformat(),
                "end_time": _dt(s.end_time),
                "delay": s.delay,
                "silent": s.silent,
                "monitor_period": s.monitor_period,
                "monitor_threshold": s.monitor_threshold,
                "kind": s.kind,
            }
            for s in alert.sensors
        ],
    }


def _int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DurableStateError(name, f"expected an integer, got {value!r}")
    return value


def _enum(value: object, enum: type, name: str):
    try:
        return enum(value)
    except ValueError:
        raise DurableStateError(name, f"unknown value {value!r}") from None


def _time(value: object, name: str) -> datetime:
    if not isinstance(value, str):
        raise DurableStateError(name, f"expected an ISO time, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise DurableStateError(name, f"bad time {value!r}") from None
    if parsed.tzinfo is None:
        raise DurableStateError(name, "time without a timezone")
    return parsed


class _Reader:
    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, Mapping):
            raise DurableStateError(where, "expected an object")
        self.data = data
        self.where = where

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}"

    def get(self, key: str) -> object:
        if key not in self.data:
            raise DurableStateError(self._name(key), "missing")
        return self.data[key]

    def opt(self, key: str) -> object:
        return self.data.get(key)

    def int(self, key: str) -> int:
        return _int(self.get(key), self._name(key))

    def opt_int(self, key: str) -> int | None:
        value = self.opt(key)
        return None if value is None else _int(value, self._name(key))

    def float(self, key: str) -> float:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DurableStateError(
                self._name(key), f"expected a number, got {value!r}"
            )
        return float(value)

    def bool(self, key: str) -> bool:
        value = self.get(key)
        if not isinstance(value, bool):
            raise DurableStateError(
                self._name(key), f"expected a boolean, got {value!r}"
            )
        return value

    def opt_bool(self, key: str) -> bool | None:
        value = self.opt(key)
        return None if value is None else self.bool(key)

    def str(self, key: str) -> str:
        value = self.get(key)
        if not isinstance(value, str):
            raise DurableStateError(self._name(key), f"expected text, got {value!r}")
        return value

    def opt_str(self, key: str) -> str | None:
        return None if self.opt(key) is None else self.str(key)

    def time(self, key: str) -> datetime:
        return _time(self.get(key), self._name(key))

    def opt_time(self, key: str) -> datetime | None:
        return None if self.opt(key) is None else self.time(key)

    def enum(self, key: str, enum: type):
        return _enum(self.get(key), enum, self._name(key))

    def list(self, key: str) -> list:
        value = self.get(key)
        if not isinstance(value, list):
            raise DurableStateError(self._name(key), "expected a list")
        return value

    def opt_map(self, key: str) -> Mapping | None:
        value = self.opt(key)
        if value is not None and not isinstance(value, Mapping):
            raise DurableStateError(self._name(key), "expected an object")
        return value


def _exit_from(data: Mapping) -> ExitDelayRecord:
    r = _Reader(data, "state.exit")
    return ExitDelayRecord(
        deadline=r.time("deadline"),
        area_starts=tuple(
            (
                _int(p[0], "state.exit.area_starts"),
                _time(p[1], "state.exit.area_starts"),
            )
            for p in r.list("area_starts")
        ),
    )


def _entry_from(data: object) -> EntryDelayRecord:
    r = _Reader(data, "state.entries[]")
    return EntryDelayRecord(
        sensor_id=r.int("sensor_id"),
        kind=r.enum("kind", TripKind),
        tripped_at=r.time("tripped_at"),
        deadline=r.time("deadline"),
        delay=r.int("delay"),
    )


def _alert_from(data: Mapping) -> AlertRecord:
    r = _Reader(data, "state.alert")
    siren = _Reader(r.get("siren"), "state.alert.siren")
    sensors = []
    for item in r.list("sensors"):
        s = _Reader(item, "state.alert.sensors[]")
        sensors.append(
            AlertSensorRow(
                sensor_id=s.int("sensor_id"),
                channel=s.opt_int("channel"),
                type_id=s.int("type_id"),
                name=s.str("name"),
                description=s.opt_str("description"),
                start_time=s.time("start_time"),
                end_time=s.opt_time("end_time"),
                delay=s.int("delay"),
                silent=s.opt_bool("silent"),
                monitor_period=s.opt_int("monitor_period"),
                monitor_threshold=s.opt_int("monitor_threshold"),
                kind=str(s.enum("kind", TripKind)),
            )
        )
    return AlertRecord(
        id=r.int("id"),
        arm_id=r.opt_int("arm_id"),
        alert_type=r.enum("alert_type", AlertType),
        started_at=r.time("started_at"),
        silent=r.bool("silent"),
        siren=SirenRecord(
            started_at=siren.time("started_at"),
            silent=siren.bool("silent"),
            delay=siren.float("delay"),
            duration=siren.float("duration"),
        ),
        sensors=tuple(sensors),
    )

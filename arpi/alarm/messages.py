"""Messages the AlarmLogic actor receives, and its replies.

Commands are imperative, events past tense, replies nouns. All are immutable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from arpi.alarm.lines import LineState

__all__ = [
    "Arm",
    "ArmResult",
    "BlockingSensor",
    "Disarm",
    "DisarmResult",
    "GetAlarmStatus",
    "AlarmStatus",
    "PowerChanged",
    "ReloadConfig",
    "SensorsSampled",
]

ArmMode = Literal["arm_away", "arm_stay"]


@dataclass(frozen=True, slots=True)
class SensorsSampled:
    """One scan of a sensor bank: the state of every line it reads."""

    bank: str
    at: float  # monotonic seconds
    states: tuple[tuple[int, LineState], ...]  # (sensor id, state)


@dataclass(frozen=True, slots=True)
class Arm:
    """Arm the whole system (`area_id` None) or one area."""

    mode: ArmMode
    area_id: int | None = None
    user_id: int | None = None
    keypad_id: int | None = None
    use_delay: bool = False
    force: bool = False


@dataclass(frozen=True, slots=True)
class BlockingSensor:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class ArmResult:
    """`ok` False: `error` says why; `sensors` lists what blocks arming (F11)."""

    ok: bool
    error: str | None = None
    sensors: tuple[BlockingSensor, ...] = ()
    bypassed: tuple[BlockingSensor, ...] = ()


@dataclass(frozen=True, slots=True)
class Disarm:
    """Disarm the whole system (`area_id` None) or one area."""

    area_id: int | None = None
    user_id: int | None = None
    keypad_id: int | None = None


@dataclass(frozen=True, slots=True)
class DisarmResult:
    ok: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class GetAlarmStatus:
    """Ask for the current `AlarmStatus`."""


@dataclass(frozen=True, slots=True)
class AlarmStatus:
    """What the UI shows on connect: the JSON payloads of the matching events."""

    monitoring_state: str
    arm_state: str
    areas: tuple[dict[str, Any], ...] = ()
    alert: dict[str, Any] | None = None
    syren: bool | None = None
    sensors_alert: bool | None = False
    sensors_error: bool | None = False
    power: str = "network"
    sensor_states: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReloadConfig:
    """Configuration changed in the database: re-read it (sent by the front)."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class PowerChanged:
    """The power source changed (event from the power actor)."""

    source: Literal["network", "battery"]
    at: float

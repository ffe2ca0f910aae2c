"""The alarm messages the front sends, and readers for the alarm's replies.

XXX: internals.md places Arm, Disarm, GetAlarmStatus and ReloadConfig (and their
replies) in `arpi.alarm.messages`; while the alarm core is being written they may
not be there. Until they are, this module defines stand-ins with the documented
fields so the front runs against the test stand-in alarm; once the alarm module
exports them, these names are the alarm's own classes (nothing else to change).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

import arpi.alarm.messages as _messages

__all__ = [
    "Arm",
    "Disarm",
    "GetAlarmStatus",
    "ReloadConfig",
    "arm_refusal",
    "status_fields",
    "text",
]


if all(
    hasattr(_messages, n) for n in ("Arm", "Disarm", "GetAlarmStatus", "ReloadConfig")
):
    Arm = _messages.Arm
    Disarm = _messages.Disarm
    GetAlarmStatus = _messages.GetAlarmStatus
    ReloadConfig = _messages.ReloadConfig
else:  # pragma: no cover - only until the alarm core exports its messages

    @dataclass(frozen=True, slots=True)
    class Arm:  # type: ignore[no-redef]
        mode: str
        area_id: int | None = None
        user_id: int | None = None
        keypad_id: int | None = None
        use_delay: bool = False
        force: bool = False

    @dataclass(frozen=True, slots=True)
    class Disarm:  # type: ignore[no-redef]
        area_id: int | None = None
        user_id: int | None = None
        keypad_id: int | None = None

    @dataclass(frozen=True, slots=True)
    class GetAlarmStatus:  # type: ignore[no-redef]
        pass

    @dataclass(frozen=True, slots=True)
    class ReloadConfig:  # type: ignore[no-redef]
        reason: str = ""


def text(value: Any) -> Any:
    """An enum member as its wire string; anything else unchanged."""
    return value.value if isinstance(value, Enum) else value


def status_fields(status: Any) -> dict[str, Any]:
    """The snapshot events carried by an alarm status reply (duck-typed)."""
    areas = []
    for area in getattr(status, "areas", ()) or ():
        if isinstance(area, dict):
            areas.append(area)
        elif isinstance(area, tuple) and len(area) == 2:
            areas.append({"id": area[0], "armState": text(area[1])})
    return {
        "system_state_change": text(getattr(status, "monitoring_state", None)),
        "arm_state_change": text(getattr(status, "arm_state", None)),
        "alert_state_change": getattr(status, "alert", None),
        "syren_state_change": getattr(status, "syren", None),
        "sensors_state_change": getattr(status, "sensors_alert", None),
        "sensors_error_change": getattr(status, "sensors_error", None),
        "power_state_change": text(getattr(status, "power", None)),
        "_areas": areas,
    }


def arm_refusal(result: Any) -> tuple[str, list[dict[str, Any]]] | None:
    """(error, blocking sensors) when an Arm/Disarm reply refuses, else None."""
    if getattr(result, "ok", True):
        return None
    sensors = [
        {"id": getattr(s, "id", None), "name": getattr(s, "name", None)}
        for s in getattr(result, "sensors", ()) or ()
    ]
    return str(getattr(result, "error", None) or "refused"), sensors

"""The alarm messages the front sends, and readers for the alarm's replies."""

from __future__ import annotations

from enum import Enum
from typing import Any

from arpi.alarm.messages import Arm, Disarm, GetAlarmStatus, ReloadConfig

__all__ = [
    "Arm",
    "Disarm",
    "GetAlarmStatus",
    "ReloadConfig",
    "arm_refusal",
    "status_fields",
    "text",
]


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

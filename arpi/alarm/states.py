"""The alarm's vocabulary: monitoring and arm states, alert types, triggers."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

__all__ = [
    "AlertType",
    "ArmState",
    "MonitoringState",
    "TriggerType",
    "TripKind",
    "aggregate_arm_state",
    "merge_arm_types",
]


class MonitoringState(StrEnum):
    """The eleven `monitoring_*` strings of the wire contract (DECISIONS W4)."""

    STARTUP = "monitoring_startup"
    UPDATING_CONFIG = "monitoring_updating_config"
    INVALID_CONFIG = "monitoring_invalid_config"
    READY = "monitoring_ready"
    ARM_DELAY = "monitoring_arm_delay"
    ARMED = "monitoring_armed"
    ALERT_DELAY = "monitoring_alert_delay"
    ALERT = "monitoring_alert"
    SABOTAGE = "monitoring_sabotage"
    ERROR = "monitoring_error"
    STOPPED = "monitoring_stopped"


class ArmState(StrEnum):
    """Arm state of an area (never `ARM_MIXED`) or of the whole system."""

    DISARM = "disarm"
    ARM_AWAY = "arm_away"
    ARM_STAY = "arm_stay"
    ARM_MIXED = "arm_mixed"

    @classmethod
    def parse(cls, value: object) -> ArmState:
        """Accept the JSON value (`arm_away`) or the DB enum name (`AWAY`).

        Raises ValueError naming the bad value.
        """
        if isinstance(value, ArmState):
            return value
        text = str(value)
        by_name = {"AWAY": "arm_away", "STAY": "arm_stay", "MIXED": "arm_mixed"}
        text = by_name.get(text, text)
        try:
            return cls(text.lower())
        except ValueError:
            raise ValueError(f"unknown arm state {value!r}") from None


class AlertType(StrEnum):
    """`alertType` of the alert JSON."""

    AWAY = "alert_away"
    STAY = "alert_stay"
    SABOTAGE = "alert_sabotage"


class TripKind(StrEnum):
    """Why a sensor joined an alert."""

    INTRUSION = "intrusion"  # an armed area's sensor, by its zone's alert delay
    SABOTAGE = "sabotage"  # a 24-hour zone (zone.disarmed_delay not null)
    TAMPER = "tamper"  # a line cut, shorted or unreadable past the grace time (F9)


class TriggerType(StrEnum):
    """What drives an output (reference-monitor 6.4, DECISIONS F19)."""

    AREA = "area"
    SYSTEM = "system"
    BUTTON = "button"


def aggregate_arm_state(states: Iterable[ArmState]) -> ArmState:
    """The system arm state by the merge rule of DECISIONS F6.

    `disarm` + X = X, `arm_away` + `arm_stay` = `arm_mixed`, no areas = `disarm`.
    """
    armed = {s for s in states if s is not ArmState.DISARM}
    if not armed:
        return ArmState.DISARM
    if len(armed) == 1:
        return next(iter(armed))
    return ArmState.ARM_MIXED


def merge_arm_types(current: ArmState, added: ArmState) -> ArmState:
    """Type of an open arm record after another arming (same stays, else mixed)."""
    if current is added or added is ArmState.DISARM:
        return current
    if current is ArmState.DISARM:
        return added
    return ArmState.ARM_MIXED

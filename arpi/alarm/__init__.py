"""The alarm's rules as plain code: state machine, delays, siren timing, outputs.

No threads, no I/O: time is passed in and effects come back as values. The `alarm`
actor drives `AlarmMachine`; see docs/internals.md, "Alarm core API".
"""

from arpi.alarm.config import (
    AlarmConfig,
    Area,
    ConfigError,
    Output,
    Sensitivity,
    Sensor,
    SirenConfig,
    Zone,
)
from arpi.alarm.durable import DurableState, DurableStateError
from arpi.alarm.lines import LineState
from arpi.alarm.machine import (
    AlarmMachine,
    ArmOutcome,
    DisarmOutcome,
    MachineSettings,
    MachineStatus,
)
from arpi.alarm.states import (
    AlertType,
    ArmState,
    MonitoringState,
    TriggerType,
    TripKind,
)

__all__ = [
    "AlarmConfig",
    "AlarmMachine",
    "AlertType",
    "Area",
    "ArmOutcome",
    "ArmState",
    "ConfigError",
    "DisarmOutcome",
    "DurableState",
    "DurableStateError",
    "LineState",
    "MachineSettings",
    "MachineStatus",
    "MonitoringState",
    "Output",
    "Sensitivity",
    "Sensor",
    "SirenConfig",
    "TriggerType",
    "TripKind",
    "Zone",
]

"""What the alarm's state machine asks the world to do, as immutable values.

Every event handler of `AlarmMachine` returns a list of effects in logical order.
The actor sorts them by their base class:

- `Durable`: history rows, the notification outbox and the durable runtime state
  (`PersistState`). Write them in one transaction, in order.
- `Publish`: UI events (reference-web-api section 5). Send after the commit.
- `Command`: siren and output commands to other actors. Safe to send before the
  commit (an alarm must not wait on the disk; a restart re-derives them).
- `TimerEffect`: monotonic timers to (re)arm or cancel, keyed by token. When one fires,
  call `AlarmMachine.tick(now, wall)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from arpi.alarm.states import AlertType, ArmState

if TYPE_CHECKING:
    from arpi.alarm.durable import DurableState

__all__ = [
    "AddAlertSensor",
    "AlertSensorRow",
    "ArmSensorRow",
    "CancelTimer",
    "CloseAlert",
    "Command",
    "Durable",
    "Effect",
    "EndAlertSensor",
    "NotifiedSensor",
    "Notify",
    "OpenAlert",
    "PersistState",
    "Publish",
    "RecordAreaState",
    "RecordArm",
    "RecordArmSensors",
    "RecordDisarm",
    "RecordOutputState",
    "RecordSensorFlags",
    "SetAlertSilent",
    "SetOutput",
    "SetTimer",
    "StartSiren",
    "StopSiren",
    "TimerEffect",
    "UpdateArmType",
]


class Effect:
    """Base of every effect."""

    __slots__ = ()


class Durable(Effect):
    """Written to the database in one transaction, in list order."""

    __slots__ = ()


class Command(Effect):
    """A message to another actor (siren, outputs)."""

    __slots__ = ()


class TimerEffect(Effect):
    """A timer request for the actor's clock."""

    __slots__ = ()


# -- rows ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertSensorRow:
    """An `alert_sensor` row: a snapshot of one sensor that joined an alert."""

    sensor_id: int
    channel: int | None
    type_id: int
    name: str
    description: str | None
    start_time: datetime
    end_time: datetime | None
    delay: int
    silent: bool | None
    monitor_period: int | None
    monitor_threshold: int | None
    kind: str = "intrusion"  # TripKind value; not a DB column of the reference


@dataclass(frozen=True, slots=True)
class ArmSensorRow:
    """An `arm_sensor` row. `bypassed` needs a column the reference lacks (F11)."""

    sensor_id: int
    channel: int | None
    type_id: int
    name: str
    description: str
    delay: int | None
    enabled: bool
    bypassed: bool


@dataclass(frozen=True, slots=True)
class NotifiedSensor:
    """A sensor as named in a notification."""

    id: int
    name: str
    description: str | None
    channel: int | None


# -- durable ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordAreaState(Durable):
    """Set `area.arm_state`."""

    area_id: int
    arm_state: ArmState


@dataclass(frozen=True, slots=True)
class RecordArm(Durable):
    """Insert an `arm` row with this explicit id (ids are allocated by the machine)."""

    arm_id: int
    arm_type: ArmState
    time: datetime
    user_id: int | None
    keypad_id: int | None


@dataclass(frozen=True, slots=True)
class UpdateArmType(Durable):
    """Merge the open arm's type (away + stay = mixed); its time is kept."""

    arm_id: int
    arm_type: ArmState


@dataclass(frozen=True, slots=True)
class RecordArmSensors(Durable):
    """Insert one `arm_sensor` row per sensor."""

    arm_id: int
    timestamp: datetime
    sensors: tuple[ArmSensorRow, ...]


@dataclass(frozen=True, slots=True)
class RecordDisarm(Durable):
    """Insert a `disarm` row; `arm_id` None for a sabotage-only disarm."""

    disarm_id: int
    time: datetime
    user_id: int | None
    keypad_id: int | None
    arm_id: int | None
    alert_id: int | None


@dataclass(frozen=True, slots=True)
class OpenAlert(Durable):
    """Insert an `alert` row and set `arm.alert_id` of `arm_id` when not None."""

    alert_id: int
    arm_id: int | None
    alert_type: AlertType
    start_time: datetime
    silent: bool


@dataclass(frozen=True, slots=True)
class AddAlertSensor(Durable):
    """Insert an `alert_sensor` row."""

    alert_id: int
    row: AlertSensorRow


@dataclass(frozen=True, slots=True)
class EndAlertSensor(Durable):
    """Set `alert_sensor.end_time` (the sensor restored)."""

    alert_id: int
    sensor_id: int
    end_time: datetime


@dataclass(frozen=True, slots=True)
class SetAlertSilent(Durable):
    """Update `alert.silent`."""

    alert_id: int
    silent: bool


@dataclass(frozen=True, slots=True)
class CloseAlert(Durable):
    """Close the alert and every open `alert_sensor` row of it; link the disarm."""

    alert_id: int
    end_time: datetime
    disarm_id: int


@dataclass(frozen=True, slots=True)
class RecordSensorFlags(Durable):
    """Live flags of a sensor row: `alert` (line active) and `error` (line trouble).

    Not needed for restore; the actor may batch or coalesce them.
    """

    sensor_id: int
    alert: bool
    error: bool


@dataclass(frozen=True, slots=True)
class RecordOutputState(Durable):
    """Live `output.state`: True while the output's signal runs."""

    output_id: int
    state: bool


@dataclass(frozen=True, slots=True)
class Notify(Durable):
    """Queue a notification in the durable outbox.

    `kind` is `alert_started` (with the first sensor) or `alert_stopped` (with every
    sensor of the alert).
    """

    kind: str
    alert_id: int
    alert_type: AlertType
    time: datetime
    sensors: tuple[NotifiedSensor, ...]


@dataclass(frozen=True, slots=True)
class PersistState(Durable):
    """Replace the stored runtime state with this one (last in its batch)."""

    state: DurableState


# -- UI -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Publish(Effect):
    """A Socket.IO event: name and JSON payload as in reference-web-api section 5."""

    name: str
    payload: object


# -- commands -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartSiren(Command):
    """Run the siren per `SirenSchedule` from `alert_started_at_wall`.

    `resumed` is True when the run continues one that started before a restart or a
    config reload: the siren actor must keep the original start (remaining time only).
    Sending it twice with the same start is harmless.
    """

    alert_started_at_wall: datetime
    silent: bool
    delay: float
    duration: float
    resumed: bool = False


@dataclass(frozen=True, slots=True)
class StopSiren(Command):
    """Switch the siren off and forget the run."""


@dataclass(frozen=True, slots=True)
class SetOutput(Command):
    """Drive output `channel` (never 0, the siren) to `on`."""

    channel: int
    on: bool


# -- timers -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetTimer(TimerEffect):
    """Call `tick` once the monotonic clock reaches `deadline`; replaces `token`."""

    token: str
    deadline: float


@dataclass(frozen=True, slots=True)
class CancelTimer(TimerEffect):
    """Forget the timer `token` (a stale tick is harmless anyway)."""

    token: str

"""The alarm's state machine: arming, disarming, sensors, delays and the one alert.

`AlarmMachine` is plain code: no threads, no I/O, time passed in. Each event method
takes `now` (monotonic seconds, for deadlines) and `wall` (aware datetime, for
records) and returns effects (`arpi.alarm.effects`) for the actor to carry out.

Monitoring state
    Derived after every event, never set by hand: an open alert gives
    `monitoring_alert` once an intrusion sensor joined it, else `monitoring_sabotage`;
    otherwise a running entry countdown gives `monitoring_alert_delay`, a running exit
    delay `monitoring_arm_delay`, any armed area `monitoring_armed`, else
    `monitoring_ready`. `startup` (before `restore`), `invalid_config`, `stopped` and
    `error` override it. `updating_config` is published during `reload_config` only.

Sensors
    A sensor *trips* when its line is ACTIVE long enough for its sensitivity window.
    A trip is acted on once (the sensor is *latched* until it restores): a 24-hour zone
    (`disarmed_delay` not null) counts down `disarmed_delay`; a sensor of an armed
    area counts down its zone's alert delay for its AREA's mode (null = ignored);
    during an exit delay a sensor is ignored until its area's exit start plus its
    zone's arm delay (null arm delay: until the exit delay ends), and if it is still
    tripped then, it is treated as armed. While an alert is open every trip joins it
    at once. A CUT/SHORT/FAULT line for longer than the grace time raises a tamper
    alarm in every state (bypassed or not); a shorter fault is counted as a flap.

Alert
    One at a time (F13). The first countdown to end (or an instant trip or a tamper)
    opens it: `alert_started` once, the siren, and every other running countdown joins
    it. The type comes from the aggregate arm state at that moment (F6): away, stay,
    disarm = sabotage, mixed = the first sensor's area mode. Only a disarm closes it.

The disarm versus entry-delay race rule
    Deadlines fire only when the actor delivers `tick` (its timer fired), and events
    are handled one at a time in the order the actor receives them. Whichever comes
    first wins: a disarm handled before the tick cancels every countdown and no alert
    is ever opened, even if the disarm's `now` is already past the deadline (the tick
    was still queued); a tick handled first opens the alert and the disarm then closes
    it (alert started and alert stopped are both sent). So a disarm handled at or
    before the deadline always means no alert, and a disarm acknowledged to its caller
    is never followed by an alert or a siren, because it cancelled everything pending.
    Two disarms in a row: the second finds nothing to do and records nothing.
    Safety net: if a sample batch arrives more than `LATE_TICK_MARGIN` seconds after a
    deadline whose tick never came, the deadline fires then (a lost timer must not
    leave a house unguarded); a disarm never fires deadlines.

Restore
    `restore` resumes areas, the open arm and alert, exit and entry countdowns and the
    siren's remaining time from a `DurableState`. It opens no alert, starts no new
    siren (a running one is resumed with its original start) and sends no
    notification, and it never disarms. A countdown whose deadline passed while the
    process was down fires once during `restore` (the trip happened before the stop).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from enum import Enum

import structlog

from arpi.alarm.config import AlarmConfig, Sensor, Zone
from arpi.alarm.durable import (
    AlertRecord,
    DurableState,
    EntryDelayRecord,
    ExitDelayRecord,
    SirenRecord,
)
from arpi.alarm.effects import (
    AddAlertSensor,
    AlertSensorRow,
    ArmSensorRow,
    CancelTimer,
    CloseAlert,
    Command,
    Effect,
    EndAlertSensor,
    NotifiedSensor,
    Notify,
    OpenAlert,
    PersistState,
    Publish,
    RecordAreaState,
    RecordArm,
    RecordArmSensors,
    RecordDisarm,
    RecordSensorFlags,
    SetAlertSilent,
    SetTimer,
    StartSiren,
    StopSiren,
    UpdateArmType,
)
from arpi.alarm.lines import FAULT_STATES, LineState
from arpi.alarm.messages import AlarmStatus, BlockingSensor
from arpi.alarm.outputs import OutputController
from arpi.alarm.sensitivity import ActivityWindow, window_spec
from arpi.alarm.siren import SirenPhase, SirenSchedule, resolve_silent
from arpi.alarm.states import (
    AlertType,
    ArmState,
    MonitoringState,
    TripKind,
    aggregate_arm_state,
    merge_arm_types,
)

__all__ = [
    "LATE_TICK_MARGIN",
    "AlarmMachine",
    "ArmOutcome",
    "DisarmOutcome",
    "MachineSettings",
    "MachineStatus",
]

log = structlog.get_logger("arpi.alarm")

LATE_TICK_MARGIN = 1.0
_ACTIVE = LineState.ACTIVE
_ARMED_MODES = (ArmState.ARM_AWAY, ArmState.ARM_STAY)
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_UNSET = object()


@dataclass(frozen=True, slots=True)
class MachineSettings:
    """Tunables. `tz` formats UI times (None = the system's local zone)."""

    line_fault_grace: float = 2.0
    tz: tzinfo | None = None


@dataclass(frozen=True, slots=True)
class ArmOutcome:
    """Outcome of `arm`. Refused: `ok` False, `code` and `error` say why.

    Codes: `not_running`, `invalid_config`, `alert_running`, `sensors_active`
    (`sensors` lists the blocking ones; retry with `force`), `unknown_area`,
    `bad_mode`. `changed` False with `ok` True: nothing to arm (already armed so,
    or no area with sensors).
    """

    ok: bool
    changed: bool
    effects: list[Effect] = field(default_factory=list)
    code: str | None = None
    error: str | None = None
    sensors: tuple[BlockingSensor, ...] = ()
    bypassed: tuple[BlockingSensor, ...] = ()
    exit_delay: float | None = None


@dataclass(frozen=True, slots=True)
class DisarmOutcome:
    """Outcome of `disarm`; codes `not_running`, `unknown_area`."""

    ok: bool
    changed: bool
    effects: list[Effect] = field(default_factory=list)
    code: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class MachineStatus:
    """Everything the machine knows, for health pages and tests (see `alarm_status`)."""

    monitoring_state: MonitoringState
    arm_state: ArmState
    areas: tuple[tuple[int, ArmState], ...]
    alert: dict[str, object] | None
    syren: bool | None
    sensors_alert: bool
    sensors_error: bool
    bypassed: tuple[int, ...]
    exit_deadline: float | None
    entry_deadlines: tuple[tuple[int, float], ...]
    line_flaps: tuple[tuple[int, int], ...]
    invalid_reason: str | None


class _Phase(Enum):
    STARTUP = "startup"
    RUNNING = "running"
    INVALID = "invalid"
    STOPPED = "stopped"
    ERROR = "error"


class _SensorRt:
    """Runtime of one enabled sensor."""

    __slots__ = (
        "bypassed",
        "cfg",
        "fault_since",
        "fault_since_wall",
        "flaps",
        "grace_until",
        "latched",
        "line",
        "tamper_latched",
        "tripped",
        "window",
        "zone",
    )

    def __init__(self, cfg: Sensor, zone: Zone, window: ActivityWindow | None) -> None:
        self.cfg = cfg
        self.zone = zone
        # None until the first sample: that one is always processed, so a latch
        # restored from durable state is released if the line is idle after all.
        self.line: LineState | None = None
        self.tripped = False
        self.latched = False
        self.tamper_latched = False
        self.fault_since: float | None = None
        self.fault_since_wall: datetime | None = None
        self.flaps = 0
        self.window = window
        self.grace_until: float | None = None
        self.bypassed = False


@dataclass(slots=True)
class _Entry:
    sensor: Sensor
    kind: TripKind
    delay: int
    tripped_at: datetime
    deadline: float
    deadline_wall: datetime


@dataclass(slots=True)
class _Exit:
    deadline: float
    deadline_wall: datetime
    area_starts: dict[int, tuple[float, datetime]]
    releases: list[tuple[float, int]] = field(default_factory=list)


@dataclass(slots=True)
class _Alert:
    id: int
    arm_id: int | None
    alert_type: AlertType
    started_at: datetime
    silent: bool
    siren: SirenSchedule
    siren_record: SirenRecord
    rows: dict[int, AlertSensorRow]

    @property
    def intrusion(self) -> bool:
        return any(r.kind == TripKind.INTRUSION for r in self.rows.values())


def _entry_token(sensor_id: int) -> str:
    return f"entry:{sensor_id}"


def _line_token(sensor_id: int) -> str:
    return f"line:{sensor_id}"


class AlarmMachine:
    """The alarm rules for one house. Single-threaded: one actor owns it.

    Lifecycle: construct, `restore(...)` once (starts monitoring), then any of
    `sensors_sampled`, `tick`, `arm`, `disarm`, `press_button`, `reload_config`,
    and finally `stop`. Every method returns its effects; none blocks or raises for
    bad outside input (refusals come back in the result), except `restore` called
    twice and `arm` with an impossible mode type, which are programming errors.
    """

    def __init__(self, settings: MachineSettings | None = None) -> None:
        self._settings = settings or MachineSettings()
        self._phase = _Phase.STARTUP
        self._config = AlarmConfig()
        self._areas: dict[int, ArmState] = {}
        self._rt: dict[int, _SensorRt] = {}
        self._busy: dict[int, _SensorRt] = {}
        self._n_active = 0
        self._n_error = 0
        self._arm_id: int | None = None
        self._arm_type: ArmState | None = None
        self._exit: _Exit | None = None
        self._entries: dict[int, _Entry] = {}
        self._alert: _Alert | None = None
        self._next_arm_id = 1
        self._next_alert_id = 1
        self._next_disarm_id = 1
        self._timers: dict[str, float] = {}
        self._timers_min = math.inf
        self._outputs = OutputController(())
        self._system_armed = False
        self._published_state: MonitoringState | None = None
        self._published_arm: ArmState | None = None
        self._published_siren: object = _UNSET
        # per-event scratch
        self._fx: list[Effect] | None = None
        self._now = 0.0
        self._wall = datetime.min
        self._durable_dirty = False
        self._alert_dirty = False
        self._active_changed = False
        self._error_changed = False
        self._arm_publish = False
        self._fx_delivered = 0
        self._fmt_last: tuple[datetime, str] | None = None
        # Optional: called with each siren command the moment it is decided (and with
        # every command decided before it in the same event, in order), so the actor
        # can send it before the rest of the event (UI payloads, the durable
        # snapshot) is built. The commands are still in the returned effects.
        self.on_command: Callable[[Command], object] | None = None

    # ================================================================ queries

    @property
    def monitoring_state(self) -> MonitoringState:
        """The current monitoring state."""
        return self._derive_state()

    @property
    def arm_state(self) -> ArmState:
        """The aggregate arm state (F6)."""
        return aggregate_arm_state(self._areas.values())

    def area_state(self, area_id: int) -> ArmState:
        """Arm state of one area; raises KeyError for an unknown area."""
        return self._areas[area_id]

    def next_deadline(self) -> float | None:
        """The earliest pending timer (alarm or output), or None."""
        candidates = [self._timers_min, self._outputs.next_deadline() or math.inf]
        earliest = min(candidates)
        return None if earliest == math.inf else earliest

    def status(self) -> MachineStatus:
        """A snapshot of everything the UI and health checks show."""
        siren = None
        if self._alert is not None:
            siren = self._alert.siren.phase(self._now).ui_value
        return MachineStatus(
            monitoring_state=self._derive_state(),
            arm_state=self.arm_state,
            areas=tuple(self._areas.items()),
            alert=self._alert_json(),
            syren=siren,
            sensors_alert=self._n_active > 0,
            sensors_error=self._n_error > 0,
            bypassed=tuple(sorted(s for s, rt in self._rt.items() if rt.bypassed)),
            exit_deadline=None if self._exit is None else self._exit.deadline,
            entry_deadlines=tuple((s, e.deadline) for s, e in self._entries.items()),
            line_flaps=tuple((s, rt.flaps) for s, rt in self._rt.items() if rt.flaps),
            invalid_reason=self._config.invalid_reason,
        )

    def alarm_status(self, power: str = "network") -> AlarmStatus:
        """The `GetAlarmStatus` reply of `arpi.alarm.messages` (UI JSON payloads)."""
        status = self.status()
        return AlarmStatus(
            monitoring_state=str(status.monitoring_state),
            arm_state=str(status.arm_state),
            areas=tuple(
                area.to_json(self._areas.get(area.id, ArmState.DISARM))
                for area in self._config.areas
            ),
            alert=status.alert,
            syren=status.syren,
            sensors_alert=status.sensors_alert,
            sensors_error=status.sensors_error,
            power=power,
            sensor_states={
                s: rt.line.value for s, rt in self._rt.items() if rt.line is not None
            },
        )

    def snapshot(self) -> DurableState:
        """The durable runtime state as of the last event."""
        exit_record = None
        if self._exit is not None:
            exit_record = ExitDelayRecord(
                deadline=self._exit.deadline_wall,
                area_starts=tuple(
                    (a, wall) for a, (_, wall) in self._exit.area_starts.items()
                ),
            )
        alert_record = None
        if self._alert is not None:
            a = self._alert
            alert_record = AlertRecord(
                id=a.id,
                arm_id=a.arm_id,
                alert_type=a.alert_type,
                started_at=a.started_at,
                silent=a.silent,
                siren=a.siren_record,
                sensors=tuple(a.rows.values()),
            )
        return DurableState(
            monitoring_state=self._derive_state(),
            areas=tuple(self._areas.items()),
            arm_id=self._arm_id,
            arm_type=self._arm_type,
            exit=exit_record,
            entries=tuple(
                EntryDelayRecord(
                    sensor_id=s,
                    kind=e.kind,
                    tripped_at=e.tripped_at,
                    deadline=e.deadline_wall,
                    delay=e.delay,
                )
                for s, e in self._entries.items()
            ),
            alert=alert_record,
            bypassed=tuple(sorted(s for s, rt in self._rt.items() if rt.bypassed)),
            latched=tuple(sorted(s for s, rt in self._rt.items() if rt.latched)),
            tamper_latched=tuple(
                sorted(s for s, rt in self._rt.items() if rt.tamper_latched)
            ),
            next_arm_id=self._next_arm_id,
            next_alert_id=self._next_alert_id,
            next_disarm_id=self._next_disarm_id,
        )

    # ================================================================ lifecycle

    def restore(
        self,
        state: DurableState | None,
        config: AlarmConfig,
        now: float,
        wall: datetime,
    ) -> list[Effect]:
        """Start monitoring from the stored state (None on the very first start).

        Raises RuntimeError when called twice. See the module docstring for what a
        restore does and does not do.
        """
        if self._phase is not _Phase.STARTUP:
            raise RuntimeError("restore runs once, on a fresh machine")
        self._begin(now, wall)
        state = state or DurableState()

        self._areas = {a.id: a.arm_state for a in config.areas}
        for area_id, arm_state in state.areas:
            if area_id in self._areas:
                self._areas[area_id] = arm_state
        self._arm_id, self._arm_type = state.arm_id, state.arm_type
        self._next_arm_id = state.next_arm_id
        self._next_alert_id = state.next_alert_id
        self._next_disarm_id = state.next_disarm_id
        self._apply_config(config, drive_outputs=False)
        for sensor_ids, attr in (
            (state.bypassed, "bypassed"),
            (state.latched, "latched"),
            (state.tamper_latched, "tamper_latched"),
        ):
            for sensor_id in sensor_ids:
                rt = self._rt.get(sensor_id)
                if rt is not None:
                    setattr(rt, attr, True)

        if state.exit is not None:
            self._restore_exit(state.exit)
        for entry in state.entries:
            sensor = config.sensor_by_id.get(entry.sensor_id)
            if sensor is None:
                log.warning("entry_delay_dropped", sensor_id=entry.sensor_id)
                continue
            deadline = self._mono(entry.deadline)
            self._entries[entry.sensor_id] = _Entry(
                sensor,
                entry.kind,
                entry.delay,
                entry.tripped_at,
                deadline,
                entry.deadline,
            )
            self._set_timer(_entry_token(entry.sensor_id), deadline)
        if state.alert is not None:
            self._restore_alert(state.alert)

        self._system_armed = self._system_is_armed()
        self._fx.extend(self._outputs.load())
        self._fx.extend(self._outputs.resume(self._areas, self._system_armed, now))
        self._publish_all_areas()
        self._arm_publish = True
        self._alert_dirty = True
        if self._alert is None:
            self._publish_siren(None, force=True)
        self._active_changed = self._error_changed = True
        self._durable_dirty = True
        log.info(
            "alarm_restored",
            monitoring_state=str(self._derive_state()),
            arm_state=str(self.arm_state),
            alert_id=None if self._alert is None else self._alert.id,
        )
        self._fire_due(now)
        return self._end()

    def reload_config(
        self, config: AlarmConfig, now: float, wall: datetime
    ) -> list[Effect]:
        """Apply a new configuration snapshot (after any configuration change).

        Publishes `monitoring_updating_config` and `sensors_state_change(None)`, then
        the resulting state. Line states, latches and bypasses of sensors that stay
        are kept; sensitivity windows restart. Running countdowns and the open alert
        are kept. An invalid snapshot stops monitoring (`monitoring_invalid_config`).
        """
        if self._phase in (_Phase.STARTUP, _Phase.STOPPED):
            return []
        self._begin(now, wall)
        self._fx.append(
            Publish("system_state_change", str(MonitoringState.UPDATING_CONFIG))
        )
        self._fx.append(Publish("sensors_state_change", None))
        self._published_state = MonitoringState.UPDATING_CONFIG
        self._apply_config(config, drive_outputs=True)
        self._publish_all_areas()
        self._active_changed = self._error_changed = True
        self._arm_publish = True
        self._durable_dirty = True
        return self._end()

    def stop(self, now: float, wall: datetime) -> list[Effect]:
        """Clean shutdown: cancel timers and publish `monitoring_stopped`.

        Nothing durable changes (F1: a stop never disarms, closes or silences); the
        next `restore` resumes the state as it was.
        """
        if self._phase is _Phase.STOPPED:
            return []
        self._begin(now, wall)
        for token in list(self._timers):
            self._cancel_timer(token)
        self._phase = _Phase.STOPPED
        return self._end()

    def mark_failed(self, now: float, wall: datetime) -> list[Effect]:
        """Publish `monitoring_error` before the owner restarts; nothing durable."""
        self._begin(now, wall)
        self._phase = _Phase.ERROR
        return self._end()

    # ================================================================ sensors

    def sensors_sampled(
        self,
        states: Iterable[tuple[int, LineState]],
        now: float,
        wall: datetime,
    ) -> list[Effect]:
        """One scan of a sensor bank: `(sensor_id, LineState)` pairs.

        Costs O(changed lines) plus O(sensors whose sensitivity window is busy);
        unknown or disabled sensor ids are ignored. Returns [] when nothing changed.
        """
        if self._phase is not _Phase.RUNNING:
            return []
        rts = self._rt
        began = False
        for sensor_id, line in states:
            rt = rts.get(sensor_id)
            if rt is None or rt.line is line:
                continue
            if not began:
                self._begin(now, wall)
                began = True
            self._line_changed(rt, line)
        if self._busy:
            for rt in list(self._busy.values()):
                window = rt.window
                assert window is not None
                tripped = window.observe(now, rt.line is _ACTIVE)
                if not window.busy:
                    del self._busy[rt.cfg.id]
                if tripped is not rt.tripped:
                    if not began:
                        self._begin(now, wall)
                        began = True
                    self._set_tripped(rt, tripped)
        if self._timers_min + LATE_TICK_MARGIN <= now:
            if not began:
                self._begin(now, wall)
                began = True
            log.warning("alarm_timer_late", late=now - self._timers_min)
            self._fire_due(now)
        if not began:
            return []
        return self._end()

    def tick(self, now: float, wall: datetime) -> list[Effect]:
        """A timer fired: handle every deadline at or before `now`, in time order."""
        if self._phase in (_Phase.STARTUP, _Phase.STOPPED):
            return []
        self._begin(now, wall)
        self._fire_due(now)
        return self._end()

    # ================================================================ arm / disarm

    def arm(
        self,
        mode: ArmState | str,
        *,
        area_id: int | None = None,
        user_id: int | None = None,
        keypad_id: int | None = None,
        use_delay: bool = False,
        force: bool = False,
        now: float,
        wall: datetime,
    ) -> ArmOutcome:
        """Arm the whole system (`area_id` None) or one area, away or stay.

        Refused (F11) before monitoring runs, with an invalid configuration, while an
        alert or a countdown runs, and while a sensor that would alert in `mode` is
        active (unless `force`: those sensors are bypassed until the next disarm).
        Whole-system arming arms every area that has sensors. With `use_delay` an exit
        delay of the largest arm delay of the armed sensors' zones runs; 0 or none
        arms at once. During an exit delay a sensor blocks only if its zone's arm
        delay is 0 (it would alert at once).
        """
        try:
            mode = ArmState.parse(mode)
        except ValueError:
            mode = ArmState.DISARM
        if mode not in _ARMED_MODES:
            return ArmOutcome(
                False, False, code="bad_mode", error="mode must be arm_away or arm_stay"
            )
        if self._phase is _Phase.INVALID:
            return ArmOutcome(
                False,
                False,
                code="invalid_config",
                error=f"configuration is invalid: {self._config.invalid_reason}",
            )
        if self._phase is not _Phase.RUNNING:
            return ArmOutcome(
                False, False, code="not_running", error="monitoring is not running"
            )
        if self._alert is not None or self._entries:
            return ArmOutcome(
                False,
                False,
                code="alert_running",
                error="an alert is running; disarm first",
            )
        with_sensors = {s.area_id for s in self._config.sensors}
        if area_id is None:
            targets = [a for a in self._areas if a in with_sensors]
        elif area_id not in self._areas:
            return ArmOutcome(
                False, False, code="unknown_area", error=f"unknown area {area_id}"
            )
        else:
            targets = [area_id] if area_id in with_sensors else []
        changing = [a for a in targets if self._areas[a] is not mode]
        if not changing:
            return ArmOutcome(True, False)

        members = [rt for rt in self._rt.values() if rt.cfg.area_id in changing]
        exit_delay = None
        if use_delay:
            delays = [
                d
                for rt in members
                if not rt.zone.is_sabotage
                and (d := rt.zone.arm_delay(mode)) is not None
            ]
            exit_delay = float(max(delays, default=0)) or None
        blocking = [
            rt
            for rt in members
            if not rt.bypassed
            and (rt.line is _ACTIVE or rt.tripped)
            and self._would_alert_at_arming(rt, mode, exit_delay is not None)
        ]
        refs = tuple(BlockingSensor(rt.cfg.id, rt.cfg.name) for rt in blocking)
        if blocking and not force:
            log.info(
                "arm_refused", reason="sensors_active", sensors=[r.id for r in refs]
            )
            return ArmOutcome(
                False,
                False,
                code="sensors_active",
                error="sensors are active: close them or arm with force",
                sensors=refs,
            )

        self._begin(now, wall)
        for rt in blocking:
            rt.bypassed = True
        for a in changing:
            self._set_area(a, mode)
        if exit_delay is not None:
            self._start_exit(changing, members, mode, exit_delay)
        else:
            self._leave_exit(changing, members)
        self._record_arm(mode, user_id, keypad_id)
        self._sync_system_outputs()
        for rt in members:
            if rt.tripped:
                self._consider(rt)
        self._arm_publish = True
        self._durable_dirty = True
        log.info(
            "alarm_armed",
            mode=str(mode),
            areas=changing,
            use_delay=use_delay,
            exit_delay=exit_delay,
            bypassed=[r.id for r in refs],
            user_id=user_id,
            keypad_id=keypad_id,
        )
        return ArmOutcome(True, True, self._end(), bypassed=refs, exit_delay=exit_delay)

    def disarm(
        self,
        *,
        area_id: int | None = None,
        user_id: int | None = None,
        keypad_id: int | None = None,
        now: float,
        wall: datetime,
    ) -> DisarmOutcome:
        """Disarm the whole system (`area_id` None) or one area.

        A whole disarm ends exit and entry countdowns (24-hour zones included, F10),
        closes the open alert with its sensor rows, stops the siren and clears the
        bypasses. Disarming one area while another stays armed cancels only that
        area's countdowns and keeps an open alert running; disarming the last armed
        area is a whole disarm. Nothing to disarm: `changed` False, nothing recorded.
        """
        if self._phase in (_Phase.STARTUP, _Phase.STOPPED):
            return DisarmOutcome(
                False, False, code="not_running", error="monitoring is not running"
            )
        if area_id is not None and area_id not in self._areas:
            return DisarmOutcome(
                False, False, code="unknown_area", error=f"unknown area {area_id}"
            )
        if area_id is not None and any(
            s is not ArmState.DISARM for a, s in self._areas.items() if a != area_id
        ):
            if self._areas[area_id] is ArmState.DISARM:
                return DisarmOutcome(True, False)
            self._begin(now, wall)
            self._disarm_area(area_id)
            self._record_arm_sensors()
            self._sync_system_outputs()
            self._arm_publish = True
            log.info(
                "area_disarmed", area_id=area_id, user_id=user_id, keypad_id=keypad_id
            )
            return DisarmOutcome(True, True, self._end())

        if not (
            any(s is not ArmState.DISARM for s in self._areas.values())
            or self._alert is not None
            or self._entries
            or self._exit is not None
        ):
            return DisarmOutcome(True, False)
        self._begin(now, wall)
        self._full_disarm(user_id, keypad_id)
        return DisarmOutcome(True, True, self._end())

    def press_button(
        self, output_id: int, pressed: bool, now: float, wall: datetime
    ) -> list[Effect] | None:
        """Press or release a button output; None if no usable button has that id."""
        effects = self._outputs.button(output_id, pressed, now)
        return effects

    # ================================================================ internals: frame

    def _begin(self, now: float, wall: datetime) -> None:
        self._now = now
        self._wall = wall
        self._fx = []
        self._fx_delivered = 0

    def _end(self) -> list[Effect]:
        fx = self._fx
        assert fx is not None
        if self._alert_dirty:
            fx.append(Publish("alert_state_change", self._alert_json()))
        if self._active_changed:
            fx.append(Publish("sensors_state_change", self._n_active > 0))
        if self._error_changed:
            fx.append(Publish("sensors_error_change", self._n_error > 0))
        state = self._derive_state()
        if state is not self._published_state:
            fx.append(Publish("system_state_change", str(state)))
            self._published_state = state
        if self._arm_publish:
            # Sent after every arm and disarm, changed or not, as the reference does.
            arm = self.arm_state
            fx.append(Publish("arm_state_change", str(arm)))
            self._published_arm = arm
        if self._durable_dirty and self._phase is not _Phase.STOPPED:
            fx.append(PersistState(self.snapshot()))
        self._fx = None
        self._durable_dirty = self._alert_dirty = False
        self._active_changed = self._error_changed = self._arm_publish = False
        return fx

    def _derive_state(self) -> MonitoringState:
        phase = self._phase
        if phase is not _Phase.RUNNING:
            return {
                _Phase.STARTUP: MonitoringState.STARTUP,
                _Phase.INVALID: MonitoringState.INVALID_CONFIG,
                _Phase.STOPPED: MonitoringState.STOPPED,
                _Phase.ERROR: MonitoringState.ERROR,
            }[phase]
        if self._alert is not None:
            return (
                MonitoringState.ALERT
                if self._alert.intrusion
                else MonitoringState.SABOTAGE
            )
        if self._entries:
            return MonitoringState.ALERT_DELAY
        if self._exit is not None:
            return MonitoringState.ARM_DELAY
        if any(s is not ArmState.DISARM for s in self._areas.values()):
            return MonitoringState.ARMED
        return MonitoringState.READY

    def _mono(self, moment: datetime) -> float:
        return self._now + (moment - self._wall).total_seconds()

    def _wall_of(self, mono: float) -> datetime:
        return self._wall + timedelta(seconds=mono - self._now)

    def _fmt(self, moment: datetime | None) -> str | None:
        if moment is None:
            return None
        # An alert's payload formats the same instants again and again (its start
        # is its first sensor's start): remember the last one.
        last = self._fmt_last
        if last is not None and last[0] == moment and last[0].tzinfo is moment.tzinfo:
            return last[1]
        text = moment.astimezone(self._settings.tz).strftime(_TIME_FORMAT)
        self._fmt_last = (moment, text)
        return text

    # ================================================================ internals: timers

    def _set_timer(self, token: str, deadline: float) -> None:
        self._timers[token] = deadline
        assert self._fx is not None
        self._fx.append(SetTimer(token, deadline))
        if deadline < self._timers_min:
            self._timers_min = deadline

    def _cancel_timer(self, token: str) -> None:
        if self._timers.pop(token, None) is not None:
            assert self._fx is not None
            self._fx.append(CancelTimer(token))
            self._timers_min = min(self._timers.values(), default=math.inf)

    def _fire_due(self, now: float) -> None:
        for _ in range(1000):  # each round handles what the previous one scheduled
            due = sorted((d, t) for t, d in self._timers.items() if d <= now)
            if not due:
                break
            for deadline, token in due:
                if self._timers.get(token) != deadline:
                    continue
                del self._timers[token]
                self._dispatch(token)
            self._timers_min = min(self._timers.values(), default=math.inf)
        out_next = self._outputs.next_deadline()
        if out_next is not None and out_next <= now:
            assert self._fx is not None
            self._fx.extend(self._outputs.tick(now))

    def _dispatch(self, token: str) -> None:
        kind, _, arg = token.partition(":")
        if kind == "exit":
            self._end_exit()
        elif kind == "exit_grace":
            self._release_grace()
        elif kind == "entry":
            self._fire_entry(int(arg))
        elif kind == "line":
            self._tamper(int(arg))
        elif kind == "siren":
            self._siren_sync()

    # ================================================================ internals: config

    def _apply_config(self, config: AlarmConfig, *, drive_outputs: bool) -> None:
        old = self._rt
        self._config = config
        self._phase = _Phase.INVALID if config.invalid_reason else _Phase.RUNNING
        self._areas = {a.id: self._areas.get(a.id, a.arm_state) for a in config.areas}
        self._rt = {}
        self._busy = {}
        if self._phase is _Phase.RUNNING:
            for sensor in config.sensors:
                if not sensor.enabled:
                    continue
                spec = window_spec(sensor, config.sensitivity)
                window = None
                if spec.period is not None:
                    window = ActivityWindow(spec.period, spec.threshold)
                rt = _SensorRt(sensor, config.zone_by_id[sensor.zone_id], window)
                prev = old.get(sensor.id)
                if prev is not None:
                    for attr in (
                        "line",
                        "tripped",
                        "latched",
                        "tamper_latched",
                        "fault_since",
                        "fault_since_wall",
                        "flaps",
                        "grace_until",
                        "bypassed",
                    ):
                        setattr(rt, attr, getattr(prev, attr))
                    if window is not None and rt.tripped:
                        window.seed_active(self._now)
                        self._busy[sensor.id] = rt
                self._rt[sensor.id] = rt
        for sensor_id in old.keys() - self._rt.keys():
            self._cancel_timer(_line_token(sensor_id))
        self._n_active = sum(1 for rt in self._rt.values() if rt.line is _ACTIVE)
        self._n_error = sum(1 for rt in self._rt.values() if rt.line in FAULT_STATES)
        self._outputs = OutputController(config.outputs)
        if drive_outputs:
            assert self._fx is not None
            self._fx.extend(self._outputs.load())
            self._fx.extend(
                self._outputs.resume(self._areas, self._system_is_armed(), self._now)
            )

    # ================================================================ internals: lines

    def _line_changed(self, rt: _SensorRt, line: LineState) -> None:
        old = rt.line
        rt.line = line
        was_trouble = old in FAULT_STATES
        trouble = line in FAULT_STATES
        was_active = old is _ACTIVE
        active = line is _ACTIVE
        fx = self._fx
        assert fx is not None
        if old is None:
            # The first sample after a start: the stored flags may be left over
            # from before a restart, so write what the line says now.
            fx.append(RecordSensorFlags(rt.cfg.id, active, trouble))
        if was_active is not active or was_trouble is not trouble:
            if old is not None:
                fx.append(RecordSensorFlags(rt.cfg.id, active, trouble))
            if was_active is not active:
                self._n_active += 1 if active else -1
                self._active_changed = True
            if was_trouble is not trouble:
                self._n_error += 1 if trouble else -1
                self._error_changed = True
        if trouble and not was_trouble:
            if not rt.tamper_latched:
                rt.fault_since = self._now
                rt.fault_since_wall = self._wall
                self._set_timer(
                    _line_token(rt.cfg.id), self._now + self._settings.line_fault_grace
                )
        elif was_trouble and not trouble:
            if rt.fault_since is not None:
                rt.flaps += 1
                log.warning(
                    "line_fault_flapped",
                    sensor_id=rt.cfg.id,
                    flaps=rt.flaps,
                    lasted=round(self._now - rt.fault_since, 3),
                    line=old.value,
                )
                rt.fault_since = rt.fault_since_wall = None
                self._cancel_timer(_line_token(rt.cfg.id))
            if rt.tamper_latched:
                rt.tamper_latched = False
                self._durable_dirty = True
            self._end_row(rt.cfg.id, tamper=True)
        window = rt.window
        if window is None:
            tripped = active
        else:
            tripped = window.observe(self._now, active)
            if window.busy:
                self._busy[rt.cfg.id] = rt
            else:
                self._busy.pop(rt.cfg.id, None)
        if tripped is not rt.tripped or (rt.latched and not tripped):
            self._set_tripped(rt, tripped)

    def _set_tripped(self, rt: _SensorRt, tripped: bool) -> None:
        rt.tripped = tripped
        if tripped:
            self._consider(rt)
            return
        if rt.latched:
            rt.latched = False
            self._durable_dirty = True
        self._end_row(rt.cfg.id, tamper=False)

    def _end_row(self, sensor_id: int, *, tamper: bool) -> None:
        """Close the sensor's alert row when what made it join has restored."""
        alert = self._alert
        if alert is None:
            return
        row = alert.rows.get(sensor_id)
        if row is None or row.end_time is not None:
            return
        if (row.kind == TripKind.TAMPER) is not tamper:
            return
        alert.rows[sensor_id] = replace(row, end_time=self._wall)
        assert self._fx is not None
        self._fx.append(EndAlertSensor(alert.id, sensor_id, self._wall))
        self._alert_dirty = self._durable_dirty = True

    def _tamper(self, sensor_id: int) -> None:
        rt = self._rt.get(sensor_id)
        if rt is None or rt.fault_since is None:
            return
        tripped_at = rt.fault_since_wall or self._wall
        rt.fault_since = rt.fault_since_wall = None
        rt.tamper_latched = True
        self._durable_dirty = True
        log.warning("line_tamper_alarm", sensor_id=sensor_id, line=rt.line.value)
        if self._alert is not None:
            self._join(rt.cfg, TripKind.TAMPER, 0, tripped_at)
        else:
            self._open_alert(rt.cfg, TripKind.TAMPER, 0, tripped_at)

    # ================================================================ internals: trips

    def _trip_rule(self, rt: _SensorRt) -> tuple[TripKind, int] | None:
        if rt.bypassed:
            return None
        zone = rt.zone
        if zone.disarmed_delay is not None:
            return TripKind.SABOTAGE, zone.disarmed_delay
        area_state = self._areas.get(rt.cfg.area_id, ArmState.DISARM)
        if area_state is ArmState.DISARM:
            return None
        if rt.grace_until is not None and self._now < rt.grace_until:
            return None
        delay = zone.alert_delay(area_state)
        return None if delay is None else (TripKind.INTRUSION, delay)

    def _would_alert_at_arming(
        self, rt: _SensorRt, mode: ArmState, with_exit: bool
    ) -> bool:
        if rt.zone.is_sabotage:
            return True
        if with_exit:
            return rt.zone.arm_delay(mode) == 0
        return rt.zone.alert_delay(mode) is not None

    def _consider(self, rt: _SensorRt) -> None:
        if rt.latched or self._phase is not _Phase.RUNNING:
            return
        rule = self._trip_rule(rt)
        if rule is None:
            return
        rt.latched = True
        self._durable_dirty = True
        kind, delay = rule
        self._trip(rt.cfg, kind, delay, self._wall)

    def _trip(
        self, sensor: Sensor, kind: TripKind, delay: int, tripped_at: datetime
    ) -> None:
        if self._alert is not None:
            self._join(sensor, kind, delay, tripped_at)
        elif sensor.id in self._entries:
            return
        elif delay <= 0:
            self._open_alert(sensor, kind, 0, tripped_at)
        else:
            deadline = self._now + delay
            self._entries[sensor.id] = _Entry(
                sensor,
                kind,
                delay,
                tripped_at,
                deadline,
                self._wall + timedelta(seconds=delay),
            )
            self._set_timer(_entry_token(sensor.id), deadline)
            self._durable_dirty = True
            log.info(
                "entry_delay_started", sensor_id=sensor.id, kind=str(kind), delay=delay
            )

    def _fire_entry(self, sensor_id: int) -> None:
        entry = self._entries.pop(sensor_id, None)
        if entry is None:
            return
        self._durable_dirty = True
        if self._alert is not None:
            self._join(entry.sensor, entry.kind, entry.delay, entry.tripped_at)
        else:
            self._open_alert(entry.sensor, entry.kind, entry.delay, entry.tripped_at)

    # ================================================================ internals: alert

    def _alert_type(self, sensor: Sensor) -> AlertType:
        aggregate = self.arm_state
        if aggregate is ArmState.ARM_MIXED:
            aggregate = self._areas.get(sensor.area_id, ArmState.DISARM)
        if aggregate is ArmState.ARM_AWAY:
            return AlertType.AWAY
        if aggregate is ArmState.ARM_STAY:
            return AlertType.STAY
        return AlertType.SABOTAGE

    def _open_alert(
        self, sensor: Sensor, kind: TripKind, delay: int, tripped_at: datetime
    ) -> None:
        fx = self._fx
        assert fx is not None
        siren_cfg = self._config.siren
        silent = resolve_silent(siren_cfg.silent, (sensor.silent_alert,))
        alert = _Alert(
            id=self._next_alert_id,
            arm_id=self._arm_id,
            alert_type=self._alert_type(sensor),
            started_at=self._wall,
            silent=silent,
            siren=SirenSchedule(self._now, silent, siren_cfg.delay, siren_cfg.duration),
            siren_record=SirenRecord(
                self._wall, silent, siren_cfg.delay, siren_cfg.duration
            ),
            rows={},
        )
        self._next_alert_id += 1
        self._alert = alert
        fx.append(
            OpenAlert(alert.id, alert.arm_id, alert.alert_type, self._wall, silent)
        )
        self._add_row(sensor, kind, delay, tripped_at)
        fx.append(
            Notify(
                "alert_started",
                alert.id,
                alert.alert_type,
                self._wall,
                (_notified(sensor),),
            )
        )
        fx.append(StartSiren(self._wall, silent, siren_cfg.delay, siren_cfg.duration))
        self._deliver_commands()
        self._siren_sync()
        for sensor_id, entry in sorted(
            self._entries.items(), key=lambda i: i[1].deadline
        ):
            self._cancel_timer(_entry_token(sensor_id))
            if sensor_id not in alert.rows:
                self._add_row(entry.sensor, entry.kind, entry.delay, entry.tripped_at)
        self._entries.clear()
        self._alert_dirty = self._durable_dirty = True
        log.warning(
            "alert_started",
            alert_id=alert.id,
            alert_type=str(alert.alert_type),
            sensor_id=sensor.id,
            kind=str(kind),
            silent=silent,
        )

    def _join(
        self, sensor: Sensor, kind: TripKind, delay: int, tripped_at: datetime
    ) -> None:
        alert = self._alert
        assert alert is not None and self._fx is not None
        if sensor.id in alert.rows:
            return
        self._add_row(sensor, kind, delay, tripped_at)
        self._alert_dirty = self._durable_dirty = True
        log.warning(
            "alert_joined", alert_id=alert.id, sensor_id=sensor.id, kind=str(kind)
        )
        if alert.silent:
            siren_cfg = self._config.siren
            silent = resolve_silent(
                siren_cfg.silent, (r.silent for r in alert.rows.values())
            )
            if not silent:
                # A loud sensor joining a silent alert sounds the siren; its cut-off
                # counts from now. A sounding siren is never silenced by a join.
                alert.silent = False
                alert.siren = SirenSchedule(
                    self._now, False, siren_cfg.delay, siren_cfg.duration
                )
                alert.siren_record = SirenRecord(
                    self._wall, False, siren_cfg.delay, siren_cfg.duration
                )
                self._fx.append(SetAlertSilent(alert.id, False))
                self._fx.append(
                    StartSiren(self._wall, False, siren_cfg.delay, siren_cfg.duration)
                )
                self._deliver_commands()
                self._siren_sync()

    def _add_row(
        self, sensor: Sensor, kind: TripKind, delay: int, tripped_at: datetime
    ) -> None:
        alert = self._alert
        assert alert is not None and self._fx is not None
        spec = window_spec(sensor, self._config.sensitivity)
        row = AlertSensorRow(
            sensor_id=sensor.id,
            channel=sensor.channel,
            type_id=sensor.type_id,
            name=sensor.name,
            description=sensor.description,
            start_time=tripped_at,
            end_time=None,
            delay=delay,
            silent=sensor.silent_alert,
            monitor_period=None if spec.period is None else int(spec.period),
            monitor_threshold=None if spec.period is None else spec.threshold,
            kind=str(kind),
        )
        alert.rows[sensor.id] = row
        self._fx.append(AddAlertSensor(alert.id, row))

    def _siren_sync(self, *, force: bool = False) -> None:
        alert = self._alert
        if alert is None:
            return
        self._publish_siren(alert.siren.phase(self._now).ui_value, force=force)
        upcoming = alert.siren.next_change(self._now)
        if upcoming is None:
            self._cancel_timer("siren")
        else:
            self._set_timer("siren", upcoming)

    def _deliver_commands(self) -> None:
        """Hand every command of this event not yet delivered to `on_command`."""
        sink, fx = self.on_command, self._fx
        if sink is None or fx is None:
            return
        for effect in fx[self._fx_delivered :]:
            if isinstance(effect, Command):
                sink(effect)
        self._fx_delivered = len(fx)

    def _publish_siren(self, value: bool | None, *, force: bool = False) -> None:
        if force or value is not self._published_siren:
            assert self._fx is not None
            self._fx.append(Publish("syren_state_change", value))
            self._published_siren = value

    def _restore_alert(self, record: AlertRecord) -> None:
        siren = SirenSchedule.from_wall(
            record.siren.started_at,
            silent=record.siren.silent,
            delay=record.siren.delay,
            duration=record.siren.duration,
            now=self._now,
            wall=self._wall,
        )
        self._alert = _Alert(
            id=record.id,
            arm_id=record.arm_id,
            alert_type=record.alert_type,
            started_at=record.started_at,
            silent=record.silent,
            siren=siren,
            siren_record=record.siren,
            rows={row.sensor_id: row for row in record.sensors},
        )
        for sensor_id in self._alert.rows:
            rt = self._rt.get(sensor_id)
            if rt is not None and self._alert.rows[sensor_id].kind != TripKind.TAMPER:
                rt.latched = True
        if siren.phase(self._now) in (SirenPhase.WAITING, SirenPhase.SOUNDING):
            assert self._fx is not None
            self._fx.append(
                StartSiren(
                    record.siren.started_at,
                    record.siren.silent,
                    record.siren.delay,
                    record.siren.duration,
                    resumed=True,
                )
            )
        self._siren_sync(force=True)

    def _alert_json(self) -> dict[str, object] | None:
        alert = self._alert
        if alert is None:
            return None
        fmt = self._fmt
        return {
            "id": alert.id,
            "alertType": str(alert.alert_type),
            "startTime": fmt(alert.started_at),
            "endTime": None,
            "silent": alert.silent,
            "sensors": [
                {
                    "sensorId": r.sensor_id,
                    "channel": r.channel,
                    "typeId": r.type_id,
                    "name": r.name,
                    "description": r.description,
                    "startTime": fmt(r.start_time),
                    "endTime": fmt(r.end_time),
                    "delay": r.delay,
                    "silent": r.silent,
                    "monitorPeriod": r.monitor_period,
                    "monitorThreshold": r.monitor_threshold,
                }
                for r in alert.rows.values()
            ],
        }

    # ================================================================ internals: areas

    def _set_area(self, area_id: int, state: ArmState) -> None:
        assert self._fx is not None
        self._areas[area_id] = state
        self._fx.append(RecordAreaState(area_id, state))
        area = self._config.area_by_id[area_id]
        self._fx.append(Publish("area_state_change", area.to_json(state)))
        if state is ArmState.DISARM:
            self._fx.extend(self._outputs.area_disarmed(area_id, self._now))
        else:
            self._fx.extend(self._outputs.area_armed(area_id, self._now))

    def _publish_all_areas(self) -> None:
        assert self._fx is not None
        for area in self._config.areas:
            state = self._areas.get(area.id, ArmState.DISARM)
            self._fx.append(Publish("area_state_change", area.to_json(state)))

    def _system_is_armed(self) -> bool:
        in_exit = self._exit.area_starts if self._exit is not None else {}
        return any(
            s is not ArmState.DISARM and a not in in_exit
            for a, s in self._areas.items()
        )

    def _sync_system_outputs(self) -> None:
        assert self._fx is not None
        armed = self._system_is_armed()
        if armed and not self._system_armed:
            self._fx.extend(self._outputs.system_armed(self._now))
        elif not armed and self._system_armed:
            self._fx.extend(self._outputs.system_disarmed(self._now))
        self._system_armed = armed

    def _record_arm(
        self, mode: ArmState, user_id: int | None, keypad_id: int | None
    ) -> None:
        assert self._fx is not None
        if self._arm_id is None or self._arm_type is None:
            self._arm_id = self._next_arm_id
            self._next_arm_id += 1
            self._arm_type = mode
            self._fx.append(
                RecordArm(self._arm_id, mode, self._wall, user_id, keypad_id)
            )
        else:
            merged = merge_arm_types(self._arm_type, mode)
            if merged is not self._arm_type:
                self._arm_type = merged
                self._fx.append(UpdateArmType(self._arm_id, merged))
        self._record_arm_sensors()

    def _record_arm_sensors(self) -> None:
        if self._arm_id is None:
            return
        assert self._fx is not None
        rows = []
        for sensor in self._config.sensors:
            rt = self._rt.get(sensor.id)
            rows.append(
                ArmSensorRow(
                    sensor_id=sensor.id,
                    channel=sensor.channel,
                    type_id=sensor.type_id,
                    name=sensor.name,
                    description=sensor.label,
                    delay=self._current_delay(sensor, rt),
                    enabled=sensor.enabled,
                    bypassed=rt is not None and rt.bypassed,
                )
            )
        self._fx.append(RecordArmSensors(self._arm_id, self._wall, tuple(rows)))

    def _current_delay(self, sensor: Sensor, rt: _SensorRt | None) -> int | None:
        zone = self._config.zone_by_id.get(sensor.zone_id)
        if zone is None:
            return None
        if zone.disarmed_delay is not None:
            return zone.disarmed_delay
        state = self._areas.get(sensor.area_id, ArmState.DISARM)
        if rt is not None and rt.grace_until is not None:
            return zone.arm_delay(state)
        return zone.alert_delay(state)

    # ================================================================ internals: exit

    def _start_exit(
        self, areas: list[int], members: list[_SensorRt], mode: ArmState, length: float
    ) -> None:
        deadline = self._now + length
        if self._exit is None:
            self._exit = _Exit(deadline, self._wall + timedelta(seconds=length), {})
        elif deadline > self._exit.deadline:
            self._exit.deadline = deadline
            self._exit.deadline_wall = self._wall + timedelta(seconds=length)
        for a in areas:
            self._exit.area_starts[a] = (self._now, self._wall)
        for rt in members:
            self._set_grace(rt, self._now, mode)
        self._set_timer("exit", self._exit.deadline)
        self._schedule_grace()

    def _set_grace(self, rt: _SensorRt, start: float, mode: ArmState) -> None:
        if rt.zone.is_sabotage:
            rt.grace_until = None
            return
        delay = rt.zone.arm_delay(mode)
        if delay is None:
            rt.grace_until = math.inf
        elif delay > 0:
            rt.grace_until = start + delay
            assert self._exit is not None
            heapq.heappush(self._exit.releases, (rt.grace_until, rt.cfg.id))
        else:
            rt.grace_until = None

    def _schedule_grace(self) -> None:
        exit_ = self._exit
        if exit_ is None:
            self._cancel_timer("exit_grace")
            return
        while exit_.releases:
            when, sensor_id = exit_.releases[0]
            rt = self._rt.get(sensor_id)
            if rt is not None and rt.grace_until == when:
                self._set_timer("exit_grace", when)
                return
            heapq.heappop(exit_.releases)
        self._cancel_timer("exit_grace")

    def _release_grace(self) -> None:
        exit_ = self._exit
        if exit_ is None:
            return
        while exit_.releases and exit_.releases[0][0] <= self._now:
            when, sensor_id = heapq.heappop(exit_.releases)
            rt = self._rt.get(sensor_id)
            if rt is not None and rt.grace_until == when:
                rt.grace_until = None
                if rt.tripped:
                    self._consider(rt)
        self._schedule_grace()

    def _leave_exit(self, areas: list[int], members: list[_SensorRt]) -> None:
        for rt in members:
            rt.grace_until = None
        if self._exit is None:
            return
        for a in areas:
            self._exit.area_starts.pop(a, None)
        if not self._exit.area_starts:
            self._exit = None
            self._cancel_timer("exit")
            self._cancel_timer("exit_grace")
            self._durable_dirty = True

    def _end_exit(self) -> None:
        exit_ = self._exit
        if exit_ is None:
            return
        self._exit = None
        self._cancel_timer("exit_grace")
        self._durable_dirty = True
        released = [
            rt
            for rt in self._rt.values()
            if rt.cfg.area_id in exit_.area_starts and rt.grace_until is not None
        ]
        for rt in released:
            rt.grace_until = None
        log.info("exit_delay_ended", areas=list(exit_.area_starts))
        self._sync_system_outputs()
        for rt in released:
            if rt.tripped:
                self._consider(rt)

    def _restore_exit(self, record: ExitDelayRecord) -> None:
        self._exit = _Exit(self._mono(record.deadline), record.deadline, {})
        for area_id, started_wall in record.area_starts:
            mode = self._areas.get(area_id, ArmState.DISARM)
            if mode is ArmState.DISARM:
                continue
            start = self._mono(started_wall)
            self._exit.area_starts[area_id] = (start, started_wall)
            for rt in self._rt.values():
                if rt.cfg.area_id == area_id:
                    self._set_grace(rt, start, mode)
        if not self._exit.area_starts:
            self._exit = None
            return
        self._set_timer("exit", self._exit.deadline)
        self._schedule_grace()

    # ================================================================ internals: disarm

    def _disarm_area(self, area_id: int) -> None:
        self._set_area(area_id, ArmState.DISARM)
        members = [rt for rt in self._rt.values() if rt.cfg.area_id == area_id]
        for sensor_id in [
            s for s, e in self._entries.items() if e.sensor.area_id == area_id
        ]:
            del self._entries[sensor_id]
            self._cancel_timer(_entry_token(sensor_id))
        self._leave_exit([area_id], members)
        for rt in members:
            rt.bypassed = False
            rt.latched = rt.tripped
        self._durable_dirty = True

    def _full_disarm(self, user_id: int | None, keypad_id: int | None) -> None:
        fx = self._fx
        assert fx is not None
        for area_id, state in list(self._areas.items()):
            if state is not ArmState.DISARM:
                self._set_area(area_id, ArmState.DISARM)
        if self._exit is not None:
            self._exit = None
            self._cancel_timer("exit")
            self._cancel_timer("exit_grace")
        for sensor_id in list(self._entries):
            self._cancel_timer(_entry_token(sensor_id))
        self._entries.clear()
        for rt in self._rt.values():
            rt.grace_until = None
            rt.bypassed = False
            rt.latched = rt.tripped

        alert = self._alert
        disarm_id = self._next_disarm_id
        self._next_disarm_id += 1
        fx.append(
            RecordDisarm(
                disarm_id,
                self._wall,
                user_id,
                keypad_id,
                self._arm_id,
                None if alert is None else alert.id,
            )
        )
        self._arm_id = self._arm_type = None
        if alert is not None:
            fx.append(CloseAlert(alert.id, self._wall, disarm_id))
            fx.append(
                Notify(
                    "alert_stopped",
                    alert.id,
                    alert.alert_type,
                    self._wall,
                    tuple(_notified_row(r) for r in alert.rows.values()),
                )
            )
            fx.append(StopSiren())
            self._cancel_timer("siren")
            self._alert = None
            self._alert_dirty = True
            self._publish_siren(None, force=True)
            log.warning("alert_stopped", alert_id=alert.id, disarm_id=disarm_id)
        self._sync_system_outputs()
        self._arm_publish = True
        self._durable_dirty = True
        log.info(
            "alarm_disarmed", disarm_id=disarm_id, user_id=user_id, keypad_id=keypad_id
        )


def _notified(sensor: Sensor) -> NotifiedSensor:
    return NotifiedSensor(sensor.id, sensor.name, sensor.description, sensor.channel)


def _notified_row(row: AlertSensorRow) -> NotifiedSensor:
    return NotifiedSensor(row.sensor_id, row.name, row.description, row.channel)

"""The `alarm` actor (AlarmLogic): drives `AlarmMachine`, makes its effects real.

One `arpi.alarm.AlarmMachine` per incarnation. Every message becomes one machine
event with `now = ctx.clock.monotonic()` and `wall = ctx.clock.wall()`; the effects
that come back are carried out in this order (docs/internals.md, "Alarm core API"):

1. Commands (`StartSiren`, `StopSiren`, `SetOutput`) are told to `siren` / `outputs`
   at once: an alarm never waits for the disk.
2. Timers become `tell_self_at(deadline, _Tick())` on `ctx.clock`, one per token.
3. Durable effects of one event form one *write*: one `Transact` to `storage`
   (history rows, notification outbox rows, the `DurableState` document, all in
   one transaction). Writes are submitted in order and never dropped: while
   `storage` is down they stay queued here (the alarm keeps guarding) and are
   submitted again, in order, when it is back (a retry timer, or at once when
   `storage` publishes `Lifecycle(started)`). Every statement is idempotent (rows
   carry explicit ids, inserts skip rows that exist), so a write re-run after a
   commit whose answer was lost changes nothing.
4. UI events (`Publish`) are published as `UiEvent` at once, in order: they say what
   the alarm is doing now (its siren and outputs were already told), also while the
   database is down. `NotificationsQueued` is told to `notifier` after a commit that
   queued any.
5. `Arm` / `Disarm` are acknowledged only after their effect is durable.

Deferred replies. pykka answers an `ask` with the handler's return value, and the
handler must not wait for storage. So a command whose effect still has to be
committed returns a `concurrent.futures.Future` that resolves to the
`ArmResult` / `DisarmResult` after COMMIT (the same pattern as `storage`'s
`Transact.reply`). A refusal (nothing to write) is returned as a plain result at
once. Callers use `resolve_reply` (blocking thread) or `await
resolve_reply_async(...)` (event loop), or `ask_alarm` / `ask_alarm_async` which
ask and resolve in one call. A result future fails with `AlarmWriteFailed` when
the write failed for good, and with `ActorUnavailable` when the alarm stopped
before its write was even submitted.

Restart. `setup` first waits (bounded) until `storage` has committed whatever an
earlier incarnation submitted, then reads the configuration and the durable state
on its own connection, restores the machine and submits the restore write (which
closes stale open alert rows, `end_reason` set, and gives every open arm row that
the durable state does not hold a disarm row with `reason` set, the same reasons).
A restore sounds no new siren and sends no notification. Commands are not sent
during `setup` (siren and outputs start after the alarm under `core`); instead the
alarm re-sends its current siren command and output levels whenever `siren` or
`outputs` publishes `Lifecycle(started)`.

Configuration changes (`ReloadConfig`, or `ConfigChanged` on the bus for sensors,
zones, areas, outputs, `syren/timing`, `alert/sensitivity`) are read on a helper
thread with its own connection; the result comes back as a message. After setup
the actor's own thread never touches the database.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

import psycopg2.extras
import pykka
import structlog
from pypika import functions as fn

from arpi.actors import Actor, ActorUnavailable, Address, AskTimeout, Lifecycle
from arpi.alarm import (
    AlarmConfig,
    AlarmMachine,
    Area,
    ConfigError,
    DurableState,
    DurableStateError,
    MachineSettings,
    Output,
    Sensitivity,
    Sensor,
    SirenConfig,
    Zone,
)
from arpi.alarm.effects import (
    AddAlertSensor,
    CancelTimer,
    CloseAlert,
    Command,
    Durable,
    Effect,
    EndAlertSensor,
    Notify,
    OpenAlert,
    PersistState,
    Publish,
    RecordAreaState,
    RecordArm,
    RecordArmSensors,
    RecordDisarm,
    RecordOutputState,
    RecordSensorFlags,
    SetAlertSilent,
    SetOutput,
    SetTimer,
    StartSiren,
    StopSiren,
    UpdateArmType,
)
from arpi.alarm.messages import (
    Arm,
    ArmResult,
    Disarm,
    DisarmResult,
    GetAlarmStatus,
    PowerChanged,
    ReloadConfig,
    SensorsSampled,
)
from arpi.alarm.states import ArmState
from arpi.bus import ConfigChanged, UiEvent
from arpi.db import sql, tables
from arpi.db.storage import StorageUnavailable, submit
from arpi.notify import enqueue_notifications

__all__ = [
    "CONFIG_KINDS",
    "AlarmLogic",
    "AlarmWriteFailed",
    "ButtonResult",
    "Flush",
    "Flushed",
    "PressButton",
    "ask_alarm",
    "ask_alarm_async",
    "load_alarm_config",
    "load_durable_state",
    "resolve_reply",
    "resolve_reply_async",
    "write_effects",
]

log = structlog.get_logger("arpi.alarm")

# ConfigChanged kinds the alarm reloads for.
CONFIG_KINDS = frozenset(
    {"sensors", "zones", "areas", "outputs", "syren/timing", "alert/sensitivity"}
)

_DB_ARM = {
    ArmState.ARM_AWAY: "AWAY",
    ArmState.ARM_STAY: "STAY",
    ArmState.ARM_MIXED: "MIXED",
    ArmState.DISARM: "DISARM",
}
_RETRY_FIRST = 0.05
_RETRY_MAX = 2.0


# -- public messages ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Flush:
    """Ask: the reply resolves to `Flushed` once everything so far is durable.

    Like `Arm`, the reply is `Flushed` at once when nothing is waiting, else a
    `concurrent.futures.Future` of it (see `resolve_reply`). For tests and tools.
    """


@dataclass(frozen=True, slots=True)
class Flushed:
    """Every write queued before the `Flush` has committed (or failed for good)."""

    writes: int  # writes committed by this incarnation so far


@dataclass(frozen=True, slots=True)
class PressButton:
    """Ask: press (`pressed` True) or release a `button` output (F19).

    The reply is a `ButtonResult`, deferred like `Arm`'s until the output's new
    state is durable (see `resolve_reply`). Pressing starts the output's run (its
    delay and duration apply); releasing stops it.
    """

    output_id: int
    pressed: bool


@dataclass(frozen=True, slots=True)
class ButtonResult:
    """Reply to `PressButton`. `ok` False: nothing changed; `error` says why
    (a bad field, or no enabled button output with a channel has that id)."""

    ok: bool
    error: str | None = None


class AlarmWriteFailed(Exception):
    """A write of the alarm failed for good (not a storage outage); see the log."""


# -- internal messages --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tick:
    """A timer of the machine fell due."""


@dataclass(frozen=True, slots=True)
class _Written:
    """A write's storage future completed (told from the storage thread)."""


@dataclass(frozen=True, slots=True)
class _RetryWrites:
    """The retry timer for writes that storage could not take."""


@dataclass(frozen=True, slots=True)
class _PeerStarted:
    """`siren`, `outputs` or `storage` published Lifecycle(started)."""

    name: str


@dataclass(frozen=True, slots=True)
class _ConfigLoaded:
    generation: int
    config: AlarmConfig | None
    error: str | None


@dataclass(frozen=True, slots=True)
class _CloseStaleAlerts(Durable):
    """Close open alert rows that the durable state does not know (restore)."""

    alert_ids: tuple[int, ...]
    end_time: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class _CloseStaleArms(Durable):
    """Close open arm rows that the durable state does not hold (restore): one
    disarm row each (`disarm_ids`, same order), marked with `reason`."""

    arm_ids: tuple[int, ...]
    disarm_ids: tuple[int, ...]
    time: datetime
    reason: str


# -- reply helpers ------------------------------------------------------------------


def resolve_reply(reply: object, timeout: float) -> Any:
    """The final reply of an alarm ask: waits for a deferred (Future) reply.

    Blocks the calling thread up to `timeout` seconds (never call it in a handler
    or on the event loop). Raises AskTimeout, or what the future carries.
    """
    if isinstance(reply, Future):
        try:
            return reply.result(timeout)
        except FutureTimeout:
            raise AskTimeout(f"alarm change not durable within {timeout}s") from None
    return reply


async def resolve_reply_async(reply: object, timeout: float) -> Any:
    """`resolve_reply` for coroutines on the event loop; never blocks the loop."""
    if isinstance(reply, Future):
        try:
            return await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(reply)), timeout
            )
        except TimeoutError:
            raise AskTimeout(f"alarm change not durable within {timeout}s") from None
    return reply


def ask_alarm(address: Address, message: object, timeout: float) -> Any:
    """Ask `alarm` and wait for the durable answer; blocking thread only.

    Raises ActorUnavailable, AskTimeout (the whole call is bounded by `timeout`).
    """
    return resolve_reply(address.ask(message, timeout), timeout)


async def ask_alarm_async(address: Address, message: object, timeout: float) -> Any:
    """`ask_alarm` for coroutines on the event loop."""
    return await resolve_reply_async(await address.ask_async(message, timeout), timeout)


# -- reading the configuration and the state (any thread with its own cursor) --------


def _rows(cur: Any, query: Any, params: Any = None) -> list[dict[str, Any]]:
    return sql.fetch_all(cur, query, params)


def _option(cur: Any, name: str, section: str) -> Mapping[str, Any] | None:
    t = tables.option
    query = (
        sql.Q.from_(t)
        .select(t.value)
        .where((t.name == sql.param()) & (t.section == sql.param()))
    )
    value = sql.fetch_value(cur, query, (name, section))
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, Mapping) else None


def _hardware_problem(sensors: Iterable[Mapping[str, Any]], inputs: int) -> str | None:
    """Two enabled sensors on one input, or a channel the board does not have."""
    used: dict[int, set[str]] = {}
    for row in sensors:
        if not row["enabled"]:
            continue
        channel = row["channel"]
        if channel is None or channel < 0:
            continue
        if channel >= inputs:
            return f"sensor {row['id']} uses channel {channel}; the board has {inputs}"
        kind = str(row.get("channel_type") or "normal")
        slots = {"channel_a": {"a"}, "channel_b": {"b"}}.get(kind, {"a", "b"})
        taken = used.setdefault(channel, set())
        if taken & slots:
            return f"two sensors use channel {channel}"
        taken |= slots
    return None


def load_alarm_config(cur: Any, *, inputs: int = 15) -> AlarmConfig:
    """The alarm's configuration snapshot from the database (non-deleted rows).

    A row the core refuses (`ConfigError`) or a hardware-level problem (two sensors
    on one input, a channel beyond `inputs`) gives a snapshot with `invalid_reason`
    set, never an exception. A bad `syren/timing` or `alert/sensitivity` option is
    logged (`alarm_option_invalid`) and its defaults are used. Blocks on `cur`.
    """
    a, z, s, o = tables.area, tables.zone, tables.sensor, tables.output
    area_rows = _rows(
        cur,
        sql.Q.from_(a)
        .select(a.id, a.name, a.arm_state, a.ui_order)
        .where(a.deleted == sql.param())
        .orderby(a.id),
        (False,),
    )
    zone_rows = _rows(
        cur,
        sql.Q.from_(z)
        .select(
            z.id,
            z.name,
            z.disarmed_delay,
            z.away_alert_delay,
            z.stay_alert_delay,
            z.away_arm_delay,
            z.stay_arm_delay,
        )
        .where(z.deleted == sql.param())
        .orderby(z.id),
        (False,),
    )
    sensor_rows = _rows(
        cur,
        sql.Q.from_(s)
        .select(
            s.id,
            s.name,
            s.description,
            s.channel,
            s.channel_type,
            s.type_id,
            s.zone_id,
            s.area_id,
            s.enabled,
            s.silent_alert,
            s.monitor_period,
            s.monitor_threshold,
        )
        .where(s.deleted == sql.param())
        .orderby(s.id),
        (False,),
    )
    output_rows = _rows(
        cur,
        sql.Q.from_(o)
        .select(
            o.id,
            o.name,
            o.channel,
            o.trigger_type,
            o.area_id,
            o.delay,
            o.duration,
            o.default_state,
            o.enabled,
        )
        .orderby(o.id),
    )
    siren = _parse_option(
        SirenConfig.from_option,
        _option(cur, "syren", "timing"),
        ("silent", "delay", "duration"),
    )
    sensitivity = _parse_option(
        Sensitivity.from_option,
        _option(cur, "alert", "sensitivity"),
        ("monitor_period", "monitor_threshold"),
    )
    try:
        areas = [Area.from_row(r) for r in area_rows]
        zones = [Zone.from_row(r) for r in zone_rows]
        sensors = [
            Sensor.from_row({k: v for k, v in r.items() if k != "channel_type"})
            for r in sensor_rows
        ]
        outputs = [
            Output.from_row({**r, "trigger_type": str(r["trigger_type"])})
            for r in output_rows
        ]
    except ConfigError as exc:
        log.error("alarm_config_invalid", field=exc.field, problem=exc.message)
        return AlarmConfig.build(
            areas=[Area.from_row(r) for r in area_rows if _parses(Area, r)],
            invalid_reason=str(exc),
        )
    return AlarmConfig.build(
        areas=areas,
        zones=zones,
        sensors=sensors,
        outputs=outputs,
        siren=siren,
        sensitivity=sensitivity,
        invalid_reason=_hardware_problem(sensor_rows, inputs),
    )


def _parses(kind: Any, row: Mapping[str, Any]) -> bool:
    try:
        kind.from_row(row)
    except ConfigError:
        return False
    return True


def _parse_option(
    parse: Callable[[Any], Any], value: Mapping[str, Any] | None, keys: Sequence[str]
) -> Any:
    known = None if value is None else {k: v for k, v in value.items() if k in keys}
    try:
        return parse(known)
    except ConfigError as exc:
        log.error("alarm_option_invalid", field=exc.field, problem=exc.message)
        return parse(None)


def load_durable_state(cur: Any) -> tuple[DurableState | None, str | None]:
    """The stored `DurableState` (None if none yet) and the problem if unreadable.

    The id counters are raised to the history tables' max(id)+1. Blocks on `cur`.
    """
    t = tables.runtime_state
    raw = sql.fetch_value(cur, sql.Q.from_(t).select(t.alarm_state).limit(1))
    state: DurableState | None = None
    problem = None
    if raw is not None:
        try:
            if isinstance(raw, str):
                raw = json.loads(raw)
            state = DurableState.from_json(raw)
        except (DurableStateError, ValueError) as exc:
            problem = str(exc)
    ids = {}
    for name, table in (
        ("arm", tables.arm),
        ("alert", tables.alert),
        ("disarm", tables.disarm),
    ):
        top = sql.fetch_value(cur, sql.Q.from_(table).select(fn.Max(table.id)))
        ids[name] = (top or 0) + 1
    return (state or DurableState()).with_next_ids(**ids), problem


def _open_alert_ids(cur: Any) -> list[int]:
    t = tables.alert
    query = sql.Q.from_(t).select(t.id).where(t.end_time.isnull()).orderby(t.id)
    return [r["id"] for r in _rows(cur, query)]


def _open_arm_ids(cur: Any) -> list[int]:
    """Arm rows without a disarm row, oldest first."""
    a, d = tables.arm, tables.disarm
    query = (
        sql.Q.from_(a)
        .left_join(d)
        .on(d.arm_id == a.id)
        .select(a.id)
        .where(d.id.isnull())
        .orderby(a.id)
    )
    return [r["id"] for r in _rows(cur, query)]


def _power_source(cur: Any) -> str:
    t = tables.runtime_state
    value = sql.fetch_value(cur, sql.Q.from_(t).select(t.power_source).limit(1))
    return value if value in ("network", "battery") else "network"


# -- writing effects (runs on the storage thread, inside its transaction) -------------


def write_effects(
    cur: Any, effects: Sequence[Durable], *, tz: tzinfo | None = None
) -> list[str]:
    """Apply durable effects in order with `cur`; returns the notification keys queued.

    Idempotent: run twice, the second run adds no row. A notification that cannot
    be queued is logged (`alarm_notification_failed`) and does not undo the rest.
    Raises psycopg2 errors for everything else. Blocks on the database.
    """
    queued: list[str] = []
    batched = _Batched(cur)
    for effect in effects:
        writer = _WRITERS.get(type(effect))
        if writer is None:
            raise TypeError(f"no writer for {type(effect).__name__}")
        result = writer(batched, effect, tz)
        if result:
            queued.append(result)
    batched.flush()
    return queued


class _Batched:
    """A cursor that sends statements whose results nobody reads together.

    `defer(text, params)` queues a statement; the queue goes to the server in one
    round trip with the next `execute` (whose result, the last one, is what
    `rowcount` / `fetch*` then give) or with `flush()`. Parameters are bound by
    psycopg2 exactly as `execute` binds them (`mogrify`). An error in a deferred
    statement is raised by that later call, inside the same transaction. An arm
    writes seven statements: two round trips instead of seven, and fewer GIL
    handoffs on the storage thread while the alarm's hot path runs.
    """

    __slots__ = ("_cur", "_pending")

    def __init__(self, cur: Any) -> None:
        self._cur = cur
        self._pending: list[bytes] = []

    def defer(self, text: str, params: Any = None) -> None:
        self._pending.append(self._cur.mogrify(text, params))

    def execute(self, text: str, params: Any = None) -> None:
        if not self._pending:
            self._cur.execute(text, params)
            return
        self._pending.append(self._cur.mogrify(text, params))
        self.flush()

    def flush(self) -> None:
        if self._pending:
            statements, self._pending = self._pending, []
            self._cur.execute(b";\n".join(statements))

    def __getattr__(self, name: str) -> Any:
        # Anything else (fetchall, rowcount, mogrify, ...) sees every statement.
        self.flush()
        return getattr(self._cur, name)


# SQL text is built with pypika once per statement shape and cached: building it
# costs more than running it, and the storage thread shares the GIL with the
# alarm's hot path.
_SQL: dict[object, str] = {}


def _text(key: object, build: Callable[[], Any]) -> str:
    text = _SQL.get(key)
    if text is None:
        text = _SQL[key] = sql.to_sql(build())
    return text


def _update(
    table: Any, columns: Sequence[str], where: Sequence[str], open_only: bool = False
) -> str:
    """UPDATE table SET columns... WHERE where... (= params, in that order)."""

    def build() -> Any:
        query = sql.Q.update(table)
        for column in columns:
            query = query.set(table.field(column), sql.param())
        for column in where:
            query = query.where(table.field(column) == sql.param())
        if open_only:
            query = query.where(table.end_time.isnull())
        return query

    return _text(
        ("update", table.get_table_name(), tuple(columns), tuple(where), open_only),
        build,
    )


def _w_area(cur: Any, e: RecordAreaState, tz: Any) -> None:
    cur.defer(
        _update(tables.area, ("arm_state",), ("id",)), (_DB_ARM[e.arm_state], e.area_id)
    )


def _insert_once(
    cur: Any,
    table: Any,
    columns: Sequence[str],
    values: Sequence[Any],
    conflict: Sequence[str],
) -> None:
    text = _text(
        ("insert", table.get_table_name(), tuple(columns), tuple(conflict)),
        lambda: (
            sql.Q.into(table)
            .columns(*columns)
            .insert(*[sql.param() for _ in columns])
            .on_conflict(*conflict)
            .do_nothing()
        ),
    )
    cur.execute(text, tuple(values))
    if cur.rowcount == 0:
        log.warning(
            "alarm_row_exists",
            table=table.get_table_name(),
            key=[values[columns.index(c)] for c in conflict],
        )


def _w_arm(cur: Any, e: RecordArm, tz: Any) -> None:
    _insert_once(
        cur,
        tables.arm,
        ("id", "type", "time", "user_id", "keypad_id"),
        (e.arm_id, _DB_ARM[e.arm_type], e.time, e.user_id, e.keypad_id),
        ("id",),
    )


def _w_arm_type(cur: Any, e: UpdateArmType, tz: Any) -> None:
    cur.defer(_update(tables.arm, ("type",), ("id",)), (_DB_ARM[e.arm_type], e.arm_id))


_ARM_SENSOR_COLUMNS = (
    "arm_id",
    "sensor_id",
    "channel",
    "type_id",
    "name",
    "description",
    "timestamp",
    "delay",
    "enabled",
    "bypassed",
)


def _w_arm_sensors(cur: Any, e: RecordArmSensors, tz: Any) -> None:
    if not e.sensors:
        return
    t = tables.arm_sensor

    def build() -> Any:
        query = sql.Q.into(t).columns(*_ARM_SENSOR_COLUMNS)
        for _ in e.sensors:
            query = query.insert(*[sql.param() for _ in _ARM_SENSOR_COLUMNS])
        return query

    params: list[Any] = []
    for row in e.sensors:
        params += [
            e.arm_id,
            row.sensor_id,
            row.channel,
            row.type_id,
            row.name[:16],
            row.description,
            e.timestamp,
            row.delay,
            row.enabled,
            row.bypassed,
        ]
    cur.defer(_text(("arm_sensor", len(e.sensors)), build), params)


def _w_disarm(cur: Any, e: RecordDisarm, tz: Any) -> None:
    _insert_once(
        cur,
        tables.disarm,
        ("id", "time", "user_id", "keypad_id", "arm_id", "alert_id"),
        (e.disarm_id, e.time, e.user_id, e.keypad_id, e.arm_id, e.alert_id),
        ("id",),
    )


def _w_open_alert(cur: Any, e: OpenAlert, tz: Any) -> None:
    _insert_once(
        cur,
        tables.alert,
        ("id", "start_time", "silent"),
        (e.alert_id, e.start_time, e.silent),
        ("id",),
    )
    if e.arm_id is not None:
        cur.defer(_update(tables.arm, ("alert_id",), ("id",)), (e.alert_id, e.arm_id))


def _w_alert_sensor(cur: Any, e: AddAlertSensor, tz: Any) -> None:
    r = e.row
    _insert_once(
        cur,
        tables.alert_sensor,
        (
            "alert_id",
            "sensor_id",
            "name",
            "description",
            "channel",
            "type_id",
            "start_time",
            "end_time",
            "delay",
            "silent",
            "monitor_period",
            "monitor_threshold",
            "kind",
        ),
        (
            e.alert_id,
            r.sensor_id,
            r.name[:16],
            r.description,
            r.channel,
            r.type_id,
            r.start_time,
            r.end_time,
            r.delay,
            r.silent,
            r.monitor_period,
            r.monitor_threshold,
            r.kind,
        ),
        ("alert_id", "sensor_id"),
    )


def _w_end_alert_sensor(cur: Any, e: EndAlertSensor, tz: Any) -> None:
    cur.defer(
        _update(tables.alert_sensor, ("end_time",), ("alert_id", "sensor_id")),
        (e.end_time, e.alert_id, e.sensor_id),
    )


def _w_alert_silent(cur: Any, e: SetAlertSilent, tz: Any) -> None:
    cur.defer(_update(tables.alert, ("silent",), ("id",)), (e.silent, e.alert_id))


def _w_close_alert(cur: Any, e: CloseAlert, tz: Any) -> None:
    cur.defer(
        _update(tables.alert, ("end_time",), ("id",), open_only=True),
        (e.end_time, e.alert_id),
    )
    cur.defer(
        _update(tables.alert_sensor, ("end_time",), ("alert_id",), open_only=True),
        (e.end_time, e.alert_id),
    )


def _w_close_stale(cur: Any, e: _CloseStaleAlerts, tz: Any) -> None:
    for alert_id in e.alert_ids:
        cur.execute(
            _update(tables.alert, ("end_time", "end_reason"), ("id",), open_only=True),
            (e.end_time, e.reason, alert_id),
        )
        cur.execute(
            _update(tables.alert_sensor, ("end_time",), ("alert_id",), open_only=True),
            (e.end_time, alert_id),
        )


def _w_close_stale_arms(cur: Any, e: _CloseStaleArms, tz: Any) -> None:
    for arm_id, disarm_id in zip(e.arm_ids, e.disarm_ids, strict=True):
        _insert_once(
            cur,
            tables.disarm,
            ("id", "time", "arm_id", "reason"),
            (disarm_id, e.time, arm_id, e.reason),
            ("id",),
        )


def _w_sensor_flags(cur: Any, e: RecordSensorFlags, tz: Any) -> None:
    cur.defer(
        _update(tables.sensor, ("alert", "error"), ("id",)),
        (e.alert, e.error, e.sensor_id),
    )


def _w_output_state(cur: Any, e: RecordOutputState, tz: Any) -> None:
    cur.defer(_update(tables.output, ("state",), ("id",)), (e.state, e.output_id))


def _w_notify(cur: Any, e: Notify, tz: Any) -> str | None:
    key = f"{e.kind}:{e.alert_id}"
    context = {
        "at": e.time,
        "alert_id": e.alert_id,
        "alert_type": str(e.alert_type),
        "sensors": list(e.sensors),
    }
    # Transaction control (SAVEPOINT/ROLLBACK TO/RELEASE) is not a query: pypika
    # has no builder for it, so these three are plain SQL text without values.
    cur.execute("SAVEPOINT arpi_alarm_notify")
    try:
        added = enqueue_notifications(cur, key, e.kind, context, tz=tz)
    except Exception as exc:  # noqa: BLE001 - history must not be lost over a text
        cur.execute("ROLLBACK TO SAVEPOINT arpi_alarm_notify")
        log.error("alarm_notification_failed", event_key=key, error=str(exc))
        return None
    cur.execute("RELEASE SAVEPOINT arpi_alarm_notify")
    return key if added else None


def _w_state(cur: Any, e: PersistState, tz: Any) -> None:
    state = e.state
    siren_start = siren_until = None
    alert = state.alert
    if alert is not None and not alert.siren.silent:
        run = alert.siren
        if run.duration <= 0 or run.duration > run.delay:
            siren_start = run.started_at + timedelta(seconds=run.delay)
            if run.duration > 0:
                siren_until = run.started_at + timedelta(seconds=run.duration)
    t = tables.runtime_state
    text = _text(
        "state",
        lambda: (
            sql.Q.update(t)
            .set(t.alarm_state, sql.param())
            .set(t.monitoring_state, sql.param())
            .set(t.exit_deadline, sql.param())
            .set(t.siren_started_at, sql.param())
            .set(t.siren_until, sql.param())
            .set(t.updated_at, fn.Now())
        ),
    )
    params = (
        psycopg2.extras.Json(state.to_json()),
        str(state.monitoring_state),
        None if state.exit is None else state.exit.deadline,
        siren_start,
        siren_until,
    )
    cur.execute(text, params)
    if cur.rowcount == 0:
        # The single row is gone: put it back (its id is always true; the other
        # columns take their defaults), then write the state into it.
        insert = _text(
            "state_row",
            lambda: sql.Q.into(t).columns(t.id).insert(sql.param()),
        )
        cur.execute(insert, (True,))
        cur.execute(text, params)


_WRITERS: dict[type, Callable[[Any, Any, Any], str | None]] = {
    RecordAreaState: _w_area,
    RecordArm: _w_arm,
    UpdateArmType: _w_arm_type,
    RecordArmSensors: _w_arm_sensors,
    RecordDisarm: _w_disarm,
    OpenAlert: _w_open_alert,
    AddAlertSensor: _w_alert_sensor,
    EndAlertSensor: _w_end_alert_sensor,
    SetAlertSilent: _w_alert_silent,
    CloseAlert: _w_close_alert,
    _CloseStaleAlerts: _w_close_stale,
    _CloseStaleArms: _w_close_stale_arms,
    RecordSensorFlags: _w_sensor_flags,
    RecordOutputState: _w_output_state,
    Notify: _w_notify,
    PersistState: _w_state,
}


# -- the actor ------------------------------------------------------------------------


_HEADLINES = ("system_state_change", "arm_state_change")


def _headline_last(event: Publish) -> bool:
    """Sort key: the system and arm state events before every other event."""
    return event.name not in _HEADLINES


@dataclass(eq=False)
class _Write:
    """The durable effects of one event, written in one Transact."""

    seq: int
    durable: list[Durable]
    replies: list[tuple[Future, object]] = field(default_factory=list)
    future: Future | None = None  # the storage reply of the current attempt
    attempts: int = 0


def _transient(exc: BaseException | None) -> bool:
    return isinstance(exc, StorageUnavailable | ActorUnavailable)


def _failed(future: Future | None) -> BaseException | None:
    if future is None or not future.done() or future.cancelled():
        return None
    return future.exception()


class AlarmLogic(Actor):
    """See the module docstring. Runs under `core` as `alarm`.

    Options (all optional): `storage`, `siren`, `outputs`, `notifier` (actor
    names), `line_fault_grace` (2.0 s), `tz` (tzinfo for UI and notification
    times; None = local), `inputs` (sensor channels of the board, default
    `settings.input_number` or 15), `barrier_timeout` (seconds to wait in setup for
    an earlier incarnation's writes, 2.0).

    Replies: `Arm` -> `ArmResult`, `Disarm` -> `DisarmResult`, `PressButton` ->
    `ButtonResult`, `Flush` -> `Flushed`, each possibly deferred as a `Future` (see
    `resolve_reply`); `GetAlarmStatus` -> `arpi.alarm.messages.AlarmStatus`.
    Everything else is told.
    """

    # -- life cycle ---------------------------------------------------------------

    def setup(self) -> None:
        opt = self.options
        self._storage = self.address(str(opt.get("storage", "storage")))
        self._siren = self.address(str(opt.get("siren", "siren")))
        self._outputs = self.address(str(opt.get("outputs", "outputs")))
        self._notifier = self.address(str(opt.get("notifier", "notifier")))
        self._tz: tzinfo | None = opt.get("tz")  # type: ignore[assignment]
        settings = self.ctx.settings
        self._inputs = int(opt.get("inputs", getattr(settings, "input_number", 15)))
        self._writes: deque[_Write] = deque()
        self._seq = 0
        self._committed = 0
        self._timers: dict[str, tuple[float, Any]] = {}
        self._retry_handle: Any = None
        self._retry_delay = _RETRY_FIRST
        self._siren_cmd: StartSiren | None = None
        self._output_levels: dict[int, bool] = {}
        self._starting = True
        self._reload_generation = 0
        self._reload_running = False
        self._reload_again = False
        self._reload_retry: Any = None
        self._executor: ThreadPoolExecutor | None = None
        self._subscribed = False
        self._machine: AlarmMachine | None = None

        from arpi.actors.notifier import NotificationsQueued  # heavy: not at import

        self._queued_message = NotificationsQueued
        self._barrier(float(opt.get("barrier_timeout", 2.0)))  # type: ignore[arg-type]
        db = self.ctx.db
        if db is None:
            raise RuntimeError("no database configured")
        conn = db.connect(application_name=f"arpi-{self.name}")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                config = load_alarm_config(cur, inputs=self._inputs)
                state, problem = load_durable_state(cur)
                self._power = _power_source(cur)
                open_alerts = _open_alert_ids(cur)
                open_arms = _open_arm_ids(cur)
        finally:
            conn.close()
        if problem is not None:
            self.log.error("alarm_state_unreadable", problem=problem)

        machine = AlarmMachine(
            MachineSettings(
                line_fault_grace=float(opt.get("line_fault_grace", 2.0)),  # type: ignore[arg-type]
                tz=self._tz,
            )
        )
        # Siren commands leave the moment the machine decides them (hot path: sample
        # -> siren); `_apply` then skips them in the returned effects.
        self._early: list[Command] = []
        machine.on_command = self._early_command
        now, wall = self.ctx.clock.monotonic(), self.ctx.clock.wall()
        effects: list[Effect] = []
        keep = state.alert.id if state is not None and state.alert is not None else None
        stale = tuple(i for i in open_alerts if i != keep)
        if stale:
            reason = "state_unreadable" if problem else "not_in_durable_state"
            self.log.warning(
                "alarm_stale_alerts_closed", alert_ids=list(stale), reason=reason
            )
            effects.append(_CloseStaleAlerts(stale, wall, reason))
        keep_arm = state.arm_id if state is not None else None
        stale_arms = tuple(i for i in open_arms if i != keep_arm)
        if stale_arms:
            # Each gets a disarm row of its own; the machine's counter moves past.
            base = state if state is not None else DurableState()
            first = base.next_disarm_id
            disarm_ids = tuple(range(first, first + len(stale_arms)))
            state = base.with_next_ids(disarm=first + len(stale_arms))
            reason = "state_unreadable" if problem else "not_in_durable_state"
            self.log.warning(
                "alarm_stale_arms_closed", arm_ids=list(stale_arms), reason=reason
            )
            effects.append(_CloseStaleArms(stale_arms, disarm_ids, wall, reason))
        effects.extend(machine.restore(state, config, now, wall))
        self._machine = machine
        self._apply(effects)
        self._starting = False

        self.ctx.bus.subscribe(ConfigChanged, self._on_config_changed)
        self.ctx.bus.subscribe(Lifecycle, self._on_lifecycle)
        self._subscribed = True

    def teardown(self) -> None:
        if self._machine is not None:
            clock = self.ctx.clock
            self._apply(self._machine.stop(clock.monotonic(), clock.wall()))

    def release(self) -> None:
        if getattr(self, "_subscribed", False):
            self.ctx.bus.unsubscribe(ConfigChanged, self._on_config_changed)
            self.ctx.bus.unsubscribe(Lifecycle, self._on_lifecycle)
            self._subscribed = False
        for _, handle in getattr(self, "_timers", {}).values():
            handle.cancel()
        for handle in (
            getattr(self, "_retry_handle", None),
            getattr(self, "_reload_retry", None),
        ):
            if handle is not None:
                handle.cancel()
        executor = getattr(self, "_executor", None)
        if executor is not None:
            self._executor = None
            executor.shutdown(wait=False, cancel_futures=True)
        self._release_writes()

    def _on_exit(self, error: BaseException | None) -> None:
        machine = getattr(self, "_machine", None)
        if error is None or machine is None:
            return
        clock = self.ctx.clock
        for effect in machine.mark_failed(clock.monotonic(), clock.wall()):
            if isinstance(effect, Publish):
                self.ctx.bus.publish(UiEvent(effect.name, effect.payload))

    # -- dispatch -------------------------------------------------------------------

    def handle(self, message: object) -> object:
        machine = self._machine
        assert machine is not None
        cls = message.__class__
        if cls is SensorsSampled:
            clock = self.ctx.clock
            effects = machine.sensors_sampled(
                message.states,
                clock.monotonic(),
                clock.wall(),  # type: ignore[attr-defined]
            )
            if effects:
                self._apply(effects)
            return None
        if cls is _Tick:
            clock = self.ctx.clock
            self._apply(machine.tick(clock.monotonic(), clock.wall()))
            return None
        if cls is _Written or cls is _RetryWrites:
            if cls is _RetryWrites:
                self._retry_handle = None
            self._pump()
            return None
        if cls is Arm:
            return self._arm(message)  # type: ignore[arg-type]
        if cls is Disarm:
            return self._disarm(message)  # type: ignore[arg-type]
        if cls is PressButton:
            return self._press(message)  # type: ignore[arg-type]
        if cls is GetAlarmStatus:
            return machine.alarm_status(self._power)
        if cls is Flush:
            return self._apply([], reply=Flushed(self._committed))
        if cls is ReloadConfig:
            self._request_reload()
            return None
        if cls is _ConfigLoaded:
            self._config_loaded(message)  # type: ignore[arg-type]
            return None
        if cls is PowerChanged:
            source = message.source  # type: ignore[attr-defined]
            if source in ("network", "battery"):
                self._power = source
            else:
                self.log.warning("power_source_invalid", source=repr(source))
            return None
        if cls is _PeerStarted:
            self._peer_started(message.name)  # type: ignore[attr-defined]
            return None
        return super().handle(message)

    # -- commands -------------------------------------------------------------------

    def _arm(self, message: Arm) -> object:
        machine = self._machine
        assert machine is not None
        clock = self.ctx.clock
        outcome = machine.arm(
            message.mode,
            area_id=message.area_id,
            user_id=message.user_id,
            keypad_id=message.keypad_id,
            use_delay=bool(message.use_delay),
            force=bool(message.force),
            now=clock.monotonic(),
            wall=clock.wall(),
        )
        if not outcome.ok:
            return ArmResult(False, outcome.error, outcome.sensors)
        return self._apply(
            outcome.effects, reply=ArmResult(True, bypassed=outcome.bypassed)
        )

    def _disarm(self, message: Disarm) -> object:
        machine = self._machine
        assert machine is not None
        clock = self.ctx.clock
        outcome = machine.disarm(
            area_id=message.area_id,
            user_id=message.user_id,
            keypad_id=message.keypad_id,
            now=clock.monotonic(),
            wall=clock.wall(),
        )
        if not outcome.ok:
            return DisarmResult(False, outcome.error)
        return self._apply(outcome.effects, reply=DisarmResult(True))

    def _press(self, message: PressButton) -> object:
        machine = self._machine
        assert machine is not None
        output_id, pressed = message.output_id, message.pressed
        if not isinstance(output_id, int) or isinstance(output_id, bool):
            return ButtonResult(False, "output_id: must be an integer")
        if not isinstance(pressed, bool):
            return ButtonResult(False, "pressed: must be true or false")
        clock = self.ctx.clock
        effects = machine.press_button(
            output_id, pressed, clock.monotonic(), clock.wall()
        )
        if effects is None:
            return ButtonResult(
                False, f"output {output_id} is not an enabled button with a channel"
            )
        self.log.info("alarm_button", output_id=output_id, pressed=pressed)
        return self._apply(effects, reply=ButtonResult(True))

    # -- effects ---------------------------------------------------------------------

    def _apply(self, effects: Iterable[Effect], reply: object = None) -> object:
        """Carry out `effects`; returns `reply`, or a Future of it until durable."""
        durable: list[Durable] = []
        publishes: list[Publish] = []
        flags: dict[int, int] = {}
        early = self._early
        for effect in effects:
            if isinstance(effect, Command):
                if early and early[0] is effect:
                    early.pop(0)  # already sent by `_early_command`
                else:
                    self._command(effect)
            elif isinstance(effect, Publish):
                publishes.append(effect)
            elif isinstance(effect, Durable):
                if isinstance(effect, RecordSensorFlags):
                    # Coalesced: only the last flags of a sensor in a batch count.
                    previous = flags.get(effect.sensor_id)
                    if previous is not None:
                        durable[previous] = effect
                        continue
                    flags[effect.sensor_id] = len(durable)
                durable.append(effect)
            elif isinstance(effect, SetTimer):
                self._set_timer(effect.token, effect.deadline)
            elif isinstance(effect, CancelTimer):
                entry = self._timers.pop(effect.token, None)
                if entry is not None:
                    entry[1].cancel()
        early.clear()
        # The UI hears what the alarm now does at once (the siren is already told);
        # the caller's acknowledgement still waits for the commit. The headline
        # states go first; the rest keep their order.
        publishes.sort(key=_headline_last)
        for event in publishes:
            self.ctx.bus.publish(UiEvent(event.name, event.payload))
        if not durable and not self._writes:
            return reply
        self._seq += 1
        write = _Write(self._seq, durable)
        result: object = reply
        if reply is not None:
            future: Future = Future()
            write.replies.append((future, reply))
            result = future
        self._writes.append(write)
        self._pump()
        if isinstance(result, Future) and result.done() and not result.exception():
            return result.result()
        return result

    def _early_command(self, effect: Command) -> None:
        self._early.append(effect)
        self._command(effect)
        # Give up the GIL once (not a wait): the siren and outputs threads, just
        # woken by this command, run now instead of after the rest of this event
        # (UI payloads, durable snapshot, the write). Only on an alert start/join.
        time.sleep(0)

    def _command(self, effect: Command) -> None:
        if isinstance(effect, StartSiren):
            self._siren_cmd = effect
            self._send(self._siren, effect)
        elif isinstance(effect, StopSiren):
            self._siren_cmd = None
            self._send(self._siren, effect)
        elif isinstance(effect, SetOutput):
            self._output_levels[effect.channel] = effect.on
            self._send(self._outputs, effect)

    def _send(self, address: Address, message: object) -> None:
        # During setup siren and outputs are not started yet; they get the current
        # commands when they publish Lifecycle(started).
        if self._starting and not address.alive():
            return
        address.tell(message)

    def _set_timer(self, token: str, deadline: float) -> None:
        entry = self._timers.get(token)
        if entry is not None:
            if entry[0] == deadline:
                return
            entry[1].cancel()
        self._timers[token] = (deadline, self.tell_self_at(deadline, _Tick()))

    # -- writes -----------------------------------------------------------------------

    def _pump(self) -> None:
        """Finish committed writes in order, resubmit after an outage, submit new."""
        writes = self._writes
        while writes:
            head = writes[0]
            error: BaseException | None = None
            if head.durable:
                if head.future is None or not head.future.done():
                    break
                error = _failed(head.future)
                if _transient(error):
                    break
                if error is not None:
                    self.log.error(
                        "alarm_write_failed",
                        seq=head.seq,
                        error=f"{type(error).__name__}: {error}",
                        effects=[type(e).__name__ for e in head.durable],
                    )
                else:
                    self._committed += 1
            writes.popleft()
            self._finish(head, error)

        if any(_transient(_failed(w.future)) for w in writes):
            # Storage went down under these writes. The ones still in flight went
            # to the same incarnation and will fail too: wait for them, then send
            # everything again in order.
            if any(w.future is not None and not w.future.done() for w in writes):
                return
            for w in writes:
                if _failed(w.future) is not None:
                    w.future = None
            if self._retry_handle is None:
                self._schedule_retry()
            return
        if self._retry_handle is not None:
            return
        for w in writes:
            if not w.durable or w.future is not None:
                continue
            durable, tz = tuple(w.durable), self._tz
            try:
                future = submit(
                    self._storage,
                    lambda cur, d=durable, z=tz: write_effects(cur, d, tz=z),
                    "alarm_write",
                )
            except ActorUnavailable:
                self._schedule_retry()
                return
            w.future = future
            w.attempts += 1
            if w.attempts > 1:
                self.log.info("alarm_write_resubmitted", seq=w.seq, attempt=w.attempts)
            me = self.actor_ref
            future.add_done_callback(lambda _f, ref=me: _tell(ref, _Written()))
        self._retry_delay = _RETRY_FIRST

    def _schedule_retry(self) -> None:
        delay = self._retry_delay
        self._retry_delay = min(_RETRY_MAX, delay * 2)
        self.log.warning(
            "alarm_writes_waiting", pending=len(self._writes), retry_in=delay
        )
        self._retry_handle = self.tell_self_later(delay, _RetryWrites())

    def _finish(self, write: _Write, error: BaseException | None) -> None:
        if error is None and write.future is not None:
            queued = write.future.result()
            if queued and self._notifier.alive():
                for key in queued:
                    self._notifier.tell(self._queued_message(key))
        for future, value in write.replies:
            if future.done():
                continue
            if error is None:
                future.set_result(value)
            else:
                future.set_exception(AlarmWriteFailed(str(error)))

    def _release_writes(self) -> None:
        """On exit: replies of writes in flight are answered when those commit; the
        writes never submitted are lost (they were never acknowledged)."""
        writes = getattr(self, "_writes", None)
        if not writes:
            return
        lost = 0
        last: Future | None = None
        for w in writes:
            future = w.future if w.durable else last
            if w.durable:
                if future is None or _transient(_failed(future)):
                    future = None
                    lost += 1
                last = future
            for reply, value in w.replies:
                if reply.done():
                    continue
                if future is None:
                    reply.set_exception(
                        ActorUnavailable("alarm stopped before the change was durable")
                    )
                else:
                    future.add_done_callback(
                        lambda f, r=reply, v=value: _settle(r, f, v)
                    )
        if lost:
            self.log.error("alarm_writes_lost_on_stop", writes=lost)
        writes.clear()

    def _barrier(self, timeout: float) -> None:
        """Wait (bounded) until storage has committed what was submitted before."""
        try:
            future = submit(self._storage, _nothing, "alarm_barrier")
        except ActorUnavailable:
            self.log.warning("alarm_storage_not_running")
            return
        try:
            future.result(timeout)
        except FutureTimeout:
            self.log.warning("alarm_storage_barrier_timeout", timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - only a wait; restore goes on
            self.log.warning("alarm_storage_barrier_failed", error=str(exc))

    # -- peers and configuration ---------------------------------------------------

    def _on_lifecycle(self, event: Lifecycle) -> None:
        # Runs on the publisher's thread: only tell.
        if event.kind == "started" and event.name in (
            self._siren.name,
            self._outputs.name,
            self._storage.name,
        ):
            _tell(self.actor_ref, _PeerStarted(event.name))

    def _on_config_changed(self, event: ConfigChanged) -> None:
        if event.kinds & CONFIG_KINDS:
            _tell(self.actor_ref, ReloadConfig("config_changed"))

    def _peer_started(self, name: str) -> None:
        if name == self._siren.name:
            cmd = self._siren_cmd
            if cmd is None:
                self._siren.tell(StopSiren())
            else:
                self._siren.tell(
                    StartSiren(
                        cmd.alert_started_at_wall,
                        cmd.silent,
                        cmd.delay,
                        cmd.duration,
                        resumed=True,
                    )
                )
        elif name == self._outputs.name:
            for channel, on in sorted(self._output_levels.items()):
                self._outputs.tell(SetOutput(channel, on))
        elif name == self._storage.name and self._writes:
            if self._retry_handle is not None:
                self._retry_handle.cancel()
                self._retry_handle = None
            self._pump()

    def _request_reload(self) -> None:
        if self._reload_running:
            self._reload_again = True
            return
        db = self.ctx.db
        if db is None:
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"arpi-{self.name}-config"
            )
        self._reload_running = True
        self._reload_generation += 1
        generation, inputs, me = self._reload_generation, self._inputs, self.actor_ref

        def work() -> None:
            try:
                conn = db.connect(application_name=f"arpi-{self.name}-config")
                try:
                    conn.autocommit = True
                    with conn.cursor() as cur:
                        config = load_alarm_config(cur, inputs=inputs)
                finally:
                    conn.close()
            except Exception as exc:  # noqa: BLE001 - reported back as a message
                _tell(
                    me, _ConfigLoaded(generation, None, f"{type(exc).__name__}: {exc}")
                )
                return
            _tell(me, _ConfigLoaded(generation, config, None))

        self._executor.submit(work)

    def _config_loaded(self, message: _ConfigLoaded) -> None:
        self._reload_running = False
        machine = self._machine
        assert machine is not None
        if message.config is None:
            self.log.error("alarm_config_reload_failed", error=message.error)
            self._reload_retry = self.tell_self_later(2.0, ReloadConfig("retry"))
        else:
            clock = self.ctx.clock
            self._apply(
                machine.reload_config(message.config, clock.monotonic(), clock.wall())
            )
            self.log.info(
                "alarm_config_reloaded", invalid=message.config.invalid_reason
            )
        if self._reload_again:
            self._reload_again = False
            self._request_reload()


def _nothing(cur: Any) -> None:
    return None


def _settle(reply: Future, storage_future: Future, value: object) -> None:
    if reply.done():
        return
    error = storage_future.exception()
    if error is None:
        reply.set_result(value)
    else:
        reply.set_exception(AlarmWriteFailed(str(error)))


def _tell(ref: pykka.ActorRef[Any], message: object) -> None:
    """Tell an incarnation from a callback; dropped if it has ended."""
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        pass

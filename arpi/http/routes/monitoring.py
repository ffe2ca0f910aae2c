"""Arm state, monitoring state, power, alerts, clock and arm history (reference 2.9)."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web
from pypika import Criterion, JoinType, Order, Table
from pypika import functions as fn
from pypika.terms import Function, Term

from arpi.db import sql
from arpi.http.alarm_api import Arm, Disarm, GetAlarmStatus, arm_refusal, text
from arpi.http.asks import ask_actor
from arpi.http.entities import ARM_NAME, ARM_VALUE, P, Q, local_time
from arpi.http.errors import ApiError, json_response
from arpi.http.registry import Auth, Req, route
from arpi.http.routes._common import ok
from arpi.http.schema import INT32, Field, Obj

_ARM_QUERY = {
    "type": Field("string", required=True, enum=("arm_away", "arm_stay")),
    "force": Field(
        "boolean",
        default=False,
        description="bypass the sensors that would block arming, for this arming "
        "only (recorded in the arm history; F11)",
    ),
    "use_delay": Field(
        "boolean",
        default=False,
        description="apply the exit delay; REST arming has none unless true (F12)",
    ),
}
_AREA_ARM_QUERY = {
    "area_id": Field("integer", required=True, minimum=1, maximum=INT32),
    **_ARM_QUERY,
}
_ARM_RESPONSES = {
    200: "{} (the result arrives as Socket.IO events)",
    404: "unknown area",
    409: "refused: blocking sensors",
    503: "alarm not available, or done but not stored yet (the error says which)",
}

_AREA = Table("area")
_ARM_STATES_SQL = str(
    Q.from_(_AREA).select(_AREA.arm_state).distinct().where(_AREA.deleted.isin([False]))
)
_STARTED = time.monotonic()


def merge_arm_states(states: list[str]) -> str:
    """The aggregate of area arm values: disarm + X = X; away + stay = mixed (F6)."""
    armed = {s for s in states if s != "disarm"}
    if not armed:
        return "disarm"
    if len(armed) == 1:
        return armed.pop()
    return "arm_mixed"


async def aggregate_arm_state(front: Any) -> str:
    def query(cur: Any) -> list[str]:
        cur.execute(_ARM_STATES_SQL)
        return [ARM_VALUE[row[0]] for row in cur.fetchall()]

    try:
        return merge_arm_states(await front.reads.run(query))
    except Exception as exc:
        raise ApiError(503, "database not available") from exc


@route(
    "GET",
    "/api/monitoring/arm",
    auth=Auth.DEVICE,
    tag="monitoring",
    summary="The aggregate arm state",
)
async def monitoring_arm_state(req: Req) -> web.Response:
    return ok({"type": await aggregate_arm_state(req.front)})


@route(
    "GET",
    "/api/monitoring/state",
    auth=Auth.DEVICE,
    tag="monitoring",
    summary="The monitoring state",
    responses={200: "state", 503: "no alarm"},
)
async def monitoring_state(req: Req) -> web.Response:
    status = await ask_actor(
        req.front.ctx, "alarm", GetAlarmStatus(), req.front.settings.ask_timeout
    )
    return ok({"state": text(getattr(status, "monitoring_state", None))})


async def _arm(req: Req, area_id: int | None) -> web.Response:
    message = Arm(
        mode=req.query["type"],
        area_id=area_id,
        user_id=req.user_id,
        use_delay=req.query["use_delay"],
        force=req.query["force"],
    )
    result = await ask_actor(
        req.front.ctx, "alarm", message, req.front.settings.ask_timeout
    )
    refusal = arm_refusal(result)
    if refusal is not None:
        raise ApiError(409, refusal[0], sensors=refusal[1])
    return ok({})


async def _disarm(req: Req, area_id: int | None) -> web.Response:
    message = Disarm(area_id=area_id, user_id=req.user_id)
    result = await ask_actor(
        req.front.ctx, "alarm", message, req.front.settings.ask_timeout
    )
    refusal = arm_refusal(result)
    if refusal is not None:
        raise ApiError(409, refusal[0])
    return ok({})


@route(
    "PUT",
    "/api/monitoring/arm",
    auth=Auth.USER,
    query=_ARM_QUERY,
    tag="monitoring",
    summary="Arm every area",
    responses=_ARM_RESPONSES,
)
async def monitoring_arm(req: Req) -> web.Response:
    return await _arm(req, None)


@route(
    "PUT",
    "/api/monitoring/disarm",
    auth=Auth.USER,
    tag="monitoring",
    summary="Disarm everything",
    responses=_ARM_RESPONSES,
)
async def monitoring_disarm(req: Req) -> web.Response:
    return await _disarm(req, None)


async def _require_area(req: Req, area_id: int) -> None:
    statement = str(
        Q.from_(_AREA)
        .select(_AREA.id)
        .where(_AREA.id == P)
        .where(_AREA.deleted.isin([False]))
    )

    def query(cur: Any) -> bool:
        cur.execute(statement, (area_id,))
        return cur.fetchone() is not None

    try:
        found = await req.front.reads.run(query)
    except Exception as exc:
        raise ApiError(503, "database not available") from exc
    if not found:
        raise ApiError(404, "Area not found")


@route(
    "PUT",
    "/api/area/arm",
    auth=Auth.USER,
    query=_AREA_ARM_QUERY,
    tag="areas",
    summary="Arm one area",
    responses=_ARM_RESPONSES,
)
async def area_arm(req: Req) -> web.Response:
    await _require_area(req, req.query["area_id"])
    return await _arm(req, req.query["area_id"])


@route(
    "PUT",
    "/api/area/disarm",
    auth=Auth.USER,
    tag="areas",
    query={"area_id": Field("integer", required=True, minimum=1, maximum=INT32)},
    summary="Disarm one area",
    responses=_ARM_RESPONSES,
)
async def area_disarm(req: Req) -> web.Response:
    await _require_area(req, req.query["area_id"])
    return await _disarm(req, req.query["area_id"])


_RUNTIME = Table("runtime_state")
_POWER_SQL = str(Q.from_(_RUNTIME).select(_RUNTIME.power_source).limit(1))


@route(
    "GET",
    "/api/power",
    auth=Auth.DEVICE,
    tag="monitoring",
    summary="Power source: network, battery or null",
)
async def power(req: Req) -> web.Response:
    cached = req.front.state.get("power_state_change")
    if cached is not None:
        return ok({"state": cached})

    def query(cur: Any) -> str | None:
        cur.execute(_POWER_SQL)
        row = cur.fetchone()
        return row[0] if row else None

    try:
        return ok({"state": await req.front.reads.run(query)})
    except Exception as exc:
        raise ApiError(503, "database not available") from exc


# --- alerts --------------------------------------------------------------------

_ALERT = Table("alert")
_ALERT_SENSOR = Table("alert_sensor")
_ARM = Table("arm")
_DISARM = Table("disarm")
_ALERT_COLS = (_ALERT.id, _ALERT.start_time, _ALERT.end_time, _ALERT.silent)
_OPEN_ALERT_SQL = str(
    Q.from_(_ALERT)
    .select(*_ALERT_COLS)
    .where(_ALERT.end_time.isnull())
    .orderby(_ALERT.start_time, order=Order.desc)
    .limit(1)
)
_ALERTS_SQL = str(
    Q.from_(_ALERT)
    .select(*_ALERT_COLS)
    .orderby(_ALERT.start_time, order=Order.desc)
    .limit(P)
)


def _any(value: Term) -> Function:
    """`ANY(value)`: compared with `==`, true when the column equals an element of
    the array passed as the parameter `value` (a Python list)."""
    return Function("ANY", value)


_ALERT_SENSORS_SQL = sql.to_sql(
    Q.from_(_ALERT_SENSOR)
    .select(
        _ALERT_SENSOR.alert_id,
        _ALERT_SENSOR.sensor_id,
        _ALERT_SENSOR.channel,
        _ALERT_SENSOR.type_id,
        _ALERT_SENSOR.name,
        _ALERT_SENSOR.description,
        _ALERT_SENSOR.start_time,
        _ALERT_SENSOR.end_time,
        _ALERT_SENSOR.delay,
        _ALERT_SENSOR.silent,
        _ALERT_SENSOR.monitor_period,
        _ALERT_SENSOR.monitor_threshold,
    )
    .where(_ALERT_SENSOR.alert_id == _any(sql.param()))
    .orderby(_ALERT_SENSOR.start_time, _ALERT_SENSOR.sensor_id)
)
_ALERT_TYPES_SQL = sql.to_sql(
    Q.from_(_ARM)
    .select(_ARM.alert_id, _ARM.type)
    .where(_ARM.alert_id == _any(sql.param()))
    .orderby(_ARM.id)
)
_ALERT_TYPE = {
    "AWAY": "alert_away",
    "STAY": "alert_stay",
    "MIXED": None,
    "DISARM": "alert_sabotage",
}
_AS_KEYS = (
    "sensorId",
    "channel",
    "typeId",
    "name",
    "description",
    "startTime",
    "endTime",
    "delay",
    "silent",
    "monitorPeriod",
    "monitorThreshold",
)


def load_alerts(cur: Any, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Alert JSON (reference 1.5) for alert rows (id, start, end, silent)."""
    ids = [row[0] for row in rows]
    if not ids:
        return []
    cur.execute(_ALERT_SENSORS_SQL, (ids,))
    sensors: dict[int, list[dict[str, Any]]] = {}
    for row in cur.fetchall():
        item = dict(zip(_AS_KEYS, row[1:], strict=False))
        item["startTime"] = local_time(item["startTime"])
        item["endTime"] = local_time(item["endTime"])
        sensors.setdefault(row[0], []).append(item)
    cur.execute(_ALERT_TYPES_SQL, (ids,))
    types: dict[int, str | None] = {}
    for alert_id, arm_type in cur.fetchall():
        types.setdefault(alert_id, _ALERT_TYPE.get(arm_type))
    return [
        {
            "id": ident,
            "alertType": types.get(ident, "alert_sabotage"),
            "startTime": local_time(start),
            "endTime": local_time(end),
            "silent": silent,
            "sensors": sensors.get(ident, []),
        }
        for ident, start, end, silent in rows
    ]


@route(
    "GET",
    "/api/alert",
    auth=Auth.DEVICE,
    tag="monitoring",
    summary="The open alert, or null",
)
async def alert_open(req: Req) -> web.Response:
    def query(cur: Any) -> dict[str, Any] | None:
        cur.execute(_OPEN_ALERT_SQL)
        alerts = load_alerts(cur, cur.fetchall())
        return alerts[0] if alerts else None

    try:
        return ok(await req.front.reads.run(query))
    except Exception as exc:
        raise ApiError(503, "database not available") from exc


@route(
    "GET",
    "/api/alerts",
    auth=Auth.USER,
    tag="monitoring",
    query={"limit": Field("integer", minimum=1, maximum=1000, default=1000)},
    summary="Alerts, newest first",
)
async def alerts(req: Req) -> web.Response:
    limit = req.query["limit"]

    def query(cur: Any) -> list[dict[str, Any]]:
        cur.execute(_ALERTS_SQL, (limit,))
        return load_alerts(cur, cur.fetchall())

    try:
        return ok(await req.front.reads.run(query))
    except Exception as exc:
        raise ApiError(503, "database not available") from exc


# --- clock ---------------------------------------------------------------------


def _timezone() -> str:
    """The system's zone name. Blocks (reads /etc): off the loop."""
    tz = os.environ.get("TZ")
    if tz:
        return tz.lstrip(":")
    try:
        link = os.readlink("/etc/localtime")
        if "zoneinfo/" in link:
            return link.split("zoneinfo/", 1)[1]
    except OSError:
        pass
    try:
        with open("/etc/timezone", encoding="utf-8") as fh:
            return fh.read().strip() or "UTC"
    except OSError:
        return "UTC"


def _uptime() -> int | None:
    try:
        with open("/proc/uptime", encoding="ascii") as fh:
            return int(float(fh.read().split()[0]))
    except (OSError, ValueError, IndexError):
        return None


def _uptimes() -> dict[str, int | None]:
    """The uptime keys of `GET /api/clock`. Blocks (reads /proc): off the loop."""
    process = int(time.monotonic() - _STARTED)
    return {
        "uptime": _uptime(),
        "uptime_server": process,
        "uptime_mcp": None,
        "uptime_monitor": process,
        "uptime_nginx": None,
    }


@route(
    "GET",
    "/api/clock",
    auth=Auth.ADMIN,
    tag="clock",
    summary="Time zone, system time, RTC, network time and uptimes",
    responses={
        200: "reference 2.9 keys, plus the clock actor's ntp, difference, warning"
    },
)
async def clock_get(req: Req) -> web.Response:
    """The reference shape (timezone, system, hw, network, uptimes) from the `clock`
    actor's `GetClock()` plus what it adds (`ntp`, `difference`, `warning`). When
    the actor is down this process answers alone: `hw` and `network` null and
    `warning` saying so (never a 503: the page must still show the system time).
    """
    from arpi.actors.rtc_clock import GetClock

    try:
        reply = await ask_actor(
            req.front.ctx, "clock", GetClock(), req.front.settings.ask_timeout
        )
    except ApiError:
        reply = None
    if isinstance(reply, dict):
        return ok({**reply, **await asyncio.to_thread(_uptimes)})
    now = req.front.ctx.clock.wall().astimezone()
    zone, uptimes = await asyncio.to_thread(lambda: (_timezone(), _uptimes()))
    return ok(
        {
            "timezone": zone,
            "system": now.strftime("%Y-%m-%d %H:%M:%S %z"),
            "hw": None,
            "network": None,
            **uptimes,
            "ntp": "unknown",
            "difference": None,
            "warning": "the clock component is not running",
        }
    )


_CLOCK_BODY = Obj(
    {
        "timezone": Field(
            "string",
            nullable=True,
            max_length=64,
            pattern=r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*",
        ),
        "datetime": Field("string", nullable=True, max_length=40),
    }
)
_CLOCK_FAILED = "Failed to update date/time and zone"


def _check_zone(name: str) -> None:
    """Raise ApiError(400) unless `name` is a known zone. Blocks (reads the zone
    file): off the loop."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if ".." in name.split("/"):
        raise ApiError(400, f"timezone: unknown time zone {name!r}")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ApiError(400, f"timezone: unknown time zone {name!r}") from None


@route(
    "PUT",
    "/api/clock",
    auth=Auth.ADMIN,
    body=_CLOCK_BODY,
    tag="clock",
    summary="Set the time zone and/or the time (admin, F7)",
    responses={
        200: "{} (everything asked was done)",
        400: "invalid input, naming the field",
        502: "not (fully) done: {error, message, done, not_done} (F20)",
        503: "no clock",
    },
)
async def clock_put(req: Req) -> web.Response:
    """Ask the `clock` actor to set the zone and/or the time (F20: honest result).

    400 names the bad field (`timezone`, `datetime`, or both when neither is
    given). When the actor could not do all of it (`ClockSetResult.ok` False: a
    simulated board, a failing `timedatectl`, an RTC that cannot be written) the
    answer is 502: the request was fine but the part that carries it out (the
    clock component and the system) failed. 500 stays reserved for faults of the
    front itself; the ArPI UI treats 502 as it treats the reference's 500 (it
    rethrows both, reference 2.0). The body says what was done and what not:
    `{"error": <why>, "message": <why>, "done": [...], "not_done": [...]}`.
    """
    zone = req.body.get("timezone")
    when = req.body.get("datetime")
    if not zone and not when:
        raise ApiError(400, "timezone, datetime: give at least one of them")
    if zone:
        await asyncio.to_thread(_check_zone, zone)
    if when:
        try:
            parsed = datetime.fromisoformat(when.strip())
        except ValueError:
            raise ApiError(400, "datetime: must be an ISO date and time") from None
        # Checked on the fields as given: converting 9999-12-31 to UTC overflows.
        if not 2000 <= parsed.year <= 2099:
            raise ApiError(400, "datetime: must be within the years 2000..2099")
    from arpi.actors.rtc_clock import SetClock

    reply = await ask_actor(
        req.front.ctx,
        "clock",
        SetClock(zone or None, when or None),
        req.front.settings.ask_timeout,
    )
    if getattr(reply, "ok", False):
        return ok({})
    message = str(getattr(reply, "message", "") or _CLOCK_FAILED)
    if getattr(reply, "field", None) is not None:
        raise ApiError(400, message)
    raise ApiError(
        502,
        message,
        message=message,
        done=list(getattr(reply, "done", ())),
        not_done=list(getattr(reply, "not_done", ())),
    )


# --- arm history ---------------------------------------------------------------

_HISTORY_QUERY = {
    "has_alert": Field("string", max_length=10),
    "user_id": Field("integer", minimum=0, maximum=INT32),
    "keypad_id": Field("integer", minimum=0, maximum=INT32),
    "arm_type": Field("string", enum=("arm_away", "arm_stay", "arm_mixed", "disarm")),
    "start": Field("string", max_length=10, pattern=r"\d{4}-\d{2}-\d{2}"),
    "end": Field("string", max_length=10, pattern=r"\d{4}-\d{2}-\d{2}"),
    "limit": Field("integer", minimum=0, maximum=1000, default=10),
    "offset": Field("integer", minimum=0, maximum=INT32, default=0),
}


def _day(text: str | None, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(400, f"{name}: must be a date YYYY-MM-DD") from None


# The history is `arm a FULL OUTER JOIN disarm d ON d.arm_id = a.id` (F5): a row per
# arm with its disarm, and a row per disarm whose arm is gone.
_A = _ARM.as_("a")
_D = _DISARM.as_("d")
_ARM_SENSOR = Table("arm_sensor")


def _history_filter(query: dict[str, Any]) -> tuple[Criterion, dict[str, Any]]:
    """WHERE condition (empty when no filter) and its named parameters (F5)."""
    where: list[Criterion] = []
    args: dict[str, Any] = {}
    has_alert = (query.get("has_alert") or "").lower()
    if has_alert == "true":
        where.append(_A.alert_id.isnotnull() | _D.alert_id.isnotnull())
    elif has_alert == "false":
        where.append(_A.alert_id.isnull() & _D.alert_id.isnull())
    if query.get("user_id") is not None:
        user = sql.param("user_id")
        where.append((_A.user_id == user) | (_D.user_id == user))
        args["user_id"] = query["user_id"]
    if query.get("keypad_id") is not None:
        keypad = sql.param("keypad_id")
        where.append((_A.keypad_id == keypad) | (_D.keypad_id == keypad))
        args["keypad_id"] = query["keypad_id"]
    arm_type = query.get("arm_type")
    if arm_type == "disarm":
        where.append(_A.id.isnull())
    elif arm_type:
        where.append(_A.type == sql.param("arm_type"))
        args["arm_type"] = ARM_NAME[arm_type]
    start = _day(query.get("start"), "start")
    end = _day(query.get("end"), "end")
    if start is not None:
        where.append(
            fn.Coalesce(_D.time, _A.time) >= fn.Cast(sql.param("start"), "date")
        )
        args["start"] = start
    if end is not None and end < date.max:
        where.append(fn.Coalesce(_A.time, _D.time) < fn.Cast(sql.param("end"), "date"))
        args["end"] = end + timedelta(days=1)
    return Criterion.all(where), args


def _events_sql(where: Criterion) -> str:
    """The history page: newest disarm first, arms not disarmed yet before all."""
    return sql.to_sql(
        Q.from_(_A)
        .join(_D, how=JoinType.outer)
        .on(_D.arm_id == _A.id)
        .select(
            _A.id,
            _A.type,
            _A.time,
            _A.keypad_id,
            _A.user_id,
            _A.alert_id,
            _D.id,
            _D.time,
            _D.keypad_id,
            _D.user_id,
            _D.alert_id,
        )
        .where(where)
        # `d.time IS NULL DESC` first: NULLS FIRST for d.time.
        .orderby(_D.time.isnull(), _D.time, _A.time, order=Order.desc)
        .limit(sql.param("limit"))
        .offset(sql.param("offset"))
    )


def _count_sql(where: Criterion) -> str:
    return sql.to_sql(
        Q.from_(_A)
        .join(_D, how=JoinType.outer)
        .on(_D.arm_id == _A.id)
        .select(fn.Count("*"))
        .where(where)
    )


_ALERTS_BY_ID_SQL = sql.to_sql(
    Q.from_(_ALERT).select(*_ALERT_COLS).where(_ALERT.id == _any(sql.param()))
)
_ARM_SENSORS_SQL = sql.to_sql(
    Q.from_(_ARM_SENSOR)
    .select(
        _ARM_SENSOR.arm_id,
        _ARM_SENSOR.timestamp,
        _ARM_SENSOR.sensor_id,
        _ARM_SENSOR.channel,
        _ARM_SENSOR.type_id,
        _ARM_SENSOR.name,
        fn.Coalesce(_ARM_SENSOR.description, _ARM_SENSOR.name),
        _ARM_SENSOR.delay,
        _ARM_SENSOR.enabled,
    )
    .where(_ARM_SENSOR.arm_id == _any(sql.param()))
    .orderby(_ARM_SENSOR.timestamp, _ARM_SENSOR.sensor_id)
)


def _history(cur: Any, query: dict[str, Any]) -> list[dict[str, Any]]:
    where, args = _history_filter(query)
    cur.execute(
        _events_sql(where),
        {**args, "limit": query["limit"], "offset": query["offset"]},
    )
    rows = cur.fetchall()
    arm_ids = [r[0] for r in rows if r[0] is not None]
    alert_ids = list({r[5] or r[10] for r in rows if (r[5] or r[10])})
    alerts: dict[int, dict[str, Any]] = {}
    if alert_ids:
        cur.execute(_ALERTS_BY_ID_SQL, (alert_ids,))
        alerts = {a["id"]: a for a in load_alerts(cur, cur.fetchall())}
    changes: dict[int, list[dict[str, Any]]] = {}
    if arm_ids:
        cur.execute(_ARM_SENSORS_SQL, (arm_ids,))
        for arm_id, stamp, *rest in cur.fetchall():
            groups = changes.setdefault(arm_id, [])
            text = local_time(stamp)
            if not groups or groups[-1]["timestamp"] != text:
                groups.append({"timestamp": text, "sensors": []})
            sensor_id, channel, type_id, name, description, delay, enabled = rest
            groups[-1]["sensors"].append(
                {
                    "sensorId": sensor_id,
                    "channel": channel,
                    "typeId": type_id,
                    "name": name,
                    "description": description,
                    "timestamp": text,
                    "delay": delay,
                    "enabled": enabled,
                }
            )
    events = []
    for (
        a_id,
        a_type,
        a_time,
        a_keypad,
        a_user,
        a_alert,
        d_id,
        d_time,
        d_keypad,
        d_user,
        d_alert,
    ) in rows:
        event: dict[str, Any] = {}
        if a_id is not None:
            event["arm"] = {
                "type": ARM_VALUE[a_type],
                "time": local_time(a_time),
                "keypadId": a_keypad,
                "userId": a_user,
            }
            event["sensorChanges"] = changes.get(a_id, [])
        alert_id = a_alert or d_alert
        if alert_id in alerts:
            event["alert"] = alerts[alert_id]
        if d_id is not None:
            event["disarm"] = {
                "time": local_time(d_time),
                "keypadId": d_keypad,
                "userId": d_user,
            }
        events.append(event)
    return events


def _history_count(cur: Any, query: dict[str, Any]) -> int:
    where, args = _history_filter(query)
    cur.execute(_count_sql(where), args)
    return int(cur.fetchone()[0])


@route(
    "GET",
    "/api/arms",
    auth=Auth.USER,
    query=_HISTORY_QUERY,
    tag="history",
    summary="Arm and disarm history, newest first",
)
async def arms(req: Req) -> web.Response:
    query = req.query
    _day(query.get("start"), "start"), _day(query.get("end"), "end")
    try:
        events = await req.front.reads.run(lambda cur: _history(cur, query))
    except ApiError:
        raise
    except Exception as exc:
        raise ApiError(503, "database not available") from exc
    return json_response(events)


@route(
    "GET",
    "/api/arms/count",
    auth=Auth.USER,
    query=_HISTORY_QUERY,
    tag="history",
    summary="How many history events match the filters",
)
async def arms_count(req: Req) -> web.Response:
    query = req.query
    _day(query.get("start"), "start"), _day(query.get("end"), "end")
    try:
        count = await req.front.reads.run(lambda cur: _history_count(cur, query))
    except ApiError:
        raise
    except Exception as exc:
        raise ApiError(503, "database not available") from exc
    return ok(count)

"""Areas, zones, sensors, outputs, keypads and their types (reference 2.4-2.8)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp import web
from pypika import Table

from arpi.http.asks import ask_actor
from arpi.http.entities import (
    AREA,
    KEYPAD,
    KEYPAD_TYPE,
    OUTPUT,
    SENSOR,
    SENSOR_TYPE,
    ZONE,
    Entity,
    P,
    Q,
    camel,
    changed_fields,
    guard_disarmed,
)
from arpi.http.errors import ApiError
from arpi.http.registry import Auth, Req, route
from arpi.http.routes._common import (
    ID,
    config_changed,
    created,
    empty_ok,
    no_change,
    ok,
)
from arpi.http.schema import INT32, Arr, Field, Obj

# --- shared --------------------------------------------------------------------

_NAME16 = Field("string", min_length=1, max_length=16)
_NAME32 = Field("string", min_length=1, max_length=32)
_TEXT = Field("string", nullable=True, max_length=2000)
_REF = Field("integer", minimum=1, maximum=INT32)
_DELAY = Field("integer", nullable=True, minimum=0, maximum=86400)
_REORDER = Arr(
    Obj(
        {
            "id": Field("integer", required=True, minimum=1, maximum=INT32),
            "uiOrder": Field("integer", nullable=True, minimum=-INT32, maximum=INT32),
        }
    ),
    max_items=1000,
)
_MUTATION = {
    200: "updated",
    204: "unchanged",
    400: "invalid",
    404: "unknown id",
    409: "conflict or armed",
}


async def _read(req: Req, fn: Any) -> Any:
    try:
        return await req.front.reads.run(fn)
    except ApiError:
        raise
    except Exception as exc:
        raise ApiError(503, "database not available") from exc


async def _list(req: Req, entity: Entity) -> web.Response:
    text = await req.front.read_json(entity.table_name, entity.fetch_all)
    return web.Response(text=text, content_type="application/json")


async def _get(req: Req, entity: Entity, what: str) -> web.Response:
    ident = req.id(what=what)
    row = await _read(req, lambda cur: entity.fetch_one(cur, ident))
    if row is None:
        raise ApiError(404, f"{what} not found")
    return ok(row)


def _exists(cur: Any, table: str, ident: int, live: bool = True) -> bool:
    t = Table(table)
    q = Q.from_(t).select(t.id).where(t.id == P)
    if live:
        q = q.where(t.deleted.isin([False]))
    cur.execute(str(q), (ident,))
    return cur.fetchone() is not None


def _count(cur: Any, table: str, column: str, ident: int, live: bool | None) -> int:
    t = Table(table)
    q = Q.from_(t).select(t.id).where(t.field(column) == P)
    if live is not None:
        q = q.where(t.deleted.isin([not live]))
    cur.execute(str(q.limit(1)), (ident,))
    return len(cur.fetchall())


def _reorder_route(path: str, entity: Entity, tag: str) -> None:
    async def reorder(req: Req) -> web.Response:
        items = req.body

        def write(cur: Any) -> None:
            t = entity.table
            sql = str(Q.update(t).set(t.ui_order, P).where(t.id == P))
            for item in items:
                cur.execute(sql, (item.get("uiOrder"), item["id"]))

        await req.front.store.transact(write)
        return empty_ok()

    reorder.__name__ = f"reorder_{entity.table_name}"
    route(
        "PUT",
        path,
        auth=Auth.ADMIN,
        body=_REORDER,
        tag=tag,
        summary=f"Set the display order of {entity.table_name}s",
        responses={200: "saved (empty body)"},
    )(reorder)


# --- areas ---------------------------------------------------------------------

_AREA_BODY = Obj({"name": Field("string", required=True, min_length=1, max_length=32)})


@route("GET", "/api/areas/", auth=Auth.USER, tag="areas", summary="List areas")
async def areas_list(req: Req) -> web.Response:
    return await _list(req, AREA)


@route(
    "POST",
    "/api/areas/",
    auth=Auth.ADMIN,
    body=_AREA_BODY,
    tag="areas",
    summary="Create an area",
    responses={201: "created", 409: "armed"},
)
async def area_create(req: Req) -> web.Response:
    name = req.body["name"]

    def write(cur: Any) -> dict[str, Any]:
        guard_disarmed(cur)
        return AREA.insert(cur, {"name": name})

    area = await req.front.store.transact(write)
    config_changed(req.front, "areas")
    return created(area)


@route(
    "GET",
    f"/api/area/{ID}",
    auth=Auth.ADMIN,
    tag="areas",
    summary="Read an area",
    responses={200: "area", 404: "unknown"},
)
async def area_get(req: Req) -> web.Response:
    return await _get(req, AREA, "Area")


@route(
    "PUT",
    f"/api/area/{ID}",
    auth=Auth.ADMIN,
    tag="areas",
    body=Obj({"name": _NAME32}),
    summary="Rename an area",
    responses=_MUTATION,
)
async def area_update(req: Req) -> web.Response:
    ident = req.id(what="Area")
    body = req.body

    def write(cur: Any) -> dict[str, Any] | None:
        current = AREA.fetch_one(cur, ident)
        if current is None:
            raise ApiError(404, "Area not found")
        changes = changed_fields(current, body, {"name": "name"})
        if not changes:
            return None
        guard_disarmed(cur)
        AREA.update(cur, ident, changes)
        return AREA.fetch_one(cur, ident)

    area = await req.front.store.transact(write)
    if area is None:
        return no_change()
    config_changed(req.front, "areas")
    return ok(area)


@route(
    "DELETE",
    f"/api/area/{ID}",
    auth=Auth.ADMIN,
    tag="areas",
    summary="Delete an area (refused while sensors or outputs use it)",
    responses={204: "deleted", 404: "unknown", 409: "in use or armed"},
)
async def area_delete(req: Req) -> web.Response:
    ident = req.id(what="Area")

    def write(cur: Any) -> None:
        if not _exists(cur, "area", ident):
            raise ApiError(404, "Area not found")
        guard_disarmed(cur)
        if _count(cur, "sensor", "area_id", ident, live=True):
            raise ApiError(409, "Area is used by sensors")
        if _count(cur, "output", "area_id", ident, live=None):
            raise ApiError(409, "Area is used by outputs")
        AREA.update(cur, ident, {"deleted": True})

    await req.front.store.transact(write)
    config_changed(req.front, "areas")
    return no_change()


_reorder_route("/api/areas/reorder", AREA, "areas")


# --- zones ---------------------------------------------------------------------

_ZONE_FIELDS = {
    "name": _NAME32,
    "description": Field("string", max_length=2000),
    "disarmedDelay": _DELAY,
    "awayAlertDelay": _DELAY,
    "stayAlertDelay": _DELAY,
    "awayArmDelay": _DELAY,
    "stayArmDelay": _DELAY,
}
_ZONE_COLUMNS = {
    "name": "name",
    "description": "description",
    "disarmedDelay": "disarmed_delay",
    "awayAlertDelay": "away_alert_delay",
    "stayAlertDelay": "stay_alert_delay",
    "awayArmDelay": "away_arm_delay",
    "stayArmDelay": "stay_arm_delay",
}
_ZONE_CREATE = Obj(
    {
        **_ZONE_FIELDS,
        "name": Field("string", required=True, min_length=1, max_length=32),
        "description": Field("string", max_length=2000, default=""),
        "disarmedDelay": Field(
            "integer", nullable=True, minimum=0, maximum=86400, default=None
        ),
        **{
            k: Field("integer", nullable=True, minimum=0, maximum=86400, default=0)
            for k in (
                "awayAlertDelay",
                "stayAlertDelay",
                "awayArmDelay",
                "stayArmDelay",
            )
        },
    }
)


@route("GET", "/api/zones/", auth=Auth.USER, tag="zones", summary="List zones")
async def zones_list(req: Req) -> web.Response:
    return await _list(req, ZONE)


@route(
    "POST",
    "/api/zones/",
    auth=Auth.ADMIN,
    body=_ZONE_CREATE,
    tag="zones",
    summary="Create a zone",
    responses={201: "created", 400: "invalid", 409: "armed"},
)
async def zone_create(req: Req) -> web.Response:
    values = {_ZONE_COLUMNS[k]: v for k, v in req.body.items()}

    def write(cur: Any) -> dict[str, Any]:
        guard_disarmed(cur)
        return ZONE.insert(cur, values)

    zone = await req.front.store.transact(write)
    config_changed(req.front, "zones")
    return created(zone)


@route(
    "GET",
    f"/api/zone/{ID}",
    auth=Auth.ADMIN,
    tag="zones",
    summary="Read a zone",
    responses={200: "zone", 404: "unknown"},
)
async def zone_get(req: Req) -> web.Response:
    return await _get(req, ZONE, "Zone")


@route(
    "PUT",
    f"/api/zone/{ID}",
    auth=Auth.ADMIN,
    body=Obj(_ZONE_FIELDS),
    tag="zones",
    summary="Update a zone",
    responses=_MUTATION,
)
async def zone_update(req: Req) -> web.Response:
    ident = req.id(what="Zone")
    body = req.body

    def write(cur: Any) -> dict[str, Any] | None:
        current = ZONE.fetch_one(cur, ident)
        if current is None:
            raise ApiError(404, "Zone not found")
        changes = changed_fields(current, body, _ZONE_COLUMNS)
        if not changes:
            return None
        guard_disarmed(cur)
        ZONE.update(cur, ident, changes)
        return ZONE.fetch_one(cur, ident)

    zone = await req.front.store.transact(write)
    if zone is None:
        return no_change()
    config_changed(req.front, "zones")
    return ok(zone)


@route(
    "DELETE",
    f"/api/zone/{ID}",
    auth=Auth.ADMIN,
    tag="zones",
    summary="Delete a zone (refused while sensors use it)",
    responses={204: "deleted", 404: "unknown", 409: "in use or armed"},
)
async def zone_delete(req: Req) -> web.Response:
    ident = req.id(what="Zone")

    def write(cur: Any) -> None:
        if not _exists(cur, "zone", ident):
            raise ApiError(404, "Zone not found")
        guard_disarmed(cur)
        if _count(cur, "sensor", "zone_id", ident, live=True):
            raise ApiError(409, "Zone is used by sensors")
        if _count(cur, "sensor", "zone_id", ident, live=False):
            # Deleted sensors keep their history and their zone: hide the zone.
            ZONE.update(cur, ident, {"deleted": True})
        else:
            t = ZONE.table
            cur.execute(str(Q.from_(t).delete().where(t.id == P)), (ident,))

    await req.front.store.transact(write)
    config_changed(req.front, "zones")
    return no_change()


_reorder_route("/api/zones/reorder", ZONE, "zones")


# --- sensors -------------------------------------------------------------------

# The board's inputs: -1 (none) or 0..input_number-1 (checked by `_check_refs`;
# the OpenAPI document shows the installation's maximum).
_CHANNEL = Field(
    "integer",
    nullable=True,
    minimum=-1,
    maximum=63,
    index_of="input_number",
    description="input channel: -1 or null for none, else 0..input_number-1",
)
_SENSOR_FIELDS = {
    "name": _NAME16,
    "description": _TEXT,
    "channel": _CHANNEL,
    "channelType": Field("string", enum=("basic", "normal", "channel_a", "channel_b")),
    "sensorContactType": Field("string", enum=("NO", "NC")),
    "sensorEolCount": Field("string", enum=("single", "double")),
    "enabled": Field("boolean"),
    "zoneId": _REF,
    "areaId": _REF,
    "typeId": _REF,
    "uiHidden": Field("boolean"),
    "monitorPeriod": Field("integer", nullable=True, minimum=1, maximum=3600),
    "monitorThreshold": Field("integer", nullable=True, minimum=0, maximum=100),
    "silentAlert": Field("boolean", nullable=True),
}
_SENSOR_COLUMNS = {
    "name": "name",
    "description": "description",
    "channel": "channel",
    "channelType": "channel_type",
    "sensorContactType": "sensor_contact_type",
    "sensorEolCount": "sensor_eol_count",
    "enabled": "enabled",
    "zoneId": "zone_id",
    "areaId": "area_id",
    "typeId": "type_id",
    "uiHidden": "ui_hidden",
    "monitorPeriod": "monitor_period",
    "monitorThreshold": "monitor_threshold",
    "silentAlert": "silent_alert",
}
_SENSOR_CREATE = Obj(
    {
        **_SENSOR_FIELDS,
        "name": Field("string", required=True, min_length=1, max_length=16),
        "channel": replace(_CHANNEL, required=True),
        "zoneId": Field("integer", required=True, minimum=1, maximum=INT32),
        "areaId": Field("integer", required=True, minimum=1, maximum=INT32),
        "typeId": Field("integer", required=True, minimum=1, maximum=INT32),
    }
)
_SENSORS_QUERY = {"alerting": Field("boolean")}
_ALERTING_SQL = str(
    SENSOR.select()
    .where(SENSOR.table.alert.isin([True]))
    .orderby(SENSOR.table.channel)
    .orderby(SENSOR.table.id)
)
_OCCUPANTS_SQL = str(
    Q.from_(SENSOR.table)
    .select(SENSOR.table.id, SENSOR.table.channel_type)
    .where(SENSOR.table.channel == P)
    .where(SENSOR.table.deleted.isin([False]))
    .where(SENSOR.table.id != P)
)


def _check_channel(
    cur: Any, channel: int | None, channel_type: str, own_id: int
) -> None:
    """409 when the channel is taken (A/B pairs may share one; reference 1.2)."""
    if channel is None or channel < 0:
        return
    cur.execute(_OCCUPANTS_SQL, (channel, own_id))
    others = [row[1] for row in cur.fetchall()]
    pair = {"channel_a": "channel_b", "channel_b": "channel_a"}
    if not others:
        return
    if channel_type in pair and others == [pair[channel_type]]:
        return
    raise ApiError(409, "Channel conflict with existing sensors")


def _check_refs(cur: Any, values: dict[str, Any], max_channel: int) -> None:
    channel = values.get("channel")
    if channel is not None and channel >= max_channel:
        raise ApiError(400, f"channel: must be -1..{max_channel - 1}")
    if "zone_id" in values and not _exists(cur, "zone", values["zone_id"]):
        raise ApiError(400, "zoneId: no such zone")
    if "area_id" in values and not _exists(cur, "area", values["area_id"]):
        raise ApiError(400, "areaId: no such area")
    if "type_id" in values and not _exists(
        cur, "sensor_type", values["type_id"], live=False
    ):
        raise ApiError(400, "typeId: no such sensor type")


@route(
    "GET",
    "/api/sensors/",
    auth=Auth.USER,
    query=_SENSORS_QUERY,
    tag="sensors",
    summary="List sensors (alerting=true: only alerting ones)",
)
async def sensors_list(req: Req) -> web.Response:
    if req.query.get("alerting"):
        text = await req.front.read_json(
            "sensor:alerting", lambda cur: SENSOR.fetch_all(cur, _ALERTING_SQL)
        )
        return web.Response(text=text, content_type="application/json")
    return await _list(req, SENSOR)


@route(
    "POST",
    "/api/sensors/",
    auth=Auth.ADMIN,
    body=_SENSOR_CREATE,
    tag="sensors",
    summary="Create a sensor",
    responses={201: "created", 400: "invalid", 409: "channel conflict or armed"},
)
async def sensor_create(req: Req) -> web.Response:
    values = {_SENSOR_COLUMNS[k]: v for k, v in req.body.items()}
    if values.get("channel") is None:
        values["channel"] = -1
    max_channel = req.front.settings.input_number

    def write(cur: Any) -> dict[str, Any]:
        guard_disarmed(cur)
        _check_refs(cur, values, max_channel)
        _check_channel(cur, values["channel"], values.get("channel_type", "normal"), 0)
        return SENSOR.insert(cur, values)

    sensor = await req.front.store.transact(write)
    config_changed(req.front, "sensors")
    return created(sensor)


@route(
    "GET",
    f"/api/sensor/{ID}",
    auth=Auth.ADMIN,
    tag="sensors",
    summary="Read a sensor",
    responses={200: "sensor", 404: "unknown"},
)
async def sensor_get(req: Req) -> web.Response:
    ident = req.id(what="Sensor")
    row = await _read(req, lambda cur: _live_sensor(cur, ident))
    if row is None:
        raise ApiError(404, "Sensor not found")
    return ok(row)


def _live_sensor(cur: Any, ident: int) -> dict[str, Any] | None:
    return SENSOR.fetch_one(cur, ident)  # the select already hides deleted rows


@route(
    "PUT",
    f"/api/sensor/{ID}",
    auth=Auth.ADMIN,
    body=Obj(_SENSOR_FIELDS),
    tag="sensors",
    summary="Update a sensor",
    responses=_MUTATION,
)
async def sensor_update(req: Req) -> web.Response:
    ident = req.id(what="Sensor")
    body = req.body
    max_channel = req.front.settings.input_number

    def write(cur: Any) -> dict[str, Any] | None:
        current = SENSOR.fetch_one(cur, ident)
        if current is None:
            raise ApiError(404, "Sensor not found")
        changes = changed_fields(current, body, _SENSOR_COLUMNS)
        if not changes:
            return None
        guard_disarmed(cur)
        _check_refs(cur, changes, max_channel)
        if "channel" in changes or "channel_type" in changes:
            channel = changes.get("channel", current["channel"])
            kind = changes.get("channel_type", current["channelType"])
            _check_channel(cur, channel, kind, ident)
        if "channel" in changes:
            changes["reference_value"] = None
        if changes.get("channel", 0) is None:
            changes["channel"] = -1
        SENSOR.update(cur, ident, changes)
        return SENSOR.fetch_one(cur, ident)

    sensor = await req.front.store.transact(write)
    if sensor is None:
        return no_change()
    config_changed(req.front, "sensors")
    return ok(sensor)


@route(
    "DELETE",
    f"/api/sensor/{ID}",
    auth=Auth.ADMIN,
    tag="sensors",
    summary="Delete a sensor (kept for history)",
    responses={204: "deleted", 404: "unknown", 409: "armed"},
)
async def sensor_delete(req: Req) -> web.Response:
    ident = req.id(what="Sensor")

    def write(cur: Any) -> None:
        if not _exists(cur, "sensor", ident):
            raise ApiError(404, "Sensor not found")
        guard_disarmed(cur)
        SENSOR.update(cur, ident, {"deleted": True})

    await req.front.store.transact(write)
    config_changed(req.front, "sensors")
    return no_change()


def _bank_names(ctx: Any) -> list[str]:
    """Every sensor bank the process has: those in the directory, and the layout
    the settings give (as `arpi.tree` builds it), so a bank that is restarting
    right now is still asked (and reported as not answering)."""
    import re

    from arpi.actors.sensor_bank import bank_name
    from arpi.drivers import HardwareConfig

    names = {n for n in ctx.directory.names() if re.fullmatch(r"sensors\d+", n)}
    try:
        config = HardwareConfig.from_settings(ctx.settings)
    except (ValueError, TypeError):
        return sorted(names)
    board = config.simulated_board if config.board == "simulated" else int(config.board)
    names.update(bank_name(i) for i in range(2 if board == 3 else 1))
    return sorted(names)


async def _reset_references(
    req: Req, sensor_ids: tuple[int, ...] | None
) -> web.Response:
    """Ask every sensor bank to recalibrate (F18) and answer with the merged result.

    200 `{"calibrated": {id: reference}, "refused": {}}` when every line asked was
    calibrated (a sensor that uses no reference is simply not listed); 409 with the
    same keys and `error` when a bank refused a line (active, faulted, unstable:
    it keeps its old reference); 503 with `unanswered` banks when a bank is down or
    silent (the others' results are still included).
    """
    from arpi.actors.sensor_bank import reset_references_async

    await _read(req, guard_disarmed)
    front = req.front
    names = _bank_names(front.ctx)
    results = await reset_references_async(
        front.ctx.directory, names, sensor_ids, front.settings.ask_timeout
    )
    calibrated: dict[str, float] = {}
    refused: dict[str, str] = {}
    unanswered = []
    for name, result in results.items():
        if result is None:
            unanswered.append(name)
            continue
        calibrated.update({str(k): v for k, v in sorted(result.calibrated.items())})
        refused.update({str(k): v for k, v in sorted(result.refused.items())})
    body = {"calibrated": calibrated, "refused": refused}
    if unanswered or not names:
        raise ApiError(503, "sensors not available", unanswered=unanswered, **body)
    if refused:
        reasons = "; ".join(f"sensor {k}: {v}" for k, v in refused.items())
        raise ApiError(409, f"References not reset: {reasons}", **body)
    return ok(body)


_RESET_RESPONSES = {
    200: "{calibrated, refused}",
    404: "unknown",
    409: "armed, or a line refused (it keeps its old reference)",
    503: "a sensor bank is not available",
}


@route(
    "PUT",
    f"/api/sensor/{ID}/reset-reference",
    auth=Auth.ADMIN,
    tag="sensors",
    summary="Recalibrate the reference of one sensor",
    responses=_RESET_RESPONSES,
)
async def sensor_reset_reference(req: Req) -> web.Response:
    ident = req.id(what="Sensor")
    if not await _read(req, lambda cur: _exists(cur, "sensor", ident)):
        raise ApiError(404, "Sensor not found")
    return await _reset_references(req, (ident,))


@route(
    "PUT",
    "/api/sensors/reset-references",
    auth=Auth.ADMIN,
    tag="sensors",
    summary="Recalibrate the reference of every sensor that uses one",
    responses=_RESET_RESPONSES,
)
async def sensors_reset_references(req: Req) -> web.Response:
    return await _reset_references(req, None)


@route(
    "GET",
    "/api/sensortypes",
    auth=Auth.USER,
    tag="sensors",
    summary="List sensor types",
)
async def sensor_types(req: Req) -> web.Response:
    return await _list(req, SENSOR_TYPE)


_FLAG_QUERY = {"sensorId": Field("integer", minimum=1, maximum=INT32)}


def _flag_sql(column: str, one: bool) -> str:
    t = SENSOR.table
    q = (
        Q.from_(t)
        .select(t.id)
        .where(t.field(column).isin([True]))
        .where(t.enabled.isin([True]))
        .where(t.deleted.isin([False]))
    )
    if one:
        q = q.where(t.id == P)
    return str(q.limit(1))


_FLAG_SQL = {
    (c, one): _flag_sql(c, one) for c in ("alert", "error") for one in (False, True)
}


async def _flag(req: Req, column: str) -> web.Response:
    sensor_id = req.query.get("sensorId")
    sql = _FLAG_SQL[(column, sensor_id is not None)]
    args = (sensor_id,) if sensor_id is not None else ()

    def query(cur: Any) -> bool:
        cur.execute(sql, args)
        return cur.fetchone() is not None

    return ok(await _read(req, query))


@route(
    "GET",
    "/api/sensor/alert",
    auth=Auth.DEVICE,
    query=_FLAG_QUERY,
    tag="sensors",
    summary="Is any (or the given) sensor alerting",
)
async def sensor_alert(req: Req) -> web.Response:
    return await _flag(req, "alert")


@route(
    "GET",
    "/api/sensor/error",
    auth=Auth.DEVICE,
    query=_FLAG_QUERY,
    tag="sensors",
    summary="Is any (or the given) sensor in wiring error",
)
async def sensor_error(req: Req) -> web.Response:
    return await _flag(req, "error")


_reorder_route("/api/sensor/reorder", SENSOR, "sensors")


# --- outputs -------------------------------------------------------------------

_OUTPUT_FIELDS = {
    "name": Field("string", nullable=True, max_length=16),
    "description": _TEXT,
    "channel": Field("integer", nullable=True, minimum=0, maximum=63),
    "triggerType": Field("string", enum=("area", "system", "button")),
    "areaId": Field("integer", nullable=True, minimum=1, maximum=INT32),
    "delay": Field("integer", minimum=0, maximum=86400),
    "duration": Field("integer", minimum=0, maximum=86400),
    "defaultState": Field("boolean"),
    "enabled": Field("boolean"),
    "uiOrder": Field("integer", nullable=True, minimum=-INT32, maximum=INT32),
}
_OUTPUT_COLUMNS = {
    "name": "name",
    "description": "description",
    "channel": "channel",
    "triggerType": "trigger_type",
    "areaId": "area_id",
    "delay": "delay",
    "duration": "duration",
    "defaultState": "default_state",
    "enabled": "enabled",
    "uiOrder": "ui_order",
}
_OUTPUT_CREATE = Obj(
    {
        **_OUTPUT_FIELDS,
        "name": Field("string", required=True, nullable=True, max_length=16),
        "triggerType": Field(
            "string", required=True, enum=("area", "system", "button")
        ),
    }
)
_OUTPUT_CHANNEL_SQL = str(
    Q.from_(OUTPUT.table)
    .select(OUTPUT.table.id)
    .where(OUTPUT.table.channel == P)
    .where(OUTPUT.table.id != P)
)


def _check_output(
    cur: Any, row: dict[str, Any], own_id: int, output_number: int
) -> None:
    channel = row.get("channel")
    if channel is not None:
        if channel == 0:
            raise ApiError(400, "channel: channel 0 belongs to the siren")
        if channel >= output_number:
            raise ApiError(400, f"channel: must be 1..{output_number - 1} or null")
        cur.execute(_OUTPUT_CHANNEL_SQL, (channel, own_id))
        if cur.fetchone() is not None:
            raise ApiError(409, "Channel conflict with existing outputs")
    trigger, area = row.get("trigger_type"), row.get("area_id")
    if trigger == "area" and area is None:
        raise ApiError(400, "areaId: an area trigger needs an area")
    if trigger != "area" and area is not None:
        raise ApiError(400, f"areaId: a {trigger} trigger takes no area")
    if area is not None and not _exists(cur, "area", area):
        raise ApiError(400, "areaId: no such area")


@route("GET", "/api/outputs/", auth=Auth.USER, tag="outputs", summary="List outputs")
async def outputs_list(req: Req) -> web.Response:
    return await _list(req, OUTPUT)


@route(
    "POST",
    "/api/outputs/",
    auth=Auth.ADMIN,
    body=_OUTPUT_CREATE,
    tag="outputs",
    summary="Create an output",
    responses={201: "created", 400: "invalid", 409: "channel conflict or armed"},
)
async def output_create(req: Req) -> web.Response:
    values = {_OUTPUT_COLUMNS[k]: v for k, v in req.body.items()}
    values.setdefault("area_id", None)
    limit = req.front.settings.output_number

    def write(cur: Any) -> dict[str, Any]:
        guard_disarmed(cur)
        _check_output(cur, values, 0, limit)
        return OUTPUT.insert(cur, values)

    output = await req.front.store.transact(write)
    req.front.output_changed(output["id"], output["state"])
    config_changed(req.front, "outputs")
    return created(output)


@route(
    "GET",
    f"/api/output/{ID}",
    auth=Auth.ADMIN,
    tag="outputs",
    summary="Read an output",
    responses={200: "output", 404: "unknown"},
)
async def output_get(req: Req) -> web.Response:
    return await _get(req, OUTPUT, "Output")


@route(
    "PUT",
    f"/api/output/{ID}",
    auth=Auth.ADMIN,
    body=Obj(_OUTPUT_FIELDS),
    tag="outputs",
    summary="Update an output",
    responses=_MUTATION,
)
async def output_update(req: Req) -> web.Response:
    ident = req.id(what="Output")
    body = req.body
    limit = req.front.settings.output_number

    def write(cur: Any) -> dict[str, Any] | None:
        current = OUTPUT.fetch_one(cur, ident)
        if current is None:
            raise ApiError(404, "Output not found")
        changes = changed_fields(current, body, _OUTPUT_COLUMNS)
        if not changes:
            return None
        guard_disarmed(cur)
        merged = {col: current[camel(col)] for col in _OUTPUT_COLUMNS.values()}
        merged.update(changes)
        _check_output(cur, merged, ident, limit)
        OUTPUT.update(cur, ident, changes)
        return OUTPUT.fetch_one(cur, ident)

    output = await req.front.store.transact(write)
    if output is None:
        return no_change()
    config_changed(req.front, "outputs")
    return ok(output)


@route(
    "DELETE",
    f"/api/output/{ID}",
    auth=Auth.ADMIN,
    tag="outputs",
    summary="Delete an output",
    responses={204: "deleted", 404: "unknown", 409: "armed"},
)
async def output_delete(req: Req) -> web.Response:
    ident = req.id(what="Output")

    def write(cur: Any) -> None:
        if not _exists(cur, "output", ident, live=False):
            raise ApiError(404, "Output not found")
        guard_disarmed(cur)
        t = OUTPUT.table
        cur.execute(str(Q.from_(t).delete().where(t.id == P)), (ident,))

    await req.front.store.transact(write)
    req.front.output_changed(ident, None)
    config_changed(req.front, "outputs")
    return no_change()


async def _button(req: Req, pressed: bool) -> web.Response:
    """Press or release a button output through the alarm (F19: only buttons).

    200 `{}` once the output's new state is durable; 404 unknown id; 409 not a
    button, or a button the alarm cannot drive (disabled, no channel); 503 alarm
    down.
    """
    from arpi.actors.alarm import PressButton

    ident = req.id(what="Output")
    row = await _read(req, lambda cur: OUTPUT.fetch_one(cur, ident))
    if row is None:
        raise ApiError(404, "Output not found")
    if row["triggerType"] != "button":
        raise ApiError(409, "Only buttons can be activated manually")
    result = await ask_actor(
        req.front.ctx,
        "alarm",
        PressButton(ident, pressed),
        req.front.settings.ask_timeout,
    )
    if not getattr(result, "ok", False):
        raise ApiError(409, str(getattr(result, "error", None) or "refused"))
    return ok({})


@route(
    "PUT",
    f"/api/output/{ID}/activate",
    auth=Auth.USER,
    tag="outputs",
    summary="Press a button output",
    responses={200: "{}", 404: "unknown", 409: "not a button", 503: "no alarm"},
)
async def output_activate(req: Req) -> web.Response:
    return await _button(req, True)


@route(
    "PUT",
    f"/api/output/{ID}/deactivate",
    auth=Auth.USER,
    tag="outputs",
    summary="Release a button output",
    responses={200: "{}", 404: "unknown", 409: "not a button", 503: "no alarm"},
)
async def output_deactivate(req: Req) -> web.Response:
    return await _button(req, False)


_reorder_route("/api/output/reorder", OUTPUT, "outputs")


# --- keypads -------------------------------------------------------------------

_KEYPAD_BODY = Obj({"enabled": Field("boolean"), "typeId": _REF})


@route("GET", "/api/keypads/", auth=Auth.USER, tag="keypads", summary="List keypads")
async def keypads_list(req: Req) -> web.Response:
    return await _list(req, KEYPAD)


@route(
    "GET",
    f"/api/keypad/{ID}",
    auth=Auth.ADMIN,
    tag="keypads",
    summary="Read a keypad",
    responses={200: "keypad", 404: "unknown"},
)
async def keypad_get(req: Req) -> web.Response:
    return await _get(req, KEYPAD, "Keypad")


@route(
    "PUT",
    f"/api/keypad/{ID}",
    auth=Auth.ADMIN,
    body=_KEYPAD_BODY,
    tag="keypads",
    summary="Update a keypad",
    responses=_MUTATION,
)
async def keypad_update(req: Req) -> web.Response:
    ident = req.id(what="Keypad")
    body = req.body

    def write(cur: Any) -> dict[str, Any] | None:
        current = KEYPAD.fetch_one(cur, ident)
        if current is None:
            raise ApiError(404, "Keypad not found")
        changes = changed_fields(
            current, body, {"enabled": "enabled", "typeId": "type_id"}
        )
        if not changes:
            return None
        guard_disarmed(cur)
        if "type_id" in changes and not _exists(
            cur, "keypad_type", changes["type_id"], live=False
        ):
            raise ApiError(400, "typeId: no such keypad type")
        KEYPAD.update(cur, ident, changes)
        return KEYPAD.fetch_one(cur, ident)

    keypad = await req.front.store.transact(write)
    if keypad is None:
        return no_change()
    config_changed(req.front, "keypads")
    return ok(keypad)


@route(
    "DELETE",
    f"/api/keypad/{ID}",
    auth=Auth.ADMIN,
    tag="keypads",
    summary="Delete a keypad (the last one stays: the UI needs one)",
    responses={200: "{}", 404: "unknown", 409: "last keypad or armed"},
)
async def keypad_delete(req: Req) -> web.Response:
    ident = req.id(what="Keypad")

    def write(cur: Any) -> None:
        if not _exists(cur, "keypad", ident):
            raise ApiError(404, "Keypad not found")
        guard_disarmed(cur)
        if len(KEYPAD.fetch_all(cur)) <= 1:
            raise ApiError(409, "The last keypad cannot be deleted")
        KEYPAD.update(cur, ident, {"deleted": True})

    await req.front.store.transact(write)
    config_changed(req.front, "keypads")
    return ok({})


@route(
    "GET",
    "/api/keypadtypes",
    auth=Auth.ADMIN,
    tag="keypads",
    summary="List keypad types",
)
async def keypad_types(req: Req) -> web.Response:
    return await _list(req, KEYPAD_TYPE)

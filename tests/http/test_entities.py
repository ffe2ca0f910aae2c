"""Areas, zones, sensors, outputs and keypads: shapes, status codes, refusals."""

from __future__ import annotations

import psycopg2

from arpi.bus import ConfigChanged
from tests.http.conftest import serve


def _sql(ctx, statement, args=()):
    conn = ctx.db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(statement, args)
        conn.commit()
    finally:
        conn.close()


def _arm_area(ctx, area_id=1, state="AWAY"):
    _sql(ctx, "UPDATE area SET arm_state = %s WHERE id = %s", (state, area_id))


async def _zone(api, **extra):
    status, zone, _ = await api.admin(
        "POST", "/api/zones/", json={"name": "Z", **extra}
    )
    assert status == 201, zone
    return zone


async def _sensor(api, zone_id, channel, **extra):
    body = {
        "name": f"S{channel}",
        "channel": channel,
        "zoneId": zone_id,
        "areaId": 1,
        "typeId": 1,
        "enabled": True,
        **extra,
    }
    return await api.admin("POST", "/api/sensors/", json=body)


def test_areas_crud(ctx):
    async def scenario(api):
        status, areas, _ = await api.admin("GET", "/api/areas/")
        assert status == 200
        assert areas == [
            {"id": 1, "name": "House", "armState": "disarm", "uiOrder": None}
        ]
        status, area, _ = await api.admin(
            "POST", "/api/areas/", json={"name": "Garage", "armState": 3, "x": 1}
        )
        assert status == 201 and area["name"] == "Garage" and area["id"] > 1
        aid = area["id"]
        assert (await api.admin("PUT", f"/api/area/{aid}", json={"name": "Garage"}))[
            0
        ] == 204
        status, body, _ = await api.admin(
            "PUT", f"/api/area/{aid}", json={"name": "Barn"}
        )
        assert (status, body["name"]) == (200, "Barn")
        assert (await api.admin("GET", f"/api/area/{aid}"))[1]["name"] == "Barn"
        status, body, _ = await api.admin("POST", "/api/areas/", json={"name": ""})
        assert status == 400 and "name" in body["error"]
        status, body, _ = await api.admin(
            "POST", "/api/areas/", json={"name": "x" * 33}
        )
        assert status == 400 and "name" in body["error"]
        assert (await api.admin("DELETE", f"/api/area/{aid}"))[0] == 204
        assert (await api.admin("GET", f"/api/area/{aid}"))[0] == 404
        assert (await api.admin("DELETE", f"/api/area/{aid}"))[0] == 404
        status, body, _ = await api.admin("GET", "/api/area/99999999999")
        assert (status, body) == (404, {"error": "Area not found"})

    serve(ctx, scenario)


def test_area_in_use_and_armed_refusals(ctx):
    async def scenario(api):
        zone = await _zone(api)
        assert (await _sensor(api, zone["id"], 0))[0] == 201
        status, body, _ = await api.admin("DELETE", "/api/area/1")
        assert (status, body) == (409, {"error": "Area is used by sensors"})
        status, body, _ = await api.admin("DELETE", f"/api/zone/{zone['id']}")
        assert (status, body) == (409, {"error": "Zone is used by sensors"})
        _arm_area(ctx)
        for method, path, payload in [
            ("POST", "/api/areas/", {"name": "New"}),
            ("POST", "/api/zones/", {"name": "New"}),
            ("PUT", f"/api/zone/{zone['id']}", {"name": "Other"}),
            ("PUT", "/api/sensors/reset-references", ...),
        ]:
            status, body, _ = await api.admin(method, path, json=payload)
            assert status == 409, (path, body)
            assert "armed" in body["error"]
        # A PUT that changes nothing is still 204 while armed.
        assert (await api.admin("PUT", f"/api/zone/{zone['id']}", json={"name": "Z"}))[
            0
        ] == 204

    serve(ctx, scenario)


def test_zones(ctx):
    async def scenario(api):
        zone = await _zone(api, awayAlertDelay=None, stayAlertDelay=20)
        assert zone == {
            "id": zone["id"],
            "name": "Z",
            "description": "",
            "disarmedDelay": None,
            "awayAlertDelay": None,
            "stayAlertDelay": 20,
            "awayArmDelay": 0,
            "stayArmDelay": 0,
            "uiOrder": None,
        }
        status, body, _ = await api.admin(
            "POST", "/api/zones/", json={"name": "B", "awayArmDelay": -1}
        )
        assert status == 400 and "awayArmDelay" in body["error"]
        status, body, _ = await api.admin(
            "POST", "/api/zones/", json={"name": "B", "stayArmDelay": "5"}
        )
        assert status == 400 and "stayArmDelay" in body["error"]
        full = dict(zone, disarmedDelay=0, alert=True)
        status, body, _ = await api.admin("PUT", f"/api/zone/{zone['id']}", json=full)
        assert status == 200 and body["disarmedDelay"] == 0
        assert (await api.admin("PUT", f"/api/zone/{zone['id']}", json=full))[0] == 204
        assert (await api.admin("PUT", "/api/zone/4242", json=full))[0] == 404
        status, _, _ = await api.admin(
            "PUT", "/api/zones/reorder", json=[{"id": zone["id"], "uiOrder": 3}]
        )
        assert status == 200
        assert (await api.admin("GET", f"/api/zone/{zone['id']}"))[1]["uiOrder"] == 3
        assert (await api.admin("DELETE", f"/api/zone/{zone['id']}"))[0] == 204
        assert (await api.admin("GET", "/api/zones/"))[1] == []

    serve(ctx, scenario)


def test_sensors(ctx, alarm):
    async def scenario(api):
        zone = await _zone(api)
        status, sensor, _ = await _sensor(
            api, zone["id"], 3, silentAlert=True, monitorPeriod=10, monitorThreshold=50
        )
        assert status == 201
        assert sensor == {
            "id": sensor["id"],
            "name": "S3",
            "description": None,
            "channel": 3,
            "channelType": "normal",
            "sensorContactType": "NO",
            "sensorEolCount": "single",
            "alert": False,
            "error": False,
            "zoneId": zone["id"],
            "areaId": 1,
            "typeId": 1,
            "enabled": True,
            "silentAlert": True,
            "monitorPeriod": 10,
            "monitorThreshold": 50,
            "uiOrder": None,
            "uiHidden": False,
        }
        status, body, _ = await _sensor(api, zone["id"], 3)
        assert (status, body) == (
            409,
            {"error": "Channel conflict with existing sensors"},
        )
        # A and B share a channel; a third one does not fit.
        assert (await _sensor(api, zone["id"], 5, channelType="channel_a"))[0] == 201
        assert (await _sensor(api, zone["id"], 5, channelType="channel_b"))[0] == 201
        assert (await _sensor(api, zone["id"], 5, channelType="channel_b"))[0] == 409
        # Disconnected sensors never conflict.
        assert (await _sensor(api, zone["id"], -1))[0] == 201
        assert (await _sensor(api, zone["id"], -1))[0] == 201
        for bad, field in [
            ({"channel": 15}, "channel"),
            ({"zoneId": 999}, "zoneId"),
            ({"areaId": 999}, "areaId"),
            ({"typeId": 9}, "typeId"),
            ({"channelType": "x"}, "channelType"),
            ({"name": "x" * 17}, "name"),
        ]:
            rest = {k: v for k, v in bad.items() if k != "channel"}
            status, body, _ = await _sensor(
                api, zone["id"], bad.get("channel", 7), **rest
            )
            assert status == 400 and field in body["error"], (bad, body)

        sid = sensor["id"]
        whole = dict(sensor, alert=True, error=True, uiOrder=9, id=123)
        assert (await api.admin("PUT", f"/api/sensor/{sid}", json=whole))[0] == 204
        whole["name"] = "Hall"
        status, body, _ = await api.admin("PUT", f"/api/sensor/{sid}", json=whole)
        assert (status, body["name"], body["alert"]) == (200, "Hall", False)
        status, body, _ = await api.admin(
            "PUT", f"/api/sensor/{sid}", json={"channel": 5}
        )
        assert status == 409
        changes = []
        api.ctx.bus.subscribe(ConfigChanged, changes.append)
        status, body, _ = await api.admin(
            "PUT", f"/api/sensor/{sid}", json={"channel": 8}
        )
        assert status == 200 and body["channel"] == 8
        assert changes == [ConfigChanged(frozenset({"sensors"}))]

        status, listed, _ = await api.admin("GET", "/api/sensors/")
        assert [s["channel"] for s in listed] == [-1, -1, 5, 5, 8]
        _sql(api.ctx, "UPDATE sensor SET alert = true WHERE id = %s", (sid,))
        status, listed, _ = await api.admin("GET", "/api/sensors/?alerting=true")
        assert [s["id"] for s in listed] == [sid]
        device = api.device()
        assert (await api.call("GET", "/api/sensor/alert", token=device))[1] is True
        assert (
            await api.call("GET", f"/api/sensor/alert?sensorId={sid + 1}", token=device)
        )[1] is False
        assert (await api.call("GET", "/api/sensor/error", token=device))[1] is False
        status, body, _ = await api.call(
            "GET", "/api/sensor/alert?sensorId=x", token=device
        )
        assert status == 400 and "sensorId" in body["error"]

        # No sensor bank runs here: an honest 503 (tests/http/test_real_actors.py
        # covers the banks' answers).
        status, body, _ = await api.admin("PUT", f"/api/sensor/{sid}/reset-reference")
        assert status == 503 and body["unanswered"] == ["sensors0", "sensors1"]
        assert (await api.admin("PUT", "/api/sensor/999/reset-reference"))[0] == 404
        assert (await api.admin("PUT", "/api/sensors/reset-references"))[0] == 503
        assert (await api.admin("DELETE", f"/api/sensor/{sid}"))[0] == 204
        assert (await api.admin("GET", f"/api/sensor/{sid}"))[0] == 404
        types = (await api.admin("GET", "/api/sensortypes"))[1]
        assert [t["name"] for t in types] == ["Motion", "Tamper", "Open", "Break"]

    serve(ctx, scenario)


def test_outputs(ctx):
    async def scenario(api):
        base = {
            "name": "Light",
            "description": "",
            "channel": 1,
            "triggerType": "button",
            "areaId": None,
            "delay": 0,
            "duration": 5,
            "defaultState": False,
            "enabled": True,
            "state": True,
        }
        status, out, _ = await api.admin("POST", "/api/outputs/", json=base)
        assert status == 201 and out["state"] is False and out["channel"] == 1
        assert (await api.admin("POST", "/api/outputs/", json=base))[:2] == (
            409,
            {"error": "Channel conflict with existing outputs"},
        )
        cases = [
            ({"channel": 0}, 400, "siren"),
            ({"channel": 8}, 400, "channel"),
            ({"channel": None, "triggerType": "area"}, 400, "areaId"),
            ({"channel": None, "areaId": 1}, 400, "areaId"),
            ({"channel": None, "triggerType": "area", "areaId": 77}, 400, "areaId"),
            ({"triggerType": "later"}, 400, "triggerType"),
        ]
        for change, want, word in cases:
            status, body, _ = await api.admin(
                "POST", "/api/outputs/", json={**base, **change}
            )
            assert status == want and word in body["error"], (change, body)
        # Unwired outputs may coexist.
        for _ in range(2):
            assert (
                await api.admin("POST", "/api/outputs/", json={**base, "channel": None})
            )[0] == 201
        oid = out["id"]
        assert (await api.admin("PUT", f"/api/output/{oid}", json=out))[0] == 204
        status, body, _ = await api.admin(
            "PUT", f"/api/output/{oid}", json={"triggerType": "area", "areaId": 1}
        )
        assert status == 200 and body["triggerType"] == "area"
        status, body, _ = await api.admin("PUT", f"/api/output/{oid}/activate")
        assert (status, body) == (
            409,
            {"error": "Only buttons can be activated manually"},
        )
        await api.admin(
            "PUT", f"/api/output/{oid}", json={"triggerType": "button", "areaId": None}
        )
        status, body, _ = await api.call(
            "PUT", f"/api/output/{oid}/activate", token=api.token("user")
        )
        # No alarm runs here (tests/http/test_real_actors.py presses real buttons).
        assert (status, body) == (503, {"error": "alarm not available"})
        assert (await api.admin("GET", "/api/output/999"))[:2] == (
            404,
            {"error": "Output not found"},
        )
        assert (await api.admin("DELETE", f"/api/output/{oid}"))[0] == 204
        assert (await api.admin("DELETE", f"/api/output/{oid}"))[0] == 404

    serve(ctx, scenario)


def test_keypads(ctx):
    async def scenario(api):
        assert (await api.admin("GET", "/api/keypads/"))[1] == [
            {"id": 1, "typeId": 2, "enabled": True}
        ]
        assert (await api.admin("GET", "/api/keypad/1"))[0] == 200
        assert (
            await api.admin(
                "PUT", "/api/keypad/1", json={"id": 1, "typeId": 2, "enabled": True}
            )
        )[0] == 204
        status, body, _ = await api.admin(
            "PUT", "/api/keypad/1", json={"typeId": 1, "enabled": False}
        )
        assert (status, body) == (200, {"id": 1, "typeId": 1, "enabled": False})
        assert (await api.admin("PUT", "/api/keypad/1", json={"typeId": 5}))[0] == 400
        assert (await api.admin("PUT", "/api/keypad/7", json={"typeId": 1}))[0] == 404
        assert (await api.admin("DELETE", "/api/keypad/1"))[0] == 409
        assert len((await api.admin("GET", "/api/keypadtypes"))[1]) == 2

    serve(ctx, scenario)


def test_protocol_errors(ctx):
    async def scenario(api):
        status, body, hdrs = await api.admin("PATCH", "/api/areas/")
        assert (status, body) == (405, {"error": "method not allowed"})
        assert "GET" in hdrs["Allow"]
        status, body, _ = await api.admin("POST", "/api/areas/", data=b"{nope")
        assert (status, body) == (400, {"error": "body: not valid JSON"})
        status, body, _ = await api.admin("POST", "/api/areas/", data=b"")
        assert status == 400 and "required" in body["error"]
        status, body, _ = await api.admin("POST", "/api/areas/", json=[1, 2])
        assert status == 400 and "object" in body["error"]
        big = b'{"name": "' + b"x" * 70000 + b'"}'
        status, body, _ = await api.admin("POST", "/api/areas/", data=big)
        assert (status, body) == (413, {"error": "body: too large"})
        status, body, _ = await api.admin("GET", "/api/nothing")
        assert (status, body) == (404, {"error": "not found"})
        # Collection paths keep their trailing slash; the bare form redirects.
        status, _, hdrs = await api.admin("GET", "/api/users/")
        assert status == 404
        status, _, _ = await api.admin("GET", "/api/sensortypes/")
        assert status == 404

    serve(ctx, scenario)


def test_storage_errors_are_not_500(ctx):
    async def scenario(api):
        # A user mistake the database catches (a constraint) is still a 4xx.
        conn = ctx.db.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "ALTER TABLE area ADD CONSTRAINT no_bad CHECK (name <> 'bad')"
                )
            conn.commit()
        finally:
            conn.close()
        status, body, _ = await api.admin("POST", "/api/areas/", json={"name": "bad"})
        assert status == 400 and "no_bad" in body["error"]

    serve(ctx, scenario)


def test_database_down_is_503(ctx):
    async def scenario(api):
        await api.admin("GET", "/api/areas/")  # loads the user cache
        api.front.reads._connect = _refuse
        for conn in list(api.front.reads._all):
            conn.close()
        status, body, _ = await api.admin("GET", "/api/areas/")
        assert (status, body) == (503, {"error": "database not available"})

    serve(ctx, scenario)


def _refuse():
    raise psycopg2.OperationalError("server gone")

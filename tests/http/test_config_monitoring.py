"""Configuration options and actions; arm/disarm, monitoring state, alerts, history."""

from __future__ import annotations

import socket

import pytest

from arpi.http.app import FrontStartError, start_front, stop_front
from tests.http.conftest import StandInAlarm, serve


def _sql(ctx, statement, args=()):
    conn = ctx.db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(statement, args)
            rows = cur.fetchall() if cur.description else None
        conn.commit()
        return rows
    finally:
        conn.close()


def test_options_defaults_unknown_and_shapes(ctx):
    async def scenario(api):
        status, body, _ = await api.admin("GET", "/api/config/syren/timing")
        assert (status, body) == (
            200,
            {
                "name": "syren",
                "section": "timing",
                "value": {"silent": False, "delay": 0, "duration": 0},
            },
        )
        status, body, _ = await api.admin("GET", "/api/config/network/access")
        assert body["value"]["service_enabled"] is True
        status, body, _ = await api.admin("GET", "/api/config/foo/bar")
        assert (status, body) == (404, {"error": "unknown option foo/bar"})
        status, body, _ = await api.admin(
            "PUT", "/api/config/syren/timing", json={"delay": 5, "volume": 3}
        )
        assert (status, body) == (400, {"error": "volume: unknown key"})
        status, body, _ = await api.admin(
            "PUT", "/api/config/syren/timing", json={"delay": -1}
        )
        assert status == 400 and "delay" in body["error"]
        status, body, _ = await api.admin(
            "PUT", "/api/config/syren/timing", json={"delay": 5}
        )
        assert status == 200 and body["value"]["delay"] == 5
        assert (await api.admin("PUT", "/api/config/syren/timing", json={"delay": 5}))[
            0
        ] == 204
        # First save of subscriptions works; partial objects merge.
        status, body, _ = await api.admin(
            "PUT",
            "/api/config/notifications/subscriptions",
            json={"sms1": {"alert_started": True}},
        )
        assert status == 200
        assert body["value"]["sms1"] == {
            "alert_started": True,
            "alert_stopped": False,
            "power_outage_started": False,
            "power_outage_stopped": False,
        }
        status, body, _ = await api.admin(
            "PUT",
            "/api/config/notifications/subscriptions",
            json={"sms1": {"loud": True}},
        )
        assert status == 400 and "sms1.loud" in body["error"]
        assert (
            await api.admin("PUT", "/api/config/mqtt/internal_read", json={"port": 1})
        )[0] == 405
        status, body, _ = await api.call("GET", "/api/config/location_name")
        assert body == ""
        await api.admin("PUT", "/api/config/system/location", json={"name": "Home"})
        assert (await api.call("GET", "/api/config/location_name"))[1] == "Home"

    serve(ctx, scenario)


def test_secrets_are_masked_and_kept(ctx):
    async def scenario(api):
        smtp = {
            "enabled": True,
            "smtp_hostname": "mail",
            "smtp_port": 587,
            "smtp_username": "me",
            "smtp_password": "hunter2",
        }
        assert (await api.admin("PUT", "/api/config/notifications/smtp", json=smtp))[
            0
        ] == 200
        value = (await api.admin("GET", "/api/config/notifications/smtp"))[1]["value"]
        assert value["smtp_password"] == "******"
        # The UI omits the password, or sends the mask: both keep it.
        await api.admin(
            "PUT",
            "/api/config/notifications/smtp",
            json={**smtp, "smtp_password": "******", "smtp_port": 25},
        )
        await api.admin(
            "PUT", "/api/config/notifications/smtp", json={"smtp_hostname": "mail2"}
        )
        stored = _sql(
            api.ctx,
            "SELECT value FROM option WHERE name = 'notifications' "
            "AND section = 'smtp'",
        )[0][0]
        assert stored["smtp_password"] == "hunter2"
        assert (stored["smtp_port"], stored["smtp_hostname"]) == (25, "mail2")
        await api.admin("PUT", "/api/config/network/dyndns", json={"password": "pw"})
        dyndns = (await api.admin("GET", "/api/config/network/dyndns"))[1]["value"]
        assert dyndns["password"] == "******"

    serve(ctx, scenario)


def test_config_refused_while_armed(ctx, alarm):
    async def scenario(api):
        _sql(api.ctx, "UPDATE area SET arm_state = 'STAY'")
        status, body, _ = await api.admin(
            "PUT", "/api/config/syren/timing", json={"delay": 9}
        )
        assert status == 409 and "armed" in body["error"]
        status, body, _ = await api.admin("GET", "/api/config/test_email")
        assert status == 403 and body["result"] is False
        assert (await api.admin("GET", "/api/config/test_syren"))[0] == 403

    serve(ctx, scenario)


def test_config_actions_without_actors(ctx):
    async def scenario(api):
        for path, actor in [
            ("/api/config/test_email", "notifier"),
            ("/api/config/test_sms", "notifier"),
            ("/api/config/test_call", "notifier"),
            ("/api/config/test_syren?duration=99", "siren"),
            ("/api/config/sms", "gsm"),
        ]:
            status, body, _ = await api.admin("GET", path)
            assert (status, body) == (503, {"error": f"{actor} not available"}), path
        assert (await api.admin("DELETE", "/api/config/sms/3"))[0] == 503
        assert (await api.admin("GET", "/api/config/public_access"))[1] is False
        status, body, _ = await api.admin(
            "PUT", "/api/clock", json={"datetime": "yesterday"}
        )
        assert status == 400 and "datetime" in body["error"]
        status, body, _ = await api.admin(
            "PUT", "/api/clock", json={"timezone": "Europe/Budapest"}
        )
        assert (status, body) == (503, {"error": "clock not available"})
        status, body, _ = await api.admin("GET", "/api/clock")
        assert status == 200 and set(body) >= {
            "timezone",
            "system",
            "hw",
            "network",
            "uptime",
            "uptime_server",
        }

    serve(ctx, scenario)


def test_arm_and_disarm_through_the_alarm(ctx, alarm):
    async def scenario(api):
        user = api.token("admin")
        status, body, _ = await api.call(
            "PUT", "/api/monitoring/arm?type=arm_away&use_delay=true", token=user
        )
        assert (status, body) == (200, {})
        arm = alarm.record[-1]
        assert (arm.mode, arm.area_id, arm.user_id, arm.use_delay, arm.force) == (
            "arm_away",
            None,
            1,
            True,
            False,
        )
        assert (await api.call("PUT", "/api/monitoring/disarm", token=user))[:2] == (
            200,
            {},
        )
        assert type(alarm.record[-1]).__name__ == "Disarm"
        status, body, _ = await api.call(
            "PUT", "/api/area/arm?area_id=1&type=arm_stay", token=user
        )
        assert status == 200 and alarm.record[-1].area_id == 1
        assert (
            await api.call("PUT", "/api/area/arm?area_id=9&type=arm_stay", token=user)
        )[:2] == (404, {"error": "Area not found"})
        status, body, _ = await api.call(
            "PUT", "/api/area/arm?type=arm_stay", token=user
        )
        assert status == 400 and "area_id" in body["error"]
        status, body, _ = await api.call(
            "PUT", "/api/monitoring/arm?type=panic", token=user
        )
        assert status == 400 and "type" in body["error"]
        assert (await api.call("PUT", "/api/area/disarm?area_id=1", token=user))[
            0
        ] == 200
        device = api.device()
        assert (await api.call("GET", "/api/monitoring/state", token=device))[1] == {
            "state": "monitoring_ready"
        }

    serve(ctx, scenario)


def test_refused_arm_names_blocking_sensors(ctx):
    record = []
    ref = StandInAlarm.start(ctx, name="alarm", record=record, refuse=True)
    try:

        async def scenario(api):
            status, body, _ = await api.admin(
                "PUT", "/api/monitoring/arm?type=arm_away"
            )
            assert (status, body) == (
                409,
                {
                    "error": "sensors are active",
                    "sensors": [{"id": 7, "name": "Front door"}],
                },
            )
            status, body, _ = await api.admin(
                "PUT", "/api/monitoring/arm?type=arm_away&force=true"
            )
            assert status == 200 and record[-1].force is True

        serve(ctx, scenario)
    finally:
        ref.stop()


def test_alarm_down_is_503(ctx):
    async def scenario(api):
        status, body, _ = await api.admin("PUT", "/api/monitoring/arm?type=arm_away")
        assert (status, body) == (503, {"error": "alarm not available"})
        device = api.device()
        assert (await api.call("GET", "/api/monitoring/state", token=device))[0] == 503

    serve(ctx, scenario)


def test_aggregate_arm_state_power_and_alert(ctx):
    async def scenario(api):
        device = api.device()

        async def arm_type():
            return (await api.call("GET", "/api/monitoring/arm", token=device))[1]

        assert await arm_type() == {"type": "disarm"}
        _sql(api.ctx, "INSERT INTO area (name, arm_state) VALUES ('B', 'DISARM')")
        _sql(api.ctx, "UPDATE area SET arm_state = 'AWAY' WHERE name = 'House'")
        assert await arm_type() == {"type": "arm_away"}  # disarm + away = away
        _sql(api.ctx, "UPDATE area SET arm_state = 'STAY' WHERE name = 'B'")
        assert await arm_type() == {"type": "arm_mixed"}
        _sql(api.ctx, "UPDATE area SET deleted = true")
        assert await arm_type() == {"type": "disarm"}

        assert (await api.call("GET", "/api/power", token=device))[1] == {"state": None}
        assert (await api.call("GET", "/api/alert", token=device))[1] is None

    serve(ctx, scenario)


def test_alerts_and_history(ctx):
    async def scenario(api):
        _sql(api.ctx, "INSERT INTO zone (name) VALUES ('Z')")
        _sql(
            api.ctx,
            "INSERT INTO sensor (name, channel, zone_id, area_id, type_id) "
            "VALUES ('Door', 1, 1, 1, 3)",
        )
        _sql(
            api.ctx,
            """
            WITH al AS (INSERT INTO alert (start_time, silent)
                        VALUES ('2026-03-01 10:05:00+00', false) RETURNING id),
                 s AS (INSERT INTO alert_sensor (alert_id, sensor_id, name, channel,
                                                 type_id, start_time)
                       SELECT id, 1, 'Door', 1, 3, '2026-03-01 10:05:00+00' FROM al),
                 a AS (INSERT INTO arm (type, time, user_id, alert_id)
                       SELECT 'AWAY', '2026-03-01 10:00:00+00', 1, id FROM al
                       RETURNING id)
            INSERT INTO arm_sensor (arm_id, sensor_id, channel, type_id, name,
                                    timestamp, delay, enabled)
            SELECT id, 1, 1, 3, 'Door', '2026-03-01 10:00:00+00', 0, true FROM a""",
        )
        _sql(
            api.ctx,
            "INSERT INTO arm (type, time, keypad_id) "
            "VALUES ('STAY', '2026-03-02 10:00:00+00', 1)",
        )
        _sql(
            api.ctx,
            "INSERT INTO disarm (time, user_id, arm_id) "
            "VALUES ('2026-03-02 11:00:00+00', 1, 2)",
        )
        _sql(
            api.ctx,
            "INSERT INTO disarm (time, user_id) VALUES ('2026-03-03 11:00:00+00', 1)",
        )

        device = api.device()
        alert = (await api.call("GET", "/api/alert", token=device))[1]
        assert alert["alertType"] == "alert_away" and alert["endTime"] is None
        assert alert["sensors"][0]["sensorId"] == 1
        assert len(alert["startTime"]) == 19 and "T" not in alert["startTime"]
        assert len((await api.admin("GET", "/api/alerts"))[1]) == 1

        events = (await api.admin("GET", "/api/arms"))[1]
        assert len(events) == 3
        assert "arm" in events[0] and "disarm" not in events[0]  # the open arm
        assert events[0]["sensorChanges"][0]["sensors"][0]["name"] == "Door"
        assert events[0]["alert"]["id"] == alert["id"]

        async def count(query):
            status, body, _ = await api.admin("GET", "/api/arms/count" + query)
            assert status == 200, body
            return body

        assert await count("") == 3
        assert await count("?has_alert=true") == 1
        assert await count("?has_alert=false") == 2
        assert await count("?has_alert=null") == 3
        assert await count("?keypad_id=1") == 1
        assert await count("?arm_type=disarm") == 1
        assert await count("?arm_type=arm_away") == 1
        assert await count("?start=2026-03-02&end=2026-03-02") == 1
        assert await count("?user_id=1") == 3
        assert len((await api.admin("GET", "/api/arms?limit=1&offset=1"))[1]) == 1
        status, body, _ = await api.admin("GET", "/api/arms?start=2026-02-30")
        assert status == 400 and "start" in body["error"]
        assert (await api.admin("GET", "/api/arms?end=9999-12-31"))[0] == 200

    serve(ctx, scenario)


def test_port_in_use_is_a_clear_error(ctx):
    import asyncio

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]

    async def main():
        with pytest.raises(FrontStartError, match=f"127.0.0.1:{port}.*in use"):
            await start_front(ctx, "127.0.0.1", port)
        runner = await start_front(ctx, "127.0.0.1", 0)
        await stop_front(runner)

    try:
        asyncio.run(main())
    finally:
        holder.close()

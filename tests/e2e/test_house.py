"""Acceptance on a running `arpi-simulate --demo house --clock manual`.

One process for the module; each test starts from a disarmed, quiet house.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from tests.e2e.conftest import (
    BEDROOM,
    FRONT_DOOR,
    OWNER,
    PHONE,
    SimProcess,
    Ui,
    run_ui,
)


def test_simulator_api_is_validated_and_documented(house: SimProcess) -> None:
    async def scenario(ui: Ui) -> None:
        spec = await ui.ok("GET", "/api/openapi.json", auth=False)
        for path in (
            "/api/simulator/state",
            "/api/simulator/channel/{channel}",
            "/api/simulator/power",
            "/api/simulator/gsm",
            "/api/simulator/gsm/messages",
            "/api/simulator/mail",
            "/api/simulator/keypad",
            "/api/simulator/clock",
            "/api/simulator/fault",
        ):
            assert path in spec["paths"], path

        bad = [
            ("PUT", "/api/simulator/channel/0", {"state": "ajar"}, 400, "state"),
            ("PUT", "/api/simulator/channel/0", {"level": 1.5}, 400, "level"),
            (
                "PUT",
                "/api/simulator/channel/0",
                {"state": "idle", "level": 0.5},
                400,
                "state or level",
            ),
            ("PUT", "/api/simulator/channel/0", {"state": "a_active"}, 400, "dual"),
            ("PUT", "/api/simulator/channel/0", {"colour": "red"}, 400, "colour"),
            ("PUT", "/api/simulator/channel/99", {"state": "idle"}, 404, "channel"),
            ("PUT", "/api/simulator/power", {"source": "solar"}, 400, "source"),
            ("PUT", "/api/simulator/gsm", {"mode": "sleepy"}, 400, "mode"),
            ("POST", "/api/simulator/keypad", {"keys": "12x"}, 400, "keys"),
            (
                "POST",
                "/api/simulator/keypad",
                {"keys": "1", "card": "2"},
                400,
                "keys or card",
            ),
            ("POST", "/api/simulator/keypad", {"card": "99999999999"}, 400, "card"),
            ("POST", "/api/simulator/clock", {"advance": -1}, 400, "advance"),
            ("POST", "/api/simulator/clock", {}, 400, "advance"),
            (
                "POST",
                "/api/simulator/fault",
                {"actor": "nobody", "kind": "crash"},
                404,
                "actor",
            ),
            (
                "POST",
                "/api/simulator/fault",
                {"actor": "keypad", "kind": "melt"},
                400,
                "kind",
            ),
        ]
        for method, path, body, status, word in bad:
            got, answer = await ui.call(method, path, json_body=body, auth=False)
            assert got == status, (path, body, got, answer)
            assert word in answer["error"], (path, body, answer)

        # A cut NC single-EOL line reads as an open door (same level); a short is
        # a short.
        view = await ui.line(FRONT_DOOR, "cut")
        assert view["state"] == "active"
        view = await ui.line(FRONT_DOOR, "short")
        assert view["state"] == "short"
        assert view["sensors"][0]["state"] == "short"
        view = await ui.line(FRONT_DOOR, "idle")
        assert view["state"] == "idle"
        assert view["sensors"][0]["name"] == "Front door"

        panel = await ui.panel()
        assert panel["demo"] == "house"
        assert panel["clock"]["mode"] == "manual"
        before = panel["clock"]["monotonic"]
        clock = await ui.ok(
            "POST", "/api/simulator/clock", json_body={"advance": 2.5}, auth=False
        )
        assert abs(clock["monotonic"] - before - 2.5) < 0.01

        # The mail sink is a real SMTP server on loopback.
        sink = await ui.ok("GET", "/api/simulator/mail", auth=False)
        message = EmailMessage()
        message["From"] = "test@example.com"
        message["To"] = OWNER
        message["Subject"] = "sink check"
        message.set_content("hello")
        with smtplib.SMTP("127.0.0.1", sink["port"], timeout=10) as client:
            client.send_message(message)
        subjects = [m["subject"] for m in await ui.mail()]
        assert "sink check" in subjects

    run_ui(house, scenario)


def test_installer_configures_a_sensor_and_the_panel_follows(house: SimProcess) -> None:
    async def scenario(ui: Ui) -> None:
        await ui.reset()
        zone = await ui.ok(
            "POST",
            "/api/zones/",
            json_body={"name": "E2E porch", "awayAlertDelay": 0, "stayAlertDelay": 0},
        )
        areas = await ui.ok("GET", "/api/areas/")
        house_area = next(a for a in areas if a["name"] == "House")
        sensor = await ui.ok(
            "POST",
            "/api/sensors/",
            json_body={
                "name": "Porch door",
                "channel": 9,
                "zoneId": zone["id"],
                "areaId": house_area["id"],
                "typeId": 3,
                "channelType": "normal",
                "sensorContactType": "NC",
                "sensorEolCount": "double",
            },
        )
        assert sensor["channel"] == 9
        names = [s["name"] for s in await ui.ok("GET", "/api/sensors/")]
        assert "Porch door" in names

        # The person wires it: idle and active are the double-EOL levels.
        view = await ui.line(9, "idle")
        assert view["wiring"]["eol"] == "double"
        assert view["sensors"][0]["name"] == "Porch door"
        assert view["state"] == "idle"
        active = await ui.line(9, "active")
        assert active["state"] == "active"
        assert active["level"] != view["level"]
        await ui.line(9, "idle")

        # Clean up so the rest of the module sees the demo house only.
        await ui.ok("DELETE", f"/api/sensor/{sensor['id']}")
        await ui.ok("DELETE", f"/api/zone/{zone['id']}")

    run_ui(house, scenario)


def test_entry_delay_alarm_notifications_disarm_and_history(house: SimProcess) -> None:
    """Arm away, open the front door, let the entry delay run out, disarm."""

    async def scenario(ui: Ui) -> None:
        await ui.reset()
        await ui.connect()
        sms_before = len(await ui.sms())
        mail_before = len(await ui.mail())

        await ui.ok("PUT", "/api/monitoring/arm?type=arm_away")
        await ui.saw("arm_state_change", "arm_away")
        await ui.wait_state("monitoring_armed")

        await ui.line(FRONT_DOOR, "active")
        await ui.advance(1.0)
        await ui.wait_state("monitoring_alert_delay")
        await ui.saw("system_state_change", "monitoring_alert_delay")
        assert not (await ui.panel())["siren"]

        await ui.advance(20.0)  # the Entry zone's 20 s entry delay
        await ui.wait_state("monitoring_alert")
        _, alert = await ui.saw("alert_state_change", where=lambda a: a is not None)
        panel = await ui.panel()
        assert panel["siren"], "the siren sounds once the entry delay ran out"

        started_sms = await ui.wait_sms("ALARM at")
        started_mail = await ui.wait_mail("[arpi] ALARM at")
        assert len(started_sms) == 1 and started_sms[0]["number"] == PHONE
        assert "Front door" in started_sms[0]["text"]
        assert len(started_mail) == 1 and OWNER in started_mail[0]["to"]

        await ui.ok("PUT", "/api/monitoring/disarm")
        await ui.saw("arm_state_change", "disarm")
        await ui.wait_state("monitoring_ready")
        await ui.advance(0.5)
        assert not (await ui.panel())["siren"]
        await ui.line(FRONT_DOOR, "idle")

        stopped = await ui.wait_sms("Alarm at")
        assert any("stopped" in m["text"] for m in stopped)
        alerts = await ui.ok("GET", "/api/alerts")
        newest = alerts[0]
        assert newest["endTime"] is not None
        assert [s["name"] for s in newest["sensors"]] == ["Front door"]
        assert len(await ui.sms()) > sms_before
        assert len(await ui.mail()) > mail_before
        assert [s["name"] for s in alert["sensors"]] == ["Front door"]

    run_ui(house, scenario)


def test_keypad_code_disarms_an_instant_alarm(house: SimProcess) -> None:
    async def scenario(ui: Ui) -> None:
        await ui.reset()
        await ui.ok("PUT", "/api/monitoring/arm?type=arm_stay")
        await ui.wait_state("monitoring_armed")
        await ui.line(BEDROOM, "active")  # Perimeter: instant in stay too
        await ui.advance(1.0)
        await ui.wait_state("monitoring_alert")
        await ui.keys("1111#")  # the demo Resident's code
        await ui.advance(1.0)
        await ui.wait_state("monitoring_ready")
        await ui.line(BEDROOM, "idle")

    run_ui(house, scenario)

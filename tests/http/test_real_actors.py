"""The front over real HTTP with the real actors behind it: button outputs through the
alarm, the clock endpoints through the clock actor, sensor references through every
sensor bank. Hardware is simulated at the bus; time moves only with ManualClock.
(Who may call what, F7 included, is tested for every route in test_auth_matrix.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from arpi.actors import Actor, Directory, Ping
from arpi.actors.alarm import AlarmLogic
from arpi.actors.outputs import OutputsActor
from arpi.actors.rtc_clock import ClockActor
from arpi.actors.sensor_bank import SensorBankActor
from arpi.actors.siren import Siren
from arpi.bus import Bus
from arpi.clock import ManualClock
from arpi.context import Context
from arpi.db.storage import DatabaseWriter
from arpi.drivers import DriverFactory, SimulatedHardware
from arpi.drivers.wiring import CUT_LEVEL
from arpi.http.origins import DEFAULT_ORIGINS
from tests.helpers import async_wait_for, wait_for
from tests.http.conftest import SECRET, serve
from tests.hw_actors.conftest import add_sensor

WALL0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PERIOD = 1 / 20


class Panel:
    """A context on simulated hardware whose actors are started by the test."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.clock = ManualClock(start=1000.0, wall=WALL0)
        self.hardware = SimulatedHardware(3, wall=self.clock.wall)
        self.factory = DriverFactory(
            SimpleNamespace(board="simulated", simulated_board=3),
            hardware=self.hardware,
        )
        settings = SimpleNamespace(
            secret=SECRET,
            cors_origins=DEFAULT_ORIGINS,
            board="sim",
            simulate=True,
            simulated_board=3,
            input_number=15,
            output_number=8,
            version="v1.2.3:abc1234",
            bcrypt_rounds=4,
            tls_cert=None,
            mcp_secret="mcp-test-secret-0123456789abcdef0123",
            sample_rate=20,
        )
        self.ctx = Context(
            settings=settings,
            clock=self.clock,
            directory=Directory(),
            bus=Bus(),
            db=db,
            drivers=self.factory,
        )
        self.refs: dict[str, Any] = {}

    def start(self, cls: type[Actor], name: str, **options: Any) -> Any:
        ref = cls.start(self.ctx, name=name, **options)
        self.refs[name] = ref
        self.ctx.directory.address(name).ask(Ping(), timeout=10)
        return self.ctx.directory.address(name)

    def stop(self, name: str) -> None:
        ref = self.refs.pop(name)
        if ref.is_alive():
            ref.stop(block=True, timeout=10)

    def close(self) -> None:
        for name in reversed(list(self.refs)):
            self.stop(name)
        self.factory.close()

    def sql(self, text: str, params: Any = ()) -> list[tuple[Any, ...]]:
        conn = self.db.connect()
        try:
            with conn, conn.cursor() as cur:
                cur.execute(text, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()


@pytest.fixture
def panel(db: Any) -> Iterator[Panel]:
    made = Panel(db)
    made.start(DatabaseWriter, "storage")
    try:
        yield made
    finally:
        made.close()


# -- button outputs (reference 2.7, F19) ----------------------------------------------


def test_button_outputs_are_pressed_through_the_alarm(panel: Panel) -> None:
    panel.sql(
        "INSERT INTO output (id, name, channel, trigger_type, enabled) VALUES"
        " (1, 'Light', 1, 'button', true), (2, 'Gate', 2, 'button', false),"
        " (3, 'Armed', 3, 'system', true)"
    )
    panel.start(AlarmLogic, "alarm")
    panel.start(Siren, "siren")
    panel.start(OutputsActor, "outputs")
    chip = panel.hardware.drv8860

    async def scenario(api: Any) -> None:
        events: list[tuple[str, Any]] = []
        socket = await api.socket(events=events)
        user = api.token("user")

        status, body, headers = await api.call(
            "PUT", "/api/output/1/activate", token=user
        )
        assert (status, body) == (200, {}) and headers["User-Token"]
        # Answered after COMMIT: the stored state is already there.
        assert panel.sql("SELECT state FROM output WHERE id = 1") == [(True,)]
        await async_wait_for(lambda: chip.channel_states()[1], what="channel 1 on")
        await async_wait_for(
            lambda: (
                ("output_state_change", {"id": 1, "state": True}) in events
                and ("outputs_state_change", {"id": 1, "state": True}) in events
            )
        )

        assert (await api.call("PUT", "/api/output/1/deactivate", token=user))[:2] == (
            200,
            {},
        )
        assert panel.sql("SELECT state FROM output WHERE id = 1") == [(False,)]
        await async_wait_for(lambda: not chip.channel_states()[1], what="channel off")
        await async_wait_for(
            lambda: ("output_state_change", {"id": 1, "state": False}) in events
        )
        # Releasing a button that is not pressed changes nothing and is fine.
        assert (await api.call("PUT", "/api/output/1/deactivate", token=user))[0] == 200

        status, body, _ = await api.call("PUT", "/api/output/2/activate", token=user)
        assert status == 409 and "output 2" in body["error"]
        assert not chip.channel_states()[2]
        status, body, _ = await api.call("PUT", "/api/output/3/activate", token=user)
        assert (status, body) == (
            409,
            {"error": "Only buttons can be activated manually"},
        )
        status, body, _ = await api.call(
            "PUT", "/api/output/999/deactivate", token=user
        )
        assert (status, body) == (404, {"error": "Output not found"})
        assert (await api.call("PUT", "/api/output/1/activate"))[0] == 403
        await socket.disconnect()

    serve(panel.ctx, scenario)
    assert panel.sql("SELECT state FROM output ORDER BY id") == [
        (False,),
        (False,),
        (False,),
    ]


# -- clock (reference 2.9, F7, F20) ---------------------------------------------------

REFERENCE_CLOCK_KEYS = {
    "timezone",
    "system",
    "hw",
    "network",
    "uptime",
    "uptime_server",
    "uptime_mcp",
    "uptime_monitor",
    "uptime_nginx",
}


@pytest.fixture
def zone_files(tmp_path: Any, monkeypatch: Any) -> dict[str, str]:
    monkeypatch.delenv("TZ", raising=False)
    tz = tmp_path / "timezone"
    tz.write_text("Europe/Budapest\n")
    return {"localtime": str(tmp_path / "no-localtime"), "timezone_file": str(tz)}


def test_clock_on_a_simulated_board_reports_what_it_could_not_do(
    panel: Panel, zone_files: dict[str, str]
) -> None:
    panel.start(ClockActor, "clock", sync_probe=lambda: False, **zone_files)

    async def scenario(api: Any) -> None:
        status, body, _ = await api.admin("GET", "/api/clock")
        assert status == 200 and set(body) >= REFERENCE_CLOCK_KEYS | {
            "ntp",
            "difference",
            "warning",
        }
        assert body["timezone"] == "Europe/Budapest"
        assert body["system"] == "2026-03-01 13:00:00 +0100"
        assert body["hw"] == "2026-03-01 13:00:00 +0100"
        assert body["network"] is None and body["ntp"] == "unsynchronized"
        assert isinstance(body["uptime_server"], int)

        # The RTC is written, the system clock is not (not a real board): 502.
        status, body, _ = await api.admin(
            "PUT", "/api/clock", json={"datetime": "2026-03-01T08:30:00+00:00"}
        )
        assert status == 502, body
        assert body["done"] == ["rtc"] and body["not_done"] == ["system_time"]
        assert "not a real board" in body["error"]
        assert body["message"] == body["error"]
        assert panel.hardware.rtc_bus.now() == datetime(2026, 3, 1, 8, 30)

        for payload, field in [
            ({"timezone": "Mars/Olympus"}, "timezone"),
            ({"timezone": "Europe/../etc"}, "timezone"),
            ({"timezone": 7}, "timezone"),
            ({"datetime": "yesterday"}, "datetime"),
            ({"datetime": "1999-12-31T23:00:00+00:00"}, "datetime"),  # the actor's
            ({}, "timezone, datetime"),
            ({"timezone": None, "datetime": ""}, "timezone, datetime"),
        ]:
            status, body, _ = await api.admin("PUT", "/api/clock", json=payload)
            assert status == 400 and body["error"].startswith(field), (payload, body)

    serve(panel.ctx, scenario)


def test_clock_set_on_a_real_board_answers_200(
    panel: Panel, zone_files: dict[str, str], tmp_path: Any
) -> None:
    (tmp_path / "zoneinfo").mkdir()
    (tmp_path / "zoneinfo" / "UTC").write_bytes(b"TZif")
    calls: list[Any] = []
    panel.start(
        ClockActor,
        "clock",
        sync_probe=lambda: True,
        apply_system=True,
        zoneinfo_root=str(tmp_path / "zoneinfo"),
        set_system_time=lambda when: calls.append(when),
        set_system_zone=lambda zone: "timedatectl exited with 1: no permission",
        **zone_files,
    )

    async def scenario(api: Any) -> None:
        status, body, _ = await api.admin(
            "PUT", "/api/clock", json={"datetime": "2026-03-01T08:30:00+00:00"}
        )
        assert (status, body) == (200, {})
        assert calls == [datetime(2026, 3, 1, 8, 30, tzinfo=UTC)]
        status, body, _ = await api.admin("GET", "/api/clock")
        assert status == 200 and body["network"] is not None
        assert body["ntp"] == "synchronized"
        # The system refuses the zone: reported, never a silent 200 (F20).
        status, body, _ = await api.admin("PUT", "/api/clock", json={"timezone": "UTC"})
        assert status == 502 and "no permission" in body["error"]
        assert body["not_done"] == ["timezone"]

    serve(panel.ctx, scenario)


# -- sensor references (reference 2.6, F18) ------------------------------------------


async def _while_calibrating(panel: Panel, request: Any, banks: list[str]) -> Any:
    """Run `request` while time moves one scan at a time; its result.

    The request itself travels in real time (HTTP, the actors, the database), so
    the scans go on until it is answered, bounded by a generous real-time limit.
    """
    task = asyncio.ensure_future(request)
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        if task.done():
            return task.result()
        panel.clock.advance(PERIOD)
        for name in banks:
            if name in panel.refs:
                await panel.ctx.directory.address(name).ask_async(Ping(), 10)
    task.cancel()
    raise AssertionError("the reset was not answered within 60 s")


def test_reset_references_asks_every_sensor_bank(panel: Panel) -> None:
    db = panel.db
    first = add_sensor(db, 1, channel_type="basic", reference=0.2)  # bank 0
    second = add_sensor(db, 9, channel_type="basic", reference=0.3)  # bank 1
    plain = add_sensor(db, 2)  # EOL wiring: no reference to calibrate
    panel.hardware.set_level(1, 0.6)
    panel.hardware.set_level(9, 0.4)
    banks = ["sensors0", "sensors1"]
    for index, name in enumerate(banks):
        panel.start(SensorBankActor, name, bank=index, calibration_time=0.25)

    def reference(sensor_id: int) -> float:
        return panel.sql(
            "SELECT reference_value FROM sensor WHERE id = %s", (sensor_id,)
        )[0][0]

    async def scenario(api: Any) -> None:
        status, body, _ = await _while_calibrating(
            panel, api.admin("PUT", "/api/sensors/reset-references"), banks
        )
        assert status == 200, body
        assert set(body["calibrated"]) == {str(first), str(second)}
        assert body["calibrated"][str(first)] == pytest.approx(0.6, abs=0.002)
        assert body["calibrated"][str(second)] == pytest.approx(0.4, abs=0.002)
        assert body["refused"] == {}
        assert reference(first) == pytest.approx(0.6, abs=0.002)
        assert reference(second) == pytest.approx(0.4, abs=0.002)

        # A cut line is refused and keeps its reference (F18): 409 naming it.
        panel.hardware.set_level(9, CUT_LEVEL)
        status, body, _ = await _while_calibrating(
            panel, api.admin("PUT", f"/api/sensor/{second}/reset-reference"), banks
        )
        assert status == 409 and f"sensor {second}" in body["error"]
        assert body["calibrated"] == {} and list(body["refused"]) == [str(second)]
        assert reference(second) == pytest.approx(0.4, abs=0.002)

        # One sensor only: the other keeps its reference.
        panel.hardware.set_level(1, 0.5)
        status, body, _ = await _while_calibrating(
            panel, api.admin("PUT", f"/api/sensor/{first}/reset-reference"), banks
        )
        assert (status, body["calibrated"].keys()) == (200, {str(first)})
        status, body, _ = await _while_calibrating(
            panel, api.admin("PUT", f"/api/sensor/{plain}/reset-reference"), banks
        )
        assert (status, body) == (200, {"calibrated": {}, "refused": {}})
        assert (await api.admin("PUT", "/api/sensor/999/reset-reference"))[0] == 404

        # A bank that is down: 503 naming it, with what the others did.
        await asyncio.to_thread(panel.stop, "sensors1")
        status, body, _ = await _while_calibrating(
            panel, api.admin("PUT", "/api/sensors/reset-references"), banks
        )
        assert status == 503 and body["unanswered"] == ["sensors1"]
        assert list(body["calibrated"]) == [str(first)]

    serve(panel.ctx, scenario)


# -- a change made while storage is down (acknowledged only once durable) -----------


def test_disarm_while_storage_is_down_says_what_happened(panel: Panel) -> None:
    from arpi.actors.alarm import ask_alarm
    from arpi.alarm.lines import LineState
    from arpi.alarm.messages import Arm, GetAlarmStatus, SensorsSampled

    panel.ctx.settings.ask_timeout = 0.5  # the front's wait for the commit
    sensor_id = add_sensor(panel.db, 0)
    alarm = panel.start(AlarmLogic, "alarm")
    panel.start(Siren, "siren")
    panel.start(OutputsActor, "outputs")
    idle = ((sensor_id, LineState.IDLE),)
    alarm.tell(SensorsSampled("test", panel.clock.monotonic(), idle))
    assert ask_alarm(alarm, Arm("arm_away"), 10).ok
    assert alarm.ask(GetAlarmStatus(), 5).arm_state == "arm_away"

    async def scenario(api: Any) -> None:
        await asyncio.to_thread(panel.stop, "storage")
        status, body, _ = await api.call(
            "PUT", "/api/monitoring/disarm", token=api.token("user")
        )
        assert status == 503
        assert body == {
            "error": "disarmed, but the change could not be stored yet; "
            "it will be stored when the database is back"
        }
        # The alarm did disarm (it guards in memory and writes later).
        assert (await alarm.ask_async(GetAlarmStatus(), 5)).arm_state == "disarm"

    serve(panel.ctx, scenario)
    assert panel.sql("SELECT count(*) FROM disarm") == [(0,)]

    # Storage back: the alarm writes the disarm it kept, at once on storage's
    # Lifecycle(started) or else on its retry timer (`ctx.clock`): the event can
    # come before the new incarnation is in the directory, so time moves too.
    panel.start(DatabaseWriter, "storage")

    def stored() -> bool:
        panel.clock.advance(2.0)  # the alarm's longest retry delay
        return panel.sql("SELECT count(*) FROM disarm") == [(1,)]

    wait_for(stored, what="the disarm row")

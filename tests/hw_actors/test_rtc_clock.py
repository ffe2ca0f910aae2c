"""Clock actor: RTC read/write over the fake I2C bus, comparison, honest SetClock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from arpi.actors.rtc_clock import (
    ClockActor,
    ClockSetResult,
    GetClock,
    SetClock,
    SyncRtc,
)
from arpi.drivers.rtc import Rtc


@pytest.fixture
def zone_files(tmp_path, monkeypatch):
    monkeypatch.delenv("TZ", raising=False)
    tz = tmp_path / "timezone"
    tz.write_text("Europe/Budapest\n")
    return {"localtime": str(tmp_path / "no-localtime"), "timezone_file": str(tz)}


def start_clock(rig, zone_files, synced=None, **options):
    return rig.start(
        ClockActor, "clock", sync_probe=lambda: synced, **zone_files, **options
    )


def test_get_clock_reports_system_rtc_and_unknown_network(rig, zone_files):
    clock = start_clock(rig, zone_files)

    reply = clock.ask(GetClock(), timeout=10)

    # ManualClock wall: 2026-01-01 12:00 UTC = 13:00 in Budapest.
    assert reply["timezone"] == "Europe/Budapest"
    assert reply["system"] == "2026-01-01 13:00:00 +0100"
    assert reply["hw"] == "2026-01-01 13:00:00 +0100"
    assert reply["network"] is None and reply["ntp"] == "unknown"
    assert reply["difference"] == 0.0 and reply["warning"] is None


def test_large_difference_is_shown_and_rtc_left_alone_when_untrusted(rig, zone_files):
    Rtc(rig.hardware.rtc_bus).write(rig.clock.wall() + timedelta(hours=2))
    clock = start_clock(rig, zone_files, synced=False)

    reply = clock.ask(GetClock(), timeout=10)

    assert reply["difference"] == 7200.0
    assert "differ by +7200 s" in reply["warning"]
    assert reply["ntp"] == "unsynchronized"
    assert rig.hardware.rtc_bus.now() == datetime(2026, 1, 1, 14, 0)


def test_trusted_system_clock_corrects_the_rtc(rig, zone_files):
    Rtc(rig.hardware.rtc_bus).write(rig.clock.wall() - timedelta(minutes=5))
    clock = start_clock(rig, zone_files, synced=True)

    reply = clock.ask(GetClock(), timeout=10)

    assert rig.hardware.rtc_bus.now() == datetime(2026, 1, 1, 12, 0)
    assert reply["difference"] == 0.0
    assert reply["network"] == "2026-01-01 13:00:00"


def test_stopped_oscillator_is_reported_then_fixed_from_a_trusted_clock(
    rig, zone_files
):
    rig.hardware.rtc_bus.stop_oscillator()
    clock = start_clock(rig, zone_files, synced=None)
    reply = clock.ask(GetClock(), timeout=10)
    assert reply["hw"] is None and "no valid time" in reply["warning"]

    rig.ctx.directory.lookup("clock").stop(block=True)
    clock = start_clock(rig, zone_files, synced=True)
    reply = clock.ask(SyncRtc(), timeout=10)

    assert not rig.hardware.rtc_bus.oscillator_flag
    assert reply["hw"] == "2026-01-01 13:00:00 +0100"


def test_set_clock_in_simulation_writes_the_rtc_and_says_what_was_not_done(
    rig, zone_files
):
    clock = start_clock(rig, zone_files)

    reply = clock.ask(SetClock(datetime="2026-03-01T08:30:00+00:00"), timeout=10)

    assert isinstance(reply, ClockSetResult)
    assert not reply.ok
    assert reply.done == ("rtc",) and reply.not_done == ("system_time",)
    assert "system clock not changed" in reply.message
    assert rig.hardware.rtc_bus.now() == datetime(2026, 3, 1, 8, 30)


def test_set_clock_on_a_board_reports_each_step(rig, zone_files):
    calls = []

    def set_time(when):
        calls.append(("time", when))

    def set_zone(zone):
        calls.append(("zone", zone))
        return "timedatectl exited with 1: Access denied"

    clock = start_clock(
        rig,
        zone_files,
        apply_system=True,
        set_system_time=set_time,
        set_system_zone=set_zone,
        zoneinfo_root="/usr/share/zoneinfo",
    )

    reply = clock.ask(SetClock("Europe/Paris", "2026-03-01 09:30:00"), timeout=10)

    assert not reply.ok
    assert reply.done == ("rtc", "system_time")
    assert reply.not_done == ("timezone",)
    assert "Access denied" in reply.message
    # A naive time is local time in the requested zone (CET, UTC+1).
    assert calls[1] == ("time", datetime(2026, 3, 1, 8, 30, tzinfo=UTC))
    assert rig.hardware.rtc_bus.now() == datetime(2026, 3, 1, 8, 30)


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (SetClock("Mars/Olympus"), "timezone"),
        (SetClock("../etc/passwd"), "timezone"),
        (SetClock(None, "yesterday"), "datetime"),
        (SetClock(None, "1999-12-31T23:00:00+00:00"), "datetime"),
        (SetClock(), "nothing"),
    ],
)
def test_bad_set_clock_input_is_refused_naming_the_field(
    rig, zone_files, message, field
):
    clock = start_clock(rig, zone_files)

    reply = clock.ask(message, timeout=10)

    assert not reply.ok and reply.message.startswith(field)


def test_unreadable_rtc_is_reported_not_fatal(rig, zone_files):
    rig.hardware.rtc_bus.absent = True
    clock = start_clock(rig, zone_files)

    reply = clock.ask(GetClock(), timeout=10)

    assert reply["hw"] is None and reply["warning"] == "the RTC cannot be read"

"""RTC over I2C: BCD round trip, oscillator stop, invalid registers, bus errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from arpi.clock import ManualClock
from arpi.drivers.fakes import FakeRtcBus
from arpi.drivers.rtc import Rtc, RtcError

WHEN = datetime(2031, 12, 28, 23, 59, 58, tzinfo=UTC)


@pytest.fixture(params=["ds1307", "ds3231"])
def rtc(request):
    clock = ManualClock()
    bus = FakeRtcBus(clock.wall, chip=request.param)
    return Rtc(bus, chip=request.param), bus, clock


def test_bcd_round_trip_and_the_clock_runs(rtc):
    driver, bus, clock = rtc

    driver.write(WHEN)
    clock.advance(3)
    reading = driver.read()

    assert reading.time == WHEN + timedelta(seconds=3)
    assert reading.trustworthy
    assert bus.read_byte_data(0x68, 0) == 0x01  # 2032-01-01 00:00:01 in BCD


def test_oscillator_stop_is_reported_and_cleared_by_a_write(rtc):
    driver, bus, clock = rtc
    driver.write(WHEN)

    bus.stop_oscillator()
    clock.advance(60)
    stopped = driver.read()
    driver.write(WHEN)

    assert stopped.oscillator_stopped and not stopped.trustworthy
    assert stopped.time == WHEN  # frozen
    assert not driver.read().oscillator_stopped
    assert driver.drift(WHEN) == 0


def test_drift_against_the_system_clock(rtc):
    driver, _, _ = rtc
    driver.write(WHEN)

    assert driver.drift(WHEN - timedelta(seconds=90)) == 90


def test_garbage_registers_read_as_no_time(rtc):
    driver, bus, _ = rtc
    bus.corrupt(bytes([0x7A, 0x99, 0x3F, 0x00, 0x45, 0x13, 0xFF]))

    assert driver.read().time is None
    assert driver.drift(WHEN) is None


def test_bus_failure_and_absent_chip_are_clear_errors(rtc):
    driver, bus, _ = rtc
    bus.fail_next()
    with pytest.raises(RtcError, match="read failed"):
        driver.read()
    bus.absent = True
    with pytest.raises(RtcError, match="write failed"):
        driver.write(WHEN)


def test_write_validates_its_input(rtc):
    driver, _, _ = rtc
    with pytest.raises(ValueError, match="timezone"):
        driver.write(datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="2000..2099"):
        driver.write(datetime(2100, 1, 1, tzinfo=UTC))

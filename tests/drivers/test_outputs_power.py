"""DRV8860 output driver over the fake chip, and debounced power sensing."""

from __future__ import annotations

import pytest

from arpi.clock import ManualClock
from arpi.drivers.adc import Mcp3008
from arpi.drivers.fakes import FakeDrv8860, FakeGpio, FakeMcp3008
from arpi.drivers.outputs import BOARD2_OUTPUT_PINS, BOARD3_OUTPUT_PINS, Drv8860
from arpi.drivers.power import (
    AdcPowerSense,
    GpioPowerSense,
    PowerDetector,
    PowerReadError,
)


def _direct(board):
    gpio = FakeGpio()
    p = BOARD2_OUTPUT_PINS if board == 2 else BOARD3_OUTPUT_PINS
    chip = FakeDrv8860(
        gpio,
        latch=p.latch,
        clock=p.clock,
        data_in=p.data_in,
        data_out=p.data_out,
        enable=p.enable,
        board=board,
    )
    return Drv8860(gpio, board=board), chip


@pytest.fixture(
    params=[
        "board2-fake-bus",
        "board3-fake-bus",
        "board2-simulated",
        "board3-simulated",
    ]
)
def outputs(request, make_factory):
    board = 2 if "board2" in request.param else 3
    if "simulated" in request.param:
        factory = make_factory(board)
        return factory.outputs(), factory.hardware.drv8860
    return _direct(board)


class TestOutputDriverContract:
    def test_each_channel_reaches_the_same_chip_output_label(self, outputs):
        driver, chip = outputs

        for channel in (0, 3, 7):
            driver.set(channel, True)

        assert driver.states() == chip.channel_states()
        assert chip.channel_states() == (
            True,
            False,
            False,
            True,
            False,
            False,
            False,
            True,
        )

    def test_switching_off_keeps_the_others(self, outputs):
        driver, chip = outputs
        driver.write([True] * 8)

        driver.set(0, False)

        assert chip.channel_states() == (False,) + (True,) * 7

    def test_bad_channel_is_refused(self, outputs):
        driver, _ = outputs

        with pytest.raises(ValueError, match="channel"):
            driver.set(8, True)


def test_board2_shifts_channel_0_first_and_board3_channel_7_first():
    d2, chip2 = _direct(2)
    d3, chip3 = _direct(3)

    d2.set(0, True)
    d3.set(0, True)

    assert chip2.register == 0x80
    assert chip3.register == 0x01


def test_board3_reads_faults_back_after_every_write():
    driver, chip = _direct(3)
    chip.set_fault(5, over_current=True)

    faults = driver.set(5, True)

    assert faults is not None and faults.over_current[5] and faults.channels() == [5]
    assert not any(faults.open_load)


def test_board3_resets_faults_present_at_start():
    gpio = FakeGpio()
    p = BOARD3_OUTPUT_PINS
    chip = FakeDrv8860(
        gpio,
        latch=p.latch,
        clock=p.clock,
        data_in=p.data_in,
        data_out=p.data_out,
        enable=p.enable,
        board=3,
    )
    chip.set_fault(2, open_load=True)

    Drv8860(gpio, board=3)

    assert chip.fault_register == 0
    assert (1, 2, 4, 3) in chip.commands


def test_close_leaves_the_outputs_as_they_are():
    driver, chip = _direct(2)
    driver.set(0, True)

    driver.close()

    assert chip.channel_states()[0] is True


# -- power -----------------------------------------------------------------------


@pytest.fixture(params=["board2", "board3"])
def power(request):
    if request.param == "board2":
        gpio = FakeGpio()
        return (
            GpioPowerSense(gpio),
            lambda battery: gpio.set_input(8, int(battery)),
            (lambda: gpio.fail_reads(8)),
        )
    chip = FakeMcp3008()
    return (
        AdcPowerSense(Mcp3008(chip)),
        lambda battery: chip.set_level(0, 1.0 if battery else 0.2),
        lambda: setattr(chip, "broken", True),
    )


def test_power_source_from_the_sense_line(power):
    sense, set_battery, _ = power

    set_battery(False)
    assert sense.read() == "network"
    set_battery(True)
    assert sense.read() == "battery"


def test_power_change_counts_only_after_the_hold_time(power):
    sense, set_battery, _ = power
    clock = ManualClock()
    detector = PowerDetector(sense, clock.monotonic, hold=2.0)
    set_battery(False)
    detector.poll()
    clock.advance(2.0)
    assert detector.poll() == "network"

    set_battery(True)
    clock.advance(1.0)
    assert detector.poll() == "network"
    set_battery(False)  # flapped back before the hold time
    clock.advance(1.5)
    assert detector.poll() == "network"
    set_battery(True)
    detector.poll()
    clock.advance(2.0)
    assert detector.poll() == "battery"


def test_power_read_error_is_raised_never_guessed(power):
    sense, _, fail = power
    fail()

    with pytest.raises(PowerReadError):
        sense.read()


def test_simulated_power_switch(make_factory):
    for board in (2, 3):
        factory = make_factory(board)
        sense = factory.power_sense()
        factory.hardware.set_power("battery")
        assert sense.read() == "battery"

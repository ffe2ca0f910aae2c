"""DriverFactory chooses by configuration and fails loudly on a missing Pi library."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import pytest

from arpi.drivers import DriverFactory, HardwareConfig, HardwareUnavailable

pi_libraries_missing = pytest.mark.skipif(
    importlib.util.find_spec("RPi") is not None
    or importlib.util.find_spec("spidev") is not None,
    reason="a Pi library is installed here",
)


@pi_libraries_missing
@pytest.mark.parametrize("board", ["2", "3", 3])
def test_real_board_fails_at_driver_start_not_at_construction(board):
    factory = DriverFactory(SimpleNamespace(board=board))

    assert factory.hardware is None
    with pytest.raises(HardwareUnavailable, match="RPi.GPIO|spidev"):
        factory.sensor_inputs(0)
    with pytest.raises(HardwareUnavailable, match="RPi.GPIO"):
        factory.outputs()


def test_real_rtc_without_i2c_device_fails_loudly():
    factory = DriverFactory(SimpleNamespace(board="3", i2c_bus=97))

    with pytest.raises(HardwareUnavailable, match="/dev/i2c-97"):
        factory.rtc()


@pytest.mark.parametrize(
    ("field", "value"),
    [("board", "4"), ("simulated_board", 5), ("gsm_baud", -1), ("rtc_chip", "x")],
)
def test_bad_configuration_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        HardwareConfig.from_settings(SimpleNamespace(**{field: value}))


def test_settings_with_a_hardware_section_are_read():
    config = HardwareConfig.from_settings(
        SimpleNamespace(hardware=SimpleNamespace(board="sim", simulated_board=2))
    )

    assert config.board == "simulated" and config.simulated_board == 2


def test_simulated_board_2_has_one_bank_board_3_two(make_factory):
    assert make_factory(2).sensor_banks() == [tuple(range(15))]
    assert make_factory(3).sensor_banks() == [tuple(range(8)), tuple(range(8, 15))]

"""Sensor inputs contract (board 2 and 3), the wiring classifier and calibration."""

from __future__ import annotations

import pytest

from arpi.alarm.lines import LineState
from arpi.drivers import (
    CalibrationRefused,
    ChannelType,
    Contact,
    LineClassifier,
    Wiring,
)
from arpi.drivers.adc import BOARD3_CHANNELS, Board3Inputs, Mcp3008
from arpi.drivers.fakes import FakeGpio, FakeMcp3008
from arpi.drivers.inputs import BOARD2_INPUT_PINS, Board2Inputs
from arpi.drivers.wiring import CUT_LEVEL, calibrate, levels

# -- SensorInputs contract -------------------------------------------------------


def _board3_direct():
    chips = (FakeMcp3008(), FakeMcp3008())
    inputs = Board3Inputs([Mcp3008(chips[0]), Mcp3008(chips[1])], range(15))

    def set_level(channel, level):
        chip, pin = BOARD3_CHANNELS[channel]
        chips[chip].set_level(pin, level)

    def break_channel(channel):
        chips[BOARD3_CHANNELS[channel][0]].broken = True

    return inputs, set_level, break_channel


def _board2_direct():
    gpio = FakeGpio()
    inputs = Board2Inputs(gpio)

    def set_level(channel, level):
        gpio.set_input(BOARD2_INPUT_PINS[channel], 1 if level >= 0.5 else 0)

    return inputs, set_level, lambda c: gpio.fail_reads(BOARD2_INPUT_PINS[c])


def _simulated(board, bank):
    def build(make_factory):
        factory = make_factory(board)
        hw = factory.hardware
        inputs = factory.sensor_inputs(bank)

        def break_channel(channel):
            if board == 3:
                hw.adc[BOARD3_CHANNELS[channel][0]].broken = True
            else:
                hw.gpio.fail_reads(BOARD2_INPUT_PINS[channel])

        return inputs, hw.set_level, break_channel

    return build


IMPLEMENTATIONS = {
    "board3-fake-bus": lambda mf: _board3_direct(),
    "board2-fake-bus": lambda mf: _board2_direct(),
    "board3-simulated-bank0": _simulated(3, 0),
    "board3-simulated-bank1": _simulated(3, 1),
    "board2-simulated": _simulated(2, 0),
}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def bank(request, make_factory):
    return IMPLEMENTATIONS[request.param](make_factory)


class TestSensorInputsContract:
    def test_one_level_per_channel_within_0_and_1(self, bank):
        inputs, _, _ = bank

        levels_read = inputs.read_levels()

        assert len(levels_read) == len(inputs.channels)
        assert all(0.0 <= x <= 1.0 for x in levels_read)

    def test_a_level_set_on_the_far_side_is_read_on_that_channel_only(self, bank):
        inputs, set_level, _ = bank
        channel = inputs.channels[-1]
        for c in inputs.channels:
            set_level(c, 0.0)

        set_level(channel, 1.0)
        levels_read = inputs.read_levels()

        assert levels_read[-1] == 1.0
        assert all(x == 0.0 for x in levels_read[:-1])

    def test_a_read_error_is_none_never_a_level(self, bank):
        inputs, _, break_channel = bank

        break_channel(inputs.channels[0])

        assert inputs.read_levels()[0] is None


def test_board3_channel_map_follows_reference_9_2():
    assert BOARD3_CHANNELS[0] == (0, 7) and BOARD3_CHANNELS[7] == (0, 0)
    assert BOARD3_CHANNELS[8] == (1, 7) and BOARD3_CHANNELS[14] == (1, 1)


def test_one_failed_transfer_fails_one_read_only():
    chip = FakeMcp3008()
    chip.set_raw(3, 512)
    adc = Mcp3008(chip)
    chip.fail_next()

    with pytest.raises(Exception, match="input 3"):
        adc.read_raw(3)
    assert adc.read_raw(3) == 512


def test_board2_pin_that_cannot_be_claimed_fails_the_start():
    gpio = FakeGpio()
    gpio.fail_setup(BOARD2_INPUT_PINS[4])

    with pytest.raises(Exception, match=f"GPIO{BOARD2_INPUT_PINS[4]}"):
        Board2Inputs(gpio)
    assert not gpio.is_setup(BOARD2_INPUT_PINS[0])


# -- classifier ---------------------------------------------------------------------

NC, NO = Contact.NC, Contact.NO
NORMAL, A, B = ChannelType.NORMAL, ChannelType.CHANNEL_A, ChannelType.CHANNEL_B
I, ACT, CUT, SHORT = LineState.IDLE, LineState.ACTIVE, LineState.CUT, LineState.SHORT

# wiring, idle level, (state read at: idle, active, cut 0.909, short 0.0)
CASES = [
    (Wiring(NORMAL, NC, 1), 0.670, I, ACT, ACT, SHORT),
    (Wiring(NORMAL, NO, 1), 0.670, I, ACT, CUT, ACT),
    (Wiring(NORMAL, NC, 2), 0.670, I, ACT, CUT, SHORT),
    (Wiring(NORMAL, NO, 2), 0.475, I, ACT, CUT, SHORT),
    (Wiring(A, NC), 0.475, I, ACT, ACT, SHORT),
    (Wiring(B, NC), 0.475, I, ACT, ACT, SHORT),
    (Wiring(A, NO), 0.747, I, ACT, CUT, ACT),
    (Wiring(B, NO), 0.747, I, ACT, CUT, ACT),
]


@pytest.mark.parametrize(
    ("wiring", "idle", "at_idle", "at_active", "at_cut", "at_short"),
    CASES,
    ids=lambda v: (
        getattr(v, "channel_type", None)
        and f"{v.channel_type.value}-{v.contact.value}-{v.eol_count}"
    ),
)
def test_levels_cut_and_short_per_wiring(
    wiring, idle, at_idle, at_active, at_cut, at_short, make_factory
):
    hw = make_factory(3).hardware
    inputs = Board3Inputs([Mcp3008(hw.adc[0]), None], range(8))
    classify = LineClassifier(wiring).classify

    def state_after(line_state):
        hw.set_line(2, wiring, line_state)
        return classify(inputs.read_levels()[2])

    assert levels(wiring.channel_type, wiring.contact, wiring.eol_count).idle == (
        pytest.approx(idle, abs=0.001)
    )
    assert state_after("idle") is at_idle
    assert state_after("active") is at_active
    assert state_after("cut") is at_cut
    assert state_after("short") is at_short


@pytest.mark.parametrize("contact", [NC, NO])
def test_dual_wiring_tells_a_from_b(contact):
    lv = levels(A, contact, 1)
    a, b = LineClassifier(Wiring(A, contact)), LineClassifier(Wiring(B, contact))

    assert (a.classify(lv.active_a), b.classify(lv.active_a)) == (ACT, I)
    assert (a.classify(lv.active_b), b.classify(lv.active_b)) == (I, ACT)
    assert (a.classify(lv.active), b.classify(lv.active)) == (ACT, ACT)


def test_unknown_level_and_failed_read_are_fault():
    classify = LineClassifier(Wiring(NORMAL, NC, 2)).classify

    assert classify(0.30) is LineState.FAULT
    assert classify(None) is LineState.FAULT


def test_basic_line_compares_with_its_reference():
    classify = LineClassifier(Wiring(ChannelType.BASIC, reference=0.5)).classify

    assert classify(0.505) is I
    assert classify(0.52) is ACT
    assert LineClassifier(Wiring(ChannelType.BASIC)).classify(0.5) is LineState.FAULT


def test_flapping_line_is_reported_sample_by_sample():
    wiring = Wiring(NORMAL, NC, 2)
    lv = levels(NORMAL, NC, 2)
    classify = LineClassifier(wiring).classify

    states = [classify(lv.idle if i % 2 else lv.active) for i in range(6)]

    assert states == [ACT, I] * 3


# -- calibration (F18) ------------------------------------------------------------------


def test_calibration_takes_the_mean_of_stable_idle_samples():
    assert calibrate(Wiring(ChannelType.BASIC), [0.400, 0.404]) == pytest.approx(0.402)


@pytest.mark.parametrize(
    ("wiring", "samples", "reason"),
    [
        (Wiring(ChannelType.BASIC), [0.40, 0.60], "changed"),
        (Wiring(ChannelType.BASIC), [0.40, None], "could not be read"),
        (Wiring(ChannelType.BASIC), [CUT_LEVEL, CUT_LEVEL], "cut or short"),
        (Wiring(ChannelType.BASIC), [0.0, 0.0], "cut or short"),
        (Wiring(NORMAL, NC, 2), [0.475, 0.475], "active"),
        (Wiring(NORMAL, NC, 2), [CUT_LEVEL, CUT_LEVEL], "cut"),
        (Wiring(NORMAL, NC, 2), [0.0, 0.0], "short"),
        (Wiring(ChannelType.BASIC), [0.4], "two samples"),
    ],
)
def test_calibration_refuses_active_faulted_or_unstable_lines(wiring, samples, reason):
    with pytest.raises(CalibrationRefused, match=reason):
        calibrate(wiring, samples)


def test_board2_calibration_accepts_a_stable_zero():
    assert calibrate(Wiring(ChannelType.BASIC), [0.0, 0.0], board=2) == 0.0


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("eol_count", {"eol_count": 3}),
        ("reference", {"reference": 1.5}),
        ("channel_type", {"channel_type": "weird"}),
    ],
)
def test_bad_wiring_names_the_field(field, kwargs):
    with pytest.raises(ValueError, match=field):
        Wiring(**kwargs)

"""Wiegand frames from D0/D1 pulses and the DSC keybus key slot."""

from __future__ import annotations

import pytest

from arpi.drivers.dsc import (
    beep_message,
    decode_key,
    partition_status_message,
    with_checksum,
)
from arpi.drivers.factory import LineClock, WiegandLineDriver
from arpi.drivers.fakes import FakeGpio
from arpi.drivers.wiegand import (
    BOARD3_WIEGAND_PINS,
    CardRead,
    FrameRejected,
    KeyPressed,
    WiegandReader,
    decode_frame,
    encode_card,
    encode_key,
)


@pytest.fixture(params=["fake-bus", "simulated"])
def keypad(request, make_factory):
    if request.param == "simulated":
        factory = make_factory(3)
        return factory.wiegand(), factory.hardware.keypad
    gpio, clock = FakeGpio(), LineClock()
    reader = WiegandReader(gpio, BOARD3_WIEGAND_PINS, clock.monotonic)
    return reader, WiegandLineDriver(gpio, BOARD3_WIEGAND_PINS, clock)


class TestWiegandContract:
    def test_keys_typed_arrive_in_order(self, keypad):
        reader, line = keypad

        line.press("1234#")

        assert reader.poll() == [KeyPressed(k) for k in "1234#"]
        assert reader.poll() == []

    def test_4_bit_keys(self, keypad):
        reader, line = keypad

        line.press("*9", bits=4)

        assert reader.poll() == [KeyPressed("*"), KeyPressed("9")]

    @pytest.mark.parametrize(
        ("number", "bits"), [(0xABCDEF, 26), (550021576706 % 2**32, 34)]
    )
    def test_cards(self, keypad, number, bits):
        reader, line = keypad

        line.show_card(number, bits)

        assert reader.poll() == [CardRead(number, bits)]

    def test_beeper_line_is_low_while_sounding(self, keypad):
        reader, line = keypad

        reader.set_beeper(True)
        assert line.beeper_sounding
        reader.set_beeper(False)
        assert not line.beeper_sounding


@pytest.mark.parametrize("bits", [26, 34])
def test_card_parity_errors_are_rejected(bits):
    frame = encode_card(12345, bits)
    for flip in (0, bits // 2 - 1, bits // 2, bits - 1):
        damaged = list(frame)
        damaged[flip] ^= 1
        assert decode_frame(damaged) == [FrameRejected(bits, "parity error")]


def test_known_26_bit_frame():
    # facility 1, card 1: even parity 1? bits 1..12 hold one 1 -> even parity bit 1.
    frame = encode_card(0x010001, 26)
    assert frame[0] == 1 and frame[-1] == 0
    assert decode_frame(frame) == [CardRead(0x010001, 26)]


def test_8_bit_key_with_bad_complement_falls_back_or_is_rejected():
    bad = [1, 1, 1, 1, 0, 0, 0, 1]  # high nibble not the complement of 1
    assert decode_frame(bad) == [FrameRejected(8, "unknown key code 15")]
    assert decode_frame([1] * 5) == [FrameRejected(5, "unexpected frame length")]
    assert encode_key("5") == [1, 0, 1, 0, 0, 1, 0, 1]


def test_frames_split_on_the_inter_bit_gap():
    gpio, clock = FakeGpio(), LineClock()
    reader = WiegandReader(gpio, BOARD3_WIEGAND_PINS, clock.monotonic, gap=0.025)
    line = WiegandLineDriver(gpio, BOARD3_WIEGAND_PINS, clock)
    line.send_bits(encode_key("7"))
    line.send_bits(encode_key("8"))

    assert reader.poll() == [KeyPressed("7"), KeyPressed("8")]


# -- DSC ------------------------------------------------------------------------


def test_dsc_key_comes_back_in_the_third_byte_slot(make_factory):
    factory = make_factory(2)
    bus = factory.dsc()
    keypad = factory.hardware.dsc_keypad

    keypad.press(0x2D)
    first = bus.poll_key(0x81)
    second = bus.poll_key(0x81)
    keypad.flush()

    assert (first, second) == ("#", None)
    assert keypad.messages[0] == partition_status_message(0x81)


def test_dsc_messages():
    assert with_checksum(bytes([0x27, 0x01])) == bytes([0x27, 0x01, 0x28])
    assert beep_message(3) == bytes([0x64, 0x06, 0x6A])
    assert decode_key(0xAF) == "stay" and decode_key(0xFF) is None
    with pytest.raises(ValueError, match="beep count"):
        beep_message(0)

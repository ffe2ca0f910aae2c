"""Wiegand frames from D0/D1 pulses; DSC keybus messages through the fake keypad."""

from __future__ import annotations

from datetime import datetime

import pytest

from arpi.drivers.dsc import (
    LIGHTS,
    DscPanel,
    beep_message,
    date_time_message,
    decode_key,
    keybus_query_message,
    partition_status_message,
    with_checksum,
    zone_lights_message,
    zone_status_message,
    zones_from_bytes,
    zones_to_bytes,
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


BACKLIGHT, READY, ARMED = LIGHTS["backlight"], LIGHTS["ready"], LIGHTS["armed"]


@pytest.fixture
def dsc(make_factory):
    factory = make_factory(2)
    return factory.dsc(), factory.hardware.dsc_keypad


def test_dsc_zone_bytes():
    assert zones_to_bytes({1, 8, 9, 32}, 4) == bytes([0x81, 0x01, 0x00, 0x80])
    assert zones_from_bytes(bytes([0x81, 0x01, 0x00, 0x80])) == {1, 8, 9, 32}
    with pytest.raises(ValueError, match="zone must be 1..32"):
        zones_to_bytes({33}, 4)
    message = zone_status_message(0x81, {2, 12})
    assert message == bytes([0x27, 0x81, 0x01, 0x91, 0xC7, 0x02, 0x03])
    assert message[-1] == sum(message[:-1]) % 256
    assert len(zone_lights_message(0x80, {32})) == 8
    assert keybus_query_message() == bytes([0x4C] + [0xAA] * 11)


def test_dsc_zone_lights_round_trip_through_the_keypad(dsc):
    bus, keypad = dsc

    bus.send(zone_lights_message(BACKLIGHT, {1, 3, 17, 32}))

    assert keypad.open_zones == {1, 3, 17, 32}
    assert keypad.backlight and not keypad.ready and not keypad.armed
    assert keypad.bad_messages == 0


def test_dsc_zone_status_shows_zones_1_to_8(dsc):
    bus, keypad = dsc
    bus.send(zone_lights_message(BACKLIGHT, {2, 12}))

    bus.send(zone_status_message(BACKLIGHT, {5, 12}))  # 12 is not in a 0x27

    assert keypad.open_zones == {5, 12}  # zones above 8 kept from the zone lights


@pytest.mark.parametrize(
    ("lights", "shown"),
    [
        (BACKLIGHT | READY, {"ready"}),
        (BACKLIGHT | ARMED, {"armed"}),
        (BACKLIGHT | ARMED | LIGHTS["memory"], {"armed", "memory"}),
        (BACKLIGHT | LIGHTS["error"], {"error"}),
    ],
)
def test_dsc_lights_round_trip(dsc, lights, shown):
    bus, keypad = dsc

    bus.poll_key(lights)

    assert keypad.backlight
    assert {n for n in ("ready", "armed", "memory", "error") if getattr(keypad, n)} == (
        shown
    )


def test_dsc_beeps_and_date_time_round_trip(dsc):
    bus, keypad = dsc

    bus.send(beep_message(3))
    bus.send(beep_message(1))
    bus.send(date_time_message(datetime(2031, 12, 31, 23, 59)))

    assert keypad.beeps == [3, 1]
    assert keypad.panel_time == datetime(2031, 12, 31, 23, 59)


def test_dsc_message_with_a_bad_checksum_is_ignored(dsc):
    bus, keypad = dsc
    good = zone_lights_message(BACKLIGHT, {4})

    bus.send(good[:-1] + bytes([good[-1] ^ 1]))

    assert keypad.bad_messages == 1 and keypad.open_zones == frozenset()


def test_dsc_unknown_command_answer_triggers_the_keybus_query(dsc):
    bus, keypad = dsc
    keypad.reject_next()

    assert bus.poll_key(BACKLIGHT) is None  # answered 0xFE: no key
    assert keypad.queries == 0
    assert bus.poll_key(BACKLIGHT) is None  # the query goes out first
    keypad.flush()

    assert keypad.queries == 1
    assert keypad.messages[-2] == keybus_query_message()  # no checksum
    assert keypad.messages[-1] == partition_status_message(BACKLIGHT)
    assert bus.query_reply == bytes([0x01] + [0xFF] * 10)
    bus.poll_key(BACKLIGHT)
    assert keypad.queries == 1  # asked once per 0xFE


def test_dsc_key_pressed_during_another_message_is_kept(dsc):
    bus, keypad = dsc
    keypad.press(0x05)

    bus.send(beep_message(1))

    assert bus.poll_key(BACKLIGHT) == "1"
    assert bus.poll_key(BACKLIGHT) is None


def test_dsc_panel_schedule(dsc):
    bus, keypad = dsc
    panel = DscPanel(bus, refresh=240.0)
    wall = datetime(2030, 1, 2, 3, 4)
    commands = []

    def cycle(now):
        start = len(keypad.messages)
        panel.cycle(now, wall)
        keypad.flush()
        commands.append([m[0] for m in list(keypad.messages)[start:]])

    for _ in range(3):
        cycle(0.0)  # the start: zone status, zone lights, date/time
    cycle(0.1)  # nothing due
    panel.set_zones({7})
    panel.beep(9)
    cycle(0.2)  # beeps first (at most 7 a message)
    cycle(0.3)
    cycle(0.4)
    cycle(240.0)  # the refresh

    assert commands == [
        [0x27, 0x05],
        [0x0A, 0x05],
        [0xA5, 0x05],
        [0x05],
        [0x64, 0x05],
        [0x27, 0x05],
        [0x0A, 0x05],
        [0x27, 0x05],
    ]
    assert keypad.beeps == [7]
    assert keypad.open_zones == {7}
    assert keypad.panel_time == wall

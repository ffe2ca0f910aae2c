"""Wiegand reader decoder: D0/D1 pulses -> card numbers and keys; the beeper line.

A low pulse on D0 is a 0 bit, on D1 a 1 bit. A frame ends when no bit arrived for
`gap` seconds. 26-bit frames (even parity over bits 1..13, odd over 14..26) carry a
24-bit card number, 34-bit frames (even over 1..17, odd over 18..34) a 32-bit one.
Key frames are 4 bits (0..9, 10 = "*", 11 = "#") or 8 bits (the high nibble is the
complement of the low one); a burst of several key frames without a gap is split.
Anything else is rejected and reported.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from arpi.drivers.buses import Direction, Edge, GpioBus, Pull

__all__ = [
    "BOARD2_WIEGAND_PINS",
    "BOARD3_WIEGAND_PINS",
    "CardRead",
    "FrameRejected",
    "KeyPressed",
    "KeypadEvent",
    "WiegandPins",
    "WiegandReader",
    "decode_frame",
    "encode_card",
    "encode_key",
]

log = structlog.get_logger("arpi.drivers")

_KEYS = "0123456789*#"


@dataclass(frozen=True, slots=True)
class WiegandPins:
    d0: int
    d1: int
    beeper: int


BOARD2_WIEGAND_PINS = WiegandPins(d0=18, d1=17, beeper=4)
BOARD3_WIEGAND_PINS = WiegandPins(d0=12, d1=6, beeper=13)


@dataclass(frozen=True, slots=True)
class KeyPressed:
    key: str


@dataclass(frozen=True, slots=True)
class CardRead:
    number: int
    bits: int


@dataclass(frozen=True, slots=True)
class FrameRejected:
    bits: int
    reason: str


KeypadEvent = KeyPressed | CardRead | FrameRejected


def _parity_ok(bits: list[int], half: int) -> bool:
    even = sum(bits[:half]) % 2 == 0
    odd = sum(bits[half:]) % 2 == 1
    return even and odd


def _number(bits: list[int]) -> int:
    value = 0
    for bit in bits:
        value = value << 1 | bit
    return value


def decode_frame(bits: list[int]) -> list[KeypadEvent]:
    """Decode one frame of bits (first received first) into keypad events."""
    n = len(bits)
    if n in (26, 34):
        if not _parity_ok(bits, n // 2):
            return [FrameRejected(n, "parity error")]
        return [CardRead(_number(bits[1:-1]), n)]
    if n and n % 8 == 0:
        keys = []
        for i in range(0, n, 8):
            byte = _number(bits[i : i + 8])
            high, low = byte >> 4, byte & 0x0F
            if high != (~low & 0x0F) or low >= len(_KEYS):
                break
            keys.append(KeyPressed(_KEYS[low]))
        else:
            return list(keys)
    if n and n % 4 == 0:
        events: list[KeypadEvent] = []
        for i in range(0, n, 4):
            value = _number(bits[i : i + 4])
            if value >= len(_KEYS):
                return [FrameRejected(n, f"unknown key code {value}")]
            events.append(KeyPressed(_KEYS[value]))
        return events
    return [FrameRejected(n, "unexpected frame length")]


def encode_card(number: int, bits: int = 26) -> list[int]:
    """The Wiegand frame of a card (with parity). Raises ValueError if it does not
    fit."""
    if bits not in (26, 34):
        raise ValueError(f"card frames are 26 or 34 bits, got {bits}")
    width = bits - 2
    if not 0 <= number < 1 << width:
        raise ValueError(f"card number does not fit in {width} bits")
    data = [number >> (width - 1 - i) & 1 for i in range(width)]
    half = width // 2
    even = sum(data[:half]) % 2
    odd = 1 - sum(data[half:]) % 2
    return [even, *data, odd]


def encode_key(key: str, bits: int = 8) -> list[int]:
    """The Wiegand frame of one key (4 or 8 bits). Raises ValueError."""
    if len(key) != 1 or key not in _KEYS:
        raise ValueError(f"unknown key {key!r}")
    value = _KEYS.index(key)
    if bits == 4:
        return [value >> (3 - i) & 1 for i in range(4)]
    if bits == 8:
        byte = (~value & 0x0F) << 4 | value
        return [byte >> (7 - i) & 1 for i in range(8)]
    raise ValueError(f"key frames are 4 or 8 bits, got {bits}")


class WiegandReader:
    """Collects bits from GPIO edge callbacks and hands out decoded events.

    Edge callbacks (GPIO library thread) only append a bit under a lock; `poll()`
    (the keypad actor's thread) closes frames older than `gap` and decodes them.
    `monotonic` times the bits (real time in production; the simulator's line
    clock otherwise). Construction claims the pins and raises BusError.
    """

    def __init__(
        self,
        gpio: GpioBus,
        pins: WiegandPins,
        monotonic: Callable[[], float],
        gap: float = 0.025,
    ) -> None:
        self._gpio = gpio
        self.pins = pins
        self._now = monotonic
        self._gap = gap
        self._lock = threading.Lock()
        self._bits: list[int] = []
        self._last = 0.0
        self._frames: list[list[int]] = []
        gpio.setup(pins.d0, Direction.IN, pull=Pull.UP)
        gpio.setup(pins.d1, Direction.IN, pull=Pull.UP)
        gpio.setup(pins.beeper, Direction.OUT, initial=1)
        gpio.add_event_detect(pins.d0, Edge.FALLING, self._on_d0)
        gpio.add_event_detect(pins.d1, Edge.FALLING, self._on_d1)

    def _on_d0(self, pin: int) -> None:
        self._bit(0)

    def _on_d1(self, pin: int) -> None:
        self._bit(1)

    def _bit(self, value: int) -> None:
        now = self._now()
        with self._lock:
            if self._bits and now - self._last > self._gap:
                self._frames.append(self._bits)
                self._bits = []
            self._bits.append(value)
            self._last = now

    def poll(self) -> list[KeypadEvent]:
        """Events of every finished frame, oldest first. Never blocks."""
        now = self._now()
        with self._lock:
            if self._bits and now - self._last > self._gap:
                self._frames.append(self._bits)
                self._bits = []
            frames, self._frames = self._frames, []
        events: list[KeypadEvent] = []
        for frame in frames:
            decoded = decode_frame(frame)
            for event in decoded:
                if isinstance(event, FrameRejected):
                    log.warning(
                        "wiegand_frame_rejected", bits=event.bits, reason=event.reason
                    )
            events.extend(decoded)
        return events

    def set_beeper(self, sounding: bool) -> None:
        """Sound or silence the beeper (its line is low while sounding)."""
        self._gpio.output(self.pins.beeper, 0 if sounding else 1)

    def close(self) -> None:
        p = self.pins
        self._gpio.remove_event_detect(p.d0)
        self._gpio.remove_event_detect(p.d1)
        self._gpio.cleanup([p.d0, p.d1, p.beeper])

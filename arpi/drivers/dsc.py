"""DSC keybus panel emulation (reference 6.2): arpi clocks the bus, keypads answer.

Each bit: clock low, wait, sample the data line (a keypad pulls it low for a 0),
drive our own bit, clock high, release data high. A ninth bit follows the first
byte. The keypad's key press comes back in the third byte slot; `KEY_CODES` maps it.
Messages: partition status 0x05 every cycle, zone status 0x27, zone lights 0x0A,
date/time 0xA5, beep 0x64 (the last four with a sum-mod-256 checksum).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import structlog

from arpi.drivers.buses import Direction, GpioBus

__all__ = [
    "KEY_CODES",
    "LIGHTS",
    "DscKeybus",
    "beep_message",
    "date_time_message",
    "decode_key",
    "partition_status_message",
    "with_checksum",
]

log = structlog.get_logger("arpi.drivers")

KEY_CODES: dict[int, str] = {
    0x00: "0",
    0x05: "1",
    0x0A: "2",
    0x0F: "3",
    0x11: "4",
    0x16: "5",
    0x1B: "6",
    0x1C: "7",
    0x22: "8",
    0x27: "9",
    0x28: "*",
    0x2D: "#",
    0xAF: "stay",
    0xB1: "away",
}
NO_KEY = 0xFF
UNKNOWN_COMMAND = 0xFE

LIGHTS = {
    "backlight": 0x80,
    "fire": 0x40,
    "program": 0x20,
    "error": 0x10,
    "bypass": 0x08,
    "memory": 0x04,
    "armed": 0x02,
    "ready": 0x01,
}

DSC_CLOCK_PIN = 17
DSC_DATA_PIN = 18


def with_checksum(message: bytes) -> bytes:
    return message + bytes([sum(message) % 256])


def decode_key(code: int) -> str | None:
    """The key of a code from the third byte slot; None for "no key" or unknown."""
    return KEY_CODES.get(code)


def partition_status_message(lights: int) -> bytes:
    return bytes([0x05, lights & 0xFF, 0x01, 0x91, 0xC7])


def beep_message(count: int) -> bytes:
    """Beep `count` times (1..7); the reference's bug made this always 0x04."""
    if not 1 <= count <= 7:
        raise ValueError("beep count must be 1..7")
    return with_checksum(bytes([0x64, count * 2]))


def date_time_message(when: datetime) -> bytes:
    year = when.year - 2000
    return with_checksum(
        bytes(
            [
                0xA5,
                (year // 10) << 4 | year % 10,
                when.month << 2 | when.day >> 3,
                (when.day & 0x07) << 5 | when.hour,
                when.minute << 2,
                0x00,
            ]
        )
    )


class DscKeybus:
    """The panel side of the keybus on two GPIO outputs (clock, data).

    `delay` waits between line changes (real sleeps on a Pi; the simulator's line
    clock otherwise). `exchange` blocks for the whole message (~ 4 ms per byte on
    real lines). One owner thread only.
    """

    def __init__(
        self,
        gpio: GpioBus,
        *,
        clock: int = DSC_CLOCK_PIN,
        data: int = DSC_DATA_PIN,
        delay: Callable[[float], None] = time.sleep,
    ) -> None:
        self._gpio = gpio
        self._clock, self._data = clock, data
        self._delay = delay
        gpio.setup(clock, Direction.OUT, initial=1)
        gpio.setup(data, Direction.OUT, initial=1)

    def exchange(self, message: bytes) -> bytes:
        """Send `message`; return the bytes the keypads sent in the same slots."""
        g, clock, data = self._gpio, self._clock, self._data
        bits = []
        for i, byte in enumerate(message):
            bits += [byte >> (7 - j) & 1 for j in range(8)]
            if i == 0:
                bits.append(None)
        received: list[int] = []
        for bit in bits:
            g.output(clock, 0)
            self._delay(200e-6)
            sampled = g.input(data)
            if bit is not None:
                received.append(sampled)
            g.output(data, 1 if bit is None else bit)
            self._delay(20e-6)
            g.output(clock, 1)
            self._delay(20e-6)
            g.output(data, 1)
            self._delay(110e-6)
        self._delay(0.004)  # inter-message gap: keypads resynchronise on it
        return bytes(
            sum(b << (7 - j) for j, b in enumerate(received[i : i + 8]))
            for i in range(0, len(received), 8)
        )

    def poll_key(self, lights: int) -> str | None:
        """Send the partition status; return the key a keypad pressed, if any."""
        reply = self.exchange(partition_status_message(lights))
        code = reply[2] if len(reply) > 2 else NO_KEY
        key = decode_key(code)
        if key is None and code not in (NO_KEY, UNKNOWN_COMMAND):
            log.warning("dsc_unknown_key_code", code=code)
        return key

    def close(self) -> None:
        self._gpio.cleanup([self._clock, self._data])

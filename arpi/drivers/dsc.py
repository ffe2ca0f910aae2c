"""DSC keybus panel emulation (reference 6.2): arpi clocks the bus, keypads answer.

Each bit: clock low, wait, sample the data line (a keypad pulls it low for a 0),
drive our own bit, clock high, release data high. A ninth bit follows the first
byte. The keypad's key press comes back in the third byte slot; `KEY_CODES` maps it.

Messages (byte layouts; "status" is the reference's fixed partition status 0x01 and
0x91, 0xC7 the fixed second-partition pair):

- partition status, every cycle: `05 lights status 91 C7` (no checksum);
- zone status, at start, on a change and every 240 s:
  `27 lights status 91 C7 zones1-8 sum`;
- zone lights, same schedule: `0A lights status z1-8 z9-16 z17-24 z25-32 sum`;
- date/time, at start and every 240 s: `A5 yy mm/dd dd/hh mm<<2 00 sum`;
- beep: `64 count<<1 sum`;
- keybus query, after a keypad answered 0xFE (unknown command) in the key slot:
  `4C` and eleven `AA` (no checksum); the keypad answers in the eleven data slots.

`sum` is the sum of the preceding bytes modulo 256. A zone byte holds eight zones,
bit 0 the lowest (zone 1 in `z1-8`). Zone numbers are 1..32.

The bit timing in `DscKeybus.exchange` follows the reference and has only been run
against `arpi.drivers.fakes.FakeDscKeypad`, never a real keypad.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime

import structlog

from arpi.drivers.buses import Direction, GpioBus

__all__ = [
    "KEY_CODES",
    "LIGHTS",
    "MAX_ZONE",
    "MESSAGE_LENGTHS",
    "DscKeybus",
    "DscPanel",
    "beep_message",
    "date_time_message",
    "decode_key",
    "keybus_query_message",
    "partition_status_message",
    "with_checksum",
    "zone_lights_message",
    "zone_status_message",
    "zones_from_bytes",
    "zones_to_bytes",
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

PARTITION_STATUS = 0x01
SECOND_PARTITION = (0x91, 0xC7)
MAX_ZONE = 32
QUERY_SLOTS = 11

PARTITION_STATUS_CMD = 0x05
ZONE_STATUS_CMD = 0x27
ZONE_LIGHTS_CMD = 0x0A
DATE_TIME_CMD = 0xA5
BEEP_CMD = 0x64
KEYBUS_QUERY_CMD = 0x4C

# Whole-message lengths (checksum included) by command byte.
MESSAGE_LENGTHS: dict[int, int] = {
    PARTITION_STATUS_CMD: 5,
    ZONE_STATUS_CMD: 7,
    ZONE_LIGHTS_CMD: 8,
    DATE_TIME_CMD: 7,
    BEEP_CMD: 3,
    KEYBUS_QUERY_CMD: 1 + QUERY_SLOTS,
}
CHECKSUMMED = frozenset({ZONE_STATUS_CMD, ZONE_LIGHTS_CMD, DATE_TIME_CMD, BEEP_CMD})

DSC_CLOCK_PIN = 17
DSC_DATA_PIN = 18
REFRESH_PERIOD = 240.0  # seconds between zone status / zone lights / date-time


def with_checksum(message: bytes) -> bytes:
    """`message` followed by the sum of its bytes modulo 256."""
    return message + bytes([sum(message) % 256])


def decode_key(code: int) -> str | None:
    """The key of a code from the third byte slot; None for "no key" or unknown."""
    return KEY_CODES.get(code)


def zones_to_bytes(zones: Iterable[int], count: int) -> bytes:
    """`count` zone bytes for zones 1..8*count; bit 0 of byte 0 is zone 1.

    Raises ValueError for a zone outside 1..8*count.
    """
    out = bytearray(count)
    for zone in zones:
        if not 1 <= zone <= 8 * count:
            raise ValueError(f"zone must be 1..{8 * count}, got {zone!r}")
        out[(zone - 1) // 8] |= 1 << ((zone - 1) % 8)
    return bytes(out)


def zones_from_bytes(data: bytes) -> frozenset[int]:
    """The zones whose bits are set in `data` (inverse of `zones_to_bytes`)."""
    return frozenset(
        8 * i + bit + 1
        for i, byte in enumerate(data)
        for bit in range(8)
        if byte >> bit & 1
    )


def partition_status_message(lights: int) -> bytes:
    return bytes(
        [PARTITION_STATUS_CMD, lights & 0xFF, PARTITION_STATUS, *SECOND_PARTITION]
    )


def zone_status_message(lights: int, open_zones: Iterable[int]) -> bytes:
    """Zone status 0x27: the lights and the open zones among 1..8 (others dropped)."""
    low = [z for z in open_zones if 1 <= z <= 8]
    return with_checksum(
        bytes([ZONE_STATUS_CMD, lights & 0xFF, PARTITION_STATUS, *SECOND_PARTITION])
        + zones_to_bytes(low, 1)
    )


def zone_lights_message(lights: int, zones: Iterable[int]) -> bytes:
    """Zone lights 0x0A: the lights and the lit zones 1..32 (ValueError outside)."""
    return with_checksum(
        bytes([ZONE_LIGHTS_CMD, lights & 0xFF, PARTITION_STATUS])
        + zones_to_bytes(zones, 4)
    )


def keybus_query_message() -> bytes:
    return bytes([KEYBUS_QUERY_CMD, *([0xAA] * QUERY_SLOTS)])


def beep_message(count: int) -> bytes:
    """Beep `count` times (1..7); the reference's bug made this always 0x04."""
    if not 1 <= count <= 7:
        raise ValueError("beep count must be 1..7")
    return with_checksum(bytes([BEEP_CMD, count * 2]))


def date_time_message(when: datetime) -> bytes:
    year = when.year - 2000
    return with_checksum(
        bytes(
            [
                DATE_TIME_CMD,
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
        self._keys: deque[str] = deque(maxlen=16)
        self._query_due = False
        self.query_reply: bytes | None = None
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

    def send(self, message: bytes) -> None:
        """Send `message`, keeping a key a keypad pressed in its third byte slot and
        noting an "unknown command" answer (0xFE) for a keybus query. Blocks like
        `exchange`."""
        reply = self.exchange(message)
        if message[:1] == bytes([KEYBUS_QUERY_CMD]):
            return
        code = reply[2] if len(reply) > 2 else NO_KEY
        if code == UNKNOWN_COMMAND:
            self._query_due = True
            return
        key = decode_key(code)
        if key is not None:
            self._keys.append(key)
        elif code != NO_KEY:
            log.warning("dsc_unknown_key_code", code=code)

    def poll_key(self, lights: int) -> str | None:
        """Send the partition status (after a keybus query if a keypad asked for
        one); return the oldest key a keypad pressed in any message, or None."""
        if self._query_due:
            self._query_due = False
            reply = self.exchange(keybus_query_message())
            self.query_reply = reply[1 : 1 + QUERY_SLOTS]
            log.info("dsc_keybus_query", reply=self.query_reply.hex())
        self.send(partition_status_message(lights))
        return self._keys.popleft() if self._keys else None

    def close(self) -> None:
        self._gpio.cleanup([self._clock, self._data])


class DscPanel:
    """What the panel shows on the keypads, sent over a `DscKeybus` each cycle.

    The owner sets `lights`, `set_zones(open_zones)` and `beep(count)`, then calls
    `cycle(now, wall)` every poll: it sends at most one extra message (beep first,
    then zone status, zone lights, date/time when due) and then the partition status,
    and returns the key pressed, if any. Zone status, zone lights and date/time go
    out at the first cycle and every `refresh` seconds of `now`; the two zone
    messages also right after the open zones changed. One owner thread only.
    """

    def __init__(self, bus: DscKeybus, *, refresh: float = REFRESH_PERIOD) -> None:
        self.bus = bus
        self.lights = LIGHTS["backlight"] | LIGHTS["ready"]
        self._refresh = refresh
        self._zones: frozenset[int] = frozenset()
        self._beeps = 0
        self._pending: list[str] = []
        self._next_refresh: float | None = None

    @property
    def open_zones(self) -> frozenset[int]:
        return self._zones

    def set_zones(self, open_zones: Iterable[int]) -> None:
        """Show `open_zones` (1..32; others are dropped with a warning)."""
        zones = frozenset(open_zones)
        shown = frozenset(z for z in zones if 1 <= z <= MAX_ZONE)
        if shown != zones:
            log.warning("dsc_zones_not_shown", zones=sorted(zones - shown))
        if shown != self._zones:
            self._zones = shown
            for kind in ("zone_status", "zone_lights"):
                if kind not in self._pending:
                    self._pending.append(kind)

    def beep(self, count: int) -> None:
        """Beep `count` more times at the next cycle (at most 7 per message)."""
        self._beeps += max(0, count)

    def cycle(self, now: float, wall: datetime) -> str | None:
        """Send this cycle's messages; the key a keypad pressed, or None. Blocks for
        the bus time of two messages at most."""
        if self._next_refresh is None or now >= self._next_refresh:
            self._next_refresh = now + self._refresh
            for kind in ("zone_status", "zone_lights", "date_time"):
                if kind not in self._pending:
                    self._pending.append(kind)
        if self._beeps:
            count, self._beeps = min(self._beeps, 7), 0
            self.bus.send(beep_message(count))
        elif self._pending:
            kind = self._pending.pop(0)
            if kind == "zone_status":
                self.bus.send(zone_status_message(self.lights, self._zones))
            elif kind == "zone_lights":
                self.bus.send(zone_lights_message(self.lights, self._zones))
            else:
                self.bus.send(date_time_message(wall))
        return self.bus.poll_key(self.lights)

    def close(self) -> None:
        self.bus.close()

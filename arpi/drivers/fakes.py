"""In-memory buses for tests and the simulator: MCP3008 on SPI, GPIO lines, RTC on I2C.

Each fake answers exactly what the real device would answer on the bus, so the real
drivers run unchanged on top. A test or the simulator sets the far side (levels on an
ADC input, an input line, the RTC's registers) and can inject failures. Every fake is
safe to use from several threads.
"""

from __future__ import annotations

import errno
import threading
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from arpi.drivers.buses import BusError, Direction, Edge, Pull
from arpi.drivers.dsc import (
    CHECKSUMMED,
    KEYBUS_QUERY_CMD,
    LIGHTS,
    MESSAGE_LENGTHS,
    zones_from_bytes,
)

__all__ = [
    "FakeDrv8860",
    "FakeDscKeypad",
    "FakeGpio",
    "FakeMcp3008",
    "FakeRtcBus",
]

_GPIO_PINS = range(28)
# Levels kept per line by `FakeGpio.history`: bounded, so a simulator that runs for
# weeks (every output write toggles the chip's clock line ~50 times) does not grow.
HISTORY_LIMIT = 10_000


class FakeMcp3008:
    """An MCP3008 ADC answering `xfer2` with per-input levels set by the test.

    Levels are raw 0..1023 counts; `set_level` takes a fraction 0..1 of VREF.
    `fail_next(n)` makes the next `n` transfers raise OSError, `broken = True` makes
    every transfer raise (a chip that stopped answering).
    """

    __slots__ = ("_fail", "_raw", "broken", "transfers")

    def __init__(self) -> None:
        self._raw = [0] * 8
        self._fail = 0
        self.broken = False
        self.transfers = 0

    def set_level(self, channel: int, level: float) -> None:
        """Set input `channel` (0..7) to `level` (0..1 of VREF)."""
        if not 0.0 <= level <= 1.0:
            raise ValueError(f"level must be within 0..1, got {level!r}")
        self.set_raw(channel, round(level * 1023))

    def set_raw(self, channel: int, raw: int) -> None:
        """Set input `channel` (0..7) to `raw` counts (0..1023)."""
        if not 0 <= channel <= 7:
            raise ValueError(f"MCP3008 channel must be 0..7, got {channel!r}")
        if not 0 <= raw <= 1023:
            raise ValueError(f"raw level must be 0..1023, got {raw!r}")
        self._raw[channel] = raw

    def raw(self, channel: int) -> int:
        return self._raw[channel]

    def fail_next(self, count: int = 1) -> None:
        self._fail += count

    def xfer2(self, data: Sequence[int]) -> list[int]:
        if self.broken:
            raise OSError(errno.EIO, "fake MCP3008 does not answer")
        if self._fail > 0:
            self._fail -= 1
            raise OSError(errno.EIO, "fake MCP3008 transfer failed")
        self.transfers += 1
        # Single-ended read: start bit in byte 0, SGL/DIFF + channel in the high
        # nibble of byte 1, ten result bits over the low bits of bytes 1 and 2.
        if len(data) != 3 or data[0] != 0x01 or not data[1] & 0x80:
            return [0] * len(data)
        raw = self._raw[(data[1] >> 4) & 0x07]
        return [0, (raw >> 8) & 0x03, raw & 0xFF]

    def close(self) -> None:
        pass


class _Pin:
    __slots__ = ("callbacks", "direction", "edge", "level", "pull")

    def __init__(self, direction: Direction, pull: Pull, level: int) -> None:
        self.direction = direction
        self.pull = pull
        self.level = level
        self.callbacks: list[Callable[[int], None]] = []
        self.edge = Edge.BOTH


class FakeGpio:
    """GPIO lines a test sets (`set_input`) and reads (`level`, `history`).

    Edge callbacks run synchronously on the thread that changed the line. Chip
    models (`FakeDrv8860`, keypads) watch output changes through `watch_outputs`.
    An input nobody has set reads its pull level (pull-up 1, otherwise 0).
    `output` is on the alarm's hot path (a bit-banged chip write is ~100 calls), so
    it does the least it can: one lock, no copies.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._pins: dict[int, _Pin] = {}
        self._external: dict[int, int] = {}
        # Replaced (never mutated) when a watcher is added: `output` reads it unlocked.
        self._watchers: tuple[Callable[[int, int], None], ...] = ()
        self._failing_pins: set[int] = set()
        self._failing_reads: set[int] = set()
        self._history: dict[int, deque[int]] = {}
        self._pulled_low: set[int] = set()

    # -- the GpioBus protocol --------------------------------------------------

    def setup(
        self,
        pin: int,
        direction: Direction,
        *,
        pull: Pull = Pull.OFF,
        initial: int | None = None,
    ) -> None:
        if pin not in _GPIO_PINS:
            raise BusError(f"GPIO{pin} does not exist")
        if pin in self._failing_pins:
            raise BusError(f"GPIO{pin} cannot be claimed (injected failure)")
        with self._lock:
            if direction is Direction.OUT:
                level = initial or 0
            else:
                level = self._external.get(pin, 1 if pull is Pull.UP else 0)
            self._pins[pin] = _Pin(direction, pull, level)
            history = self._history.get(pin)
            if history is None:
                history = self._history[pin] = deque(maxlen=HISTORY_LIMIT)
            history.append(level)

    def input(self, pin: int) -> int:
        if pin in self._failing_reads:
            raise BusError(f"GPIO{pin} read failed (injected failure)")
        pin_state = self._pins.get(pin)
        if pin_state is None:
            raise BusError(f"GPIO{pin} is not set up")
        if pin in self._pulled_low:
            return 0
        return pin_state.level

    def output(self, pin: int, value: int) -> None:
        # No lock: an output line has one writer (its driver's owner thread), and
        # each step below is atomic under the GIL.
        value = 1 if value else 0
        pin_state = self._pins.get(pin)
        if pin_state is None or pin_state.direction is not Direction.OUT:
            raise BusError(f"GPIO{pin} is not set up as an output")
        if pin_state.level == value:
            return
        pin_state.level = value
        self._history[pin].append(value)
        for watcher in self._watchers:
            watcher(pin, value)

    def add_event_detect(
        self, pin: int, edge: Edge, callback: Callable[[int], None]
    ) -> None:
        with self._lock:
            pin_state = self._pins.get(pin)
            if pin_state is None or pin_state.direction is not Direction.IN:
                raise BusError(f"GPIO{pin} is not set up as an input")
            pin_state.edge = edge
            pin_state.callbacks.append(callback)

    def remove_event_detect(self, pin: int) -> None:
        with self._lock:
            pin_state = self._pins.get(pin)
            if pin_state is not None:
                pin_state.callbacks.clear()

    def cleanup(self, pins: Sequence[int]) -> None:
        with self._lock:
            for pin in pins:
                self._pins.pop(pin, None)

    # -- the far side, for tests and the simulator ---------------------------

    def set_input(self, pin: int, value: int) -> None:
        """Drive the far side of an input line; fires edge callbacks on a change."""
        value = 1 if value else 0
        with self._lock:
            self._external[pin] = value
            pin_state = self._pins.get(pin)
            if pin_state is None or pin_state.direction is not Direction.IN:
                return
            old = pin_state.level
            pin_state.level = value
            if old == value:
                return
            self._history[pin].append(value)
            edge = Edge.RISING if value else Edge.FALLING
            callbacks = (
                list(pin_state.callbacks) if pin_state.edge in (Edge.BOTH, edge) else []
            )
        for callback in callbacks:
            callback(pin)

    def pull_low(self, pin: int, low: bool) -> None:
        """A far-side open-drain device pulls the line low (wired-AND with our
        level)."""
        (self._pulled_low.add if low else self._pulled_low.discard)(pin)

    def level(self, pin: int) -> int:
        """The current level of a set-up line (KeyError if it is not set up)."""
        return self._pins[pin].level

    def is_setup(self, pin: int) -> bool:
        return pin in self._pins

    def history(self, pin: int) -> list[int]:
        """The levels the line has had since it was first set up (the last
        `HISTORY_LIMIT` of them)."""
        with self._lock:
            return list(self._history.get(pin, []))

    def watch_outputs(self, watcher: Callable[[int, int], None]) -> None:
        """Call `watcher(pin, value)` whenever an output changes level."""
        with self._lock:
            self._watchers = (*self._watchers, watcher)

    def fail_setup(self, pin: int, failing: bool = True) -> None:
        (self._failing_pins.add if failing else self._failing_pins.discard)(pin)

    def fail_reads(self, pin: int, failing: bool = True) -> None:
        (self._failing_reads.add if failing else self._failing_reads.discard)(pin)


# -- DRV8860 ------------------------------------------------------------------


class FakeDrv8860:
    """A DRV8860 serial low-side driver wired to `FakeGpio` output lines.

    Models the serial interface as `arpi.drivers.outputs` drives it: eight clocks
    while LATCH is low followed by LATCH rising load the output register; clock
    bursts while LATCH is high, separated by LATCH pulses, form four-frame commands
    (read data 1-4-4-3 puts the 16-bit fault register on DOUT, MSB first; reset
    faults 1-2-4-3 clears it). `board` decides how chip outputs map to channels.
    """

    def __init__(
        self,
        gpio: FakeGpio,
        *,
        latch: int,
        clock: int,
        data_in: int,
        data_out: int,
        enable: int,
        board: int,
    ) -> None:
        self._gpio = gpio
        self._latch, self._clock, self._din = latch, clock, data_in
        self._dout, self._enable = data_out, enable
        self._board = board
        self._lock = threading.Lock()
        self._shift = 0
        self._clocks_low = 0
        self._clocks_high = 0
        self._frames: list[int] = []
        self._out_bits: list[int] = []
        self.register = 0
        self.fault_register = 0
        self.writes = 0
        self.commands: list[tuple[int, ...]] = []
        gpio.watch_outputs(self._on_output)

    def _bit_for(self, channel: int) -> int:
        if not 0 <= channel <= 7:
            raise ValueError(f"output channel must be 0..7, got {channel!r}")
        return 7 - channel if self._board == 2 else channel

    def channel_states(self) -> tuple[bool, ...]:
        """The eight output channels as the board labels them (0 = siren)."""
        return tuple(bool(self.register >> self._bit_for(c) & 1) for c in range(8))

    def set_fault(
        self, channel: int, *, open_load: bool = False, over_current: bool = False
    ) -> None:
        """Raise (or clear) the fault flags of one output channel."""
        bit = self._bit_for(channel)
        with self._lock:
            self.fault_register &= ~((1 << bit) | (1 << (bit + 8)))
            if open_load:
                self.fault_register |= 1 << bit
            if over_current:
                self.fault_register |= 1 << (bit + 8)

    def _on_output(self, pin: int, value: int) -> None:
        # Called for every output change of the whole GPIO bank: only rising CLOCK
        # edges and LATCH edges mean anything to the chip. Kept cheap: a chip write
        # is about a hundred of these on the alarm's hot path.
        # The shift state is touched only from the writer's thread (the one owner of
        # the chip's lines); the lock guards the fault register against `set_fault`.
        if pin == self._clock:
            if not value:
                return
            pins = self._gpio._pins
            latch = pins.get(self._latch)
            if latch is None or latch.level:
                self._clocks_high += 1
                return
            self._clocks_low += 1
            self._shift = ((self._shift << 1) | pins[self._din].level) & 0xFF
            if self._out_bits:
                self._out_bits.pop(0)
                self._present_next()
            return
        if pin != self._latch:
            return
        with self._lock:
            if value == 0:
                if self._clocks_high:
                    self._frames.append(self._clocks_high)
                    self._clocks_high = 0
                self._clocks_low = 0
                if len(self._frames) == 4:
                    self._command(tuple(self._frames))
                    self._frames = []
            else:
                if self._clocks_low == 8 and not self._out_bits:
                    self.register = self._shift
                    self.writes += 1
                elif self._clocks_low:
                    self._out_bits = []
                self._clocks_low = 0

    def _command(self, frames: tuple[int, ...]) -> None:
        self.commands.append(frames)
        if frames == (1, 4, 4, 3):
            value = self.fault_register
            self._out_bits = [(value >> (15 - i)) & 1 for i in range(16)]
            self._present_next()
        elif frames == (1, 2, 4, 3):
            self.fault_register = 0

    def _present_next(self) -> None:
        level = self._out_bits[0] if self._out_bits else 0
        self._gpio.set_input(self._dout, level)


# -- DSC keypad -----------------------------------------------------------------


class FakeDscKeypad:
    """A DSC LED keypad on the keybus: answers the panel's clocked bits and decodes
    what the panel sends into what the keypad would show.

    A new message starts when the clock was quiet for more than `gap` seconds of
    `monotonic` (the simulator's line clock, moved by the panel driver's delays); a
    message of a known command also ends when its length (`MESSAGE_LENGTHS`) is in.
    Queued key codes go out in the third byte slot of the next message that is not
    a keybus query, pulling the data line low for 0 bits while the clock is low.
    `reject_next()` makes the keypad answer 0xFE (unknown command) in that slot
    instead; a keybus query (0x4C) is answered with `query_answer` in its eleven
    data slots.

    Decoded state (read any time, from any thread): `lights` (the last lights byte
    of a partition status, zone status or zone lights message), `ready`, `armed`,
    `memory`, `error`, `backlight`; `open_zones` (zone status: zones 1..8, zone
    lights: 1..32), `beeps` (the count of each beep message, in order),
    `panel_time` (date/time message), `queries` (keybus queries answered) and
    `bad_messages` (checksum wrong or unknown command; the message is ignored).
    `messages` keeps the last `HISTORY_LIMIT` raw messages.
    """

    def __init__(
        self,
        gpio: FakeGpio,
        *,
        clock: int,
        data: int,
        monotonic: Callable[[], float],
        gap: float = 0.002,
        query_answer: bytes = bytes([0x01] + [0xFF] * 10),
    ) -> None:
        if len(query_answer) != 11:
            raise ValueError("query_answer must be 11 bytes")
        self._gpio = gpio
        self._clock, self._data = clock, data
        self._now = monotonic
        self._gap = gap
        self._lock = threading.Lock()
        self._queue: list[int] = []
        self._reject = False
        self._query_answer = query_answer
        self._bit = 0
        self._last = float("-inf")
        self._key: int | None = None
        self._key_taken = False
        self.messages: deque[bytes] = deque(maxlen=HISTORY_LIMIT)
        self._received: list[int] = []
        self.lights = 0
        self.open_zones: frozenset[int] = frozenset()
        self.beeps: list[int] = []
        self.panel_time: datetime | None = None
        self.queries = 0
        self.bad_messages = 0
        gpio.watch_outputs(self._on_output)

    def press(self, code: int) -> None:
        """Queue one key code (see `arpi.drivers.dsc.KEY_CODES`)."""
        with self._lock:
            self._queue.append(code)

    def reject_next(self) -> None:
        """Answer the next message with 0xFE (unknown command) in the key slot."""
        with self._lock:
            self._reject = True

    def _light(self, name: str) -> bool:
        return bool(self.lights & LIGHTS[name])

    @property
    def ready(self) -> bool:
        return self._light("ready")

    @property
    def armed(self) -> bool:
        return self._light("armed")

    @property
    def memory(self) -> bool:
        return self._light("memory")

    @property
    def error(self) -> bool:
        return self._light("error")

    @property
    def backlight(self) -> bool:
        return self._light("backlight")

    def _on_output(self, pin: int, value: int) -> None:
        if pin == self._clock and value == 0:
            now = self._now()
            with self._lock:
                if now - self._last > self._gap:
                    self._finish()
                    self._bit = 0
                    self._key, self._key_taken = None, False
                self._last = now
                level = self._answer_bit(self._slot(self._bit))
                self._gpio.pull_low(self._data, level == 0)
        elif pin == self._clock and value == 1:
            with self._lock:
                self._gpio.pull_low(self._data, False)
                slot = self._slot(self._bit)
                if slot is not None:
                    self._received.append(self._gpio.level(self._data))
                self._bit += 1
                self._end_if_complete()

    def _answer_bit(self, slot: tuple[int, int] | None) -> int:
        """The level this keypad drives for `slot` (1 = leave the line high)."""
        if slot is None or slot[0] == 0:
            return 1
        byte, bit = slot
        if self._command() == KEYBUS_QUERY_CMD:
            if byte <= len(self._query_answer):
                return self._query_answer[byte - 1] >> (7 - bit) & 1
            return 1
        if byte != 2:
            return 1
        if not self._key_taken:
            self._key_taken = True
            if self._reject:
                self._reject = False
                self._key = 0xFE
            else:
                self._key = self._queue.pop(0) if self._queue else None
        return 1 if self._key is None else self._key >> (7 - bit) & 1

    def _command(self) -> int | None:
        bits = self._received
        if len(bits) < 8:
            return None
        return sum(b << (7 - j) for j, b in enumerate(bits[:8]))

    def _end_if_complete(self) -> None:
        command = self._command()
        length = MESSAGE_LENGTHS.get(command) if command is not None else None
        if length is not None and len(self._received) == 8 * length:
            self._finish()

    @staticmethod
    def _slot(bit: int) -> tuple[int, int] | None:
        """(byte, bit) of a bit position; the ninth bit after byte 0 carries none."""
        if bit < 8:
            return 0, bit
        if bit == 8:
            return None
        return (bit - 9) // 8 + 1, (bit - 9) % 8

    def _finish(self) -> None:
        bits = self._received
        self._received = []
        if len(bits) >= 8:
            data = bytes(
                sum(b << (7 - j) for j, b in enumerate(bits[i : i + 8]))
                for i in range(0, len(bits) - len(bits) % 8, 8)
            )
            self.messages.append(data)
            self._decode(data)

    def _decode(self, data: bytes) -> None:
        command = data[0]
        if len(data) != MESSAGE_LENGTHS.get(command, -1) or (
            command in CHECKSUMMED and sum(data[:-1]) % 256 != data[-1]
        ):
            self.bad_messages += 1
            return
        if command == 0x05:
            self.lights = data[1]
        elif command == 0x27:
            self.lights = data[1]
            high = frozenset(z for z in self.open_zones if z > 8)
            self.open_zones = high | zones_from_bytes(data[5:6])
        elif command == 0x0A:
            self.lights = data[1]
            self.open_zones = zones_from_bytes(data[3:7])
        elif command == 0x64:
            self.beeps.append(data[1] >> 1 & 0x07)
        elif command == 0xA5:
            self.panel_time = _dsc_time(data)
        elif command == 0x4C:
            self.queries += 1

    def flush(self) -> None:
        """Close the message in progress (tests read `messages` after this)."""
        with self._lock:
            self._finish()


def _dsc_time(data: bytes) -> datetime | None:
    """The naive local time of a date/time message (None if it is not a date)."""
    year = 2000 + (data[1] >> 4) * 10 + (data[1] & 0x0F)
    month = data[2] >> 2
    day = (data[2] & 0x03) << 3 | data[3] >> 5
    try:
        return datetime(year, month, day, data[3] & 0x1F, data[4] >> 2)
    except ValueError:
        return None


# -- RTC ----------------------------------------------------------------------

RTC_ADDRESS = 0x68


def _bcd(value: int) -> int:
    return (value // 10) << 4 | value % 10


def _from_bcd(value: int) -> int:
    return (value >> 4) * 10 + (value & 0x0F)


class FakeRtcBus:
    """An I2C bus holding one DS1307 or DS3231 at 0x68, its time in BCD registers.

    Time advances with `clock()` (an injected function returning an aware UTC
    datetime) while the oscillator runs. `stop_oscillator()` models a flat backup
    battery: the time freezes and the chip's flag is raised (DS1307: CH bit 7 of the
    seconds register, which also halts it; DS3231: OSF bit 7 of status 0x0F).
    Other addresses, `absent = True` and `fail_next(n)` raise OSError like a NACK.
    """

    def __init__(
        self,
        clock: Callable[[], datetime],
        *,
        chip: str = "ds1307",
        start: datetime | None = None,
    ) -> None:
        if chip not in ("ds1307", "ds3231"):
            raise ValueError(f"chip must be ds1307 or ds3231, got {chip!r}")
        self.chip = chip
        self._clock = clock
        self._lock = threading.Lock()
        self._regs = bytearray(64 if chip == "ds1307" else 0x13)
        self._base = (start or clock()).replace(tzinfo=None, microsecond=0)
        self._ref = clock()
        self._halted = False
        self._osf = False
        self._raw_time: bytes | None = None
        self._fail = 0
        self.absent = False

    # -- test side --------------------------------------------------------------

    def now(self) -> datetime:
        """The time the chip holds now (naive, as stored)."""
        with self._lock:
            return self._current()

    def stop_oscillator(self) -> None:
        with self._lock:
            self._base = self._current()
            self._halted = True
            self._osf = True

    @property
    def oscillator_flag(self) -> bool:
        return self._osf

    def corrupt(self, registers: bytes) -> None:
        """Put raw bytes (maybe invalid BCD) into registers 0..6."""
        with self._lock:
            self._raw_time = bytes(registers[:7])

    def fail_next(self, count: int = 1) -> None:
        self._fail += count

    # -- the I2cBus protocol -------------------------------------------------------

    def _check(self, addr: int, register: int) -> None:
        if self.absent or addr != RTC_ADDRESS:
            raise OSError(errno.EREMOTEIO, "Remote I/O error")
        if self._fail > 0:
            self._fail -= 1
            raise OSError(errno.EIO, "I2C transfer failed (injected)")
        if not 0 <= register < len(self._regs):
            raise OSError(errno.EIO, f"register {register:#x} out of range")

    def _current(self) -> datetime:
        if self._halted:
            return self._base
        elapsed = self._clock() - self._ref
        return self._base + timedelta(seconds=int(elapsed.total_seconds()))

    def _time_registers(self) -> bytes:
        if self._raw_time is not None:
            return self._raw_time
        now = self._current()
        seconds = _bcd(now.second) | (
            0x80 if self._halted and self.chip == "ds1307" else 0
        )
        return bytes(
            [
                seconds,
                _bcd(now.minute),
                _bcd(now.hour),
                now.isoweekday(),
                _bcd(now.day),
                _bcd(now.month),
                _bcd(now.year - 2000),
            ]
        )

    def _read(self, register: int) -> int:
        if register < 7:
            return self._time_registers()[register]
        if self.chip == "ds3231" and register == 0x0F:
            return (self._regs[0x0F] & 0x7F) | (0x80 if self._osf else 0)
        return self._regs[register]

    def _write(self, register: int, value: int) -> None:
        if register < 7:
            regs = bytearray(self._time_registers())
            regs[register] = value & 0xFF
            self._raw_time = None
            self._set_time(regs)
        elif self.chip == "ds3231" and register == 0x0F:
            if not value & 0x80:
                self._osf = False
            self._regs[0x0F] = value & 0x7F
        else:
            self._regs[register] = value & 0xFF

    def _set_time(self, regs: bytearray) -> None:
        try:
            stamp = datetime(
                2000 + _from_bcd(regs[6]),
                _from_bcd(regs[5] & 0x1F),
                _from_bcd(regs[4] & 0x3F),
                _from_bcd(regs[2] & 0x3F),
                _from_bcd(regs[1] & 0x7F),
                _from_bcd(regs[0] & 0x7F),
            )
        except ValueError:
            self._raw_time = bytes(regs)
            return
        self._base = stamp
        self._ref = self._clock()
        if self.chip == "ds1307":
            halt = bool(regs[0] & 0x80)
            self._halted = halt
            if not halt:
                self._osf = False
        else:
            self._halted = False

    def read_byte_data(self, i2c_addr: int, register: int) -> int:
        with self._lock:
            self._check(i2c_addr, register)
            return self._read(register)

    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None:
        with self._lock:
            self._check(i2c_addr, register)
            self._write(register, value)

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int
    ) -> list[int]:
        with self._lock:
            self._check(i2c_addr, register)
            return [self._read((register + i) % len(self._regs)) for i in range(length)]

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: Sequence[int]
    ) -> None:
        with self._lock:
            self._check(i2c_addr, register)
            if register == 0 and len(data) >= 7:
                self._raw_time = None
                self._set_time(bytearray(data[:7]))
                rest = enumerate(data[7:], start=7)
            else:
                rest = enumerate(data, start=register)
            for reg, value in rest:
                self._write(reg % len(self._regs), value)

    def close(self) -> None:
        pass


def utc_now() -> datetime:
    return datetime.now(UTC)

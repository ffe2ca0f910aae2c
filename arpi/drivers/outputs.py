"""DRV8860 serial low-side output driver: 8 outputs, channel 0 = siren (reference 6.5).

One owner only (the `outputs` actor): every write shifts all eight bits, so two
writers would overwrite each other (bug 12.17). Nothing is switched off on close or
garbage collection; a restarted owner writes the state it restored.

Serial protocol as arpi drives it: LATCH low, eight DATA bits on CLOCK rising
edges, LATCH high loads the outputs. Board 2 shifts channel 0 first, board 3
channel 7 first. Commands are four bursts of CLOCK pulses with LATCH high, each
burst closed by a LATCH pulse: read data 1-4-4-3 puts the 16-bit fault register on
the chip's data output (MSB first: over-current flags OUT8..OUT1, then open-load
flags OUT8..OUT1), reset faults 1-2-4-3 clears it. Board 3 reads the faults back
after every write.
XXX: the command framing follows reference 6.5; confirm it on a board-3 unit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from arpi.drivers.buses import Direction, DriverError, GpioBus

__all__ = [
    "BOARD2_OUTPUT_PINS",
    "BOARD3_OUTPUT_PINS",
    "CHANNEL_NAMES",
    "SIREN_CHANNEL",
    "Drv8860",
    "Drv8860Pins",
    "OutputFaults",
]

log = structlog.get_logger("arpi.drivers")

SIREN_CHANNEL = 0
CHANNEL_NAMES = ("GO", "R1", "R0", "O4", "O3", "O2", "O1", "O0")


@dataclass(frozen=True, slots=True)
class Drv8860Pins:
    latch: int
    enable: int
    clock: int
    data_in: int  # data to the chip
    data_out: int  # data from the chip


BOARD2_OUTPUT_PINS = Drv8860Pins(latch=27, enable=22, clock=11, data_in=10, data_out=9)
BOARD3_OUTPUT_PINS = Drv8860Pins(latch=16, enable=26, clock=21, data_in=20, data_out=19)

_READ_DATA = (1, 4, 4, 3)
_RESET_FAULTS = (1, 2, 4, 3)


@dataclass(frozen=True, slots=True)
class OutputFaults:
    """Per-channel fault flags read from the chip (board 3)."""

    open_load: tuple[bool, ...]
    over_current: tuple[bool, ...]

    @property
    def any(self) -> bool:
        return any(self.open_load) or any(self.over_current)

    def channels(self) -> list[int]:
        return [c for c in range(8) if self.open_load[c] or self.over_current[c]]


class Drv8860:
    """The output chip on `gpio`. Not thread-safe: one owner thread calls it.

    `step` is the half-period of the bit clock in seconds (board 3 used 1 ms; 0 on
    fake lines). Construction claims the pins and, on board 3, reads the fault
    register and resets it if any fault is set. Raises BusError if a pin fails.
    """

    channel_count = 8

    def __init__(
        self,
        gpio: GpioBus,
        *,
        board: int,
        pins: Drv8860Pins | None = None,
        step: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if board not in (2, 3):
            raise ValueError(f"board must be 2 or 3, got {board!r}")
        self._gpio = gpio
        self.board = board
        self.pins = pins or (BOARD2_OUTPUT_PINS if board == 2 else BOARD3_OUTPUT_PINS)
        self._step = step
        self._sleep = sleep
        self._states = [False] * 8
        self.last_faults: OutputFaults | None = None
        p = self.pins
        gpio.setup(p.latch, Direction.OUT, initial=1)
        gpio.setup(p.clock, Direction.OUT, initial=0)
        gpio.setup(p.data_in, Direction.OUT, initial=0)
        gpio.setup(p.enable, Direction.OUT, initial=1)
        gpio.setup(p.data_out, Direction.IN)
        if board == 3:
            faults = self.read_faults()
            if faults.any:
                log.warning("output_faults_at_start", channels=faults.channels())
                self._command(_RESET_FAULTS)

    def states(self) -> tuple[bool, ...]:
        """The eight channel states last written."""
        return tuple(self._states)

    def set(self, channel: int, on: bool) -> OutputFaults | None:
        """Switch one channel and write all eight; returns board-3 faults (else None).

        Blocks for the serial transfer (tens of ms on board 3). Raises ValueError
        for a channel outside 0..7 and BusError when a line fails.
        """
        if not 0 <= channel <= 7:
            raise ValueError(f"output channel must be 0..7, got {channel!r}")
        states = list(self._states)
        states[channel] = bool(on)
        return self.write(states)

    def write(self, states: Sequence[bool]) -> OutputFaults | None:
        """Write all eight channel states (see `set`)."""
        if len(states) != 8:
            raise ValueError("write needs exactly 8 channel states")
        order = range(8) if self.board == 2 else range(7, -1, -1)
        g, p = self._gpio, self.pins
        g.output(p.latch, 0)
        for channel in order:
            g.output(p.data_in, 1 if states[channel] else 0)
            self._pulse()
        g.output(p.latch, 1)
        if self.board == 2:
            g.output(p.enable, 0)
            g.output(p.enable, 1)
        self._states = [bool(s) for s in states]
        if self.board != 3:
            return None
        faults = self.read_faults()
        if faults.any:
            log.warning(
                "output_faults",
                open_load=[c for c in range(8) if faults.open_load[c]],
                over_current=[c for c in range(8) if faults.over_current[c]],
            )
        return faults

    def read_faults(self) -> OutputFaults:
        """Read the chip's 16-bit fault register. Raises BusError."""
        self._command(_READ_DATA)
        g, p = self._gpio, self.pins
        bits = []
        g.output(p.latch, 0)
        for _ in range(16):
            bits.append(g.input(p.data_out))
            self._pulse()
        g.output(p.latch, 1)
        value = 0
        for bit in bits:
            value = value << 1 | bit
        faults = OutputFaults(
            open_load=tuple(bool(value >> self._bit(c) & 1) for c in range(8)),
            over_current=tuple(bool(value >> (self._bit(c) + 8) & 1) for c in range(8)),
        )
        self.last_faults = faults
        return faults

    def reset_faults(self) -> None:
        self._command(_RESET_FAULTS)

    def close(self) -> None:
        """Release the lines. The outputs keep their state (see module docstring)."""
        p = self.pins
        self._gpio.cleanup([p.clock, p.data_in, p.data_out])

    def _bit(self, channel: int) -> int:
        # Chip output bit for a channel: the first bit shifted ends in bit 7.
        return 7 - channel if self.board == 2 else channel

    def _pulse(self) -> None:
        g, clock = self._gpio, self.pins.clock
        if self._step:
            self._sleep(self._step)
        g.output(clock, 1)
        if self._step:
            self._sleep(self._step)
        g.output(clock, 0)

    def _command(self, frames: Sequence[int]) -> None:
        g, latch = self._gpio, self.pins.latch
        for count in frames:
            for _ in range(count):
                self._pulse()
            g.output(latch, 0)
            g.output(latch, 1)


def check_channel(channel: int) -> None:
    """Raise DriverError unless `channel` is a valid non-siren output channel."""
    if not 1 <= channel <= 7:
        raise DriverError(
            f"output channel must be 1..7 (0 is the siren), got {channel}"
        )

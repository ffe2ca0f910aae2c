"""Bus interfaces the drivers talk through: SPI, GPIO lines, I2C registers, serial.

Drivers depend on these protocols only. `arpi.drivers.pi` wraps spidev, RPi.GPIO and
smbus2 into them on a Raspberry Pi; `arpi.drivers.fakes` and `arpi.drivers.fake_modem`
implement them in memory (and on a pseudo-terminal) for tests and the simulator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from typing import Protocol

__all__ = [
    "BusError",
    "Direction",
    "DriverError",
    "Edge",
    "GpioBus",
    "HardwareUnavailable",
    "I2cBus",
    "Pull",
    "SerialPort",
    "SpiBus",
]


class DriverError(Exception):
    """Base of every error a driver raises on purpose; the message names the part."""


class BusError(DriverError):
    """A bus transfer failed (I/O error, device gone, bad reply)."""


class HardwareUnavailable(DriverError):
    """The configured hardware (or its Python library) is not present on this machine.

    Raised when a driver starts, never at import; the owning actor marks its sensors
    in fault and the supervisor retries with backoff.
    """


class SpiBus(Protocol):
    """A full-duplex SPI device (spidev's `SpiDev` subset)."""

    def xfer2(self, data: Sequence[int]) -> list[int]:
        """Send `data` with chip select held; return as many bytes as were sent.

        Raises OSError on a bus failure.
        """
        ...

    def close(self) -> None: ...


class Direction(str, Enum):
    IN = "in"
    OUT = "out"


class Pull(str, Enum):
    OFF = "off"
    UP = "up"
    DOWN = "down"


class Edge(str, Enum):
    RISING = "rising"
    FALLING = "falling"
    BOTH = "both"


class GpioBus(Protocol):
    """GPIO lines by BCM number (the RPi.GPIO subset arpi uses)."""

    def setup(
        self,
        pin: int,
        direction: Direction,
        *,
        pull: Pull = Pull.OFF,
        initial: int | None = None,
    ) -> None:
        """Claim `pin` as input or output. Raises BusError if it cannot."""
        ...

    def input(self, pin: int) -> int:
        """The line's level, 0 or 1 (an output reads back its own level)."""
        ...

    def output(self, pin: int, value: int) -> None:
        """Drive an output pin to 0 or 1."""
        ...

    def add_event_detect(
        self, pin: int, edge: Edge, callback: Callable[[int], None]
    ) -> None:
        """Call `callback(pin)` on every `edge` of an input pin.

        The callback runs on the GPIO library's own thread (the fake runs it on the
        thread that changed the line); it must be quick and must not block.
        """
        ...

    def remove_event_detect(self, pin: int) -> None: ...

    def cleanup(self, pins: Sequence[int]) -> None:
        """Release `pins` (inputs again, callbacks removed)."""
        ...


class I2cBus(Protocol):
    """An I2C bus (the smbus2 `SMBus` subset arpi uses). OSError on a NACK."""

    def read_byte_data(self, i2c_addr: int, register: int) -> int: ...

    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None: ...

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int
    ) -> list[int]: ...

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: Sequence[int]
    ) -> None: ...

    def close(self) -> None: ...


class SerialPort(Protocol):
    """A byte stream with a read timeout (pyserial's `Serial` subset)."""

    timeout: float | None

    def write(self, data: bytes) -> int | None: ...

    def read(self, size: int = 1) -> bytes:
        """Up to `size` bytes; fewer (maybe none) once `timeout` has passed."""
        ...

    def reset_input_buffer(self) -> None: ...

    def close(self) -> None: ...

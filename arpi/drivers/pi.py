"""Real Raspberry Pi buses: spidev, RPi.GPIO (or the rpi-lgpio shim) and smbus2.

Imported only by `DriverFactory` when a board-2/3 driver starts, never at import of
`arpi.drivers`. A missing library or device raises HardwareUnavailable naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from arpi.drivers.buses import BusError, Direction, Edge, HardwareUnavailable, Pull

__all__ = ["PiGpio", "open_i2c", "open_spi"]


def open_spi(bus: int, device: int, speed_hz: int = 1_000_000) -> Any:
    """An opened spidev.SpiDev (it satisfies SpiBus as it is). Raises
    HardwareUnavailable."""
    try:
        import spidev  # type: ignore[import-not-found]
    except ImportError as exc:
        raise HardwareUnavailable(
            "spidev is not installed; board 3 needs it (pip install arpi[pi])"
        ) from exc
    spi = spidev.SpiDev()
    try:
        spi.open(bus, device)
    except OSError as exc:
        raise HardwareUnavailable(
            f"cannot open /dev/spidev{bus}.{device} (dtparam=spi=on?): {exc}"
        ) from exc
    spi.max_speed_hz = speed_hz
    spi.mode = 0
    return spi


def open_i2c(bus: int) -> Any:
    """An smbus2.SMBus on /dev/i2c-<bus>. Raises HardwareUnavailable."""
    try:
        from smbus2 import SMBus
    except ImportError as exc:
        raise HardwareUnavailable("smbus2 is not installed") from exc
    try:
        return SMBus(bus)
    except OSError as exc:
        raise HardwareUnavailable(f"cannot open /dev/i2c-{bus}: {exc}") from exc


class PiGpio:
    """GpioBus over RPi.GPIO in BCM numbering."""

    def __init__(self) -> None:
        try:
            import RPi.GPIO as gpio  # type: ignore[import-not-found]
        except (ImportError, RuntimeError) as exc:
            raise HardwareUnavailable(
                f"RPi.GPIO is not usable here (install rpi-lgpio on a Pi 5): {exc}"
            ) from exc
        self._g = gpio
        gpio.setmode(gpio.BCM)
        gpio.setwarnings(False)

    def setup(
        self,
        pin: int,
        direction: Direction,
        *,
        pull: Pull = Pull.OFF,
        initial: int | None = None,
    ) -> None:
        g = self._g
        try:
            if direction is Direction.OUT:
                g.setup(pin, g.OUT, initial=g.HIGH if initial else g.LOW)
            else:
                pud = {Pull.OFF: g.PUD_OFF, Pull.UP: g.PUD_UP, Pull.DOWN: g.PUD_DOWN}
                g.setup(pin, g.IN, pull_up_down=pud[pull])
        except (RuntimeError, ValueError, OSError) as exc:
            raise BusError(f"GPIO{pin}: {exc}") from exc

    def input(self, pin: int) -> int:
        try:
            return 1 if self._g.input(pin) else 0
        except (RuntimeError, ValueError, OSError) as exc:
            raise BusError(f"GPIO{pin}: {exc}") from exc

    def output(self, pin: int, value: int) -> None:
        try:
            self._g.output(pin, 1 if value else 0)
        except (RuntimeError, ValueError, OSError) as exc:
            raise BusError(f"GPIO{pin}: {exc}") from exc

    def add_event_detect(
        self, pin: int, edge: Edge, callback: Callable[[int], None]
    ) -> None:
        g = self._g
        kind = {Edge.RISING: g.RISING, Edge.FALLING: g.FALLING, Edge.BOTH: g.BOTH}
        try:
            g.add_event_detect(pin, kind[edge], callback=callback)
        except (RuntimeError, ValueError, OSError) as exc:
            # Kernel 6.6+ with plain RPi.GPIO: "Failed to add edge detection"
            # (raspberrypi/linux#6037); rpi-lgpio is the fix.
            raise BusError(f"GPIO{pin} edge detection: {exc}") from exc

    def remove_event_detect(self, pin: int) -> None:
        try:
            self._g.remove_event_detect(pin)
        except (RuntimeError, ValueError, OSError):
            pass

    def cleanup(self, pins: Sequence[int]) -> None:
        if pins:
            self._g.cleanup(list(pins))

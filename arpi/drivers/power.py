"""Power source detection: mains ("network") or battery, debounced (reference 6.6).

Board 2 reads GPIO8 (0 = mains). Board 3 reads AD2 input 0 (below 0.5 = mains). A
failed read raises; it is never taken as "battery" or "network".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import structlog

from arpi.drivers.adc import Mcp3008
from arpi.drivers.buses import Direction, DriverError, GpioBus, Pull

__all__ = [
    "BOARD2_POWER_PIN",
    "AdcPowerSense",
    "GpioPowerSense",
    "PowerDetector",
    "PowerReadError",
    "PowerSource",
]

log = structlog.get_logger("arpi.drivers")

PowerSource = Literal["network", "battery"]
BOARD2_POWER_PIN = 8


class PowerReadError(DriverError):
    """The power sense input could not be read."""


class GpioPowerSense:
    """Board 2: GPIO8, 0 = mains, 1 = battery."""

    def __init__(self, gpio: GpioBus, pin: int = BOARD2_POWER_PIN) -> None:
        self._gpio = gpio
        self._pin = pin
        gpio.setup(pin, Direction.IN, pull=Pull.OFF)

    def read(self) -> PowerSource:
        """The instant source. Raises PowerReadError."""
        try:
            value = self._gpio.input(self._pin)
        except DriverError as exc:
            raise PowerReadError(f"power sense GPIO{self._pin}: {exc}") from exc
        return "battery" if value else "network"

    def close(self) -> None:
        self._gpio.cleanup([self._pin])


class AdcPowerSense:
    """Board 3: an MCP3008 input (AD2 input 0), below `threshold` = mains."""

    def __init__(self, adc: Mcp3008, channel: int = 0, threshold: float = 0.5) -> None:
        self._adc = adc
        self._channel = channel
        self._threshold = threshold

    def read(self) -> PowerSource:
        """The instant source. Raises PowerReadError."""
        try:
            level = self._adc.read(self._channel)
        except DriverError as exc:
            raise PowerReadError(f"power sense ADC: {exc}") from exc
        return "network" if level < self._threshold else "battery"

    def close(self) -> None:
        self._adc.close()


class PowerDetector:
    """Debounces a power sense: a new source counts once it held for `hold` seconds.

    `poll()` is called periodically from one thread (the power actor's); it
    returns the debounced source, or None before the first stable reading. Time
    comes from `monotonic` (the process clock in production, a manual one in tests).
    Raises PowerReadError when the sense cannot be read; the debounce restarts.
    """

    def __init__(
        self,
        sense: GpioPowerSense | AdcPowerSense,
        monotonic: Callable[[], float],
        hold: float = 2.0,
    ) -> None:
        if hold < 0:
            raise ValueError("hold must not be negative")
        self._sense = sense
        self._now = monotonic
        self._hold = hold
        self.source: PowerSource | None = None
        self._candidate: PowerSource | None = None
        self._since = 0.0

    def poll(self) -> PowerSource | None:
        now = self._now()
        try:
            raw = self._sense.read()
        except PowerReadError:
            self._candidate = None
            raise
        if raw == self.source:
            self._candidate = None
            return self.source
        if raw != self._candidate:
            self._candidate = raw
            self._since = now
        if now - self._since >= self._hold:
            log.info("power_source_detected", source=raw, previous=self.source)
            self.source = raw
            self._candidate = None
        return self.source

    def close(self) -> None:
        self._sense.close()

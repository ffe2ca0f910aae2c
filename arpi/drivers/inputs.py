"""Board-2 sensor inputs: fifteen opto-isolated inputs on GPIO lines (reference 9.1).

Every pin must be claimed at start; a pin that cannot be claimed fails the start
(the reference skipped it and shifted every later channel, bug 12.20).
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from arpi.drivers.buses import BusError, Direction, GpioBus, Pull

__all__ = ["BOARD2_INPUT_PINS", "Board2Inputs"]

log = structlog.get_logger("arpi.drivers")

# CH01..CH15 -> BCM pin
BOARD2_INPUT_PINS: tuple[int, ...] = (
    19,
    20,
    26,
    21,
    12,
    6,
    13,
    16,
    7,
    1,
    0,
    5,
    23,
    24,
    25,
)


class Board2Inputs:
    """The board-2 bank: levels 0.0 / 1.0 per input. Satisfies `SensorInputs`.

    Construction claims the pins (inputs with pull-down, as the reference did) and
    raises BusError naming the pin that failed.
    """

    def __init__(
        self,
        gpio: GpioBus,
        channels: Sequence[int] = tuple(range(15)),
        pins: Sequence[int] = BOARD2_INPUT_PINS,
    ) -> None:
        self._gpio = gpio
        self.channels = tuple(channels)
        for channel in self.channels:
            if not 0 <= channel < len(pins):
                raise ValueError(f"board 2 sensor channel must be 0..14, got {channel}")
        self._pins = tuple(pins[c] for c in self.channels)
        claimed: list[int] = []
        try:
            for pin in self._pins:
                gpio.setup(pin, Direction.IN, pull=Pull.DOWN)
                claimed.append(pin)
        except BusError:
            gpio.cleanup(claimed)
            raise

    def read_levels(self) -> list[float | None]:
        """1.0 / 0.0 per channel, None where the pin could not be read."""
        levels: list[float | None] = []
        read = self._gpio.input
        for pin in self._pins:
            try:
                levels.append(1.0 if read(pin) else 0.0)
            except BusError as exc:
                log.warning("gpio_read_failed", pin=pin, error=str(exc))
                levels.append(None)
        return levels

    def close(self) -> None:
        self._gpio.cleanup(self._pins)

"""MCP3008 ADC reader and the board-3 sensor inputs (two chips on SPI0 CE0/CE1).

Board 3 wires sensor channel CH01..CH08 (0-based 0..7) to AD1 inputs 7..0 and CH09..
CH15 (8..14) to AD2 inputs 7..1; AD2 input 0 senses the power source (reference 9.2).
A failed read is an error for that channel (`None` in `read_levels`), never 0.0: the
reference returned 0.0, the short level, which looks like an alarm (bug 12.20).
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from arpi.drivers.buses import BusError, SpiBus

__all__ = [
    "BOARD3_CHANNELS",
    "BOARD3_POWER_INPUT",
    "AdcReadError",
    "Board3Inputs",
    "Mcp3008",
    "board3_input",
]

log = structlog.get_logger("arpi.drivers")

# sensor channel (0-based) -> (chip index 0 = AD1 on CE0, 1 = AD2 on CE1, input)
BOARD3_CHANNELS: tuple[tuple[int, int], ...] = tuple(
    [(0, 7 - i) for i in range(8)] + [(1, 7 - i) for i in range(7)]
)
BOARD3_POWER_INPUT: tuple[int, int] = (1, 0)


def board3_input(channel: int) -> tuple[int, int]:
    """(chip, input) of a board-3 sensor channel 0..14. Raises ValueError."""
    if not 0 <= channel < len(BOARD3_CHANNELS):
        raise ValueError(f"board 3 sensor channel must be 0..14, got {channel!r}")
    return BOARD3_CHANNELS[channel]


class AdcReadError(BusError):
    """An MCP3008 conversion could not be read."""


class Mcp3008:
    """One MCP3008 on an SPI bus: ten-bit single-ended readings of inputs 0..7."""

    __slots__ = ("_spi", "name")

    def __init__(self, spi: SpiBus, name: str = "mcp3008") -> None:
        self._spi = spi
        self.name = name

    def read_raw(self, channel: int) -> int:
        """The raw reading 0..1023 of input `channel`.

        Blocks for one SPI transfer. Raises ValueError for a channel outside 0..7
        and AdcReadError when the transfer fails.
        """
        if not 0 <= channel <= 7:
            raise ValueError(f"MCP3008 input must be 0..7, got {channel!r}")
        try:
            reply = self._spi.xfer2([0x01, (0x08 | channel) << 4, 0x00])
        except OSError as exc:
            raise AdcReadError(f"{self.name} input {channel}: {exc}") from exc
        if len(reply) != 3:
            raise AdcReadError(f"{self.name} input {channel}: short SPI reply")
        return (reply[1] & 0x03) << 8 | reply[2]

    def read(self, channel: int) -> float:
        """The reading of input `channel` as a fraction 0..1 of VREF (see read_raw)."""
        return self.read_raw(channel) / 1023.0

    def close(self) -> None:
        self._spi.close()


class Board3Inputs:
    """A board-3 sensor bank: some sensor channels read through the two MCP3008s.

    `channels` are the 0-based sensor channels this bank serves (bank 0: 0..7 on
    AD1, bank 1: 8..14 on AD2). Satisfies `arpi.drivers.SensorInputs`.
    """

    def __init__(
        self, chips: Sequence[Mcp3008 | None], channels: Sequence[int]
    ) -> None:
        self.channels = tuple(channels)
        self._chips = tuple(c for c in chips if c is not None)
        self._plan: list[tuple[Mcp3008, int]] = []
        for channel in self.channels:
            index, pin = board3_input(channel)
            chip = chips[index] if index < len(chips) else None
            if chip is None:
                raise ValueError(f"channel {channel} needs ADC chip AD{index + 1}")
            self._plan.append((chip, pin))

    def read_levels(self) -> list[float | None]:
        """One reading per channel (fraction of VREF), None where the read failed.

        Blocks for one SPI transfer per channel (a few tens of microseconds on a
        Pi). Failures are logged once per read with the channels that failed.
        """
        levels: list[float | None] = []
        failed: list[int] = []
        error = ""
        for channel, (chip, pin) in zip(self.channels, self._plan, strict=True):
            try:
                levels.append(chip.read_raw(pin) / 1023.0)
            except AdcReadError as exc:
                levels.append(None)
                failed.append(channel)
                error = str(exc)
        if failed:
            log.warning("adc_read_failed", channels=failed, error=error)
        return levels

    def close(self) -> None:
        for chip in self._chips:
            chip.close()

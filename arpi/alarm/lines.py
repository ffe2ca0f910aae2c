"""What a sensor bank reports for one line on each scan."""

from __future__ import annotations

from enum import Enum

__all__ = ["FAULT_STATES", "LineState"]


class LineState(str, Enum):  # noqa: UP042 (the skeleton's base, kept)
    """The decoded state of one sensor line.

    `CUT`, `SHORT` and `FAULT` are trouble: the alarm cannot tell whether the sensor
    is quiet, so they are never read as idle. `FAULT` means the bank itself could not
    read the line (chip down, read error, bank restarting).
    """

    IDLE = "idle"
    ACTIVE = "active"
    CUT = "cut"
    SHORT = "short"
    FAULT = "fault"

    @property
    def is_trouble(self) -> bool:
        """True for a line the alarm cannot read (cut, shorted or unreadable)."""
        return self in FAULT_STATES


FAULT_STATES: frozenset[LineState] = frozenset(
    {LineState.CUT, LineState.SHORT, LineState.FAULT}
)

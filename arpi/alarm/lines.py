"""The state of one sensor line as a sensor bank reads it."""

from __future__ import annotations

from enum import Enum

__all__ = ["LineState"]


class LineState(str, Enum):
    """IDLE and ACTIVE are readings; CUT and SHORT are wiring faults (F9); FAULT means
    the bank cannot read the line at all (it is down), which is trouble, never idle."""

    IDLE = "idle"
    ACTIVE = "active"
    CUT = "cut"
    SHORT = "short"
    FAULT = "fault"

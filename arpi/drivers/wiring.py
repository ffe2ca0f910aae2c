"""Sensor line classification: a level read from a line -> `LineState`.

Board 3 lines are resistor dividers (reference 2.5): pull-up 2.2 kOhm to VREF,
pull-down 22 kOhm, end-of-line resistors A 5.6 kOhm and B 3.6 kOhm. Each wiring has an
idle level and active levels; a cut line reads the pull-down-only level (0.909) and a
shorted one 0.0. Where a fault level is also the wiring's active level (1 EOL NC cut,
1 EOL NO short, dual NC cut, dual NO short) the two cannot be told apart and the line
reads ACTIVE; everywhere else a cut or short is CUT or SHORT (F9), and a level close
to no known level is FAULT (the reference ignored such readings).

`basic` lines (and every board-2 line) compare with a calibrated reference;
`calibrate` refuses readings that are active, faulted, failed or unstable (F18).

Speed matters: a bank classifies 15 lines 20+ times a second, so `LineClassifier`
precomputes its bands and `classify` is a handful of comparisons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from arpi.alarm.lines import LineState

__all__ = [
    "BASIC_TOLERANCE",
    "TOLERANCE",
    "CalibrationRefused",
    "ChannelType",
    "Contact",
    "LineClassifier",
    "Wiring",
    "WiringLevels",
    "calibrate",
    "levels",
]

TOLERANCE = 0.05  # reference TOLERANCE_V3, about 0.25 V at 5 V
BASIC_TOLERANCE = 0.01  # reference TOLERANCE_V2, used against a calibrated reference

_R_PULL_UP = 2.2
_R_PULL_DOWN = 22.0
_R_EOL_A = 5.6
_R_EOL_B = 3.6


def _parallel(*resistors: float) -> float:
    return 1.0 / sum(1.0 / r for r in resistors)


def _level(to_ground: float | None) -> float:
    """Divider ratio for a resistance to ground; None = dead short (0 Ohm)."""
    if to_ground is None:
        return 0.0
    return to_ground / (to_ground + _R_PULL_UP)


class ChannelType(str, Enum):
    BASIC = "basic"
    NORMAL = "normal"
    CHANNEL_A = "channel_a"
    CHANNEL_B = "channel_b"


class Contact(str, Enum):
    NC = "nc"
    NO = "no"


@dataclass(frozen=True, slots=True)
class WiringLevels:
    """Levels (fractions of VREF) of one wiring; `active_a/b` only for dual wiring."""

    idle: float
    active: float
    active_a: float | None = None
    active_b: float | None = None


CUT_LEVEL = _level(_R_PULL_DOWN)
SHORT_LEVEL = 0.0


def levels(channel_type: ChannelType, contact: Contact, eol_count: int) -> WiringLevels:
    """The resistor-model levels of a wiring (table in reference 2.5).

    For `normal` lines `eol_count` (1 or 2) selects single or double EOL; for
    `channel_a`/`channel_b` the dual wiring is used and `active` is "both active".
    Raises ValueError for a `basic` line (it has no model) or a bad eol_count.
    """
    ra, rb, rpd = _R_EOL_A, _R_EOL_B, _R_PULL_DOWN
    if channel_type is ChannelType.BASIC:
        raise ValueError("basic lines have no resistor model; they are calibrated")
    if channel_type is ChannelType.NORMAL:
        if eol_count == 1:
            idle = _level(_parallel(ra, rpd))
            active = CUT_LEVEL if contact is Contact.NC else SHORT_LEVEL
            return WiringLevels(idle, active)
        if eol_count == 2:
            if contact is Contact.NC:
                return WiringLevels(
                    _level(_parallel(ra, rpd)), _level(_parallel(ra, rb, rpd))
                )
            return WiringLevels(
                _level(_parallel(ra, rb, rpd)), _level(_parallel(rb, rpd))
            )
        raise ValueError(f"eol_count must be 1 or 2, got {eol_count!r}")
    a_active = _level(_parallel(rb, rpd))
    b_active = _level(_parallel(ra, rpd))
    if contact is Contact.NC:
        idle = _level(_parallel(_parallel(ra, rb), rpd))
        both = CUT_LEVEL
    else:
        idle = _level(_parallel(ra + rb, rpd))
        both = SHORT_LEVEL
    return WiringLevels(idle, both, a_active, b_active)


@dataclass(frozen=True, slots=True)
class Wiring:
    """How one sensor is wired to its channel (from the sensor's configuration)."""

    channel_type: ChannelType = ChannelType.NORMAL
    contact: Contact = Contact.NC
    eol_count: int = 1
    reference: float | None = None
    tolerance: float = TOLERANCE
    basic_tolerance: float = BASIC_TOLERANCE

    def __post_init__(self) -> None:
        if not isinstance(self.channel_type, ChannelType):
            # Configuration errors are ValueErrors naming the field, whatever the type.
            raise ValueError(f"channel_type: unknown value {self.channel_type!r}")  # noqa: TRY004
        if not isinstance(self.contact, Contact):
            raise ValueError(f"contact: unknown value {self.contact!r}")  # noqa: TRY004
        if self.eol_count not in (1, 2):
            raise ValueError(f"eol_count must be 1 or 2, got {self.eol_count!r}")
        if self.reference is not None and not 0.0 <= self.reference <= 1.0:
            raise ValueError(f"reference must be within 0..1, got {self.reference!r}")
        if not 0.0 < self.tolerance < 0.5 or not 0.0 < self.basic_tolerance < 0.5:
            raise ValueError("tolerance must be within 0..0.5")


class LineClassifier:
    """Classifies readings of one line; build once per configuration, call often."""

    __slots__ = ("_bands", "_basic_tol", "_reference", "wiring")

    def __init__(self, wiring: Wiring) -> None:
        self.wiring = wiring
        self._reference = wiring.reference
        self._basic_tol = wiring.basic_tolerance
        self._bands: tuple[tuple[float, float, LineState], ...] = ()
        if wiring.channel_type is ChannelType.BASIC:
            return
        lv = levels(wiring.channel_type, wiring.contact, wiring.eol_count)
        idle_levels = [lv.idle]
        active_levels = [lv.active]
        if wiring.channel_type is ChannelType.CHANNEL_A:
            active_levels.append(lv.active_a)  # type: ignore[arg-type]
            idle_levels.append(lv.active_b)  # type: ignore[arg-type]
        elif wiring.channel_type is ChannelType.CHANNEL_B:
            active_levels.append(lv.active_b)  # type: ignore[arg-type]
            idle_levels.append(lv.active_a)  # type: ignore[arg-type]
        # Active levels first: a fault level that equals an active level is a trip.
        bands: list[tuple[float, float, LineState]] = []
        tol = wiring.tolerance
        for level, state in (
            *((x, LineState.ACTIVE) for x in active_levels),
            *((x, LineState.IDLE) for x in idle_levels),
            (SHORT_LEVEL, LineState.SHORT),
            (CUT_LEVEL, LineState.CUT),
        ):
            bands.append((level - tol, level + tol, state))
        self._bands = tuple(bands)

    def classify(self, level: float | None) -> LineState:
        """The line's state for one reading; None (a failed read) is FAULT."""
        if level is None:
            return LineState.FAULT
        bands = self._bands
        if not bands:
            reference = self._reference
            if reference is None:
                return LineState.FAULT
            if abs(level - reference) >= self._basic_tol:
                return LineState.ACTIVE
            return LineState.IDLE
        for low, high, state in bands:
            if low < level < high:
                return state
        return LineState.FAULT


class CalibrationRefused(ValueError):
    """The samples cannot serve as a reference; the message says why."""


def calibrate(
    wiring: Wiring, samples: Sequence[float | None], *, board: int = 3
) -> float:
    """The reference level for a calibrated (`basic` or board-2) line.

    Takes two or more samples taken some time apart. Refuses (CalibrationRefused)
    when a sample failed, the samples disagree by the basic tolerance or more
    (the line moved: flapping or someone at the door), or, for a line with a
    resistor model, when the line does not read IDLE (F18). A `basic` board-3 line
    reading the short or the cut level is refused too: that is a wiring fault, not a
    rest state (board 2 inputs are plain 0/1 and have no fault level). Returns the
    mean of the samples.
    """
    if len(samples) < 2:
        raise CalibrationRefused("calibration needs at least two samples")
    if any(s is None for s in samples):
        raise CalibrationRefused("a calibration sample could not be read")
    values = [float(s) for s in samples]  # type: ignore[arg-type]
    if max(values) - min(values) >= wiring.basic_tolerance:
        raise CalibrationRefused("the line changed between calibration samples")
    mean = sum(values) / len(values)
    if wiring.channel_type is not ChannelType.BASIC:
        state = LineClassifier(wiring).classify(mean)
        if state is not LineState.IDLE:
            raise CalibrationRefused(f"the line reads {state.value}, not idle")
    elif board == 3 and is_fault_level(mean, wiring.tolerance):
        raise CalibrationRefused("the line reads the cut or short level")
    return mean


def is_fault_level(level: float, tolerance: float = TOLERANCE) -> bool:
    """True when `level` is the cut or the short level of a board-3 line."""
    return abs(level - SHORT_LEVEL) < tolerance or abs(level - CUT_LEVEL) < tolerance

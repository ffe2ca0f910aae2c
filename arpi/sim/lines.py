"""Simulated sensor lines: the configured wiring of a channel, and state <-> level.

The simulator speaks in line states a person understands (`idle`, `active`,
`a_active`, `b_active`, `both_active`, `cut`, `short`) and turns them into the ADC
level that the configured wiring would show, with the same resistor model and
classifier (`arpi.drivers.wiring`) the sensor banks use, so a simulated level is
exactly a reference level. Pure code: no I/O, no threads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from arpi.drivers.wiring import (
    CUT_LEVEL,
    SHORT_LEVEL,
    ChannelType,
    Contact,
    LineClassifier,
    Wiring,
    levels,
)

__all__ = [
    "BOARD2_ACTIVE",
    "BOARD2_IDLE",
    "DEFAULT_WIRING",
    "STATES",
    "ChannelWiring",
    "LineStateError",
    "channel_wirings",
    "classify_channel",
    "level_for",
    "wiring_of_row",
]

STATES: tuple[str, ...] = (
    "idle",
    "active",
    "a_active",
    "b_active",
    "both_active",
    "cut",
    "short",
)
# What an unconfigured board-3 line is held at (the idle level of the commonest
# wiring, normal single EOL): a channel that nobody uses reads as idle.
DEFAULT_WIRING = Wiring(ChannelType.NORMAL, Contact.NC, 1)
# Board 2 inputs are opto-couplers read as 0/1 against a calibrated reference.
BOARD2_IDLE = 0.0
BOARD2_ACTIVE = 1.0
_DUAL = (ChannelType.CHANNEL_A, ChannelType.CHANNEL_B)


class LineStateError(ValueError):
    """A state that does not apply to a channel's wiring; the message says why."""


@dataclass(frozen=True, slots=True)
class ChannelWiring:
    """What is wired to one channel: one sensor, or an A/B pair sharing it.

    `wiring` is the wiring used for levels (for an A/B pair: the dual wiring with the
    A sensor's contact type); `sensors` are `(id, name, channel_type)` of the
    non-deleted sensors on the channel.
    """

    channel: int
    wiring: Wiring
    sensors: tuple[tuple[int, str, str], ...] = ()

    @property
    def dual(self) -> bool:
        return self.wiring.channel_type in _DUAL

    @property
    def basic(self) -> bool:
        return self.wiring.channel_type is ChannelType.BASIC


def wiring_of_row(row: Mapping[str, Any]) -> Wiring:
    """The `Wiring` of one sensor row (DB column names). Raises ValueError naming it."""
    channel_type = ChannelType(str(row.get("channel_type") or "normal"))
    contact = Contact(str(row.get("sensor_contact_type") or "NO").lower())
    eol = 2 if str(row.get("sensor_eol_count") or "single") == "double" else 1
    reference = row.get("reference_value")
    if reference is not None:
        reference = min(1.0, max(0.0, float(reference)))
    return Wiring(channel_type, contact, eol, reference)


def channel_wirings(rows: Iterable[Mapping[str, Any]]) -> dict[int, ChannelWiring]:
    """Group sensor rows (non-deleted, with a channel >= 0) by channel.

    Rows need `id`, `name`, `channel`, `channel_type`, `sensor_contact_type`,
    `sensor_eol_count`, `reference_value`. A row whose wiring is invalid is skipped.
    """
    by_channel: dict[int, list[Mapping[str, Any]]] = {}
    for row in rows:
        channel = row.get("channel")
        if channel is None or int(channel) < 0 or row.get("deleted"):
            continue
        by_channel.setdefault(int(channel), []).append(row)
    out: dict[int, ChannelWiring] = {}
    for channel, group in sorted(by_channel.items()):
        group.sort(key=lambda r: (str(r.get("channel_type")) != "channel_a", r["id"]))
        try:
            wiring = wiring_of_row(group[0])
        except ValueError:
            continue
        sensors = tuple(
            (int(r["id"]), str(r.get("name") or ""), str(r.get("channel_type")))
            for r in group
        )
        out[channel] = ChannelWiring(channel, wiring, sensors)
    return out


def _board2_idle(reference: float | None) -> float:
    """A board-2 input idles at its calibrated value (0 when uncalibrated)."""
    return BOARD2_ACTIVE if reference is not None and reference >= 0.5 else BOARD2_IDLE


def _basic_idle(wiring: Wiring) -> float:
    if wiring.reference is not None:
        return wiring.reference
    return levels(DEFAULT_WIRING.channel_type, DEFAULT_WIRING.contact, 1).idle


def level_for(board: int, wiring: Wiring | None, state: str) -> float:
    """The level (0..1 of VREF) that puts a line with `wiring` in `state`.

    `wiring` None means an unconfigured channel (the default wiring). Board 2 has
    only idle/active (a 0/1 input against the calibrated reference). Raises
    LineStateError when the state does not apply (e.g. `a_active` on a single
    sensor, `cut` on board 2).
    """
    if state not in STATES:
        raise LineStateError(f"state: must be one of {', '.join(STATES)}")
    if board == 2:
        reference = wiring.reference if wiring is not None else None
        idle = _board2_idle(reference)
        active = BOARD2_ACTIVE if idle == BOARD2_IDLE else BOARD2_IDLE
        if state == "idle":
            return idle
        if state in ("active", "a_active", "b_active", "both_active"):
            return active
        raise LineStateError(f"state: {state} needs an EOL line (board 3)")
    if state == "cut":
        return CUT_LEVEL
    if state == "short":
        return SHORT_LEVEL
    wiring = wiring or DEFAULT_WIRING
    if wiring.channel_type is ChannelType.BASIC:
        idle = _basic_idle(wiring)
        if state == "idle":
            return idle
        if state == "active":
            # Any level off the reference trips a basic line; pick a far one.
            return CUT_LEVEL if abs(CUT_LEVEL - idle) > 0.1 else SHORT_LEVEL
        raise LineStateError(f"state: {state} needs a dual (A/B) wiring")
    lv = levels(wiring.channel_type, wiring.contact, wiring.eol_count)
    dual = wiring.channel_type in _DUAL
    if state == "idle":
        return lv.idle
    if state == "active" and not dual:
        return lv.active
    if not dual:
        raise LineStateError(f"state: {state} needs a dual (A/B) wiring")
    choice = {
        "a_active": lv.active_a,
        "b_active": lv.active_b,
        "both_active": lv.active,
        # On a dual line "active" means both sensors.
        "active": lv.active,
    }[state]
    assert choice is not None
    return choice


def classify_channel(
    board: int, wired: ChannelWiring | None, level: float
) -> tuple[str, dict[int, str]]:
    """A person's view of a line at `level`: (line state, {sensor id: sensor state}).

    The line state is one of STATES or `fault` (a level no wiring explains, e.g. a
    line left at the level of an old wiring). Sensor states are the classifier's
    (`idle`, `active`, `cut`, `short`, `fault`).
    """
    if board == 2:
        idle = _board2_idle(wired.wiring.reference if wired else None)
        value = 1.0 if level >= 0.5 else 0.0
        state = "idle" if value == idle else "active"
        return state, {s[0]: state for s in (wired.sensors if wired else ())}
    wiring = wired.wiring if wired else DEFAULT_WIRING
    per_sensor: dict[int, str] = {}
    for ident, _name, channel_type in wired.sensors if wired else ():
        own = wiring
        if wired is not None and wired.dual and channel_type != "normal":
            own = Wiring(
                ChannelType(channel_type),
                wiring.contact,
                wiring.eol_count,
                wiring.reference,
            )
        per_sensor[ident] = LineClassifier(own).classify(level).name.lower()
    return _line_state(board, wiring, level), per_sensor


def _line_state(board: int, wiring: Wiring, level: float) -> str:
    candidates: Sequence[str] = STATES
    best, best_gap = "fault", wiring.tolerance
    for state in candidates:
        try:
            target = level_for(board, wiring, state)
        except LineStateError:
            continue
        gap = abs(target - level)
        if gap < best_gap:
            best, best_gap = state, gap
    if wiring.channel_type is ChannelType.BASIC and best == "fault":
        return "active"
    return best

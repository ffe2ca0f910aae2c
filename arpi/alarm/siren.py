"""Siren rules: silent or loud (tri-state), delay, and cut-off from the alert start.

Pure timing: the alarm decides *whether* and *how* the siren runs and publishes
`syren_state_change`; the siren actor turns the same `SirenSchedule` into channel-0
on/off commands. Both compute from the same inputs, so they agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

__all__ = ["SirenPhase", "SirenSchedule", "resolve_silent", "sensors_silence"]


def sensors_silence(values: Iterable[bool | None]) -> bool | None:
    """Combined `silent_alert` of the alert's sensors (reference-web-api 6.3).

    Any False (a loud sensor) gives False; else any True gives True; else None.
    """
    seen_true = False
    for value in values:
        if value is False:
            return False
        if value is True:
            seen_true = True
    return True if seen_true else None


def resolve_silent(
    siren_silent: bool | None, sensor_values: Iterable[bool | None]
) -> bool:
    """Whether the siren stays silent for an alert with these sensors.

    Siren option `silent`: None = follow the sensors, default loud; True = follow the
    sensors, default silent; False = always loud.
    """
    if siren_silent is False:
        return False
    combined = sensors_silence(sensor_values)
    if combined is not None:
        return combined
    return siren_silent is True


class SirenPhase(Enum):
    """Where a siren is in its life."""

    SILENT = "silent"  # silent alert: never sounds
    WAITING = "waiting"  # loud, inside its delay
    SOUNDING = "sounding"
    DONE = "done"  # duration elapsed: off for the rest of the alert

    @property
    def ui_value(self) -> bool | None:
        """`syren_state_change`: True sounding, False silent or waiting, None done."""
        if self is SirenPhase.SOUNDING:
            return True
        if self is SirenPhase.DONE:
            return None
        return False


@dataclass(frozen=True, slots=True)
class SirenSchedule:
    """One siren run: on after `delay`, off `duration` seconds after `started_at`.

    Times are monotonic seconds. `duration` 0 means until the alert is stopped; a
    duration not above the delay never sounds. The cut-off counts from the start, so
    a restart that rebuilds the schedule with the original start resumes only the
    remaining time.
    """

    started_at: float
    silent: bool
    delay: float = 0.0
    duration: float = 0.0

    @classmethod
    def from_wall(
        cls,
        started_at_wall: datetime,
        *,
        silent: bool,
        delay: float,
        duration: float,
        now: float,
        wall: datetime,
    ) -> SirenSchedule:
        """Rebuild a schedule whose start is known as wall time (after a restart)."""
        elapsed = (wall - started_at_wall).total_seconds()
        return cls(now - elapsed, silent, delay, duration)

    def phase(self, now: float) -> SirenPhase:
        """The phase at monotonic time `now`."""
        if self.silent:
            return SirenPhase.SILENT
        elapsed = now - self.started_at
        if self.duration > 0 and elapsed >= self.duration:
            return SirenPhase.DONE
        if elapsed < self.delay:
            return SirenPhase.WAITING
        return SirenPhase.SOUNDING

    def output_on(self, now: float) -> bool:
        """Whether channel 0 should be on at `now`."""
        return self.phase(now) is SirenPhase.SOUNDING

    def next_change(self, now: float) -> float | None:
        """The next monotonic time the phase changes, or None if it never will."""
        if self.silent:
            return None
        end = self.started_at + self.duration if self.duration > 0 else None
        if end is not None and now >= end:
            return None
        sound = self.started_at + self.delay
        if now < sound:
            return sound if end is None or sound < end else end
        return end

    def remaining(self, now: float) -> float | None:
        """Seconds until the cut-off (0 when done); None for a siren without one."""
        if self.duration <= 0:
            return None
        return max(0.0, self.started_at + self.duration - now)

"""The alert sensitivity window: alert only when a line was active long enough.

Reference-monitor 2.7 counts samples; arpi measures time instead, so the verdict does
not depend on the scan rate and unchanged idle lines cost nothing: a sensor is over
threshold when its line was active for at least `threshold` % of the last `period`
seconds (and for some time at all, so a threshold of 0 means "any activity").
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from arpi.alarm.config import Sensitivity, Sensor

__all__ = ["ActivityWindow", "WindowSpec", "window_spec"]

_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """An effective sensitivity; `period` None means instant (active = alert)."""

    period: float | None
    threshold: int = 100

    @property
    def instant(self) -> bool:
        return self.period is None


def window_spec(sensor: Sensor, default: Sensitivity) -> WindowSpec:
    """The sensitivity that applies to `sensor`.

    The sensor's own values apply when its threshold is set (its period None then
    means instant); otherwise the global option applies (its period None = instant,
    a missing threshold = 100 %).
    """
    if sensor.monitor_threshold is not None:
        if sensor.monitor_period is None:
            return WindowSpec(None)
        return WindowSpec(float(sensor.monitor_period), sensor.monitor_threshold)
    if default.monitor_period is None:
        return WindowSpec(None)
    threshold = default.monitor_threshold
    return WindowSpec(
        float(default.monitor_period), 100 if threshold is None else threshold
    )


class ActivityWindow:
    """Active time of one line over a sliding window; not thread-safe (one owner).

    `observe` costs O(active spans inside the window), usually one.
    """

    __slots__ = ("_needed", "_open_since", "_period", "_spans")

    def __init__(self, period: float, threshold: int) -> None:
        if period <= 0:
            raise ValueError("period must be > 0")
        self._period = period
        self._needed = period * threshold / 100.0
        self._spans: deque[tuple[float, float]] = deque()
        self._open_since: float | None = None

    @property
    def busy(self) -> bool:
        """True while the window holds any active time (it must keep being fed)."""
        return self._open_since is not None or bool(self._spans)

    def seed_active(self, now: float) -> None:
        """Fill the window as if the line had been active for a whole period."""
        self._spans.clear()
        self._open_since = now - self._period

    def observe(self, now: float, active: bool) -> bool:
        """Record the line at `now` (non-decreasing) and return the verdict."""
        if active:
            if self._open_since is None:
                self._open_since = now
        elif self._open_since is not None:
            self._spans.append((self._open_since, now))
            self._open_since = None
        start = now - self._period
        spans = self._spans
        while spans and spans[0][1] <= start:
            spans.popleft()
        total = 0.0
        for begin, end in spans:
            total += end - max(begin, start)
        if self._open_since is not None:
            total += now - max(self._open_since, start)
        return total > 0.0 and total + _EPSILON >= self._needed

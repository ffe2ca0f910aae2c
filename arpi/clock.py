"""Time for the whole process: monotonic for delays, wall for records, and timers.

Every delay in arpi (entry and exit delays, siren cut-off, backoff, sampling) runs on
a `Clock`. Production uses `RealClock`; tests and the simulator use `ManualClock`
(time moves only when told) or `FastClock` (real time multiplied by a factor).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog

__all__ = [
    "Clock",
    "FastClock",
    "ManualClock",
    "RealClock",
    "TimerHandle",
    "clock_from_spec",
]

log = structlog.get_logger("arpi.clock")


class TimerHandle:
    """A scheduled callback; `cancel()` is safe from any thread, also after it ran."""

    __slots__ = ("deadline", "callback", "cancelled", "_seq")

    def __init__(self, deadline: float, callback: Callable[[], object], seq: int):
        self.deadline = deadline
        self.callback = callback
        self.cancelled = False
        self._seq = seq

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: TimerHandle) -> bool:
        return (self.deadline, self._seq) < (other.deadline, other._seq)


class Clock(Protocol):
    """What every component knows about time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps; only differences mean anything."""

    def wall(self) -> datetime:
        """The current wall time, timezone-aware (UTC)."""

    def call_at(self, deadline: float, callback: Callable[[], object]) -> TimerHandle:
        """Run `callback` once `monotonic()` reaches `deadline`.

        The callback runs on the clock's timer thread (or, for `ManualClock`, on the
        thread that advances time). It must be quick and must not block: the usual
        callback is `address.tell(message)`.
        """

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        """Run `callback` after `delay` seconds of this clock."""

    def close(self) -> None:
        """Stop the timer thread; pending callbacks are dropped."""


class _TimerQueue:
    """A heap of timers shared by the clock implementations."""

    def __init__(self) -> None:
        self._heap: list[TimerHandle] = []
        self._seq = itertools.count()
        self._lock = threading.Condition()

    def push(self, deadline: float, callback: Callable[[], object]) -> TimerHandle:
        handle = TimerHandle(deadline, callback, next(self._seq))
        with self._lock:
            heapq.heappush(self._heap, handle)
            self._lock.notify()
        return handle

    def pop_due(self, now: float) -> TimerHandle | None:
        with self._lock:
            while self._heap and self._heap[0].cancelled:
                heapq.heappop(self._heap)
            if self._heap and self._heap[0].deadline <= now:
                return heapq.heappop(self._heap)
            return None

    def next_deadline(self) -> float | None:
        with self._lock:
            while self._heap and self._heap[0].cancelled:
                heapq.heappop(self._heap)
            return self._heap[0].deadline if self._heap else None

    def pending(self) -> int:
        with self._lock:
            return sum(1 for h in self._heap if not h.cancelled)


def _run_callback(handle: TimerHandle) -> None:
    try:
        handle.callback()
    except Exception:
        # A timer callback is a tell in practice; one that raises must not stop
        # every other timer of the process.
        log.exception("timer_callback_failed")


class _ThreadedClock:
    """Timers served by one daemon thread; subclasses define the time scale."""

    def __init__(self) -> None:
        self._timers = _TimerQueue()
        self._closed = False
        self._thread = threading.Thread(
            target=self._run, name="arpi-clock", daemon=True
        )
        self._thread.start()

    def monotonic(self) -> float:
        raise NotImplementedError

    def _real_seconds(self, clock_seconds: float) -> float:
        return clock_seconds

    def call_at(self, deadline: float, callback: Callable[[], object]) -> TimerHandle:
        return self._timers.push(deadline, callback)

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        return self.call_at(self.monotonic() + max(0.0, delay), callback)

    def close(self) -> None:
        self._closed = True
        with self._timers._lock:
            self._timers._lock.notify_all()

    def _run(self) -> None:
        while not self._closed:
            handle = self._timers.pop_due(self.monotonic())
            if handle is not None:
                _run_callback(handle)
                continue
            with self._timers._lock:
                if self._closed:
                    return
                deadline = self._timers.next_deadline()
                if deadline is None:
                    self._timers._lock.wait(1.0)
                else:
                    wait = self._real_seconds(deadline - self.monotonic())
                    if wait > 0:
                        self._timers._lock.wait(min(wait, 1.0))


class RealClock(_ThreadedClock):
    """The machine's clocks."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)


class FastClock(_ThreadedClock):
    """Real time multiplied by `factor` (the simulator's `--clock fast=N`)."""

    def __init__(self, factor: float) -> None:
        if not factor > 0:
            raise ValueError("the fast clock factor must be positive")
        self.factor = factor
        self._mono0 = time.monotonic()
        self._wall0 = datetime.now(UTC)
        super().__init__()

    def monotonic(self) -> float:
        return self._mono0 + (time.monotonic() - self._mono0) * self.factor

    def _real_seconds(self, clock_seconds: float) -> float:
        return clock_seconds / self.factor

    def wall(self) -> datetime:
        return self._wall0 + timedelta(seconds=self.monotonic() - self._mono0)


class ManualClock:
    """A clock that moves only when `advance` is called (tests, `--clock manual`).

    Due callbacks run synchronously in the thread that calls `advance`, in deadline
    order, each seeing `monotonic()` equal to its own deadline.
    """

    def __init__(
        self,
        start: float = 1000.0,
        wall: datetime | None = None,
    ) -> None:
        self._now = start
        self._mono0 = start
        self._wall0 = wall or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        self._timers = _TimerQueue()
        self._lock = threading.RLock()

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> datetime:
        return self._wall0 + timedelta(seconds=self._now - self._mono0)

    def call_at(self, deadline: float, callback: Callable[[], object]) -> TimerHandle:
        return self._timers.push(deadline, callback)

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        return self.call_at(self._now + max(0.0, delay), callback)

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, running every timer that falls due."""
        if seconds < 0:
            raise ValueError("time cannot go backwards")
        with self._lock:
            target = self._now + seconds
            while True:
                handle = self._timers.pop_due(target)
                if handle is None:
                    break
                self._now = max(self._now, handle.deadline)
                _run_callback(handle)
            self._now = target

    def pending(self) -> int:
        """How many timers are still waiting."""
        return self._timers.pending()

    def close(self) -> None:
        pass


def clock_from_spec(spec: str) -> Clock:
    """Build a clock from `real`, `manual` or `fast=<factor>` (the CLI's `--clock`).

    Raises ValueError naming the problem for any other text.
    """
    if spec == "real":
        return RealClock()
    if spec == "manual":
        return ManualClock(start=time.monotonic(), wall=datetime.now(UTC))
    if spec.startswith("fast="):
        try:
            factor = float(spec.removeprefix("fast="))
        except ValueError:
            raise ValueError(f"--clock fast=<factor> needs a number, got {spec!r}")
        return FastClock(factor)
    raise ValueError(f"--clock must be real, manual or fast=<factor>, got {spec!r}")

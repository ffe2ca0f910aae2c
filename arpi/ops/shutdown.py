"""Graceful shutdown support: tell systemd, and end the process at once when a
second signal arrives or the stop deadline passes.

The orderly path (stop the tree in reverse order, close the database) belongs to
`arpi.app`. What is here is what surrounds it: `announce_stopping` before it
begins, and a `ShutdownGuard` that turns a second SIGTERM/SIGINT or an overrun
deadline into an immediate exit. Exiting at once is safe for the data: a command is
acknowledged only after its effect is committed, and PostgreSQL recovers from an
abrupt end of its client (ARCHITECTURE "State that must survive").
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from arpi.clock import Clock, TimerHandle
    from arpi.ops.sdnotify import SystemdNotifier

__all__ = [
    "EXIT_DEADLINE",
    "EXIT_SECOND_SIGNAL",
    "ShutdownGuard",
    "announce_stopping",
]

log = structlog.get_logger("arpi.ops")

EXIT_SECOND_SIGNAL = 130  # as a shell reports an interrupted program
EXIT_DEADLINE = 75  # EX_TEMPFAIL: systemd's Restart=on-failure starts us again


def announce_stopping(notifier: SystemdNotifier, reason: str = "stopping") -> bool:
    """Send `STOPPING=1` with `STATUS=<reason>`. Any thread; never blocks or raises.

    Returns whether the notification was sent (False outside systemd).
    """
    return notifier.stopping(reason)


def _default_exit(code: int) -> None:
    os._exit(code)


class ShutdownGuard:
    """Decides between a graceful stop and an immediate exit.

    `on_signal(sig)` returns True for the first signal (the caller begins the
    orderly stop and calls `begin()`); a second signal calls `before_exit()` and
    then `exit_now(EXIT_SECOND_SIGNAL)` at once. `begin()` arms the deadline: if
    `finished()` has not been called `deadline` seconds later, the guard calls
    `before_exit()` and `exit_now(EXIT_DEADLINE)` from the clock's timer thread.

    `exit_now` defaults to `os._exit` (no cleanup handlers, no waiting for
    non-daemon threads). `before_exit` should be quick and must not block for long
    (e.g. stop the embedded PostgreSQL server in fast mode); its errors are logged
    and ignored.
    """

    def __init__(
        self,
        deadline: float,
        *,
        clock: Clock | None = None,
        exit_now: Callable[[int], object] = _default_exit,
        before_exit: Callable[[], object] | None = None,
    ) -> None:
        """`clock` defaults to a private `RealClock` (created on `begin`).
        Raises ValueError for a deadline that is not positive."""
        if not deadline > 0:
            raise ValueError(f"deadline: must be positive, got {deadline!r}")
        self.deadline = deadline
        self._clock = clock
        self._own_clock = clock is None
        self._exit_now = exit_now
        self._before_exit = before_exit
        self._signals = 0
        self._timer: TimerHandle | None = None
        self._lock = threading.Lock()
        self._done = False
        self._exited = False

    @property
    def stopping(self) -> bool:
        """True once a signal arrived or `begin()` was called."""
        return self._signals > 0 or self._timer is not None

    def on_signal(self, sig: int) -> bool:
        """Count a stop signal. Returns True for the first one (stop gracefully);
        for any later one the process exits here and now (unless `exit_now` was
        replaced by one that returns, as in tests, then False)."""
        with self._lock:
            self._signals += 1
            first = self._signals == 1
        name = _signal_name(sig)
        if first:
            log.info("stop_requested", signal=name)
            return True
        log.warning("second_signal_exiting_now", signal=name)
        self._exit(EXIT_SECOND_SIGNAL)
        return False

    def begin(self) -> None:
        """Arm the deadline (idempotent). Any thread."""
        with self._lock:
            if self._timer is not None or self._done:
                return
            if self._clock is None:
                from arpi.clock import RealClock

                self._clock = RealClock()
            self._timer = self._clock.call_later(self.deadline, self._expired)

    def finished(self) -> None:
        """The orderly stop completed: disarm the deadline. Any thread."""
        with self._lock:
            self._done = True
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        if self._own_clock and self._clock is not None:
            self._clock.close()

    def _expired(self) -> None:
        with self._lock:
            if self._done:
                return
        log.error("shutdown_deadline_passed", deadline=self.deadline)
        self._exit(EXIT_DEADLINE)

    def _exit(self, code: int) -> None:
        with self._lock:
            if self._exited:
                return
            self._exited = True
        if self._before_exit is not None:
            try:
                self._before_exit()
            except Exception as exc:  # noqa: BLE001 - we are leaving regardless
                log.error("before_exit_failed", error=f"{type(exc).__name__}: {exc}")
        self._exit_now(code)


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)

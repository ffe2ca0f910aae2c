"""The systemd watchdog feeder: keep-alives only while every actor answers.

systemd restarts a crashed process by itself, but a hung one (an actor wedged in a
serial read, a deadlock) looks alive. The feeder therefore sends `WATCHDOG=1` only
while every actor in the directory answered its last liveness `Ping` within one
interval (supervision-notes A3.5). One hung actor stops the keep-alives, and
systemd kills and restarts the process after `WatchdogSec`.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pykka
import structlog

from arpi.actors import Ping

if TYPE_CHECKING:
    from arpi.actors import Directory
    from arpi.clock import Clock, TimerHandle
    from arpi.ops.sdnotify import SystemdNotifier

__all__ = ["EVENT_LOOP", "WatchdogFeeder"]

log = structlog.get_logger("arpi.ops")

EVENT_LOOP = "event_loop"  # the name under which a stalled asyncio loop is reported


@dataclass
class _Outstanding:
    ref: pykka.ActorRef[Any]
    reply: pykka.Future[Any]


class WatchdogFeeder:
    """Pings every actor once per interval and feeds the watchdog if all answered.

    Each tick (on the clock's timer thread, or the thread that advances a manual
    clock): a ping still unanswered from the previous tick means that actor is hung,
    and the keep-alive is withheld (`watchdog_withheld`, naming the actors); answered
    pings are collected and every actor gets a fresh non-blocking `Ping`. An actor
    that stopped or was replaced by a new incarnation is not hung; its new
    incarnation is pinged. A hung actor gets no second ping while the first waits.

    With `loop` given, the asyncio loop is checked the same way: a no-op posted with
    `call_soon_threadsafe` must have run by the next tick.

    A tick never blocks: asks are `block=False` and the notification socket is
    non-blocking.
    """

    def __init__(
        self,
        notifier: SystemdNotifier,
        directory: Directory,
        *,
        interval: float | None = None,
        clock: Clock | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        """`interval` defaults to the notifier's keep-alive interval (half of
        `WATCHDOG_USEC`). `clock` defaults to a private `RealClock` (the watchdog
        runs on real time even when the alarm runs on a simulated clock).

        Raises ValueError if there is no interval (no watchdog configured).
        """
        interval = interval if interval is not None else notifier.keepalive_interval
        if interval is None or not interval > 0:
            raise ValueError("interval: no watchdog interval (WATCHDOG_USEC unset)")
        self.notifier = notifier
        self.directory = directory
        self.interval = interval
        self._own_clock = clock is None
        if clock is None:
            from arpi.clock import RealClock

            clock = RealClock()
        self._clock = clock
        self._loop = loop
        self._loop_probe: threading.Event | None = None
        self._outstanding: dict[str, _Outstanding] = {}
        self._withheld: tuple[str, ...] = ()
        self._timer: TimerHandle | None = None
        self._lock = threading.Lock()
        self._running = False
        self.sent = 0

    # --- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Feed once now and then every interval. Call after `READY=1` (systemd
        arms the watchdog when start-up is complete). Thread-safe, idempotent."""
        with self._lock:
            if self._running:
                return
            self._running = True
        log.info("watchdog_started", interval=self.interval)
        self._run()

    def stop(self) -> None:
        """No further ticks; closes the private clock. Thread-safe, idempotent."""
        with self._lock:
            self._running = False
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        if self._own_clock:
            self._clock.close()

    def _run(self) -> None:
        with self._lock:
            if not self._running:
                return
        try:
            self.tick()
        except Exception:
            log.exception("watchdog_tick_failed")
        with self._lock:
            if self._running:
                self._timer = self._clock.call_later(self.interval, self._run)

    # --- one round -------------------------------------------------------------

    @property
    def withheld(self) -> tuple[str, ...]:
        """Names that missed their last ping (empty while feeding)."""
        return self._withheld

    def awaiting(self) -> tuple[str, ...]:
        """Names whose current ping has not been answered yet (for tests, health)."""
        return tuple(
            sorted(
                name
                for name, item in list(self._outstanding.items())
                if not _done(item.reply)
            )
        )

    def tick(self) -> bool:
        """One liveness round; returns True if `WATCHDOG=1` was sent."""
        hung: list[str] = []
        for name, item in list(self._outstanding.items()):
            current = self.directory.lookup(name)
            if current is not item.ref:
                # Stopped or restarted: not hung. The new incarnation is pinged below.
                del self._outstanding[name]
            elif _done(item.reply):
                del self._outstanding[name]
            elif item.ref.is_alive():
                hung.append(name)
            else:
                del self._outstanding[name]

        if self._loop is not None:
            if self._loop_probe is not None and not self._loop_probe.is_set():
                hung.append(EVENT_LOOP)
            else:
                self._probe_loop()

        for name in self.directory.names():
            if name in self._outstanding:
                continue
            ref = self.directory.lookup(name)
            if ref is None:
                continue
            try:
                reply = ref.ask(Ping(), block=False)
            except pykka.ActorDeadError:
                continue
            self._outstanding[name] = _Outstanding(ref, reply)

        if hung:
            self._withheld = tuple(sorted(hung))
            log.error(
                "watchdog_withheld",
                actors=list(self._withheld),
                interval=self.interval,
            )
            return False
        if self._withheld:
            log.warning("watchdog_resumed", actors=list(self._withheld))
            self._withheld = ()
        sent = self.notifier.watchdog()
        if sent:
            self.sent += 1
        return sent

    def _probe_loop(self) -> None:
        assert self._loop is not None
        probe = threading.Event()
        try:
            self._loop.call_soon_threadsafe(probe.set)
        except RuntimeError:
            # The loop is closed: the process is shutting down; do not count it.
            self._loop_probe = None
            return
        self._loop_probe = probe


def _done(reply: pykka.Future[Any]) -> bool:
    """Whether a reply (value or exception) has arrived, without blocking."""
    try:
        reply.get(timeout=0)
    except pykka.Timeout:
        return False
    except Exception:  # noqa: BLE001 - an exception is an answer too
        return True
    return True

"""Rate limiting and lockout for wrong codes (DECISIONS F8), safe from any thread.

Used by the REST login and device registration, and meant for the keypad and the
phone DTMF handler too. It never sleeps: a caller asks `check(keys)` before it tests
a code; while a key is delayed or locked out the answer says until when, and the
caller refuses the attempt at once (the REST front answers 429 with `Retry-After`).
So nothing waits, no thread or event loop is held, and a correct code sent during a
delay or lockout is refused like a wrong one until the time has passed.

Keys are short strings such as ``"source:192.0.2.7"`` or ``"user:42"``. After
`free_failures` failures of a key, each further failure makes the key wait
``base_delay * factor ** n`` seconds (capped at `max_delay`) before the next attempt;
at `lockout_after` failures the key is locked for `lockout` seconds. A success resets
the keys it names. Failures are forgotten `forget_after` seconds after the last one.

Lockouts can outlive the process: `on_lockout` is told of every lockout that starts
(the owner stores it, off the caller's path), and `restore_lockout` puts a stored
one back after a restart. Plain failures and delays are kept in memory only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from arpi.bus import UiEvent
from arpi.clock import Clock

__all__ = [
    "AttemptLimiter",
    "LimiterEvent",
    "LimiterPolicy",
    "Lockout",
    "Verdict",
    "security_warning",
]

log = structlog.get_logger("arpi.auth")


@dataclass(frozen=True, slots=True)
class LimiterPolicy:
    free_failures: int = 3
    base_delay: float = 2.0
    factor: float = 2.0
    max_delay: float = 60.0
    lockout_after: int = 10
    lockout: float = 900.0
    forget_after: float = 3600.0
    max_keys: int = 10_000  # bounds memory against many spoofed sources


@dataclass(frozen=True, slots=True)
class Verdict:
    """`allowed` False: wait `retry_after` seconds; `locked` tells a lockout apart."""

    allowed: bool
    retry_after: float = 0.0
    locked: bool = False


@dataclass(frozen=True, slots=True)
class LimiterEvent:
    """What a failure led to, for the caller's warning event (never holds the code)."""

    kind: str  # "failure" | "lockout" | "refused"
    key: str
    failures: int
    retry_after: float
    what: str


def security_warning(event: LimiterEvent) -> UiEvent:
    """The admin-only `security_warning` UiEvent for `event` (F8); pure, any thread."""
    return UiEvent(
        "security_warning",
        {
            "kind": event.kind,
            "what": event.what,
            "key": event.key,
            "failures": event.failures,
            "retry_after": round(event.retry_after, 1),
        },
        admin_only=True,
        coalesce=False,
    )


@dataclass(frozen=True, slots=True)
class Lockout:
    """A lockout that just started: `key` is refused for `seconds` from now."""

    key: str
    failures: int
    seconds: float


@dataclass(slots=True)
class _Entry:
    failures: int = 0
    last_failure: float = 0.0
    blocked_until: float = 0.0
    locked: bool = False


class AttemptLimiter:
    """Counts failed attempts per key; thread-safe, never blocks beyond a short lock.

    `on_event` (optional) is called after the lock is released with a
    `LimiterEvent` for every failure, lockout and refused attempt; it runs on the
    caller's thread and must not block (the front posts it to its event loop).
    `on_lockout` (optional) is called the same way with a `Lockout` each time a
    failure (re)starts a lockout, so the owner can make it durable.
    """

    def __init__(
        self,
        clock: Clock,
        policy: LimiterPolicy | None = None,
        on_event: Callable[[LimiterEvent], object] | None = None,
        name: str = "login",
        on_lockout: Callable[[Lockout], object] | None = None,
    ) -> None:
        self._clock = clock
        self.policy = policy or LimiterPolicy()
        self._on_event = on_event
        self._on_lockout = on_lockout
        self._name = name
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, *keys: str) -> Verdict:
        """May an attempt for these keys be tested now? Records nothing on success.

        A refused check is logged and reported as a "refused" event.
        """
        now = self._clock.monotonic()
        with self._lock:
            worst = Verdict(True)
            for key in keys:
                entry = self._live_entry(key, now)
                if entry is not None and entry.blocked_until > now:
                    wait = entry.blocked_until - now
                    if wait > worst.retry_after:
                        worst = Verdict(False, wait, entry.locked)
                        blocked_key = key
        if not worst.allowed:
            log.warning(
                "auth_attempt_refused",
                what=self._name,
                key=blocked_key,
                retry_after=round(worst.retry_after, 1),
                locked=worst.locked,
            )
            self._emit(
                LimiterEvent("refused", blocked_key, 0, worst.retry_after, self._name)
            )
        return worst

    def failure(self, *keys: str) -> Verdict:
        """Record a wrong code for every key; return the wait that now applies."""
        now = self._clock.monotonic()
        events: list[LimiterEvent] = []
        lockouts: list[Lockout] = []
        worst = Verdict(True)
        p = self.policy
        with self._lock:
            for key in keys:
                entry = self._live_entry(key, now)
                if entry is None:
                    entry = _Entry()
                    self._entries[key] = entry
                    self._trim()
                self._entries.move_to_end(key)
                entry.failures += 1
                entry.last_failure = now
                kind = "failure"
                if entry.failures >= p.lockout_after:
                    entry.blocked_until = now + p.lockout
                    entry.locked = True
                    kind = "lockout" if entry.failures == p.lockout_after else kind
                    lockouts.append(Lockout(key, entry.failures, p.lockout))
                elif entry.failures > p.free_failures:
                    step = entry.failures - p.free_failures - 1
                    delay = min(p.max_delay, p.base_delay * p.factor**step)
                    entry.blocked_until = now + delay
                wait = max(0.0, entry.blocked_until - now)
                if wait > worst.retry_after:
                    worst = Verdict(False, wait, entry.locked)
                events.append(LimiterEvent(kind, key, entry.failures, wait, self._name))
        for event in events:
            logger = log.error if event.kind == "lockout" else log.warning
            logger(
                "auth_lockout" if event.kind == "lockout" else "auth_failure",
                what=self._name,
                key=event.key,
                failures=event.failures,
                retry_after=round(event.retry_after, 1),
            )
            self._emit(event)
        for lockout in lockouts:
            self._call(self._on_lockout, lockout)
        return worst

    def restore_lockout(self, key: str, seconds: float, failures: int) -> None:
        """Lock `key` for `seconds` from now (a stored lockout, after a restart).

        A lockout already running for longer is kept. Nothing is reported: this is
        the same lockout, not a new one. Any thread.
        """
        if seconds <= 0:
            return
        now = self._clock.monotonic()
        with self._lock:
            entry = self._live_entry(key, now)
            if entry is None:
                entry = self._entries[key] = _Entry()
                self._trim()
            self._entries.move_to_end(key)
            entry.failures = max(entry.failures, failures)
            entry.last_failure = now
            entry.blocked_until = max(entry.blocked_until, now + seconds)
            entry.locked = True

    def success(self, *keys: str) -> None:
        """Forget the failures of these keys (call only after `check` allowed)."""
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)

    def failures(self, key: str) -> int:
        """How many recent failures `key` has (for tests and health)."""
        with self._lock:
            entry = self._live_entry(key, self._clock.monotonic())
            return entry.failures if entry else 0

    def _live_entry(self, key: str, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.blocked_until <= now and now - entry.last_failure > (
            self.policy.forget_after
        ):
            del self._entries[key]
            return None
        return entry

    def _trim(self) -> None:
        # Oldest first: a flood of new sources evicts stale keys, never the
        # recently locked ones, which are moved to the end on every failure.
        while len(self._entries) > self.policy.max_keys:
            self._entries.popitem(last=False)

    def _emit(self, event: LimiterEvent) -> None:
        self._call(self._on_event, event)

    @staticmethod
    def _call(callback: Callable[[Any], object] | None, value: object) -> None:
        if callback is None:
            return
        try:
            callback(value)
        except Exception:
            log.exception("limiter_event_callback_failed")

"""Test helpers for actors: a small Context, a configurable FaultyChild, probes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pykka

from arpi.actors._actor import THREAD_PREFIX, Actor
from arpi.actors._directory import Directory
from arpi.actors._messages import Lifecycle, current_hang_gate, release_hangs
from arpi.bus import Bus
from arpi.clock import Clock, ManualClock
from arpi.context import Context

__all__ = [
    "Echo",
    "FaultPlan",
    "FaultyChild",
    "LifecycleProbe",
    "Raise",
    "Recorder",
    "make_test_context",
    "stop_all_actors",
]


def make_test_context(clock: Clock | None = None) -> Context:
    """A Context with a fresh Bus, Directory and (by default) a ManualClock.

    `settings`, `db` and `drivers` are None.
    """
    return Context(
        settings=None,
        clock=clock if clock is not None else ManualClock(),
        directory=Directory(),
        bus=Bus(),
        db=None,
        drivers=None,
    )


def stop_all_actors(timeout: float = 10.0) -> list[str]:
    """Stop every actor of the process, supervisors before their children.

    For test teardown. Frees injected hangs first, then stops actors in the order
    they were registered (a supervisor's own stop takes its children down in reverse
    start order; pykka's `ActorRegistry.stop_all` goes the other way, which makes
    supervisors restart the children it stops). Waits for actor threads to end.
    Blocks up to `timeout` per actor; returns the names of actor threads still
    alive afterwards (empty when all is clean). Never call from an actor.
    """
    release_hangs()
    for ref in pykka.ActorRegistry.get_all():
        if ref.is_alive():
            try:
                ref.stop(block=True, timeout=timeout)
            except pykka.Timeout:
                pass  # reported below as a leftover thread
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread.name.startswith(THREAD_PREFIX) and thread is not current:
            # ActorRef.stop() returns before the thread has quite finished.
            thread.join(timeout)
    return [
        t.name
        for t in threading.enumerate()
        if t.name.startswith(THREAD_PREFIX) and t.is_alive()
    ]


class Recorder:
    """A thread-safe log of `(event, name, incarnation)` shared by test actors."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[tuple[str, str, int]] = []

    def add(self, event: str, name: str, incarnation: int) -> None:
        with self._lock:
            self._events.append((event, name, incarnation))

    @property
    def events(self) -> list[tuple[str, str, int]]:
        with self._lock:
            return list(self._events)

    def names(self, event: str) -> list[str]:
        """Names in the order they recorded `event`."""
        return [n for e, n, _ in self.events if e == event]


@dataclass
class FaultPlan:
    """What a `FaultyChild` does wrong, shared by all of its incarnations.

    Counters count down: `fail_setup=2` makes the next two setups raise
    `setup_error`. Hangs wait on the hang gate current when the plan was made, so
    `release_hangs()` frees them. All fields may be changed by the test while
    actors run (plain attribute writes).
    """

    fail_setup: int = 0
    hang_setup: int = 0
    fail_teardown: bool = False
    hang_teardown: bool = False
    fail_release: bool = False
    setup_error: Callable[[], BaseException] = lambda: RuntimeError("setup failed")
    gate: threading.Event = field(default_factory=current_hang_gate, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, counter: str) -> bool:
        """Decrement `counter` if positive; True if it was."""
        with self._lock:
            value = getattr(self, counter)
            if value > 0:
                setattr(self, counter, value - 1)
                return True
            return False


@dataclass(frozen=True, slots=True)
class Echo:
    """FaultyChild replies with `value`."""

    value: object = None


@dataclass(frozen=True, slots=True)
class Raise:
    """FaultyChild raises `error` (any BaseException, e.g. SystemExit(3))."""

    error: BaseException


class FaultyChild(Actor):
    """A test actor that fails on command.

    Options: `plan` (FaultPlan), `recorder` (Recorder: records setup, teardown and
    release). Handles `Echo`, `Raise` and the built-in `Ping`/`Crash`.
    """

    def __init__(
        self,
        ctx: Context,
        *,
        plan: FaultPlan | None = None,
        recorder: Recorder | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(ctx, **kwargs)
        self.plan = plan if plan is not None else FaultPlan()
        self.recorder = recorder

    def _record(self, event: str) -> None:
        if self.recorder is not None:
            self.recorder.add(event, self.name, self.incarnation)

    def setup(self) -> None:
        self._record("setup")
        if self.plan.take("hang_setup"):
            self.plan.gate.wait()
        if self.plan.take("fail_setup"):
            raise self.plan.setup_error()
        self._record("ready")

    def handle(self, message: object) -> object:
        if isinstance(message, Echo):
            return message.value
        if isinstance(message, Raise):
            raise message.error
        return super().handle(message)

    def teardown(self) -> None:
        self._record("teardown")
        if self.plan.hang_teardown:
            self.plan.gate.wait()
        if self.plan.fail_teardown:
            raise RuntimeError("teardown failed")

    def release(self) -> None:
        self._record("release")
        if self.plan.fail_release:
            raise RuntimeError("release failed")


class LifecycleProbe:
    """Collects `Lifecycle` events from a bus and waits for them without sleeping."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._cond = threading.Condition()
        self._events: list[Lifecycle] = []
        bus.subscribe(Lifecycle, self._on_event)

    def _on_event(self, event: Lifecycle) -> None:
        with self._cond:
            self._events.append(event)
            self._cond.notify_all()

    @property
    def events(self) -> list[Lifecycle]:
        with self._cond:
            return list(self._events)

    def of(self, name: str, kind: str | None = None) -> list[Lifecycle]:
        """Events of `name` (and `kind`, if given), oldest first."""
        return [
            e
            for e in self.events
            if e.name == name and (kind is None or e.kind == kind)
        ]

    def wait(
        self, name: str, kind: str, count: int = 1, timeout: float = 10.0
    ) -> Lifecycle:
        """Block until `count` events of `name` and `kind` arrived; return the last.

        Raises AssertionError after `timeout` seconds (a safety net, not a test).
        """

        def matching() -> list[Lifecycle]:
            return [e for e in self._events if e.name == name and e.kind == kind]

        with self._cond:
            if not self._cond.wait_for(lambda: len(matching()) >= count, timeout):
                seen = [(e.name, e.kind) for e in self._events]
                raise AssertionError(
                    f"timed out waiting for {count}x {name} {kind}; saw {seen}"
                )
            return matching()[count - 1]

    def close(self) -> None:
        self._bus.unsubscribe(Lifecycle, self._on_event)

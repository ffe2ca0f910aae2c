"""Messages, events and exceptions of the actor and supervision layer."""

from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "ActorCrashed",
    "ActorUnavailable",
    "AskTimeout",
    "ChildExited",
    "ChildInfo",
    "Crash",
    "InjectedCrash",
    "Lifecycle",
    "Ping",
    "Pong",
    "SupervisorEscalated",
    "WhichChildren",
    "current_hang_gate",
    "release_hangs",
]


# --- exceptions ---------------------------------------------------------------


class ActorUnavailable(Exception):
    """The addressed actor is not running (never started, crashed, restarting)."""


class AskTimeout(TimeoutError):
    """An `ask` got no reply in time. The message may still be handled later."""


class ActorCrashed(Exception):
    """A handler raised a BaseException (SystemExit, KeyboardInterrupt, ...).

    The base class turns it into this Exception so that it ends only the one actor
    (pykka would stop every actor of the process) and so that an asker does not get
    a SystemExit raised in its own thread. The original is in `__cause__`.
    """


class InjectedCrash(RuntimeError):
    """Raised by an actor on `Crash("crash")`."""


class SupervisorEscalated(Exception):
    """A supervisor exceeded its restart intensity and gave up."""


# --- fault injection: the hang gate -----------------------------------------------

_gate_lock = threading.Lock()
_gate = threading.Event()


def current_hang_gate() -> threading.Event:
    """The event that every hang injected from now on waits for.

    A hang waits on the gate that was current when its message (or `FaultPlan`) was
    *created*, so `release_hangs()` at the end of a test also frees hangs whose
    message the actor had not reached yet.
    """
    with _gate_lock:
        return _gate


def release_hangs() -> None:
    """Free every hang injected so far and open a fresh gate for later ones.

    Safe from any thread. Tests call it before stopping actors (the fixtures in
    tests/ do); it also runs at interpreter exit.
    """
    global _gate
    with _gate_lock:
        old, _gate = _gate, threading.Event()
    old.set()


atexit.register(release_hangs)


# --- built-in messages every actor answers -----------------------------------


@dataclass(frozen=True, slots=True)
class Ping:
    """Liveness check; the reply is a `Pong`. Also the supervisor's readiness ask."""


@dataclass(frozen=True, slots=True)
class Pong:
    """Reply to `Ping`: who answered and how many messages wait in its inbox."""

    name: str
    incarnation: int
    inbox: int

    @property
    def inbox_depth(self) -> int:
        """Same as `inbox`."""
        return self.inbox


CrashKind = Literal["crash", "hang"]


@dataclass(frozen=True)
class Crash:
    """Fault injection: `"crash"` raises `InjectedCrash` inside the handler,
    `"hang"` blocks the actor's thread until `release_hangs()` is called.

    Raises ValueError for any other `kind`.
    """

    kind: CrashKind = "crash"
    gate: threading.Event = field(
        default_factory=current_hang_gate, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        if self.kind not in ("crash", "hang"):
            raise ValueError(f"kind: must be 'crash' or 'hang', got {self.kind!r}")


# --- supervision ---------------------------------------------------------------

Phase = Literal["start", "run", "stop"]


@dataclass(frozen=True, slots=True)
class ChildExited:
    """Told to the parent when an incarnation has ended and released its resources.

    `urn` identifies the incarnation; `normal` is True for an orderly stop whose
    teardown succeeded. `error` is a one-line summary ("TypeName: text") or None.
    """

    name: str
    incarnation: int
    urn: str
    normal: bool
    phase: Phase
    error: str | None = None


LifecycleKind = Literal[
    "started",
    "failed",
    "stopped",
    "restart_scheduled",
    "restarted",
    "escalated",
    "abandoned",
    "hung",
]


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """Published on `ctx.bus` for tests and health.

    `started`, `failed`, `stopped` come from the actor itself (an abandoned
    incarnation that wakes up publishes `stopped` with reason "abandoned");
    `restart_scheduled`, `restarted`, `escalated`, `abandoned` (missed its shutdown or
    start deadline) and `hung` (did not answer a liveness `Ping` in time; the
    incarnation is abandoned and the restart policy applied) from its supervisor.
    `delay` is set for `restart_scheduled`.
    """

    name: str
    incarnation: int
    kind: LifecycleKind
    reason: str | None = None
    delay: float | None = None


@dataclass(frozen=True, slots=True)
class WhichChildren:
    """Ask a `Supervisor` for its children; the reply is a tuple of `ChildInfo`."""


ChildState = Literal["starting", "running", "hung", "restarting", "stopped"]


@dataclass(frozen=True, slots=True)
class ChildInfo:
    """One child of a supervisor, in start order.

    `state`: running, hung (running, but its last liveness `Ping` is unanswered for
    longer than the supervisor's `liveness_timeout`; it is replaced at the next
    liveness check), restarting (waiting for backoff or its turn), stopped (will
    not be restarted: a transient child that ended normally). `restarts` counts
    starts after the first one. `inbox_depth` is 0 when the child is not running.
    """

    id: str
    state: ChildState
    alive: bool
    incarnation: int
    restarts: int
    last_failure: str | None
    inbox_depth: int
    supervisor: bool


@dataclass(frozen=True, slots=True)
class _RestartDue:
    """Supervisor-internal: start the children scheduled under `token`."""

    token: int


@dataclass(frozen=True, slots=True)
class _CheckLiveness:
    """Supervisor-internal: collect the children's liveness pings, send new ones."""


def summarize(exc: BaseException | None) -> str | None:
    """`"TypeName: message"` for logs and notices (no traceback)."""
    if exc is None:
        return None
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text else name

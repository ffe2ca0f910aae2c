"""Supervision library on pykka: the Actor base, name directory, supervisors."""

from arpi.actors._actor import Actor
from arpi.actors._directory import Address, Directory, ExitRecord
from arpi.actors._health import ActorHealth, health_snapshot, health_snapshot_async
from arpi.actors._messages import (
    ActorCrashed,
    ActorUnavailable,
    AskTimeout,
    ChildExited,
    ChildInfo,
    Crash,
    InjectedCrash,
    Lifecycle,
    Ping,
    Pong,
    SupervisorEscalated,
    WhichChildren,
    current_hang_gate,
    release_hangs,
)
from arpi.actors._policy import (
    Backoff,
    ChildSpec,
    Restart,
    RestartWindow,
    Strategy,
    affected_children,
    backoff_delay,
    next_attempt,
    should_restart,
)
from arpi.actors._supervisor import (
    Supervisor,
    effective_shutdown,
    effective_start_timeout,
)
from arpi.actors.testing import make_test_context

__all__ = [
    "Actor",
    "ActorCrashed",
    "ActorHealth",
    "ActorUnavailable",
    "Address",
    "AskTimeout",
    "Backoff",
    "ChildExited",
    "ChildInfo",
    "ChildSpec",
    "Crash",
    "Directory",
    "ExitRecord",
    "InjectedCrash",
    "Lifecycle",
    "Ping",
    "Pong",
    "Restart",
    "RestartWindow",
    "Strategy",
    "Supervisor",
    "SupervisorEscalated",
    "WhichChildren",
    "affected_children",
    "backoff_delay",
    "current_hang_gate",
    "effective_shutdown",
    "effective_start_timeout",
    "health_snapshot",
    "health_snapshot_async",
    "make_test_context",
    "next_attempt",
    "release_hangs",
    "should_restart",
]

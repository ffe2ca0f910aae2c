"""Supervision policy as plain code: restart types, strategies, window, backoff."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arpi.actors._actor import Actor

__all__ = [
    "Backoff",
    "ChildSpec",
    "Restart",
    "RestartWindow",
    "Strategy",
    "affected_children",
    "backoff_delay",
    "next_attempt",
    "should_restart",
]


class Restart(Enum):
    """When a child is restarted after it ends (as in Erlang/OTP)."""

    PERMANENT = "permanent"  # always
    TRANSIENT = "transient"  # only after a failure, not after an orderly stop
    TEMPORARY = "temporary"  # never; its spec is dropped when it ends


class Strategy(Enum):
    """Which children are restarted together when one of them ends."""

    ONE_FOR_ONE = "one_for_one"  # only that child
    ONE_FOR_ALL = "one_for_all"  # all children
    REST_FOR_ONE = "rest_for_one"  # that child and the ones started after it


@dataclass(frozen=True)
class Backoff:
    """Exponential restart delay with jitter.

    Attempt n waits `min(initial * factor**n, maximum) * (1 + jitter * r)` seconds,
    r drawn from [0, 1); n goes back to 0 once the child stayed up `reset_after`
    seconds. Raises ValueError naming the field for impossible values.
    """

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.2
    reset_after: float = 60.0

    def __post_init__(self) -> None:
        if not self.initial > 0:
            raise ValueError(f"initial: must be positive, got {self.initial!r}")
        if not self.maximum >= self.initial:
            raise ValueError(
                f"maximum: must be at least initial ({self.initial}), "
                f"got {self.maximum!r}"
            )
        if not self.factor >= 1:
            raise ValueError(f"factor: must be at least 1, got {self.factor!r}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter: must be within 0..1, got {self.jitter!r}")
        if not self.reset_after >= 0:
            raise ValueError(
                f"reset_after: must not be negative, got {self.reset_after!r}"
            )


@dataclass(frozen=True)
class ChildSpec:
    """How a supervisor runs one child.

    `id` is also the child's name in the directory. `options` go to the actor's
    constructor as keyword arguments. `shutdown` is the stop deadline and
    `start_timeout` the readiness deadline (setup finished), in seconds; for a
    `Supervisor` child both are raised to cover its own children.
    `liveness_timeout` (seconds, None = the supervisor's `liveness_timeout`) is how
    long a liveness `Ping` may go unanswered before the child counts as hung; an
    actor whose handlers legitimately block longer (a modem call, an SMS) must set
    it above its longest bounded block. Raises ValueError (TypeError for a wrong
    type) naming the field.
    """

    id: str
    actor_class: type[Actor]
    options: Mapping[str, object] = field(default_factory=dict, hash=False)
    restart: Restart = Restart.PERMANENT
    shutdown: float = 5.0
    backoff: Backoff | None = None
    start_timeout: float = 5.0
    liveness_timeout: float | None = None

    def __post_init__(self) -> None:
        from arpi.actors._actor import Actor

        if not isinstance(self.id, str) or not self.id or "/" in self.id:
            raise ValueError(
                f"id: must be a non-empty string without '/', got {self.id!r}"
            )
        if not (
            isinstance(self.actor_class, type) and issubclass(self.actor_class, Actor)
        ):
            raise TypeError(
                f"actor_class: must be a subclass of arpi.actors.Actor, "
                f"got {self.actor_class!r}"
            )
        if not isinstance(self.options, Mapping):
            raise TypeError(f"options: must be a mapping, got {self.options!r}")
        reserved = {"ctx", "name", "parent", "incarnation"} & set(self.options)
        if reserved:
            raise ValueError(f"options: {sorted(reserved)} are set by the supervisor")
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        if not isinstance(self.restart, Restart):
            raise TypeError(f"restart: must be a Restart, got {self.restart!r}")
        if not self.shutdown > 0:
            raise ValueError(f"shutdown: must be positive, got {self.shutdown!r}")
        if not self.start_timeout > 0:
            raise ValueError(
                f"start_timeout: must be positive, got {self.start_timeout!r}"
            )
        if self.liveness_timeout is not None and not self.liveness_timeout > 0:
            raise ValueError(
                "liveness_timeout: must be positive or None, "
                f"got {self.liveness_timeout!r}"
            )
        if self.backoff is not None and not isinstance(self.backoff, Backoff):
            raise TypeError(f"backoff: must be a Backoff or None, got {self.backoff!r}")


def should_restart(restart: Restart, normal: bool) -> bool:
    """Whether a child that ended (normally or not) is restarted."""
    if restart is Restart.PERMANENT:
        return True
    if restart is Restart.TRANSIENT:
        return not normal
    return False


def affected_children(
    strategy: Strategy, order: Sequence[str], failed: str
) -> tuple[str, ...]:
    """The ids restarted together with `failed`, in start order.

    Raises ValueError if `failed` is not in `order`.
    """
    if failed not in order:
        raise ValueError(f"failed: {failed!r} is not one of the children")
    if strategy is Strategy.ONE_FOR_ONE:
        return (failed,)
    if strategy is Strategy.ONE_FOR_ALL:
        return tuple(order)
    return tuple(order[order.index(failed) :])


class RestartWindow:
    """Counts restarts in a sliding window: at most `intensity` within `period`.

    Pure bookkeeping, no clock of its own: every call passes `now` (monotonic).
    """

    def __init__(self, intensity: int, period: float) -> None:
        if not isinstance(intensity, int) or intensity < 0:
            raise ValueError(f"intensity: must be an int >= 0, got {intensity!r}")
        if not period > 0:
            raise ValueError(f"period: must be positive, got {period!r}")
        self.intensity = intensity
        self.period = period
        self._times: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self._times and now - self._times[0] >= self.period:
            self._times.popleft()

    def record(self, now: float) -> bool:
        """Count one restart at `now`; False if that exceeds the intensity."""
        self._expire(now)
        self._times.append(now)
        return len(self._times) <= self.intensity

    def count(self, now: float) -> int:
        """Restarts counted within the period ending at `now`."""
        self._expire(now)
        return len(self._times)


def next_attempt(attempt: int, uptime: float, backoff: Backoff) -> int:
    """The backoff attempt to use now: back to 0 if the child stayed up long enough."""
    return 0 if uptime >= backoff.reset_after else attempt


def backoff_delay(backoff: Backoff, attempt: int, rand: float) -> float:
    """Delay in seconds before restart `attempt` (0-based); `rand` in [0, 1)."""
    try:
        base = backoff.initial * backoff.factor**attempt
    except OverflowError:
        base = math.inf
    base = min(base, backoff.maximum)
    return base * (1.0 + backoff.jitter * rand)

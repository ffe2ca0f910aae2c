"""The pure supervision policy: restart types, strategies, window, backoff."""

from __future__ import annotations

import pytest

from arpi.actors import (
    Actor,
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


@pytest.mark.parametrize(
    ("restart", "normal", "expected"),
    [
        (Restart.PERMANENT, True, True),
        (Restart.PERMANENT, False, True),
        (Restart.TRANSIENT, True, False),
        (Restart.TRANSIENT, False, True),
        (Restart.TEMPORARY, True, False),
        (Restart.TEMPORARY, False, False),
    ],
)
def test_should_restart(restart: Restart, normal: bool, expected: bool) -> None:
    assert should_restart(restart, normal) is expected


ORDER = ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    ("strategy", "failed", "expected"),
    [
        (Strategy.ONE_FOR_ONE, "b", ("b",)),
        (Strategy.ONE_FOR_ALL, "b", ("a", "b", "c", "d")),
        (Strategy.REST_FOR_ONE, "a", ("a", "b", "c", "d")),
        (Strategy.REST_FOR_ONE, "b", ("b", "c", "d")),
        (Strategy.REST_FOR_ONE, "d", ("d",)),
    ],
)
def test_affected_children(strategy: Strategy, failed: str, expected: tuple) -> None:
    assert affected_children(strategy, ORDER, failed) == expected


def test_affected_children_rejects_unknown_child() -> None:
    with pytest.raises(ValueError, match="failed"):
        affected_children(Strategy.ONE_FOR_ONE, ORDER, "x")


@pytest.mark.parametrize(
    ("intensity", "period", "times", "expected"),
    [
        # at most `intensity` restarts inside the window; the next one exceeds it
        (3, 5.0, [0, 1, 2], [True, True, True]),
        (3, 5.0, [0, 1, 2, 3], [True, True, True, False]),
        (0, 5.0, [0], [False]),
        (1, 5.0, [0, 4.999], [True, False]),
        # a restart exactly `period` later no longer counts the first one
        (1, 5.0, [0, 5.0], [True, True]),
        (2, 10.0, [0, 1, 11, 12, 12.5], [True, True, True, True, False]),
    ],
)
def test_restart_window(
    intensity: int, period: float, times: list[float], expected: list[bool]
) -> None:
    window = RestartWindow(intensity, period)

    results = [window.record(t) for t in times]

    assert results == expected


def test_restart_window_count_forgets_old_restarts() -> None:
    window = RestartWindow(3, 5.0)
    window.record(0)
    window.record(1)

    assert window.count(4.0) == 2
    assert window.count(5.5) == 1
    assert window.count(6.0) == 0


@pytest.mark.parametrize(
    ("intensity", "period", "field"),
    [(-1, 5.0, "intensity"), (1.5, 5.0, "intensity"), (1, 0, "period")],
)
def test_restart_window_validation(intensity, period, field) -> None:
    with pytest.raises(ValueError, match=field):
        RestartWindow(intensity, period)


B = Backoff(initial=0.5, maximum=30.0, factor=2.0, jitter=0.2, reset_after=60.0)


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (0, 0.0, 0.5),
        (1, 0.0, 1.0),
        (2, 0.0, 2.0),
        (5, 0.0, 16.0),
        (6, 0.0, 30.0),  # capped
        (10_000, 0.0, 30.0),  # no overflow
        (0, 0.5, 0.55),
        (6, 0.999, 30.0 * 1.1998),  # jitter comes on top of the cap
    ],
)
def test_backoff_delay(attempt: int, rand: float, expected: float) -> None:
    assert backoff_delay(B, attempt, rand) == pytest.approx(expected)


def test_backoff_sequence_doubles_up_to_the_maximum() -> None:
    backoff = Backoff(initial=3, maximum=30, jitter=0)

    delays = [backoff_delay(backoff, n, 0.0) for n in range(6)]

    assert delays == [3, 6, 12, 24, 30, 30]


@pytest.mark.parametrize(
    ("attempt", "uptime", "expected"),
    [(4, 0.0, 4), (4, 59.9, 4), (4, 60.0, 0), (0, 100.0, 0)],
)
def test_next_attempt_resets_after_a_long_uptime(attempt, uptime, expected) -> None:
    assert next_attempt(attempt, uptime, B) == expected


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"initial": 0}, "initial"),
        ({"initial": 2, "maximum": 1}, "maximum"),
        ({"factor": 0.5}, "factor"),
        ({"jitter": 1.5}, "jitter"),
        ({"jitter": -0.1}, "jitter"),
        ({"reset_after": -1}, "reset_after"),
    ],
)
def test_backoff_validation_names_the_field(kwargs, field) -> None:
    with pytest.raises(ValueError, match=field):
        Backoff(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"id": ""}, "id"),
        ({"id": "a/b"}, "id"),
        ({"actor_class": object}, "actor_class"),
        ({"options": {"name": "x"}}, "options"),
        ({"restart": "permanent"}, "restart"),
        ({"shutdown": 0}, "shutdown"),
        ({"start_timeout": -1}, "start_timeout"),
        ({"backoff": 3}, "backoff"),
    ],
)
def test_child_spec_validation_names_the_field(kwargs, field) -> None:
    base = {"id": "a", "actor_class": Actor}
    base.update(kwargs)

    with pytest.raises((ValueError, TypeError), match=field):
        ChildSpec(**base)


def test_child_spec_options_are_read_only() -> None:
    options = {"x": 1}
    spec = ChildSpec("a", Actor, options)
    options["x"] = 2

    assert spec.options["x"] == 1
    with pytest.raises(TypeError):
        spec.options["x"] = 3  # type: ignore[index]

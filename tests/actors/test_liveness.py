"""Supervisor liveness: a hung child is detected, abandoned and replaced (A3.5)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pykka
import pytest
from structlog.testing import capture_logs

from arpi.actors import (
    Actor,
    ActorUnavailable,
    Backoff,
    ChildSpec,
    Crash,
    Ping,
    Strategy,
    Supervisor,
    WhichChildren,
    health_snapshot,
    release_hangs,
)
from arpi.actors._messages import _CheckLiveness
from arpi.actors._supervisor import LIVENESS_THREAD_PREFIX
from arpi.actors.testing import Echo, FaultyChild, Recorder, stop_all_actors
from arpi.ops.health import overall_status
from tests.helpers import wait_for

FAST = {"liveness_interval": 0.05, "liveness_timeout": 0.1}
MANUAL = {"liveness_interval": None, "liveness_timeout": 0.05}


def _tickers() -> list[str]:
    return [
        t.name
        for t in threading.enumerate()
        if t.name.startswith(LIVENESS_THREAD_PREFIX) and t.is_alive()
    ]


@pytest.fixture(autouse=True)
def _no_ticker_left() -> Iterator[None]:
    yield
    assert stop_all_actors() == []
    wait_for(lambda: not _tickers(), what="liveness threads ended")


class Worker(Actor):
    """Records what it does; `"act"` stands for driving an output."""

    def __init__(self, ctx, *, recorder: Recorder, **kwargs: Any) -> None:
        super().__init__(ctx, **kwargs)
        self.recorder = recorder

    def handle(self, message: object) -> object:
        if message == "act":
            self.recorder.add("act", self.name, self.incarnation)
            return "acted"
        if message == "act_later":
            self.tell_self_later(1.0, "act")
            return None
        return super().handle(message)

    def teardown(self) -> None:
        self.recorder.add("teardown", self.name, self.incarnation)

    def release(self) -> None:
        self.recorder.add(
            "release_abandoned" if self.abandoned else "release",
            self.name,
            self.incarnation,
        )


def worker(id: str, recorder: Recorder, **spec: Any) -> ChildSpec:
    return ChildSpec(id, Worker, {"recorder": recorder}, **spec)


def children_of(ctx, name: str = "root") -> dict[str, Any]:
    infos = ctx.directory.address(name).ask(WhichChildren(), timeout=5)
    return {info.id: info for info in infos}


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def test_hung_child_is_detected_and_replaced(start, ctx, probe, recorder) -> None:
    start(**FAST, children=[worker("a", recorder), worker("b", recorder)])
    address = ctx.directory.address("a")

    with capture_logs() as logs:
        address.tell(Crash("hang"))
        hung = probe.wait("a", "hung")
        probe.wait("a", "restarted")

    assert hung.incarnation == 0 and hung.reason.startswith("hung: no answer")
    assert address.ask("act", timeout=5) == "acted"
    assert address.ask(Ping(), timeout=5).incarnation == 1
    assert children_of(ctx)["b"].incarnation == 0
    info = children_of(ctx)["a"]
    assert (info.state, info.restarts) == ("running", 1)
    assert info.last_failure.startswith("hung: no answer")
    [entry] = [e for e in logs if e["event"] == "child_hung"]
    assert entry["log_level"] == "error"
    assert entry["child"] == "a" and entry["incarnation"] == 0
    assert entry["unanswered_for"] >= 0.1
    assert recorder.names("teardown") == []


def test_abandoned_incarnation_does_not_act_when_it_wakes(
    start, ctx, probe, recorder
) -> None:
    start(**FAST, children=[worker("a", recorder)])
    old = ctx.directory.lookup("a")
    old.ask("act_later", timeout=5)  # a timer addressed to incarnation 0
    old.tell(Crash("hang"))
    probe.wait("a", "restarted")
    old.tell("act")
    stale_ask = old.ask("act", block=False)
    ctx.clock.advance(1.0)  # the old timer fires into the old inbox

    release_hangs()
    wait_for(lambda: not old.is_alive(), what="abandoned incarnation ended")
    ended = probe.wait("a", "stopped")

    assert (ended.incarnation, ended.reason) == (0, "abandoned")
    with pytest.raises((ActorUnavailable, pykka.ActorDeadError)):
        stale_ask.get(timeout=5)
    # Neither the stale messages nor incarnation 0's timer were handled by anyone.
    assert recorder.events == [("release_abandoned", "a", 0)]
    assert ctx.directory.address("a").ask(Ping(), timeout=5).incarnation == 1
    assert children_of(ctx)["a"].restarts == 1


def test_health_shows_hung_before_the_replacement(start, ctx, probe, recorder) -> None:
    root = start(**MANUAL, children=[worker("a", recorder), worker("b", recorder)])
    ctx.directory.address("a").tell(Crash("hang"))
    root.tell(_CheckLiveness())  # its Ping waits behind the hang

    def row() -> Any:
        snapshot = health_snapshot(ctx.directory, "root", timeout=5)
        return {h.name: h for h in snapshot}

    rows = wait_for(lambda: (r := row())["a"].state == "hung" and r, what="hung")

    assert (rows["a"].alive, rows["a"].incarnation) == (True, 0)
    assert rows["b"].state == "running"
    actors = [
        {"name": h.name, "state": h.state, "alive": h.alive} for h in rows.values()
    ]
    assert overall_status(actors, {"status": "ok"}, {"status": "absent"}) == "degraded"
    assert probe.of("a", "restarted") == []

    root.tell(_CheckLiveness())
    probe.wait("a", "restarted")
    assert row()["a"].state == "running" and row()["a"].incarnation == 1


def test_an_answering_child_is_not_hung(start, ctx, probe, recorder) -> None:
    root = start(**MANUAL, children=[worker("a", recorder)])
    for _ in range(3):
        root.tell(_CheckLiveness())
        ctx.directory.address("a").ask(Ping(), timeout=5)  # the Ping was answered
        ctx.directory.address("root").ask(Ping(), timeout=5)

    assert children_of(ctx)["a"].state == "running"
    assert probe.of("a", "hung") == []


def test_hangs_count_against_the_intensity(start, ctx, probe, recorder) -> None:
    reasons: list[str] = []
    start(
        **FAST,
        intensity=1,
        on_escalate=reasons.append,
        children=[worker("a", recorder), worker("b", recorder)],
    )

    ctx.directory.address("a").tell(Crash("hang"))
    probe.wait("a", "restarted")
    ctx.directory.address("a").tell(Crash("hang"))
    probe.wait("root", "escalated")
    probe.wait("root", "failed")

    assert reasons == ["a exceeded 1 restarts in 5.0s"]
    assert len(probe.of("a", "hung")) == 2
    assert recorder.names("teardown") == ["b"]
    assert not ctx.directory.address("b").alive()


def test_hung_child_restarts_with_backoff(start, ctx, probe, recorder) -> None:
    start(**FAST, children=[worker("a", recorder, backoff=Backoff(1.0, jitter=0))])

    ctx.directory.address("a").tell(Crash("hang"))
    scheduled = probe.wait("a", "restart_scheduled")

    assert scheduled.delay == pytest.approx(1.0)
    assert children_of(ctx)["a"].state == "restarting"
    assert not ctx.directory.address("a").alive()
    ctx.clock.advance(1.0)
    probe.wait("a", "restarted")
    assert ctx.directory.address("a").ask(Ping(), timeout=5).incarnation == 1


def test_one_for_all_restarts_siblings_of_a_hung_child(
    start, ctx, probe, recorder
) -> None:
    start(
        **FAST,
        strategy=Strategy.ONE_FOR_ALL,
        children=[worker("a", recorder), worker("b", recorder)],
    )

    ctx.directory.address("a").tell(Crash("hang"))
    probe.wait("b", "restarted")

    assert recorder.names("teardown") == ["b"]
    assert {i: c.incarnation for i, c in children_of(ctx).items()} == {"a": 1, "b": 1}


def test_hung_nested_supervisor_is_replaced_and_its_children_stopped(
    start, ctx, probe, recorder
) -> None:
    quick = {"start_timeout": 0.1, "shutdown": 0.1}
    inner = ChildSpec(
        "inner",
        Supervisor,
        {"liveness_interval": None, "children": [worker("x", recorder, **quick)]},
        **quick,
    )
    start(**FAST, children=[inner])
    old_x = ctx.directory.lookup("x")

    ctx.directory.address("inner").tell(Crash("hang"))
    probe.wait("inner", "restarted")

    assert not old_x.is_alive()
    assert recorder.events[:2] == [("teardown", "x", 0), ("release", "x", 0)]
    new_x = ctx.directory.lookup("x")
    assert new_x is not old_x
    assert ctx.directory.address("x").ask("act", timeout=5) == "acted"
    assert ctx.directory.address("inner").ask(Ping(), timeout=5).incarnation == 1


def test_setup_released_after_the_start_deadline_publishes_nothing(
    start, ctx, probe
) -> None:
    from arpi.actors.testing import FaultPlan

    plan = FaultPlan(hang_setup=1)
    start(
        **MANUAL,
        children=[ChildSpec("slow", FaultyChild, {"plan": plan}, start_timeout=0.1)],
    )
    probe.wait("slow", "restarted")

    release_hangs()
    ended = probe.wait("slow", "stopped")

    assert (ended.incarnation, ended.reason) == (0, "abandoned")
    assert [e.incarnation for e in probe.of("slow", "started")] == [1]
    assert ctx.directory.address("slow").ask(Echo(5), timeout=5) == 5


def test_liveness_thread_is_named_and_ends_with_its_supervisor(start) -> None:
    root = start(**FAST, name="root")

    assert _tickers() == [LIVENESS_THREAD_PREFIX + "root"]
    root.stop(block=True, timeout=10)
    wait_for(lambda: not _tickers(), what="liveness thread ended")


def test_orderly_stop_of_a_hung_child_keeps_its_deadline(
    start, ctx, probe, recorder
) -> None:
    root = start(
        **MANUAL, children=[worker("a", recorder), worker("b", recorder, shutdown=0.1)]
    )
    ctx.directory.address("b").tell(Crash("hang"))

    root.stop(block=True, timeout=10)

    assert probe.of("b", "abandoned")[0].incarnation == 0
    assert recorder.names("teardown") == ["a"]


def test_invalid_liveness_options_name_the_option(start) -> None:
    with pytest.raises(ValueError, match="liveness_interval"):
        start(liveness_interval=0)
    with pytest.raises(ValueError, match="liveness_timeout"):
        start(liveness_timeout=-1.0)


def test_child_spec_liveness_timeout_overrides_the_supervisor(
    start, ctx, probe, recorder
) -> None:
    root = start(
        **MANUAL,
        children=[
            worker("slow", recorder, liveness_timeout=60.0),
            worker("a", recorder),
        ],
    )
    ctx.directory.address("slow").tell(Crash("hang"))
    ctx.directory.address("a").tell(Crash("hang"))
    root.tell(_CheckLiveness())
    wait_for(lambda: children_of(ctx)["a"].state == "hung", what="a hung")

    assert children_of(ctx)["slow"].state == "running"
    root.tell(_CheckLiveness())
    probe.wait("a", "restarted")
    assert probe.of("slow", "hung") == []
    with pytest.raises(ValueError, match="liveness_timeout"):
        worker("x", recorder, liveness_timeout=0)

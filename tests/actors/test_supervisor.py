"""Supervisor: strategies, restart types, intensity, backoff, deadlines, health."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from arpi.actors import (
    Backoff,
    ChildExited,
    ChildSpec,
    Crash,
    Ping,
    Restart,
    Strategy,
    Supervisor,
    WhichChildren,
    health_snapshot,
    release_hangs,
)
from arpi.actors.testing import FaultPlan, FaultyChild, Recorder, stop_all_actors
from tests.helpers import wait_for


def worker(id: str, recorder: Recorder | None = None, **spec: Any) -> ChildSpec:
    options = {"recorder": recorder}
    if "plan" in spec:
        options["plan"] = spec.pop("plan")
    return ChildSpec(id, FaultyChild, options, **spec)


def children_of(ctx, name: str = "root") -> dict[str, Any]:
    infos = ctx.directory.address(name).ask(WhichChildren(), timeout=5)
    return {info.id: info for info in infos}


def incarnations(ctx, name: str = "root") -> dict[str, int]:
    return {i: info.incarnation for i, info in children_of(ctx, name).items()}


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def abc(recorder: Recorder, **spec: Any) -> list[ChildSpec]:
    return [worker(n, recorder, **spec) for n in ("a", "b", "c")]


# --- order --------------------------------------------------------------------


def test_children_start_in_order_and_stop_in_reverse(start, ctx, recorder) -> None:
    root = start(children=abc(recorder))

    assert recorder.names("ready") == ["a", "b", "c"]
    root.stop(block=True, timeout=10)

    assert recorder.names("teardown") == ["c", "b", "a"]
    assert not any(ctx.directory.address(n).alive() for n in "abc")


def test_stop_all_actors_stops_supervisors_first_without_restarts(
    start, ctx, recorder, probe
) -> None:
    inner = ChildSpec("inner", Supervisor, {"children": [worker("x", recorder)]})
    start(children=[*abc(recorder), inner])

    assert stop_all_actors() == []

    assert recorder.names("teardown") == ["x", "c", "b", "a"]
    assert [e for e in probe.events if e.kind == "restart_scheduled"] == []


def test_supervisor_start_returns_with_every_child_ready(start, ctx, recorder) -> None:
    start(children=abc(recorder))

    infos = children_of(ctx)

    assert [(i.id, i.state, i.alive) for i in infos.values()] == [
        ("a", "running", True),
        ("b", "running", True),
        ("c", "running", True),
    ]


# --- strategies ------------------------------------------------------------------


def test_one_for_one_restarts_only_the_failed_child(
    start, ctx, recorder, probe
) -> None:
    start(strategy=Strategy.ONE_FOR_ONE, children=abc(recorder))

    with capture_logs() as logs:
        ctx.directory.address("b").tell(Crash())
        probe.wait("b", "restarted")

    assert incarnations(ctx) == {"a": 0, "b": 1, "c": 0}
    decisions = {e["event"]: e for e in logs if e["event"].startswith("child_")}
    assert decisions["child_failed"]["restarts_in_window"] == 1
    assert decisions["child_failed"]["log_level"] == "warning"
    assert decisions["child_restart_scheduled"]["restarting"] == ["b"]
    assert decisions["child_restarted"]["restarts"] == 1
    assert recorder.names("teardown") == []


def test_one_for_all_restarts_every_child(start, ctx, recorder, probe) -> None:
    start(strategy=Strategy.ONE_FOR_ALL, children=abc(recorder))

    ctx.directory.address("b").tell(Crash())
    probe.wait("c", "restarted")

    assert incarnations(ctx) == {"a": 1, "b": 1, "c": 1}
    # siblings stopped in reverse order, then everybody started in order
    assert recorder.names("teardown") == ["c", "a"]
    assert recorder.names("ready") == ["a", "b", "c", "a", "b", "c"]
    assert len(probe.of("b", "restart_scheduled")) == 1
    assert probe.of("a", "restart_scheduled") == []


def test_rest_for_one_restarts_the_failed_child_and_later_ones(
    start, ctx, recorder, probe
) -> None:
    start(strategy=Strategy.REST_FOR_ONE, children=abc(recorder))

    ctx.directory.address("b").tell(Crash())
    probe.wait("c", "restarted")

    assert incarnations(ctx) == {"a": 0, "b": 1, "c": 1}
    assert recorder.names("teardown") == ["c"]
    assert recorder.names("ready") == ["a", "b", "c", "b", "c"]


def test_collateral_stops_are_not_failures(start, ctx, recorder, probe) -> None:
    start(strategy=Strategy.ONE_FOR_ALL, intensity=1, children=abc(recorder))

    ctx.directory.address("a").tell(Crash())
    probe.wait("c", "restarted")
    ctx.directory.address("root").ask(Ping(), timeout=5)  # notices handled

    assert [e.kind for e in probe.of("root")] == ["started"]
    assert sum(i.restarts for i in children_of(ctx).values()) == 3
    assert [e.name for e in probe.events if e.kind == "restart_scheduled"] == ["a"]


# --- restart types -------------------------------------------------------------


def test_permanent_child_is_restarted_after_a_normal_stop(start, ctx, probe) -> None:
    start(children=[worker("p")])

    ctx.directory.lookup("p").stop(block=True, timeout=5)
    probe.wait("p", "restarted")

    assert children_of(ctx)["p"].incarnation == 1


def test_transient_child_is_restarted_only_after_a_failure(start, ctx, probe) -> None:
    start(children=[worker("t", restart=Restart.TRANSIENT)])

    ctx.directory.address("t").tell(Crash())
    probe.wait("t", "restarted")
    ctx.directory.lookup("t").stop(block=True, timeout=5)
    ctx.directory.address("root").ask(Ping(), timeout=5)

    info = children_of(ctx)["t"]
    assert (info.state, info.alive, info.incarnation) == ("stopped", False, 1)
    assert info.last_failure == "InjectedCrash: injected crash in t"


def test_temporary_child_is_never_restarted_and_is_forgotten(start, ctx) -> None:
    start(children=[worker("a"), worker("tmp", restart=Restart.TEMPORARY)])

    ctx.directory.address("tmp").tell(Crash())
    wait_for(lambda: "tmp" not in children_of(ctx))

    assert list(children_of(ctx)) == ["a"]
    assert not ctx.directory.address("tmp").alive()


def test_temporary_sibling_stopped_as_collateral_is_not_restarted(
    start, ctx, recorder, probe
) -> None:
    start(
        strategy=Strategy.ONE_FOR_ALL,
        children=[
            worker("a", recorder),
            worker("tmp", recorder, restart=Restart.TEMPORARY),
        ],
    )

    ctx.directory.address("a").tell(Crash())
    probe.wait("a", "restarted")

    assert list(children_of(ctx)) == ["a"]
    assert recorder.names("ready") == ["a", "tmp", "a"]


# --- failures during start ----------------------------------------------------------


def test_child_failing_setup_at_boot_is_restarted(start, ctx, probe) -> None:
    plan = FaultPlan(fail_setup=1)

    start(children=[worker("a"), worker("flaky", plan=plan), worker("c")])
    probe.wait("flaky", "restarted")

    info = children_of(ctx)["flaky"]
    assert (info.state, info.incarnation, info.restarts) == ("running", 1, 1)
    assert info.last_failure == "RuntimeError: setup failed"
    assert children_of(ctx)["c"].alive


def test_child_whose_setup_hangs_is_abandoned_and_replaced(start, ctx, probe) -> None:
    plan = FaultPlan(hang_setup=1)

    start(children=[ChildSpec("slow", FaultyChild, {"plan": plan}, start_timeout=0.1)])
    probe.wait("slow", "restarted")

    assert probe.of("slow", "abandoned")[0].incarnation == 0
    assert ctx.directory.address("slow").ask(Ping(), timeout=5).incarnation == 1


class BrokenInit(FaultyChild):
    def __init__(self, ctx, **kwargs: Any) -> None:
        raise ValueError("pin: not a number")


def test_constructor_error_counts_as_start_failure(start, ctx, probe) -> None:
    reasons: list[str] = []

    start(
        intensity=0, on_escalate=reasons.append, children=[ChildSpec("bad", BrokenInit)]
    )

    assert probe.of("bad", "failed")[0].reason == "ValueError: pin: not a number"
    assert reasons == ["bad exceeded 0 restarts in 5.0s"]


def test_invalid_supervisor_options_name_the_option(start) -> None:
    with pytest.raises(ValueError, match="children"):
        start(children=[worker("a"), worker("a")])
    with pytest.raises(TypeError, match="strategy"):
        start(strategy="one_for_one")
    with pytest.raises(ValueError, match="intensity"):
        start(intensity=-1)


# --- stale notices and addressing -----------------------------------------------


def test_stale_notices_are_ignored(start, ctx, probe) -> None:
    start(children=[worker("a")])
    old_urn = ctx.directory.lookup("a").actor_urn
    ctx.directory.address("a").tell(Crash())
    probe.wait("a", "restarted")
    root = ctx.directory.address("root")

    root.tell(ChildExited("a", 0, old_urn, False, "run", "late news"))
    root.tell(ChildExited("a", 7, "urn:uuid:unknown", False, "run", "bogus"))
    root.tell(ChildExited("nobody", 0, "urn:uuid:x", False, "run", "bogus"))
    root.ask(Ping(), timeout=5)

    info = children_of(ctx)["a"]
    assert (info.incarnation, info.alive) == (1, True)
    assert len(probe.of("a", "restart_scheduled")) == 1


def test_address_reaches_the_new_incarnation_after_a_restart(start, ctx, probe) -> None:
    start(children=[worker("a")])
    address = ctx.directory.address("a")
    assert address.ask(Ping(), timeout=5).incarnation == 0

    address.tell(Crash())
    probe.wait("a", "restarted")

    assert address.ask(Ping(), timeout=5).incarnation == 1


def test_messages_to_a_child_in_backoff_are_dead_letters(start, ctx, probe) -> None:
    start(children=[worker("a", backoff=Backoff(initial=1, jitter=0))])
    address = ctx.directory.address("a")
    address.tell(Crash())
    probe.wait("a", "restart_scheduled")

    assert address.tell(Ping()) is False
    assert ctx.directory.dead_letter_counts() == {"a": 1}

    ctx.clock.advance(1)
    probe.wait("a", "restarted")
    assert address.tell(Ping()) is True


# --- intensity and escalation ------------------------------------------------------


def test_intensity_exceeded_stops_children_in_reverse_and_escalates(
    start, ctx, recorder, probe
) -> None:
    reasons: list[str] = []
    root = start(
        intensity=2, period=10.0, on_escalate=reasons.append, children=abc(recorder)
    )

    for n in (1, 2):
        ctx.directory.address("b").tell(Crash())
        probe.wait("b", "restarted", count=n)
    with capture_logs() as logs:
        ctx.directory.address("b").tell(Crash())
        probe.wait("root", "escalated")
        probe.wait("root", "failed")

    assert reasons == ["b exceeded 2 restarts in 10.0s"]
    assert recorder.names("teardown") == ["c", "a"]
    assert not root.is_alive()
    assert not any(ctx.directory.address(n).alive() for n in "abc")
    escalated = [e for e in logs if e["event"] == "supervisor_escalated"]
    assert escalated[0]["log_level"] == "critical"
    assert escalated[0]["restarts_in_window"] == 3


def test_restarts_outside_the_period_do_not_escalate(start, ctx, probe) -> None:
    reasons: list[str] = []
    start(intensity=1, period=5.0, on_escalate=reasons.append, children=[worker("a")])

    ctx.directory.address("a").tell(Crash())
    probe.wait("a", "restarted", count=1)
    ctx.clock.advance(5.0)
    ctx.directory.address("a").tell(Crash())
    probe.wait("a", "restarted", count=2)

    assert reasons == []


def test_nested_escalation_reaches_the_root_on_escalate(start, ctx, probe) -> None:
    reasons: list[str] = []
    hardware = ChildSpec(
        "hardware",
        Supervisor,
        {"intensity": 1, "period": 10.0, "children": [worker("gsm")]},
    )
    start(
        intensity=0, on_escalate=reasons.append, children=[worker("storage"), hardware]
    )

    ctx.directory.address("gsm").tell(Crash())
    probe.wait("gsm", "restarted")
    ctx.directory.address("gsm").tell(Crash())

    probe.wait("root", "escalated")
    assert probe.of("hardware", "escalated")[0].reason == (
        "gsm exceeded 1 restarts in 10.0s"
    )
    assert reasons == ["hardware exceeded 0 restarts in 5.0s"]
    wait_for(lambda: not ctx.directory.address("storage").alive())


def test_root_crash_without_escalation_also_calls_on_escalate(
    start, ctx, probe
) -> None:
    reasons: list[str] = []
    start(on_escalate=reasons.append, children=[worker("a")])

    ctx.directory.address("root").tell(Crash())
    probe.wait("root", "failed")

    assert reasons == ["InjectedCrash: injected crash in root"]
    wait_for(lambda: not ctx.directory.address("a").alive())


# --- backoff ----------------------------------------------------------------------


def test_backoff_delays_follow_the_policy_and_reset_after_uptime(
    start, ctx, probe
) -> None:
    backoff = Backoff(
        initial=1.0, maximum=8.0, factor=2.0, jitter=0.2, reset_after=30.0
    )
    start(
        intensity=100,
        period=1.0,
        random_source=lambda: 0.5,
        children=[worker("gsm", backoff=backoff)],
    )
    gsm = ctx.directory.address("gsm")
    clock = ctx.clock

    expected = [1.1, 2.2, 4.4, 8.8, 8.8]
    for n, delay in enumerate(expected, start=1):
        gsm.tell(Crash())
        scheduled = probe.wait("gsm", "restart_scheduled", count=n)
        assert scheduled.delay == pytest.approx(delay)
        assert clock.pending() == 1

        clock.advance(delay - 0.01)
        assert probe.of("gsm", "restarted")[n - 1 :] == []
        assert not gsm.alive()
        clock.advance(0.01)
        probe.wait("gsm", "restarted", count=n)

    clock.advance(30.0)  # up long enough: the sequence starts over
    gsm.tell(Crash())
    assert probe.wait("gsm", "restart_scheduled", count=6).delay == pytest.approx(1.1)


def test_stopping_the_supervisor_cancels_pending_restarts(start, ctx, probe) -> None:
    root = start(children=[worker("a", backoff=Backoff(initial=5, jitter=0))])
    ctx.directory.address("a").tell(Crash())
    probe.wait("a", "restart_scheduled")

    root.stop(block=True, timeout=10)
    ctx.clock.advance(10)

    assert ctx.clock.pending() == 0
    assert probe.of("a", "restarted") == []


# --- shutdown deadline --------------------------------------------------------------


def test_child_missing_its_shutdown_deadline_is_abandoned(
    start, ctx, recorder, probe
) -> None:
    root = start(
        children=[
            worker("a", recorder),
            ChildSpec("stuck", FaultyChild, {"recorder": recorder}, shutdown=0.1),
        ]
    )
    ctx.directory.address("stuck").tell(Crash("hang"))

    with capture_logs() as logs:
        root.stop(block=True, timeout=10)

    timeouts = [e for e in logs if e["event"] == "child_shutdown_timeout"]
    assert [(e["child"], e["log_level"], e["shutdown"]) for e in timeouts] == [
        ("stuck", "error", 0.1)
    ]
    assert probe.of("stuck", "abandoned")[0].incarnation == 0
    assert recorder.names("teardown") == ["a"]  # the next child still stopped
    release_hangs()
    wait_for(lambda: recorder.names("teardown") == ["a", "stuck"])


def test_nested_supervisor_deadlines_cover_their_children() -> None:
    from arpi.actors import effective_shutdown, effective_start_timeout

    inner = ChildSpec(
        "inner",
        Supervisor,
        {"children": [worker("x", shutdown=3.0), worker("y", shutdown=4.0)]},
    )

    assert effective_shutdown(inner) == 8.0
    assert effective_start_timeout(inner) == 11.0
    assert effective_shutdown(worker("x", shutdown=3.0)) == 3.0


# --- health ---------------------------------------------------------------------------


def test_which_children_and_health_snapshot(start, ctx, probe) -> None:
    core = ChildSpec(
        "core",
        Supervisor,
        {
            "strategy": Strategy.REST_FOR_ONE,
            "children": [worker("alarm"), worker("siren")],
        },
    )
    start(children=[worker("storage"), core])
    ctx.directory.address("siren").tell(Crash())
    probe.wait("siren", "restarted")

    snapshot = health_snapshot(ctx.directory, "root", timeout=5)

    rows = [
        (h.path, h.state, h.alive, h.incarnation, h.restarts, h.supervisor)
        for h in snapshot
    ]
    assert rows == [
        ("root", "running", True, 0, 0, True),
        ("root/storage", "running", True, 0, 0, False),
        ("root/core", "running", True, 0, 0, True),
        ("root/core/alarm", "running", True, 0, 0, False),
        ("root/core/siren", "running", True, 1, 1, False),
    ]
    siren = snapshot[-1]
    assert siren.last_failure == "InjectedCrash: injected crash in siren"
    assert siren.inbox_depth == 0


def test_health_snapshot_of_a_stopped_tree(ctx) -> None:
    snapshot = health_snapshot(ctx.directory, "root", timeout=1)

    assert [(h.path, h.state, h.alive) for h in snapshot] == [("root", "down", False)]

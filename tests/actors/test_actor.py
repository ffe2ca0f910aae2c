"""The Actor base class: every pykka failure path ends only that incarnation."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import pykka
import pytest
from structlog.testing import capture_logs

from arpi.actors import (
    Actor,
    ActorCrashed,
    ActorUnavailable,
    AskTimeout,
    ChildExited,
    Crash,
    InjectedCrash,
    Ping,
    Pong,
    release_hangs,
)
from arpi.actors.testing import Echo, FaultPlan, FaultyChild, Raise, Recorder
from tests.helpers import wait_for


class Sink(Actor):
    """A stand-in parent: records every ChildExited it is told."""

    def __init__(self, ctx, *, recorder: Recorder, **kwargs) -> None:
        super().__init__(ctx, **kwargs)
        self.recorder = recorder
        self.notices: list[ChildExited] = []

    def handle(self, message: object) -> object:
        if isinstance(message, ChildExited):
            self.notices.append(message)
            self.recorder.add("notice", message.name, message.incarnation)
            return None
        if message == "notices":
            return list(self.notices)
        return super().handle(message)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def parent(start, recorder):
    return start(Sink, name="parent", recorder=recorder)


def notices(parent, count: int = 1) -> list[ChildExited]:
    return wait_for(
        lambda: (n := parent.ask("notices", timeout=5)) and len(n) >= count and n,
        what=f"{count} notice(s)",
    )


def test_ping_answers_with_name_incarnation_and_inbox(start, ctx) -> None:
    start(FaultyChild, name="w", incarnation=4)

    pong = ctx.directory.address("w").ask(Ping(), timeout=5)

    assert pong == Pong("w", 4, 0)
    assert pong.inbox_depth == 0


def test_thread_is_named_after_the_actor_and_is_a_daemon(start, ctx) -> None:
    start(FaultyChild, name="w")
    ctx.directory.address("w").ask(Ping(), timeout=5)

    threads = [t for t in threading.enumerate() if t.name == "arpi-actor-w"]

    assert len(threads) == 1
    assert threads[0].daemon


def test_crash_in_told_message_ends_incarnation_and_tells_parent(
    start, ctx, parent, recorder, probe
) -> None:
    start(FaultyChild, name="w", parent=parent, recorder=recorder)
    address = ctx.directory.address("w")

    assert address.tell(Crash())

    (notice,) = notices(parent)
    assert notice.name == "w"
    assert notice.normal is False
    assert notice.phase == "run"
    assert notice.error == "InjectedCrash: injected crash in w"
    assert not address.alive()
    # release ran before the parent was told, and no teardown on a failure
    assert recorder.names("teardown") == []
    assert recorder.events.index(("release", "w", 0)) < recorder.events.index(
        ("notice", "w", 0)
    )
    assert [e.kind for e in probe.of("w")] == ["started", "failed"]


def test_crash_in_asked_message_reaches_caller_and_ends_incarnation(
    start, ctx, parent, recorder
) -> None:
    start(FaultyChild, name="w", parent=parent, recorder=recorder)
    address = ctx.directory.address("w")

    with pytest.raises(InjectedCrash):
        address.ask(Crash(), timeout=5)

    (notice,) = notices(parent)
    assert (notice.normal, notice.phase) == (False, "run")
    assert not address.alive()
    with pytest.raises(ActorUnavailable):
        address.ask(Ping(), timeout=5)


def test_handler_exception_value_reaches_caller_unchanged(start, ctx, parent) -> None:
    start(FaultyChild, name="w", parent=parent)

    with pytest.raises(KeyError, match="nope"):
        ctx.directory.address("w").ask(Raise(KeyError("nope")), timeout=5)

    assert notices(parent)[0].error == "KeyError: 'nope'"


def test_setup_failure_ends_incarnation_and_tells_parent(
    start, ctx, parent, recorder
) -> None:
    plan = FaultPlan(fail_setup=1)

    start(FaultyChild, name="w", parent=parent, recorder=recorder, plan=plan)

    (notice,) = notices(parent)
    assert (notice.normal, notice.phase) == (False, "start")
    assert notice.error == "RuntimeError: setup failed"
    assert recorder.names("release") == ["w"]
    assert recorder.names("teardown") == []
    assert not ctx.directory.address("w").alive()
    assert pykka.ActorRegistry.get_by_urn(notice.urn) is None


def test_keyboard_interrupt_in_setup_is_contained(start, ctx, parent) -> None:
    plan = FaultPlan(fail_setup=1, setup_error=KeyboardInterrupt)
    bystander = start(FaultyChild, name="bystander")

    start(FaultyChild, name="w", parent=parent, plan=plan)

    (notice,) = notices(parent)
    assert (notice.phase, notice.error) == ("start", "KeyboardInterrupt")
    assert bystander.is_alive()
    assert pykka.ActorRegistry.get_by_urn(notice.urn) is None


def test_teardown_failure_is_reported_as_failure_in_stop(
    start, ctx, parent, recorder
) -> None:
    plan = FaultPlan(fail_teardown=True)
    ref = start(FaultyChild, name="w", parent=parent, recorder=recorder, plan=plan)

    ref.stop(block=True, timeout=5)

    (notice,) = notices(parent)
    assert (notice.normal, notice.phase) == (False, "stop")
    assert notice.error == "RuntimeError: teardown failed"
    assert recorder.names("teardown") == ["w"]
    assert recorder.names("release") == ["w"]


def test_orderly_stop_runs_teardown_then_release_and_is_normal(
    start, ctx, parent, recorder, probe
) -> None:
    ref = start(FaultyChild, name="w", parent=parent, recorder=recorder)

    ref.stop(block=True, timeout=5)

    (notice,) = notices(parent)
    assert (notice.normal, notice.phase, notice.error) == (True, "stop", None)
    assert [e for e, n, _ in recorder.events if n == "w"] == [
        "setup",
        "ready",
        "teardown",
        "release",
        "notice",
    ]
    assert probe.of("w")[-1].kind == "stopped"


@pytest.mark.parametrize("error", [SystemExit(3), KeyboardInterrupt()])
def test_base_exception_in_told_message_stops_only_that_actor(
    start, ctx, parent, error
) -> None:
    bystander = start(FaultyChild, name="bystander")
    start(FaultyChild, name="w", parent=parent)

    ctx.directory.address("w").tell(Raise(error))

    (notice,) = notices(parent)
    assert notice.error.startswith(type(error).__name__)
    assert bystander.is_alive()
    assert parent.is_alive()
    assert ctx.directory.address("bystander").ask(Echo(1), timeout=5) == 1


def test_base_exception_in_asked_message_reaches_caller_as_actor_crashed(
    start, ctx, parent
) -> None:
    bystander = start(FaultyChild, name="bystander")
    start(FaultyChild, name="w", parent=parent)

    with pytest.raises(ActorCrashed) as info:
        ctx.directory.address("w").ask(Raise(SystemExit(3)), timeout=5)

    assert isinstance(info.value.__cause__, SystemExit)
    assert notices(parent)[0].phase == "run"
    assert bystander.is_alive()


def test_base_exception_in_teardown_is_contained(start, ctx, parent) -> None:
    class BadTeardown(FaultyChild):
        def teardown(self) -> None:
            raise SystemExit(1)

    bystander = start(FaultyChild, name="bystander")
    ref = start(BadTeardown, name="w", parent=parent)

    ref.stop(block=True, timeout=5)

    (notice,) = notices(parent)
    assert (notice.phase, notice.error) == ("stop", "SystemExit: 1")
    assert bystander.is_alive()


def test_failing_release_is_logged_and_parent_still_told(start, ctx, parent) -> None:
    plan = FaultPlan(fail_release=True)
    start(FaultyChild, name="w", parent=parent, plan=plan)

    with capture_logs() as logs:
        ctx.directory.address("w").tell(Crash())
        notices(parent)

    assert any(e["event"] == "release_failed" for e in logs)


def test_crash_is_logged_once_not_again_by_pykka(start, ctx, caplog) -> None:
    start(FaultyChild, name="w")
    start(FaultyChild, name="v")
    caplog.set_level(logging.DEBUG, logger="pykka")

    ctx.directory.address("w").tell(Crash())
    with pytest.raises(InjectedCrash):
        ctx.directory.address("v").ask(Crash(), timeout=5)
    wait_for(lambda: not ctx.directory.address("w").alive())

    assert [r for r in caplog.records if r.name == "pykka" and r.exc_info] == []


def test_hang_blocks_until_released(start, ctx) -> None:
    start(FaultyChild, name="w")
    address = ctx.directory.address("w")
    address.tell(Crash("hang"))

    with pytest.raises(AskTimeout):
        address.ask(Ping(), timeout=0.05)
    release_hangs()

    assert address.ask(Ping(), timeout=5).name == "w"


def test_hang_message_created_before_release_does_not_block(start, ctx) -> None:
    message = Crash("hang")
    release_hangs()
    start(FaultyChild, name="w")

    assert ctx.directory.address("w").ask(message, timeout=5) is None


def test_crash_kind_is_validated() -> None:
    with pytest.raises(ValueError, match="kind"):
        Crash("explode")  # type: ignore[arg-type]


@dataclass(frozen=True)
class Tick:
    n: int


class Ticker(Actor):
    def setup(self) -> None:
        self.ticks: list[int] = []

    def handle(self, message: object) -> object:
        if isinstance(message, Tick):
            self.ticks.append(message.n)
            return None
        if message == "later":
            self.tell_self_later(2.0, Tick(1))
            self.tell_self_at(self.ctx.clock.monotonic() + 1.0, Tick(0))
            return None
        if message == "ticks":
            return list(self.ticks)
        return super().handle(message)


def test_tell_self_later_and_at_follow_the_clock(start, ctx) -> None:
    start(Ticker, name="t")
    address = ctx.directory.address("t")
    address.ask("later", timeout=5)

    ctx.clock.advance(0.5)
    assert address.ask("ticks", timeout=5) == []
    ctx.clock.advance(0.5)
    ctx.clock.advance(1.0)

    assert address.ask("ticks", timeout=5) == [0, 1]


def test_timer_for_an_ended_incarnation_is_dropped(start, ctx) -> None:
    ref = start(Ticker, name="t")
    ctx.directory.address("t").ask("later", timeout=5)
    ref.stop(block=True, timeout=5)

    ctx.clock.advance(5)

    assert ctx.directory.dead_letters == 0


def test_dead_letters_are_logged_and_counted(ctx) -> None:
    address = ctx.directory.address("nobody")

    with capture_logs() as logs:
        sent = address.tell(Echo(1))
        with pytest.raises(ActorUnavailable):
            address.ask(Ping(), timeout=1)

    assert sent is False
    assert ctx.directory.dead_letters == 2
    assert ctx.directory.dead_letter_counts() == {"nobody": 2}
    dead = [e for e in logs if e["event"] == "dead_letter"]
    assert [(e["log_level"], e["to"]) for e in dead] == [
        ("warning", "nobody"),
        ("warning", "nobody"),
    ]


def test_ask_needs_a_positive_timeout(ctx) -> None:
    with pytest.raises(ValueError, match="timeout"):
        ctx.directory.address("x").ask(Ping(), timeout=0)


def test_unhandled_message_is_logged_and_answered_with_none(start, ctx) -> None:
    start(Actor, name="plain")

    with capture_logs() as logs:
        reply = ctx.directory.address("plain").ask(object(), timeout=5)

    assert reply is None
    assert [e["event"] for e in logs] == ["unhandled_message"]

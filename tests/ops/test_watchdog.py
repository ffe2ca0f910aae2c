"""The watchdog feeder: keep-alives on a real socket only while every actor answers."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from arpi.actors import Actor, Crash, release_hangs
from arpi.clock import ManualClock
from arpi.ops.sdnotify import SystemdNotifier
from arpi.ops.watchdog import EVENT_LOOP, WatchdogFeeder
from tests.helpers import wait_for
from tests.ops.conftest import make_ctx


class Quiet(Actor):
    """An actor that answers only the built-in messages."""


def start(ctx, *names):
    return {name: Quiet.start(ctx, name=name) for name in names}


def test_ready_then_watchdog_while_all_actors_answer(notify_path):
    ctx = make_ctx()
    start(ctx, "alarm", "siren")
    notifier = SystemdNotifier(notify_path.address, watchdog_usec=2_000_000)
    clock = ManualClock()
    feeder = WatchdogFeeder(notifier, ctx.directory, clock=clock)
    assert feeder.interval == 1.0

    notifier.ready("up")
    feeder.start()  # feeds at once
    wait_for(lambda: feeder.awaiting() == (), what="first pings answered")
    clock.advance(1.0)

    assert notify_path.receive() == "READY=1\nSTATUS=up"
    assert notify_path.receive() == "WATCHDOG=1"
    assert notify_path.receive() == "WATCHDOG=1"
    feeder.stop()
    clock.advance(5.0)
    assert notify_path.pending() == []
    notifier.close()


def test_a_hung_actor_stops_the_keepalives_until_it_answers(notify_path):
    ctx = make_ctx()
    refs = start(ctx, "alarm", "gsm")
    notifier = SystemdNotifier(notify_path.address, watchdog_usec=2_000_000)
    clock = ManualClock()
    feeder = WatchdogFeeder(notifier, ctx.directory, clock=clock)
    feeder.start()
    wait_for(lambda: feeder.awaiting() == (), what="first pings answered")
    assert notify_path.receive() == "WATCHDOG=1"

    refs["gsm"].tell(Crash(kind="hang"))
    clock.advance(1.0)  # pings answered last round: fed; new pings sent
    assert notify_path.receive() == "WATCHDOG=1"
    wait_for(lambda: feeder.awaiting() == ("gsm",), what="alarm answered, gsm not")
    with capture_logs() as logs:
        clock.advance(1.0)
        wait_for(lambda: feeder.awaiting() == ("gsm",), what="alarm answered again")
        clock.advance(1.0)

    assert notify_path.pending() == []
    withheld = [e for e in logs if e["event"] == "watchdog_withheld"]
    assert len(withheld) == 2 and withheld[0]["actors"] == ["gsm"]
    assert feeder.withheld == ("gsm",)

    release_hangs()
    wait_for(lambda: feeder.awaiting() == (), what="gsm answered after release")
    with capture_logs() as logs:
        clock.advance(1.0)
    assert notify_path.receive() == "WATCHDOG=1"
    assert [e["event"] for e in logs] == ["watchdog_resumed"]
    feeder.stop()
    notifier.close()


def test_a_stopped_actor_is_not_counted_as_hung(notify_path):
    ctx = make_ctx()
    refs = start(ctx, "alarm", "keypad")
    notifier = SystemdNotifier(notify_path.address, watchdog_usec=2_000_000)
    clock = ManualClock()
    feeder = WatchdogFeeder(notifier, ctx.directory, clock=clock)
    feeder.start()
    notify_path.receive()
    wait_for(lambda: feeder.awaiting() == (), what="first pings answered")

    refs["keypad"].stop(block=True)
    clock.advance(1.0)
    wait_for(lambda: feeder.awaiting() == (), what="alarm answered")
    clock.advance(1.0)

    assert notify_path.receive() == "WATCHDOG=1"
    assert notify_path.receive() == "WATCHDOG=1"
    feeder.stop()
    notifier.close()


def test_a_stalled_event_loop_stops_the_keepalives(notify_path):
    ctx = make_ctx()
    notifier = SystemdNotifier(notify_path.address, watchdog_usec=2_000_000)
    clock = ManualClock()
    loop = asyncio.new_event_loop()  # never run: as if blocked
    try:
        feeder = WatchdogFeeder(notifier, ctx.directory, clock=clock, loop=loop)
        feeder.start()
        clock.advance(1.0)

        assert notify_path.pending() == ["WATCHDOG=1"]
        assert feeder.withheld == (EVENT_LOOP,)

        loop.run_until_complete(asyncio.sleep(0))  # the loop runs its callbacks
        clock.advance(1.0)
        assert notify_path.pending() == ["WATCHDOG=1"]
        feeder.stop()
    finally:
        loop.close()
        notifier.close()


def test_no_watchdog_configured_is_a_clear_error():
    with pytest.raises(ValueError, match="interval"):
        WatchdogFeeder(SystemdNotifier(None), make_ctx().directory, clock=ManualClock())

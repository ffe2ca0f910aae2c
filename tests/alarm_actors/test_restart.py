"""Restarts restore the same state: a clean stop, a crash under the supervisor, and
the whole process killed with SIGKILL. No restart alone alarms, sounds or notifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from arpi.actors import ChildSpec, Crash, Ping, Strategy, Supervisor, release_hangs
from arpi.actors.alarm import AlarmLogic
from arpi.actors.outputs import OutputsActor
from arpi.actors.siren import Siren
from arpi.clock import ManualClock
from arpi.db import Database
from tests.alarm_actors.rig import (
    DOOR,
    ENTRY_DELAY,
    EXIT_DELAY,
    SIREN_DURATION,
    TIMEOUT,
    WALL0,
    WINDOW,
    A,
    Core,
    count,
)
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
DOWN = 3.0  # seconds the core is down (clean restart)


class Supervised(Core):
    """storage, then a `core` supervisor (rest_for_one) with alarm, siren, outputs."""

    def start_tree(self) -> Supervised:
        self.start("storage")
        children = (
            ChildSpec("alarm", AlarmLogic),
            ChildSpec("siren", Siren),
            ChildSpec("outputs", OutputsActor),
        )
        self.refs["core"] = Supervisor.start(
            self.ctx, name="core", strategy=Strategy.REST_FOR_ONE, children=children
        )
        self.ctx.directory.address("core").ask(Ping(), timeout=TIMEOUT)
        return self

    def started(self, name: str) -> int:
        with self._lock:
            return sum(
                1 for e in self.lifecycle if e.name == name and e.kind == "started"
            )


@pytest.fixture
def tree(seeded: Database) -> Iterator[Supervised]:
    handle = Supervised(seeded).start_tree()
    try:
        yield handle
    finally:
        release_hangs()
        handle.close()


def _reach(core: Core, state: str) -> None:
    if state == "arm_delay":
        assert core.arm(use_delay=True).ok
    else:
        assert core.arm().ok
    if state == "alert_delay":
        core.sample((DOOR, A))
    elif state == "alert":
        core.sample((WINDOW, A))
        core.wait_chip(True)
    core.flush()
    assert core.status().monitoring_state == f"monitoring_{state}"


def _restart(core: Core, how: str) -> None:
    if how == "clean":
        core.stop("outputs", "siren", "alarm")
        core.clock.advance(DOWN)
        core.start("alarm", "siren", "outputs")
    else:
        assert isinstance(core, Supervised)
        before = core.started("outputs")
        core.alarm.tell(Crash())
        wait_for(lambda: core.started("outputs") > before, TIMEOUT, "core restarted")
    core.settle_outputs()


def _check_restored(core: Core, state: str, elapsed: float) -> None:
    """Same state as before; the deadlines kept; nothing new from the restart."""
    status = core.status()
    assert status.monitoring_state == f"monitoring_{state}"
    assert count(core.db, "arm") == 1
    assert count(core.db, "disarm") == 0
    if state == "armed":
        assert count(core.db, "alert") == 0 and not core.chip()
        core.sample((WINDOW, A))  # still guarding
        core.wait_chip(True)
        core.flush()
        assert count(core.db, "alert") == 1
    elif state == "arm_delay":
        core.advance(EXIT_DELAY - elapsed - 0.01)
        assert core.status().monitoring_state == "monitoring_arm_delay"
        core.advance(0.02)
        assert core.status().monitoring_state == "monitoring_armed"
    elif state == "alert_delay":
        assert count(core.db, "alert") == 0 and not core.chip()
        core.advance(ENTRY_DELAY - elapsed - 0.01)
        core.settle_outputs()
        assert count(core.db, "alert") == 0 and not core.chip()
        core.advance(0.02)
        core.wait_chip(True)
        assert count(core.db, "alert") == 1
    else:
        assert count(core.db, "alert") == 1
        assert count(core.db, "notification_outbox") == 1  # no second "started"
        assert core.chip()
        siren = core.siren_state()
        assert siren.remaining == pytest.approx(SIREN_DURATION - elapsed)
        core.advance(SIREN_DURATION - elapsed - 0.01)
        core.settle_outputs()
        assert core.chip()
        core.advance(0.02)
        core.wait_chip(False)
        assert core.status().monitoring_state == "monitoring_alert"


@pytest.mark.parametrize("state", ["armed", "arm_delay", "alert_delay", "alert"])
def test_clean_restart_restores_the_state(core: Core, state: str) -> None:
    _reach(core, state)
    _restart(core, "clean")
    _check_restored(core, state, DOWN)


@pytest.mark.parametrize("state", ["armed", "arm_delay", "alert_delay", "alert"])
def test_alarm_crash_restarted_by_its_supervisor_restores_the_state(
    tree: Supervised, state: str
) -> None:
    _reach(tree, state)
    _restart(tree, "crash")
    assert tree.started("alarm") == 2
    _check_restored(tree, state, 0.0)


def test_an_entry_deadline_that_passed_while_down_fires_once(core: Core) -> None:
    _reach(core, "alert_delay")
    core.stop("outputs", "siren", "alarm")
    core.clock.advance(ENTRY_DELAY + 5)
    core.start("alarm", "siren", "outputs")
    core.wait_chip(True)
    core.flush()
    assert count(core.db, "alert") == 1
    assert count(core.db, "notification_outbox", "kind = 'alert_started'") == 1
    core.stop("outputs", "siren", "alarm")
    core.start("alarm", "siren", "outputs")
    core.settle_outputs()
    assert count(core.db, "alert") == 1
    assert count(core.db, "notification_outbox") == 1


def test_a_stale_open_alert_is_closed_with_a_reason(core: Core) -> None:
    core.stop("outputs", "siren", "alarm")
    from tests.alarm_actors.rig import query

    query(core.db, "INSERT INTO alert (id, start_time) VALUES (7, now())")
    core.start("alarm", "siren", "outputs")
    core.flush()
    assert query(core.db, "SELECT end_reason FROM alert WHERE id = 7") == [
        ("not_in_durable_state",)
    ]
    assert not core.chip()


def _read_line(process: subprocess.Popen, timeout: float) -> str:
    box: list[str] = []
    reader = threading.Thread(
        target=lambda: box.append(process.stdout.readline()), daemon=True
    )
    reader.start()
    reader.join(timeout)
    return box[0] if box else ""


@pytest.mark.parametrize(
    ("scenario", "state", "elapsed"),
    [("alert", "alert", 10.0), ("entry", "alert_delay", 4.0)],
)
def test_sigkill_of_the_whole_process_restores_the_state(
    seeded: Database, scenario: str, state: str, elapsed: float
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.alarm_actors.child_core", seeded.url, scenario],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = _read_line(process, 60.0)
        assert line.split() == ["READY", f"monitoring_{state}"], line
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(TIMEOUT)
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    outbox = count(seeded, "notification_outbox")

    # Same wall time line: the process comes back `elapsed` seconds after the state
    # was reached; its monotonic clock starts anywhere.
    clock = ManualClock(start=50_000.0, wall=WALL0 + timedelta(seconds=elapsed))
    core = Core(seeded, clock=clock).start()
    try:
        core.settle_outputs()
        assert count(seeded, "notification_outbox") == outbox
        _check_restored(core, state, elapsed)
    finally:
        core.close()

"""The siren actor: delay, cut-off from the alert start, silent alerts, test runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from arpi.actors import release_hangs
from arpi.actors.siren import (
    SirenTestStarted,
    StopSiren,
    TestSiren,
    clamp_test_duration,
)
from arpi.db import Database
from tests.alarm_actors.rig import TIMEOUT, WINDOW, A, Core, count, seed


def _core(db: Database, siren: dict) -> Iterator[Core]:
    seed(db, siren=siren)
    handle = Core(db).start()
    try:
        yield handle
    finally:
        release_hangs()
        handle.close()


@pytest.fixture
def delayed(db: Database) -> Iterator[Core]:
    yield from _core(db, {"silent": False, "delay": 5, "duration": 20})


@pytest.fixture
def silent(db: Database) -> Iterator[Core]:
    yield from _core(db, {"silent": True, "delay": 0, "duration": 0})


def test_siren_waits_its_delay_and_stops_at_the_duration(delayed: Core) -> None:
    assert delayed.arm().ok
    delayed.sample((WINDOW, A))
    delayed.flush()
    delayed.settle_outputs()
    assert not delayed.chip()
    assert delayed.published("syren_state_change")[-1] is False  # waiting

    delayed.advance(4.99)
    delayed.settle_outputs()
    assert not delayed.chip()
    delayed.advance(0.02)
    delayed.wait_chip(True)
    delayed.advance(14.98)  # 19.99 s after the alert started
    delayed.settle_outputs()
    assert delayed.chip()
    delayed.advance(0.02)
    delayed.wait_chip(False)
    assert delayed.status().monitoring_state == "monitoring_alert"


def test_a_silent_alert_never_sounds(silent: Core) -> None:
    assert silent.arm().ok
    silent.sample((WINDOW, A))
    silent.flush()
    silent.advance(30)
    silent.settle_outputs()
    assert count(silent.db, "alert") == 1
    assert not silent.chip()


@pytest.mark.parametrize(
    ("asked", "runs"), [(0, 1.0), (5, 5.0), (100, 30.0), (2.5, 2.5)]
)
def test_test_siren_is_clamped_and_answered_at_once(
    core: Core, asked: float, runs: float
) -> None:
    reply = core.siren.ask(TestSiren(asked), TIMEOUT)

    assert reply == SirenTestStarted(True, runs)
    core.wait_chip(True)
    core.advance(runs - 0.001)
    core.settle_outputs()
    assert core.chip()
    core.advance(0.002)
    core.wait_chip(False)


def test_a_bad_test_duration_is_refused_naming_the_field(core: Core) -> None:
    reply = core.siren.ask(TestSiren("loud"), TIMEOUT)  # type: ignore[arg-type]
    assert not reply.ok and reply.message.startswith("duration:")
    with pytest.raises(ValueError, match="duration"):
        clamp_test_duration(float("nan"))


def test_a_test_never_cuts_an_alarm_short_and_a_disarm_ends_both(core: Core) -> None:
    assert core.arm().ok
    core.sample((WINDOW, A))
    core.wait_chip(True)
    core.siren.ask(TestSiren(2), TIMEOUT)
    core.advance(3)
    core.settle_outputs()
    assert core.chip()  # the alarm run goes on

    core.siren.ask(TestSiren(30), TIMEOUT)
    assert core.disarm().ok
    core.wait_chip(False)
    core.siren.tell(StopSiren())
    core.advance(1)
    core.settle_outputs()
    assert not core.chip()

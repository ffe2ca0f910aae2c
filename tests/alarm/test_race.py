"""The disarm versus entry-delay race rule written in arpi/alarm/machine.py."""

from __future__ import annotations

import pytest

from arpi.alarm.effects import (
    CloseAlert,
    OpenAlert,
    RecordDisarm,
    StartSiren,
    StopSiren,
)
from tests.alarm.rig import DOOR, WINDOW, A, I, Rig, notifications, of


def armed_with_door_countdown() -> tuple[Rig, float]:
    rig = Rig()
    rig.arm("arm_away")
    rig.set(DOOR, A)
    return rig, rig.now + 10


@pytest.mark.parametrize(
    "offset", [-0.001, 0.0, 0.001, 5.0], ids=["deadline-1ms", "deadline", "+1ms", "+5s"]
)
def test_disarm_handled_before_the_tick_means_no_alert(offset):
    rig, deadline = armed_with_door_countdown()
    rig.now = deadline + offset  # time passed but the timer's tick is still queued

    result = rig.disarm()
    rig.tick()  # the stale tick arrives after the disarm
    rig.advance(60)

    assert result.changed
    assert not of(rig.log, OpenAlert)
    assert not of(rig.log, StartSiren)
    assert not notifications(rig.log)
    assert rig.state == "monitoring_ready"
    assert rig.timers == {}


@pytest.mark.parametrize("offset", [0.0, 0.001], ids=["at deadline", "+1ms"])
def test_tick_handled_first_opens_the_alert_and_the_disarm_closes_it(offset):
    rig, deadline = armed_with_door_countdown()
    rig.now = deadline
    rig.tick()
    rig.now = deadline + offset

    rig.disarm()
    rig.advance(60)

    assert len(of(rig.log, OpenAlert)) == 1 and len(of(rig.log, CloseAlert)) == 1
    assert [n.kind for n in notifications(rig.log)] == [
        "alert_started",
        "alert_stopped",
    ]
    siren = [e for e in rig.log if isinstance(e, (StartSiren, StopSiren))]
    assert isinstance(siren[-1], StopSiren)
    assert rig.state == "monitoring_ready"


def test_two_disarms_at_once_record_one_disarm():
    rig, deadline = armed_with_door_countdown()
    rig.now = deadline - 0.001

    first = rig.disarm(user_id=1)
    second = rig.disarm(user_id=2)

    assert (first.changed, second.changed) == (True, False)
    assert second.effects == []
    assert len(of(rig.log, RecordDisarm)) == 1


def test_two_disarms_during_an_alert_send_one_alert_stopped():
    rig = Rig()
    rig.arm("arm_away")
    rig.set(WINDOW, A)

    rig.disarm()
    rig.disarm()

    assert len(notifications(rig.log, "alert_stopped")) == 1
    assert len(of(rig.log, RecordDisarm)) == 1


def test_lost_timer_is_caught_by_the_next_samples():
    rig, deadline = armed_with_door_countdown()
    rig.timers.clear()  # the actor lost its timer

    rig.now = deadline + 0.5
    rig.sample(s1=A, s2=I)
    assert not of(rig.log, OpenAlert)
    rig.now = deadline + 1.0
    rig.sample(s2=I)

    assert len(of(rig.log, OpenAlert)) == 1

"""Restore (F1): same state after a restart; the restart alone never alarms."""

from __future__ import annotations

import pytest

from arpi.alarm import Output, SirenConfig, TriggerType
from arpi.alarm.effects import (
    AddAlertSensor,
    Notify,
    OpenAlert,
    RecordDisarm,
    SetOutput,
    StartSiren,
)
from tests.alarm.rig import (
    DOOR,
    GARAGE,
    HOUSE,
    LID,
    SMOKE,
    WINDOW,
    A,
    C,
    I,
    Rig,
    make_config,
    notifications,
    of,
    published,
    siren_starts,
)

# (name, steps, lines held by the sensors at the restart, expected state)
SCENARIOS = [
    ("ready", [], {}, "monitoring_ready"),
    ("arm_delay", [("arm", {"use_delay": True})], {}, "monitoring_arm_delay"),
    ("armed", [("arm", {})], {}, "monitoring_armed"),
    ("per-area armed", [("arm", {"area_id": GARAGE})], {}, "monitoring_armed"),
    (
        "alert_delay",
        [("arm", {}), ("set", DOOR, A)],
        {DOOR: A},
        "monitoring_alert_delay",
    ),
    ("alert", [("arm", {}), ("set", WINDOW, A)], {WINDOW: A}, "monitoring_alert"),
    ("sabotage", [("set", LID, A)], {LID: A}, "monitoring_sabotage"),
    (
        "sabotage by a cut line",
        [("set", WINDOW, C), ("wait", 2)],
        {WINDOW: C},
        "monitoring_sabotage",
    ),
    (
        "disarmed after sabotage, lid still open",
        [("set", LID, A), ("disarm",)],
        {LID: A},
        "monitoring_ready",
    ),
    (
        "armed with a bypassed window",
        [("set", WINDOW, A), ("arm", {"force": True})],
        {WINDOW: A},
        "monitoring_armed",
    ),
    (
        "alert, siren done",
        [("arm", {}), ("set", WINDOW, A), ("wait", 100)],
        {WINDOW: A},
        "monitoring_alert",
    ),
]


def drive(rig: Rig, steps) -> None:
    for op, *args in steps:
        if op == "arm":
            assert rig.arm("arm_away", **args[0]).ok
        elif op == "set":
            rig.set(*args)
        elif op == "wait":
            rig.advance(args[0])
        elif op == "disarm":
            rig.disarm()


def no_alarm(effects) -> None:
    assert not of(effects, OpenAlert)
    assert not of(effects, AddAlertSensor)
    assert not of(effects, Notify)
    assert not siren_starts(effects, resumed=False)
    assert not of(effects, RecordDisarm)


@pytest.mark.parametrize(
    ("steps", "lines", "expected"),
    [pytest.param(s, line, e, id=n) for n, s, line, e in SCENARIOS],
)
def test_restore_resumes_the_state_without_a_new_alarm(steps, lines, expected):
    rig = Rig(make_config(siren=SirenConfig(silent=None, duration=60)))
    drive(rig, steps)
    before = rig.machine.status()

    again = rig.restart(after=1.0)
    for sensor_id, line in lines.items():
        again.set(sensor_id, line)
    again.advance(1.0)

    assert again.state == expected
    status = again.machine.status()
    assert status.areas == before.areas
    assert status.bypassed == before.bypassed
    assert (status.alert or {}).get("id") == (before.alert or {}).get("id")
    no_alarm(again.log)
    assert published(again.log, "system_state_change")[0] == expected


def test_restore_never_disarms_and_resumes_the_exit_deadline():
    rig = Rig()
    rig.arm("arm_away", use_delay=True)
    rig.advance(5)

    again = rig.restart(after=10)  # 15 s of the 20 s exit delay are gone
    assert again.state == "monitoring_arm_delay"
    assert again.machine.status().exit_deadline == pytest.approx(again.now + 5)
    again.advance(5)

    assert again.state == "monitoring_armed"


def test_siren_resumes_only_its_remaining_time():
    rig = Rig(make_config(siren=SirenConfig(silent=None, delay=0, duration=60)))
    rig.arm("arm_away")
    rig.set(WINDOW, A)
    started = of(rig.log, StartSiren)[0].alert_started_at_wall
    rig.advance(20)

    again = rig.restart(after=10)  # 30 s sounded, 30 s left

    resumed = siren_starts(again.log, resumed=True)
    assert len(resumed) == 1 and resumed[0].alert_started_at_wall == started
    assert published(again.log, "syren_state_change") == [True]
    again.advance(29.9)
    assert published(again.log, "syren_state_change") == [True]
    again.advance(0.1)
    assert published(again.log, "syren_state_change") == [True, None]


def test_siren_that_ran_out_while_down_stays_off():
    rig = Rig(make_config(siren=SirenConfig(silent=None, duration=60)))
    rig.arm("arm_away")
    rig.set(WINDOW, A)

    again = rig.restart(after=120)

    assert not of(again.log, StartSiren)
    assert published(again.log, "syren_state_change") == [None]
    assert again.state == "monitoring_alert"


def test_entry_deadline_that_expired_while_down_fires_once():
    rig = Rig()
    rig.arm("arm_away")
    rig.set(DOOR, A)

    again = rig.restart(after=30)
    assert len(of(again.log, OpenAlert)) == 1
    assert len(notifications(again.log, "alert_started")) == 1
    assert again.state == "monitoring_alert"

    third = again.restart(after=5)
    no_alarm(third.log)
    assert third.state == "monitoring_alert"


def test_exit_deadline_that_expired_while_down_fires_the_system_output_once():
    outputs = (Output(1, 3, TriggerType.SYSTEM),)
    rig = Rig(make_config(outputs=outputs))
    rig.arm("arm_away", use_delay=True)

    again = rig.restart(after=60)

    assert again.state == "monitoring_armed"
    assert of(again.log, SetOutput).count(SetOutput(3, True)) == 1
    third = again.restart(after=5)  # endless system output held, not re-triggered
    assert of(third.log, SetOutput)[-1] == SetOutput(3, True)


def test_disarm_after_restore_closes_the_restored_alert():
    rig = Rig()
    rig.arm("arm_away")
    rig.set(WINDOW, A)
    again = rig.restart(after=5)

    again.disarm()

    assert notifications(again.log, "alert_stopped")[0].alert_id == 1
    assert again.state == "monitoring_ready"


def test_ids_keep_counting_after_restore():
    rig = Rig()
    rig.arm("arm_away")
    rig.set(WINDOW, A)
    rig.disarm()
    again = rig.restart()

    again.arm("arm_away", area_id=HOUSE)
    again.set(WINDOW, I)
    again.set(WINDOW, A)

    assert of(again.log, OpenAlert)[0].alert_id == 2
    assert of(again.log, OpenAlert)[0].arm_id == 2


def test_sensor_tripped_while_down_in_an_armed_area_alarms():
    """Not from the restart: the house was armed and a window opened meanwhile."""
    rig = Rig()
    rig.arm("arm_away")
    again = rig.restart(after=5)

    again.set(WINDOW, A)

    assert len(of(again.log, OpenAlert)) == 1


def test_restore_of_a_smoke_countdown_keeps_its_deadline():
    rig = Rig()
    rig.set(SMOKE, A)
    rig.advance(2)

    again = rig.restart(after=1)
    assert again.state == "monitoring_alert_delay"
    again.advance(1.9)
    assert not of(again.log, OpenAlert)
    again.advance(0.1)
    assert again.state == "monitoring_sabotage"


def test_first_sample_after_a_restart_rewrites_the_sensor_flags():
    """A flag stored before the restart (sensor.alert) is cleared when the line is
    idle again, without any alarm."""
    from arpi.alarm.effects import RecordSensorFlags

    rig = Rig()
    rig.arm()
    rig.set(WINDOW, A)
    rig.disarm()
    restarted = rig.restart()

    effects = restarted.set(WINDOW, I)

    assert RecordSensorFlags(WINDOW, False, False) in of(effects, RecordSensorFlags)
    assert not of(effects, OpenAlert)
    assert not siren_starts(effects)

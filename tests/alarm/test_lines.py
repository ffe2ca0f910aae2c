"""F9 line faults (grace, flaps, tamper in every state) and the sensitivity window."""

from __future__ import annotations

import pytest

from arpi.alarm import Sensitivity, Sensor
from arpi.alarm.effects import EndAlertSensor, OpenAlert, RecordSensorFlags
from arpi.alarm.sensitivity import ActivityWindow, WindowSpec, window_spec
from tests.alarm.rig import (
    DOOR,
    GARAGE,
    INSTANT,
    LID,
    SENSORS,
    WINDOW,
    A,
    C,
    F,
    I,
    Rig,
    S,
    make_config,
    notifications,
    of,
    published,
)

# (line sequence as (state, seconds held), alarm expected, flaps counted)
FAULTS = [
    ([(C, 1.9), (I, 1)], False, 1),
    ([(C, 2.0), (I, 1)], True, 0),
    ([(S, 5)], True, 0),
    ([(F, 5)], True, 0),
    ([(C, 1.0), (S, 1.5)], True, 0),  # still trouble: one continuous fault
    ([(C, 1), (I, 1), (S, 1), (I, 1), (F, 1), (I, 1)], False, 3),
    ([(C, 1), (A, 1), (C, 1.5), (I, 1)], False, 2),
]


@pytest.mark.parametrize(("sequence", "alarm", "flaps"), FAULTS)
def test_line_fault_grace_and_flaps(sequence, alarm, flaps):
    rig = Rig()
    for line, held in sequence:
        rig.set(WINDOW, line)
        rig.advance(held)

    assert bool(of(rig.log, OpenAlert)) is alarm
    assert dict(rig.machine.status().line_flaps).get(WINDOW, 0) == flaps
    if alarm:
        assert rig.state == "monitoring_sabotage"
        assert notifications(rig.log, "alert_started")[0].sensors[0].id == WINDOW


STATES = {
    "ready": [],
    "armed": ["arm"],
    "exit delay": ["arm_delay"],
    "entry delay": ["arm", "door"],
}


@pytest.mark.parametrize("situation", list(STATES))
def test_cut_line_is_a_tamper_in_every_state(situation):
    rig = Rig()
    for step in STATES[situation]:
        if step == "arm":
            rig.arm("arm_away")
        elif step == "arm_delay":
            rig.arm("arm_away", use_delay=True)
        elif step == "door":
            rig.set(DOOR, A)

    rig.set(LID if situation == "ready" else 5, C)  # garage door or lid
    rig.advance(GRACE_PLUS)

    assert len(of(rig.log, OpenAlert)) == 1
    assert rig.state in ("monitoring_sabotage", "monitoring_alert")


GRACE_PLUS = 2.0


def test_fault_publishes_error_flag_at_once_and_alarm_after_grace():
    rig = Rig()

    rig.set(WINDOW, S)
    assert of(rig.last, RecordSensorFlags) == [RecordSensorFlags(WINDOW, False, True)]
    assert published(rig.last, "sensors_error_change") == [True]
    assert not of(rig.log, OpenAlert)

    rig.advance(2)
    assert len(of(rig.log, OpenAlert)) == 1


def test_tamper_row_ends_when_line_recovers_and_no_new_alarm_after_disarm():
    rig = Rig()
    rig.set(WINDOW, C)
    rig.advance(2)

    rig.disarm()
    rig.advance(10)  # still cut after the disarm: already reported
    assert len(of(rig.log, OpenAlert)) == 1

    rig.set(WINDOW, I)
    rig.set(WINDOW, C)
    rig.advance(2)
    assert len(of(rig.log, OpenAlert)) == 2
    rig.set(WINDOW, I)
    assert of(rig.last, EndAlertSensor)[0].sensor_id == WINDOW


def test_sensor_of_a_disarmed_area_is_idle_not_alarmed():
    rig = Rig()
    rig.arm("arm_away", area_id=GARAGE)

    rig.set(WINDOW, A)

    assert not of(rig.log, OpenAlert)
    assert published(rig.last, "sensors_state_change") == [True]


def test_unknown_and_disabled_sensors_are_ignored():
    sensors = tuple(
        Sensor(s.id, s.name, s.zone_id, s.area_id, enabled=s.id != WINDOW)
        for s in SENSORS
    )
    rig = Rig(make_config(sensors=sensors))
    rig.arm("arm_away")

    assert rig.sample(s99=A, s2=A) == []


def test_unchanged_samples_cost_nothing():
    rig = Rig()
    rig.arm("arm_away")
    rig.sample(s1=I, s2=I, s3=I)

    for _ in range(5):
        assert rig.sample(s1=I, s2=I, s3=I) == []


# -- sensitivity ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sensor", "default", "spec"),
    [
        ((None, None), Sensitivity(), WindowSpec(None)),
        ((None, None), Sensitivity(10, 50), WindowSpec(10.0, 50)),
        ((None, None), Sensitivity(10, None), WindowSpec(10.0, 100)),
        ((None, 100), Sensitivity(10, 50), WindowSpec(None)),
        ((5, 30), Sensitivity(10, 50), WindowSpec(5.0, 30)),
        ((5, None), Sensitivity(), WindowSpec(None)),  # period alone: inherit
    ],
)
def test_window_spec(sensor, default, spec):
    s = Sensor(1, "s", 1, 1, monitor_period=sensor[0], monitor_threshold=sensor[1])
    assert window_spec(s, default) == spec


@pytest.mark.parametrize(
    ("threshold", "pattern", "over"),
    [
        (50, [(True, 4.9)], False),
        (50, [(True, 5.0)], True),
        (50, [(True, 1), (False, 1)] * 5, True),  # 50 % duty over 10 s
        (50, [(True, 1), (False, 2)] * 4, False),  # 33 %
        (100, [(True, 9.9)], False),
        (100, [(True, 10)], True),
        (0, [(False, 5)], False),  # 0 % means "any activity", not "always"
        (0, [(True, 0.1)], True),
    ],
)
def test_activity_window(threshold, pattern, over):
    window = ActivityWindow(10, threshold)
    now = 0.0
    for active, held in pattern:
        window.observe(now, active)
        now += held

    assert window.observe(now, pattern[-1][0]) is over


def test_windowed_sensor_alerts_only_after_enough_activity():
    sensors = tuple(
        Sensor(
            s.id, s.name, s.zone_id, s.area_id, monitor_period=10, monitor_threshold=50
        )
        if s.id == WINDOW
        else s
        for s in SENSORS
    )
    rig = Rig(make_config(sensors=sensors))
    rig.arm("arm_away")

    rig.set(WINDOW, A)
    for _ in range(98):
        rig.advance(0.05)
        rig.set(WINDOW, A)
    assert not of(rig.log, OpenAlert)
    for _ in range(3):
        rig.advance(0.05)
        rig.set(WINDOW, A)

    assert len(of(rig.log, OpenAlert)) == 1
    row = rig.machine.status().alert["sensors"][0]
    assert (row["monitorPeriod"], row["monitorThreshold"]) == (10, 50)


def test_global_sensitivity_applies_and_short_blip_does_not_alert():
    rig = Rig(make_config(sensitivity=Sensitivity(2, 100)))
    rig.arm("arm_away")

    rig.set(WINDOW, A)
    rig.advance(1)
    rig.set(WINDOW, I)
    for _ in range(60):
        rig.advance(0.05)
        rig.sample(s2=I)

    assert not of(rig.log, OpenAlert)
    assert INSTANT  # zone of the window: instant once over threshold

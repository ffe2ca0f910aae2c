"""Reference-monitor 1.4 transitions and 1.6 zone cells, as DECISIONS corrects them."""

from __future__ import annotations

import pytest

from arpi.alarm import Output, TriggerType
from arpi.alarm.effects import (
    CloseAlert,
    OpenAlert,
    RecordArmSensors,
    RecordDisarm,
    SetOutput,
)
from tests.alarm.rig import (
    DOOR,
    GARAGE,
    GARAGE_DOOR,
    HOUSE,
    LID,
    MOTION,
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
)


def run(rig: Rig, steps: list[tuple]) -> None:
    for step in steps:
        op, *args = step
        if op == "arm":
            mode, kw = args[0], (args[1] if len(args) > 1 else {})
            assert rig.arm(mode, **kw).ok, step
        elif op == "disarm":
            rig.disarm(**(args[0] if args else {}))
        elif op == "set":
            rig.set(args[0], args[1])
        elif op == "wait":
            rig.advance(args[0])
        elif op == "reload":
            rig.last = rig._take(
                rig.machine.reload_config(make_config(**args[0]), rig.now, rig.wall)
            )
        elif op == "stop":
            rig.last = rig._take(rig.machine.stop(rig.now, rig.wall))
        elif op == "fail":
            rig.last = rig._take(rig.machine.mark_failed(rig.now, rig.wall))
        else:  # pragma: no cover
            raise AssertionError(op)


AWAY_DELAY = ("arm", "arm_away", {"use_delay": True})

TRANSITIONS = [
    ("fresh start", [], "monitoring_ready"),
    ("rest arm, no delay", [("arm", "arm_away")], "monitoring_armed"),
    ("keypad arm with exit delay", [AWAY_DELAY], "monitoring_arm_delay"),
    ("exit delay ends", [AWAY_DELAY, ("wait", 20)], "monitoring_armed"),
    ("exit delay not yet over", [AWAY_DELAY, ("wait", 19.9)], "monitoring_arm_delay"),
    (
        "delay asked but every arm delay is 0",
        [("arm", "arm_away", {"area_id": GARAGE, "use_delay": True})],
        "monitoring_armed",
    ),
    ("per-area arm", [("arm", "arm_stay", {"area_id": HOUSE})], "monitoring_armed"),
    (
        "per-area arm with delay (F12)",
        [("arm", "arm_stay", {"area_id": HOUSE, "use_delay": True})],
        "monitoring_arm_delay",
    ),
    (
        "entry delay starts",
        [("arm", "arm_away"), ("set", DOOR, A)],
        "monitoring_alert_delay",
    ),
    (
        "entry delay survives the door closing",
        [("arm", "arm_away"), ("set", DOOR, A), ("set", DOOR, I)],
        "monitoring_alert_delay",
    ),
    (
        "entry delay elapses",
        [("arm", "arm_away"), ("set", DOOR, A), ("wait", 10)],
        "monitoring_alert",
    ),
    ("instant zone", [("arm", "arm_away"), ("set", WINDOW, A)], "monitoring_alert"),
    ("sabotage while disarmed", [("set", LID, A)], "monitoring_sabotage"),
    (
        "sabotage while armed",
        [("arm", "arm_away"), ("set", LID, A)],
        "monitoring_sabotage",
    ),
    ("24 h countdown", [("set", SMOKE, A)], "monitoring_alert_delay"),
    ("24 h countdown elapses", [("set", SMOKE, A), ("wait", 5)], "monitoring_sabotage"),
    (
        "intrusion joins a sabotage alert (F10)",
        [("arm", "arm_away"), ("set", LID, A), ("set", WINDOW, A)],
        "monitoring_alert",
    ),
    (
        "sabotage during the exit delay, exit ends",
        [AWAY_DELAY, ("set", LID, A), ("wait", 25)],
        "monitoring_sabotage",
    ),
    ("disarm from arm_delay", [AWAY_DELAY, ("disarm",)], "monitoring_ready"),
    ("disarm from armed", [("arm", "arm_away"), ("disarm",)], "monitoring_ready"),
    (
        "disarm from alert_delay",
        [("arm", "arm_away"), ("set", DOOR, A), ("disarm",)],
        "monitoring_ready",
    ),
    (
        "disarm from alert",
        [("arm", "arm_away"), ("set", WINDOW, A), ("disarm",)],
        "monitoring_ready",
    ),
    ("disarm from sabotage", [("set", LID, A), ("disarm",)], "monitoring_ready"),
    (
        "disarm a 24 h countdown (F10)",
        [("set", SMOKE, A), ("disarm",)],
        "monitoring_ready",
    ),
    (
        "disarmed countdown never fires",
        [("set", SMOKE, A), ("disarm",), ("wait", 60)],
        "monitoring_ready",
    ),
    ("config reload while ready", [("reload", {})], "monitoring_ready"),
    (
        "config reload while armed",
        [("arm", "arm_away"), ("reload", {})],
        "monitoring_armed",
    ),
    (
        "invalid config",
        [("reload", {"invalid_reason": "too many"})],
        "monitoring_invalid_config",
    ),
    (
        "config fixed",
        [("reload", {"invalid_reason": "too many"}), ("reload", {})],
        "monitoring_ready",
    ),
    ("clean stop", [("arm", "arm_away"), ("stop",)], "monitoring_stopped"),
    ("crash", [("fail",)], "monitoring_error"),
]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [pytest.param(s, e, id=name) for name, s, e in TRANSITIONS],
)
def test_transition(steps, expected):
    rig = Rig()

    run(rig, steps)

    assert rig.state == expected
    assert published(rig.log, "system_state_change")[-1] == expected


def test_reload_publishes_updating_config_then_the_state():
    rig = Rig()
    rig.arm("arm_away")

    run(rig, [("reload", {})])

    assert published(rig.last, "system_state_change") == [
        "monitoring_updating_config",
        "monitoring_armed",
    ]
    assert published(rig.last, "sensors_state_change")[0] is None


def test_clean_stop_keeps_areas_armed():
    rig = Rig()
    rig.arm("arm_away")

    run(rig, [("stop",)])

    assert rig.machine.arm_state == "arm_away"
    assert not of(rig.last, RecordDisarm)
    assert rig.persisted().monitoring_state == "monitoring_armed"


def test_nothing_is_monitored_with_an_invalid_config():
    rig = Rig()
    run(rig, [("reload", {"invalid_reason": "two sensors on one input"})])

    rig.set(LID, A)
    rig.advance(10)

    assert not of(rig.log, OpenAlert)
    assert rig.arm("arm_away").code == "invalid_config"


# -- reference-monitor 1.6, corrected: which zone column applies -----------------

SITUATIONS = {
    "ready": [],
    "armed away": [("arm", "arm_away")],
    "armed stay": [("arm", "arm_stay")],
    "exit delay": [AWAY_DELAY],
    "entry delay (door)": [("arm", "arm_away"), ("set", DOOR, A)],
    "alert": [("arm", "arm_away"), ("set", WINDOW, A)],
    "sabotage, disarmed": [("set", LID, A)],
    "sabotage, armed": [("arm", "arm_away"), ("set", LID, A)],
}

# (situation, sensor, outcome): "alert" = in the open alert, ("entry", s) = countdown
# of s seconds, None = ignored.
CELLS = [
    ("ready", WINDOW, None),
    ("ready", DOOR, None),
    ("ready", MOTION, None),
    ("ready", LID, "alert"),
    ("ready", SMOKE, ("entry", 5)),
    ("armed away", WINDOW, "alert"),
    ("armed away", DOOR, ("entry", 10)),
    ("armed away", MOTION, "alert"),
    ("armed away", LID, "alert"),
    ("armed away", SMOKE, ("entry", 5)),
    ("armed stay", WINDOW, "alert"),
    ("armed stay", DOOR, ("entry", 10)),
    ("armed stay", MOTION, None),  # stay_alert_delay null: no alert in stay
    ("armed stay", LID, "alert"),
    ("exit delay", WINDOW, "alert"),  # arm delay 0: watched from the start
    ("exit delay", DOOR, None),  # inside its 20 s arm delay
    ("exit delay", MOTION, None),  # arm delay null: not watched while leaving
    ("exit delay", LID, "alert"),
    ("exit delay", SMOKE, ("entry", 5)),
    # During an entry delay further sensors use their ALERT delay (reference quirk
    # 12.13 fixed), each with its own countdown.
    ("entry delay (door)", WINDOW, "alert"),
    ("entry delay (door)", MOTION, "alert"),
    ("entry delay (door)", LID, "alert"),
    ("entry delay (door)", SMOKE, ("entry", 5)),
    # While an alert is open every trip joins it at once.
    ("alert", DOOR, "alert"),
    ("alert", MOTION, "alert"),
    ("alert", SMOKE, "alert"),
    ("alert", GARAGE_DOOR, "alert"),
    # F10: sabotage no longer blinds the alarm.
    ("sabotage, disarmed", WINDOW, None),
    ("sabotage, disarmed", DOOR, None),
    ("sabotage, disarmed", SMOKE, "alert"),
    ("sabotage, armed", WINDOW, "alert"),
    ("sabotage, armed", DOOR, "alert"),
    ("sabotage, armed", MOTION, "alert"),
]


@pytest.mark.parametrize(
    ("situation", "sensor", "outcome"),
    [pytest.param(*c, id=f"{c[0]}-sensor{c[1]}") for c in CELLS],
)
def test_zone_cell(situation, sensor, outcome):
    rig = Rig()
    run(rig, SITUATIONS[situation])

    rig.set(sensor, A)

    status = rig.machine.status()
    in_alert = status.alert is not None and any(
        s["sensorId"] == sensor for s in status.alert["sensors"]
    )
    entry = dict(status.entry_deadlines).get(sensor)
    if outcome == "alert":
        assert in_alert and entry is None
    elif outcome is None:
        assert not in_alert and entry is None
    else:
        assert not in_alert and entry == pytest.approx(rig.now + outcome[1])


def test_exit_grace_ends_then_open_door_starts_entry_delay():
    rig = Rig()
    rig.arm("arm_away", use_delay=True)
    rig.set(DOOR, A)  # leaving through the door, and forgetting to close it

    rig.advance(19.9)
    assert dict(rig.machine.status().entry_deadlines) == {}

    rig.advance(0.1)
    assert rig.state == "monitoring_alert_delay"
    assert dict(rig.machine.status().entry_deadlines)[DOOR] == pytest.approx(
        rig.now + 10
    )


def test_interior_sensor_active_when_exit_delay_ends_alerts():
    rig = Rig()
    rig.arm("arm_away", use_delay=True)
    rig.set(MOTION, A)

    rig.advance(20)

    assert rig.state == "monitoring_alert"
    assert notifications(rig.log, "alert_started")[0].sensors[0].id == MOTION


# -- alerts: one at a time, cycles ------------------------------------------------


def test_three_alarm_cycles_each_alarm_once():
    rig = Rig()
    for cycle in range(1, 4):
        assert rig.arm("arm_away").ok
        rig.set(WINDOW, A)
        rig.set(GARAGE_DOOR, A)
        rig.set(WINDOW, I)
        rig.set(WINDOW, A)
        rig.advance(5)
        assert rig.disarm().changed
        rig.set(WINDOW, I)
        rig.set(GARAGE_DOOR, I)
        rig.advance(5)

        assert [e.alert_id for e in of(rig.log, OpenAlert)] == list(range(1, cycle + 1))
        assert len(notifications(rig.log, "alert_started")) == cycle
        assert len(notifications(rig.log, "alert_stopped")) == cycle
        assert [e.alert_id for e in of(rig.log, CloseAlert)] == list(
            range(1, cycle + 1)
        )
    assert rig.state == "monitoring_ready"


def test_two_sensors_tripping_together_open_one_alert():
    rig = Rig()
    rig.arm("arm_away")

    rig.sample(s2=A, s5=A, s3=A)

    assert len(of(rig.log, OpenAlert)) == 1
    started = notifications(rig.log, "alert_started")
    assert len(started) == 1 and [s.id for s in started[0].sensors] == [WINDOW]
    assert [s["sensorId"] for s in rig.machine.status().alert["sensors"]] == [2, 5, 3]


def test_alert_stopped_lists_every_sensor_and_links_the_disarm():
    rig = Rig()
    rig.arm("arm_away", user_id=7)
    rig.set(DOOR, A)
    rig.set(WINDOW, A)  # opens the alert; the door countdown joins it

    rig.disarm(user_id=7, keypad_id=1)

    disarm = of(rig.last, RecordDisarm)[0]
    assert (disarm.arm_id, disarm.alert_id, disarm.user_id) == (1, 1, 7)
    assert of(rig.last, CloseAlert)[0].disarm_id == disarm.disarm_id
    stopped = notifications(rig.last, "alert_stopped")[0]
    assert sorted(s.id for s in stopped.sensors) == [DOOR, WINDOW]
    assert published(rig.last, "alert_state_change") == [None]
    assert published(rig.last, "syren_state_change") == [None]


def test_restored_sensor_row_gets_its_end_time():
    rig = Rig()
    rig.arm("arm_away")
    rig.set(WINDOW, A)
    rig.advance(3)

    rig.set(WINDOW, I)

    sensors = published(rig.last, "alert_state_change")[-1]["sensors"]
    assert sensors[0]["endTime"] == "2024-05-01 12:00:03"


@pytest.mark.parametrize(
    ("arming", "first", "alert_type"),
    [
        ([("arm", "arm_away")], WINDOW, "alert_away"),
        ([("arm", "arm_stay")], WINDOW, "alert_stay"),
        ([], LID, "alert_sabotage"),
        ([("arm", "arm_away")], LID, "alert_away"),
        (
            [
                ("arm", "arm_away", {"area_id": HOUSE}),
                ("arm", "arm_stay", {"area_id": GARAGE}),
            ],
            GARAGE_DOOR,
            "alert_stay",
        ),
        (
            [
                ("arm", "arm_away", {"area_id": HOUSE}),
                ("arm", "arm_stay", {"area_id": GARAGE}),
            ],
            WINDOW,
            "alert_away",
        ),
    ],
    ids=[
        "away",
        "stay",
        "disarmed tamper",
        "armed tamper",
        "mixed garage",
        "mixed house",
    ],
)
def test_alert_type(arming, first, alert_type):
    """F6: from the aggregate; during arm_mixed from the first sensor's area."""
    rig = Rig()
    run(rig, arming)

    rig.set(first, A)

    assert of(rig.last, OpenAlert)[0].alert_type == alert_type
    assert rig.machine.status().alert["alertType"] == alert_type


def test_aggregate_arm_state_published():
    rig = Rig()

    rig.arm("arm_away", area_id=HOUSE)
    assert published(rig.last, "arm_state_change") == ["arm_away"]
    rig.arm("arm_stay", area_id=GARAGE)
    assert published(rig.last, "arm_state_change") == ["arm_mixed"]
    rig.disarm(area_id=HOUSE)
    assert published(rig.last, "arm_state_change") == ["arm_stay"]


# -- F11 readiness and force ------------------------------------------------------

READINESS = [
    # (mode, use_delay, active sensor, blocking sensors)
    ("arm_away", False, WINDOW, [WINDOW]),
    ("arm_away", False, DOOR, [DOOR]),
    ("arm_away", False, MOTION, [MOTION]),
    ("arm_stay", False, MOTION, []),
    ("arm_away", True, WINDOW, [WINDOW]),
    ("arm_away", True, DOOR, []),
    ("arm_away", True, MOTION, []),
]


@pytest.mark.parametrize(("mode", "use_delay", "active", "blocking"), READINESS)
def test_readiness(mode, use_delay, active, blocking):
    rig = Rig()
    rig.set(active, A)

    result = rig.arm(mode, use_delay=use_delay)

    assert [s.id for s in result.sensors] == blocking
    assert result.ok is (not blocking)
    if blocking:
        assert result.code == "sensors_active" and result.effects == []
        names = {WINDOW: "window", DOOR: "door", MOTION: "motion"}
        assert (result.sensors[0].id, result.sensors[0].name) == (active, names[active])
        assert rig.machine.arm_state == "disarm"


def test_tamper_still_active_after_disarm_blocks_arming():
    rig = Rig()
    rig.set(LID, A)
    rig.disarm()

    result = rig.arm("arm_away")

    assert result.code == "sensors_active" and [s.id for s in result.sensors] == [LID]
    assert len(of(rig.log, OpenAlert)) == 1  # no second alarm from the latched lid


@pytest.mark.parametrize(
    ("steps", "code"),
    [
        (
            [("set", WINDOW, A), ("arm", "arm_away", {"force": True}), ("set", LID, A)],
            "alert_running",
        ),
        ([("set", LID, A)], "alert_running"),
        ([("set", SMOKE, A)], "alert_running"),
        ([("reload", {"invalid_reason": "bad"})], "invalid_config"),
        ([("stop",)], "not_running"),
    ],
    ids=["alert", "sabotage", "countdown", "invalid config", "stopped"],
)
def test_arming_refused(steps, code):
    rig = Rig()
    run(rig, steps)
    before = rig.machine.arm_state

    result = rig.arm("arm_stay", area_id=GARAGE)

    assert (result.ok, result.code) == (False, code)
    assert result.error
    assert rig.machine.arm_state == before


def test_arm_unknown_area_and_bad_mode():
    rig = Rig()
    assert rig.arm("arm_away", area_id=99).code == "unknown_area"
    assert rig.arm("disarm").code == "bad_mode"
    assert rig.arm("sideways").code == "bad_mode"
    assert rig.disarm(area_id=99).code == "unknown_area"


def test_force_bypasses_until_the_next_disarm():
    rig = Rig()
    rig.set(WINDOW, A)

    result = rig.arm("arm_away", force=True)

    assert result.ok and [s.id for s in result.bypassed] == [WINDOW]
    rows = of(rig.last, RecordArmSensors)[0].sensors
    assert [r.sensor_id for r in rows if r.bypassed] == [WINDOW]
    for _ in range(3):
        rig.set(WINDOW, I)
        rig.set(WINDOW, A)
    rig.advance(30)
    assert rig.state == "monitoring_armed" and not of(rig.log, OpenAlert)

    rig.disarm()
    rig.set(WINDOW, I)
    rig.set(WINDOW, A)
    assert rig.arm("arm_away").code == "sensors_active"


def test_bypassed_sensor_line_fault_is_still_a_tamper():
    rig = Rig()
    rig.set(WINDOW, A)
    rig.arm("arm_away", force=True)

    rig.set(WINDOW, C)
    rig.advance(2)

    assert rig.state == "monitoring_sabotage"
    assert of(rig.log, OpenAlert)[0].alert_type == "alert_away"


# -- per-area disarm --------------------------------------------------------------


def test_per_area_disarm_cancels_that_areas_countdown_only():
    rig = Rig()
    rig.arm("arm_away")
    rig.set(DOOR, A)  # house entry countdown

    result = rig.disarm(area_id=HOUSE)

    assert result.changed and not of(rig.last, RecordDisarm)
    assert rig.machine.area_state(GARAGE) == "arm_away"
    assert rig.state == "monitoring_armed"
    rig.advance(30)
    assert not of(rig.log, OpenAlert)
    rig.set(GARAGE_DOOR, A)
    assert rig.state == "monitoring_alert"


def test_per_area_disarm_keeps_an_open_alert_until_the_last_area():
    rig = Rig()
    rig.arm("arm_away")
    rig.set(WINDOW, A)

    rig.disarm(area_id=HOUSE)
    assert rig.state == "monitoring_alert" and not of(rig.log, CloseAlert)

    rig.disarm(area_id=GARAGE)
    assert rig.state == "monitoring_ready"
    assert len(of(rig.log, CloseAlert)) == 1 and len(of(rig.log, RecordDisarm)) == 1


def test_disarm_of_an_already_disarmed_area_is_a_no_op():
    rig = Rig()
    rig.arm("arm_away", area_id=GARAGE)

    result = rig.disarm(area_id=HOUSE)

    assert (result.ok, result.changed, result.effects) == (True, False, [])


def test_nothing_to_disarm_records_nothing():
    rig = Rig()
    assert rig.disarm().changed is False
    assert not of(rig.log, RecordDisarm)


def test_system_output_fires_when_exit_delay_ends():
    """F12: the "system armed" output starts at the end of the exit delay."""
    outputs = (Output(1, 3, TriggerType.SYSTEM), Output(2, 4, TriggerType.AREA, HOUSE))
    rig = Rig(make_config(outputs=outputs))
    rig.arm("arm_away", use_delay=True)
    assert of(rig.last, SetOutput) == [SetOutput(4, True)]

    rig.advance(20)

    assert of(rig.last, SetOutput) == [SetOutput(3, True)]
    rig.disarm()
    assert sorted(of(rig.last, SetOutput), key=lambda e: e.channel) == [
        SetOutput(3, False),
        SetOutput(4, False),
    ]

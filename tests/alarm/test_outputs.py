"""Output triggers (F19): delay, duration, endless, default state, own trigger."""

from __future__ import annotations

import pytest

from arpi.alarm import ConfigError, Output, TriggerType
from arpi.alarm.effects import Publish, SetOutput, SetTimer
from arpi.alarm.outputs import OutputController

AREA, SYSTEM, BUTTON = TriggerType.AREA, TriggerType.SYSTEM, TriggerType.BUTTON


def drive(controller: OutputController, script):
    """Run (time, event) pairs; return the levels seen as (time, channel, on)."""
    seen = []
    for at, event, *arg in script:
        if event == "tick":
            effects = controller.tick(at)
        elif event == "button":
            effects = controller.button(arg[0], arg[1], at) or []
        else:
            effects = getattr(controller, event)(*arg, at)
        seen += [(at, e.channel, e.on) for e in effects if isinstance(e, SetOutput)]
    return seen


CASES = [
    (
        "area output, no delay, endless: on at arm, off at disarm",
        Output(1, 2, AREA, area_id=1),
        [(0, "area_armed", 1), (50, "area_disarmed", 1)],
        [(0, 2, True), (50, 2, False)],
    ),
    (
        "delay then endless; release at once on the stop event",
        Output(1, 2, AREA, area_id=1, delay=5),
        [(0, "area_armed", 1), (4.9, "tick"), (5, "tick"), (9, "area_disarmed", 1)],
        [(5, 2, True), (9, 2, False)],
    ),
    (
        "delay and duration",
        Output(1, 2, SYSTEM, delay=2, duration=3),
        [(0, "system_armed"), (2, "tick"), (4.9, "tick"), (5, "tick")],
        [(2, 2, True), (5, 2, False)],
    ),
    (
        "stop during the delay: nothing switches",
        Output(1, 2, SYSTEM, delay=5),
        [(0, "system_armed"), (3, "system_disarmed"), (10, "tick")],
        [],
    ),
    (
        "default state on: active means off",
        Output(1, 6, BUTTON, default_state=True),
        [(0, "button", 1, True), (1, "button", 1, False)],
        [(0, 6, False), (1, 6, True)],
    ),
    (
        "area output ignores other areas and the system",
        Output(1, 2, AREA, area_id=1),
        [(0, "area_armed", 2), (1, "system_armed"), (2, "button", 1, True)],
        [],
    ),
    (
        "system output ignores areas and buttons",
        Output(1, 2, SYSTEM),
        [(0, "area_armed", 1), (1, "button", 1, True)],
        [],
    ),
    (
        "disabled output never switches",
        Output(1, 2, SYSTEM, enabled=False),
        [(0, "system_armed")],
        [],
    ),
    (
        "re-trigger restarts the signal",
        Output(1, 2, BUTTON, duration=10),
        [(0, "button", 1, True), (5, "button", 1, True), (10, "tick"), (15, "tick")],
        [(0, 2, True), (5, 2, False), (5, 2, True), (15, 2, False)],
    ),
]


@pytest.mark.parametrize(
    ("output", "script", "expected"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_output(output, script, expected):
    controller = OutputController([output])

    assert drive(controller, script) == expected


def test_every_system_output_is_driven_not_only_the_first():
    controller = OutputController([Output(1, 2, SYSTEM), Output(2, 3, SYSTEM)])
    effects = controller.system_armed(0)
    assert [e for e in effects if isinstance(e, SetOutput)] == [
        SetOutput(2, True),
        SetOutput(3, True),
    ]


def test_state_events_use_both_names():
    controller = OutputController([Output(4, 2, SYSTEM, delay=3)])
    effects = controller.system_armed(0)
    assert [e for e in effects if isinstance(e, Publish)] == [
        Publish("output_state_change", {"id": 4, "state": True}),
        Publish("outputs_state_change", {"id": 4, "state": True}),
    ]
    assert SetTimer("output:4", 3) in effects
    assert controller.next_deadline() == 3


def test_load_drives_defaults_and_button_checks_its_target():
    controller = OutputController([Output(1, 2, SYSTEM, default_state=True)])
    assert SetOutput(2, True) in controller.load()
    assert controller.button(1, True, 0) is None
    assert controller.button(99, True, 0) is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"channel": 0, "trigger_type": SYSTEM}, "output[1].channel"),
        ({"channel": 8, "trigger_type": SYSTEM}, "output[1].channel"),
        ({"channel": 2, "trigger_type": AREA}, "output[1].area_id"),
        ({"channel": 2, "trigger_type": SYSTEM, "area_id": 1}, "output[1].area_id"),
        ({"channel": 2, "trigger_type": SYSTEM, "delay": -1}, "output[1].delay"),
    ],
)
def test_bad_outputs_are_refused(kwargs, field):
    with pytest.raises(ConfigError) as info:
        Output(1, **kwargs)
    assert info.value.field == field

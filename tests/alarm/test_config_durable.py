"""Configuration rows, the arm-state merge rule, and the durable state's JSON form."""

from __future__ import annotations

import json

import pytest

from arpi.alarm import (
    AlarmConfig,
    Area,
    ArmState,
    ConfigError,
    DurableState,
    DurableStateError,
    Output,
    Sensitivity,
    Sensor,
    SirenConfig,
    Zone,
)
from arpi.alarm.states import aggregate_arm_state, merge_arm_types
from tests.alarm.rig import DOOR, WINDOW, A, Rig

D, AW, ST, MX = (
    ArmState.DISARM,
    ArmState.ARM_AWAY,
    ArmState.ARM_STAY,
    ArmState.ARM_MIXED,
)


@pytest.mark.parametrize(
    ("areas", "aggregate"),
    [
        ([], D),
        ([D], D),
        ([D, D], D),
        ([AW], AW),
        ([D, AW], AW),
        ([ST, D], ST),
        ([AW, AW, D], AW),
        ([AW, ST], MX),
        ([D, ST, AW], MX),
    ],
)
def test_aggregate_arm_state(areas, aggregate):
    assert aggregate_arm_state(areas) is aggregate


@pytest.mark.parametrize(
    ("current", "added", "merged"),
    [(AW, AW, AW), (ST, ST, ST), (AW, ST, MX), (ST, AW, MX), (MX, AW, MX), (D, ST, ST)],
)
def test_merge_arm_types(current, added, merged):
    assert merge_arm_types(current, added) is merged


def test_rows_build_from_database_columns():
    area = Area.from_row({"id": 1, "name": "House", "arm_state": "AWAY", "ui_order": 3})
    zone = Zone.from_row(
        {
            "id": 2,
            "name": "Door",
            "disarmed_delay": None,
            "away_alert_delay": 10,
            "stay_alert_delay": None,
            "away_arm_delay": 20,
            "stay_arm_delay": 0,
        }
    )
    sensor = Sensor.from_row(
        {
            "id": 3,
            "name": "door",
            "description": None,
            "channel": 0,
            "type_id": 3,
            "zone_id": 2,
            "area_id": 1,
            "enabled": True,
            "silent_alert": None,
            "monitor_period": None,
            "monitor_threshold": 100,
        }
    )
    output = Output.from_row(
        {
            "id": 4,
            "name": "lamp",
            "channel": 5,
            "trigger_type": "area",
            "area_id": 1,
            "delay": None,
            "duration": 0,
            "default_state": False,
            "enabled": True,
        }
    )

    config = AlarmConfig.build(
        areas=[area], zones=[zone], sensors=[sensor], outputs=[output]
    )

    assert config.invalid_reason is None
    assert area.arm_state is AW and zone.alert_delay(ST) is None
    assert sensor.label == "door" and output.delay == 0


@pytest.mark.parametrize(
    ("factory", "row", "field"),
    [
        (
            Area.from_row,
            {"id": 1, "name": "x", "arm_state": "arm_mixed"},
            "area[1].arm_state",
        ),
        (Area.from_row, {"id": 1}, "area[1].name"),
        (Zone.from_row, {"id": 1, "away_alert_delay": -1}, "zone[1].away_alert_delay"),
        (Zone.from_row, {"id": 1, "stay_arm_delay": "5"}, "zone[1].stay_arm_delay"),
        (
            Sensor.from_row,
            {
                "id": 1,
                "name": "s",
                "zone_id": 1,
                "area_id": 1,
                "monitor_threshold": 101,
            },
            "sensor[1].monitor_threshold",
        ),
        (
            Sensor.from_row,
            {"id": 1, "name": "s", "zone_id": 1, "area_id": 1, "silent_alert": "yes"},
            "sensor[1].silent_alert",
        ),
        (Sensor.from_row, {"id": 1, "name": "s", "area_id": 1}, "sensor[1].zone_id"),
        (
            Output.from_row,
            {"id": 1, "channel": 0, "trigger_type": "system", "duration": 0},
            "output[1].channel",
        ),
        (
            Output.from_row,
            {"id": 1, "channel": 2, "trigger_type": "panic", "duration": 0},
            "output[1].trigger_type",
        ),
        (SirenConfig.from_option, {"silent": None, "volume": 3}, "syren.volume"),
        (SirenConfig.from_option, {"delay": -1}, "syren.delay"),
        (Sensitivity.from_option, {"monitor_period": 0}, "sensitivity.monitor_period"),
    ],
)
def test_bad_rows_name_the_field(factory, row, field):
    with pytest.raises(ConfigError) as info:
        factory(row)
    assert info.value.field == field


def test_broken_references_make_the_config_invalid():
    config = AlarmConfig.build(
        areas=[Area(1, "a")],
        zones=[Zone(1)],
        sensors=[Sensor(1, "s", zone_id=9, area_id=1)],
    )
    assert "unknown zone 9" in config.invalid_reason


def test_options_default_when_missing():
    assert SirenConfig.from_option(None) == SirenConfig(False, 0, 0)
    assert Sensitivity.from_option(None) == Sensitivity(None, None)


def test_durable_state_round_trips_through_json():
    rig = Rig()
    rig.set(WINDOW, A)
    rig.arm("arm_away", use_delay=True, force=True)
    rig.advance(21)
    rig.set(DOOR, A)
    rig.set(4, A)  # lid: opens a sabotage alert, the door countdown joins it
    state = rig.persisted()

    text = json.dumps(state.to_json())

    assert DurableState.from_json(json.loads(text)) == state
    assert state.alert is not None and len(state.alert.sensors) == 2
    assert state.bypassed == (WINDOW,)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(version=99), "state.version"),
        (lambda d: d.pop("areas"), "state.areas"),
        (lambda d: d.update(areas=[[1, "arm_sideways"]]), "state.areas"),
        (lambda d: d.update(next_alert_id="7"), "state.next_alert_id"),
        (lambda d: d["alert"].update(started_at="yesterday"), "state.alert.started_at"),
        (
            lambda d: d["alert"].update(started_at="2024-01-01T00:00:00"),
            "state.alert.started_at",
        ),
        (lambda d: d["alert"]["siren"].update(silent=None), "state.alert.siren.silent"),
    ],
)
def test_bad_durable_state_names_the_field(mutate, field):
    rig = Rig()
    rig.arm("arm_away")
    rig.set(WINDOW, A)
    data = json.loads(json.dumps(rig.persisted().to_json()))
    mutate(data)

    with pytest.raises(DurableStateError) as info:
        DurableState.from_json(data)
    assert info.value.field == field


def test_with_next_ids_only_raises_counters():
    state = DurableState(next_alert_id=5).with_next_ids(arm=3, alert=2, disarm=9)
    assert (state.next_arm_id, state.next_alert_id, state.next_disarm_id) == (3, 5, 9)

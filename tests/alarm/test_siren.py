"""Siren rules: tri-state silence (reference-web-api 6.3) and timing from the alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from arpi.alarm import Sensor, SirenConfig
from arpi.alarm.effects import SetAlertSilent, StartSiren, StopSiren
from arpi.alarm.siren import SirenPhase, SirenSchedule, resolve_silent, sensors_silence
from tests.alarm.rig import SENSORS, WINDOW, A, Rig, make_config, of, published

T, F_, N = True, False, None

SILENCE = [
    # (siren option silent, sensor silent_alert values, siren silent?)
    (N, [N], False),
    (N, [T], True),
    (N, [F_], False),
    (N, [T, N], True),
    (N, [T, F_], False),
    (T, [N], True),
    (T, [N, N], True),
    (T, [T], True),
    (T, [F_], False),
    (T, [T, F_, N], False),
    (F_, [T], False),
    (F_, [N], False),
    (F_, [T, T], False),
]


@pytest.mark.parametrize(("option", "sensors", "silent"), SILENCE)
def test_resolve_silent(option, sensors, silent):
    assert resolve_silent(option, sensors) is silent


@pytest.mark.parametrize(
    ("values", "combined"),
    [([], None), ([N, N], None), ([T, N], True), ([T, F_], False), ([F_], False)],
)
def test_sensors_silence(values, combined):
    assert sensors_silence(values) is combined


# (silent, delay, duration, seconds after start, phase, ui value, next change)
TIMING = [
    (False, 0, 0, 0, SirenPhase.SOUNDING, True, None),
    (False, 0, 0, 9999, SirenPhase.SOUNDING, True, None),
    (False, 5, 0, 0, SirenPhase.WAITING, False, 5),
    (False, 5, 0, 4.99, SirenPhase.WAITING, False, 5),
    (False, 5, 0, 5, SirenPhase.SOUNDING, True, None),
    (False, 5, 60, 30, SirenPhase.SOUNDING, True, 60),
    (False, 5, 60, 60, SirenPhase.DONE, None, None),
    (False, 0, 60, 59.9, SirenPhase.SOUNDING, True, 60),
    (False, 10, 10, 0, SirenPhase.WAITING, False, 10),  # never sounds
    (False, 10, 10, 10, SirenPhase.DONE, None, None),
    (True, 5, 60, 0, SirenPhase.SILENT, False, None),
    (True, 5, 60, 100, SirenPhase.SILENT, False, None),
]


@pytest.mark.parametrize(
    ("silent", "delay", "duration", "at", "phase", "ui", "upcoming"), TIMING
)
def test_schedule(silent, delay, duration, at, phase, ui, upcoming):
    schedule = SirenSchedule(100.0, silent, delay, duration)

    assert schedule.phase(100.0 + at) is phase
    assert phase.ui_value is ui
    assert schedule.output_on(100.0 + at) is (phase is SirenPhase.SOUNDING)
    expected = None if upcoming is None else 100.0 + upcoming
    assert schedule.next_change(100.0 + at) == expected


def test_schedule_from_wall_keeps_the_original_start():
    start = datetime(2024, 1, 1, tzinfo=UTC)
    schedule = SirenSchedule.from_wall(
        start,
        silent=False,
        delay=0,
        duration=60,
        now=50.0,
        wall=start + timedelta(seconds=45),
    )
    assert schedule.remaining(50.0) == pytest.approx(15.0)


def test_machine_publishes_delay_then_sound_then_cut_off():
    rig = Rig(make_config(siren=SirenConfig(silent=None, delay=5, duration=30)))
    rig.arm("arm_away")

    rig.set(WINDOW, A)
    assert published(rig.last, "syren_state_change") == [False]
    assert of(rig.last, StartSiren)[0].delay == 5

    rig.advance(5)
    assert published(rig.last, "syren_state_change") == [True]
    rig.advance(25)
    assert published(rig.last, "syren_state_change") == [None]
    rig.set(2, A)  # no second siren within the same alert
    rig.disarm()
    assert of(rig.last, StopSiren)


def test_loud_sensor_joining_a_silent_alert_sounds_the_siren():
    sensors = tuple(
        Sensor(
            s.id,
            s.name,
            s.zone_id,
            s.area_id,
            silent_alert=True if s.id == WINDOW else None,
        )
        for s in SENSORS
    )
    rig = Rig(make_config(sensors=sensors, siren=SirenConfig(silent=None)))
    rig.arm("arm_away")
    rig.set(WINDOW, A)
    assert of(rig.last, StartSiren)[0].silent is True
    assert published(rig.last, "syren_state_change") == [False]

    rig.set(5, A)  # garage door: silent_alert null -> no change (true + null = silent)
    assert not of(rig.last, StartSiren)

    sensors = tuple(
        Sensor(
            s.id,
            s.name,
            s.zone_id,
            s.area_id,
            silent_alert={WINDOW: True, 3: False}.get(s.id),
        )
        for s in SENSORS
    )
    rig2 = Rig(make_config(sensors=sensors, siren=SirenConfig(silent=None)))
    rig2.arm("arm_away")
    rig2.set(WINDOW, A)
    rig2.set(3, A)  # loud motion sensor
    assert of(rig2.last, SetAlertSilent) == [SetAlertSilent(1, False)]
    assert of(rig2.last, StartSiren)[0].silent is False
    assert published(rig2.last, "syren_state_change") == [True]

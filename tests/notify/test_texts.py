"""Texts say what happened, where, when (local time) and which sensors."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from arpi.notify.texts import ALERT_TONES, TEST_TONES, format_time, render

AT = datetime(2026, 7, 1, 10, 30, 5, tzinfo=UTC)
BUDAPEST = ZoneInfo("Europe/Budapest")
SENSORS = [{"id": 3, "name": "Előszoba ablak"}, {"id": 4, "name": "Kitchen"}]


@pytest.mark.parametrize(
    ("kind", "context", "sms_has", "subject_has", "body_has", "tones"),
    [
        (
            "alert_started",
            {"at": AT, "alert_id": 42, "alert_type": "alert_away", "sensors": SENSORS},
            [
                "ALARM",
                "Villa Kert",
                "2026-07-01 12:30:05",
                "Előszoba ablak, Kitchen",
                "intrusion",
            ],
            ["ALARM", "Villa Kert"],
            ["Alert 42", "Előszoba ablak"],
            ALERT_TONES,
        ),
        (
            "alert_started",
            {"at": AT, "alert_type": "alert_sabotage", "sensors": ["Tamper box"]},
            ["tamper alarm", "Tamper box"],
            ["tamper"],
            ["Tamper alarm"],
            ALERT_TONES,
        ),
        (
            "alert_stopped",
            {"at": AT.isoformat(), "alert_id": 42, "sensors": SENSORS},
            ["stopped", "2026-07-01 12:30:05", "disarmed", "Előszoba ablak"],
            ["stopped"],
            ["Alert 42", "Kitchen"],
            ALERT_TONES,
        ),
        (
            "power_outage_started",
            {"at": AT},
            ["Power cut", "Villa Kert", "2026-07-01 12:30:05", "battery"],
            ["Power cut"],
            ["Mains power failed"],
            ALERT_TONES,
        ),
        (
            "power_outage_stopped",
            {"at": AT},
            ["Power is back", "2026-07-01 12:30:05", "mains"],
            ["Power restored"],
            ["Mains power returned"],
            ALERT_TONES,
        ),
        (
            "test",
            {"at": AT},
            ["Test message", "Villa Kert"],
            ["Test"],
            ["test"],
            TEST_TONES,
        ),
    ],
)
def test_texts_table(kind, context, sms_has, subject_has, body_has, tones):
    texts = render(kind, context, "Villa Kert", BUDAPEST)

    for part in sms_has:
        assert part in texts.sms
    for part in subject_has:
        assert part in texts.subject
    for part in body_has:
        assert part in texts.body
    assert texts.tones == tones
    assert "\n" not in texts.subject


def test_no_location_and_no_sensors_still_read_well():
    texts = render("alert_started", {"at": AT, "sensors": None}, None, UTC)

    assert "your home" in texts.sms
    assert "none recorded" in texts.sms
    assert "2026-07-01 10:30:05" in texts.sms


def test_unknown_kind_is_refused_by_name():
    with pytest.raises(ValueError, match="kind"):
        render("fire", {}, "x")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (AT, "2026-07-01 12:30:05"),
        ("2026-07-01T10:30:05+00:00", "2026-07-01 12:30:05"),
        (datetime(2026, 7, 1, 10, 30, 5), "2026-07-01 12:30:05"),  # naive = UTC
        (None, "an unknown time"),
        ("not a time", "not a time"),
    ],
)
def test_format_time_local(value, expected):
    assert format_time(value, BUDAPEST) == expected

"""The words of every notification: SMS text, e-mail subject and body, call tones.

Plain English that says what happened, where (the `system/location` name), when (local
time, `YYYY-MM-DD HH:MM:SS`) and which sensors. Texts are rendered once, when the
notification is queued, and stored with it, so a retry an hour later still says when
the event happened. Any character may appear (sensor names such as "Előszoba
ablak"): the GSM driver picks the SMS encoding and splits long texts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

__all__ = [
    "ALERT_TONES",
    "KINDS",
    "TEST_TONES",
    "Texts",
    "format_time",
    "render",
]

KINDS: tuple[str, ...] = (
    "alert_started",
    "alert_stopped",
    "power_outage_started",
    "power_outage_stopped",
    "test",
)

# DTMF tones played once a call is answered (reference 4.3).
ALERT_TONES = "111"
TEST_TONES = "5"

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

_ALERT_WHAT = {
    "alert_away": "Intrusion alarm (armed away)",
    "alert_stay": "Intrusion alarm (armed stay)",
    "alert_sabotage": "Tamper alarm",
}


@dataclass(frozen=True, slots=True)
class Texts:
    """What one event says on each channel."""

    sms: str
    subject: str
    body: str
    tones: str


def format_time(when: datetime | str | None, tz: tzinfo | None = None) -> str:
    """`when` in local time (`tz`, default the system's zone) as `YYYY-MM-DD HH:MM:SS`.

    Accepts an aware datetime or ISO text; a naive value is taken as UTC. None gives
    "an unknown time". Never raises for a malformed text (it is shown as given).
    """
    if when is None:
        return "an unknown time"
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when)
        except ValueError:
            return when
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(tz).strftime(TIME_FORMAT)


def _sensor_names(sensors: Sequence[Any] | None) -> list[str]:
    names = []
    for sensor in sensors or ():
        if isinstance(sensor, Mapping):
            name = sensor.get("name")
        else:
            name = getattr(sensor, "name", sensor)
        if isinstance(name, str) and name.strip():
            names.append(name.strip())
    return names


def render(
    kind: str,
    context: Mapping[str, Any],
    location: str | None,
    tz: tzinfo | None = None,
) -> Texts:
    """The texts of `kind` for an event described by `context`.

    `context` keys (all optional): `at` (aware datetime or ISO text), `alert_id`,
    `alert_type` (`alert_away` | `alert_stay` | `alert_sabotage`), `sensors` (names,
    or mappings / objects with a `name`). Raises ValueError for an unknown kind.
    """
    where = location.strip() if location and location.strip() else "your home"
    when = format_time(context.get("at"), tz)
    names = _sensor_names(context.get("sensors"))
    sensors = ", ".join(names) if names else "none recorded"
    alert_id = context.get("alert_id")
    number = f" {alert_id}" if alert_id is not None else ""

    if kind == "alert_started":
        what = _ALERT_WHAT.get(str(context.get("alert_type")), "Alarm")
        sms = f"ALARM at {where}: {what.lower()} started at {when}. Sensors: {sensors}."
        subject = f"[arpi] ALARM at {where}: {what.lower()}"
        body = (
            f"{what} at {where}.\n\n"
            f"Alert{number} started at {when} (local time).\n"
            f"Sensors: {sensors}.\n\n"
            "You will get another message when the alarm is disarmed."
        )
        return Texts(sms, subject, body, ALERT_TONES)
    if kind == "alert_stopped":
        sms = f"Alarm at {where} stopped at {when}: the system was disarmed. "
        sms += f"Sensors: {sensors}."
        subject = f"[arpi] Alarm at {where} stopped"
        body = (
            f"The alarm at {where} stopped at {when} (local time): "
            "the system was disarmed.\n\n"
            f"Alert{number} involved these sensors: {sensors}."
        )
        return Texts(sms, subject, body, ALERT_TONES)
    if kind == "power_outage_started":
        sms = f"Power cut at {where} at {when}: the alarm runs on its battery."
        subject = f"[arpi] Power cut at {where}"
        body = (
            f"Mains power failed at {where} at {when} (local time).\n\n"
            "The alarm keeps working on its battery. You will get another message "
            "when mains power returns."
        )
        return Texts(sms, subject, body, ALERT_TONES)
    if kind == "power_outage_stopped":
        sms = f"Power is back at {where} at {when}: the alarm runs on mains again."
        subject = f"[arpi] Power restored at {where}"
        body = (
            f"Mains power returned at {where} at {when} (local time).\n\n"
            "The alarm runs on mains power again."
        )
        return Texts(sms, subject, body, ALERT_TONES)
    if kind == "test":
        sms = f"Test message from the alarm at {where}, sent at {when}."
        subject = f"[arpi] Test message from {where}"
        body = (
            f"This is a test message from the alarm at {where}, sent at {when} "
            "(local time).\n\nIf you can read it, e-mail notifications work."
        )
        return Texts(sms, subject, body, TEST_TONES)
    raise ValueError(f"kind: unknown notification kind {kind!r}")

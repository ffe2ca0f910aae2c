"""Subscriptions: six targets by four events, from the options the UI stores."""

from __future__ import annotations

import pytest

from arpi.notify.subscriptions import parse_config
from tests.notify.conftest import subscriptions

SMTP = {
    "enabled": True,
    "smtp_hostname": "mail.example.org",
    "smtp_port": 587,
    "email_address_1": "a@example.org",
    "email_address_2": "b@example.org",
}
GSM = {"enabled": True, "phone_number_1": "+36 30 111 1111", "phone_number_2": "+36302"}


def config(smtp=SMTP, gsm=GSM, subs=None, location=None):
    return parse_config(
        {
            ("notifications", "smtp"): smtp,
            ("notifications", "gsm"): gsm,
            ("notifications", "subscriptions"): subs,
            ("system", "location"): location,
        }
    )


ALL = ["alert_started", "alert_stopped", "power_outage_started", "power_outage_stopped"]
EVERYONE = subscriptions(
    **{t: ALL for t in ("call1", "call2", "sms1", "sms2", "email1", "email2")}
)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("alert_started", ["email1", "email2", "sms1", "sms2", "call1", "call2"]),
        ("alert_stopped", ["email1", "email2", "sms1", "sms2"]),
        ("power_outage_started", ["email1", "email2", "sms1", "sms2"]),
        ("power_outage_stopped", ["email1", "email2", "sms1", "sms2"]),
    ],
)
def test_calls_only_for_alert_started_texts_for_everything(kind, expected):
    assert [t.name for t in config(subs=EVERYONE).targets_for(kind)] == expected


def test_addresses_come_from_smtp_and_gsm_options():
    targets = {t.name: t for t in config(subs=EVERYONE).targets_for("alert_started")}

    assert targets["email2"].address == "b@example.org"
    assert targets["sms1"].address == "+36301111111"  # spaces dropped
    assert targets["call1"].channel == "call"


@pytest.mark.parametrize(
    ("smtp", "gsm", "expected"),
    [
        ({**SMTP, "enabled": False}, GSM, ["sms1", "sms2"]),
        (SMTP, {**GSM, "enabled": False}, ["email1", "email2"]),
        ({**SMTP, "smtp_hostname": None}, GSM, ["sms1", "sms2"]),
        (
            {**SMTP, "email_address_2": None},
            {**GSM, "phone_number_1": ""},
            ["email1", "sms2"],
        ),
        ({**SMTP, "email_address_2": "a@example.org"}, GSM, ["email1", "sms1", "sms2"]),
        (
            {**SMTP, "email_address_1": "not an address"},
            GSM,
            ["email2", "sms1", "sms2"],
        ),
        (SMTP, {**GSM, "phone_number_2": "call me"}, ["email1", "email2", "sms1"]),
        ({**SMTP, "enabled": "yes"}, GSM, ["sms1", "sms2"]),
    ],
)
def test_disabled_missing_duplicate_or_bad_targets(smtp, gsm, expected):
    got = config(smtp, gsm, EVERYONE).targets_for("alert_stopped")

    assert [t.name for t in got] == expected


def test_only_subscribed_events_count():
    subs = subscriptions(email1=["power_outage_started"], sms2=["alert_started"])
    cfg = config(subs=subs)

    assert [t.name for t in cfg.targets_for("power_outage_started")] == ["email1"]
    assert [t.name for t in cfg.targets_for("alert_started")] == ["sms2"]
    assert cfg.targets_for("alert_stopped") == []


def test_missing_rows_mean_everything_off_and_json_text_is_read():
    assert parse_config({}).targets_for("alert_started") == []
    cfg = config(
        smtp='{"enabled": true, "smtp_hostname": "h", "email_address_1": "x@y.org"}',
        subs=EVERYONE,
        location={"name": " Home "},
    )
    assert [t.name for t in cfg.targets_for("alert_started")][:1] == ["email1"]
    assert cfg.location == "Home"


def test_garbage_never_raises():
    cfg = parse_config(
        {
            ("notifications", "smtp"): ["x"],
            ("notifications", "gsm"): "{broken",
            ("notifications", "subscriptions"): {
                "email1": "yes",
                "sms1": {"alert_started": 1},
            },
        }
    )
    assert cfg.targets_for("alert_started") == []

"""The outbox: written in the event's transaction, one row per event and target."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from arpi.notify import enqueue_notifications
from arpi.notify.outbox import backoff_delay, pending_rows
from tests.notify.conftest import outbox_rows, subscriptions, write_options

AT = datetime(2026, 7, 1, 10, 30, tzinfo=UTC)
SMTP = {
    "enabled": True,
    "smtp_hostname": "127.0.0.1",
    "smtp_port": 2525,
    "email_address_1": "anna@example.org",
    "email_address_2": "bela@example.org",
}
GSM = {"enabled": True, "phone_number_1": "+36301111111", "phone_number_2": "+3630222"}


@pytest.fixture
def configured(db):
    write_options(
        db,
        notifications__smtp=SMTP,
        notifications__gsm=GSM,
        notifications__subscriptions=subscriptions(
            email1=["alert_started", "alert_stopped"],
            sms1=["alert_started"],
            call1=["alert_started", "alert_stopped"],
            call2=["alert_started"],
        ),
        system__location={"name": "Villa Kert"},
    )
    return db


def run(db, fn, commit=True):
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            result = fn(cur)
        conn.commit() if commit else conn.rollback()
        return result
    finally:
        conn.close()


CONTEXT = {
    "at": AT,
    "alert_id": 7,
    "alert_type": "alert_away",
    "sensors": [{"id": 1, "name": "Előszoba ablak"}],
}


def test_one_row_per_subscribed_target_with_rendered_texts(configured):
    added = run(
        configured,
        lambda cur: enqueue_notifications(
            cur, "alert_started:7", "alert_started", CONTEXT
        ),
    )

    rows = outbox_rows(configured)
    assert added == 4
    assert [r["target"] for r in rows] == ["email1", "sms1", "call1", "call2"]
    assert all(r["status"] == "pending" and r["attempts"] == 0 for r in rows)
    assert "Előszoba ablak" in rows[1]["body"] and "Villa Kert" in rows[1]["body"]
    assert rows[0]["subject"].startswith("[arpi] ALARM at Villa Kert")
    assert rows[1]["subject"] is None


def test_same_event_twice_adds_nothing_even_after_a_config_change(configured):
    run(
        configured,
        lambda cur: enqueue_notifications(
            cur, "alert_started:7", "alert_started", CONTEXT
        ),
    )
    write_options(
        configured,
        notifications__subscriptions=subscriptions(
            email1=["alert_started"], email2=["alert_started"]
        ),
    )

    added = run(
        configured,
        lambda cur: enqueue_notifications(
            cur, "alert_started:7", "alert_started", CONTEXT
        ),
    )

    targets = [r["target"] for r in outbox_rows(configured)]
    assert added == 1  # only the newly subscribed email2
    assert targets == ["email1", "sms1", "call1", "call2", "email2"]


def test_rolled_back_event_leaves_no_message(configured):
    run(
        configured,
        lambda cur: enqueue_notifications(
            cur, "alert_started:8", "alert_started", CONTEXT
        ),
        commit=False,
    )

    assert outbox_rows(configured) == []


def test_alert_stopped_goes_by_text_and_mail_but_never_by_call(configured):
    run(
        configured,
        lambda cur: enqueue_notifications(
            cur, "alert_stopped:7", "alert_stopped", CONTEXT
        ),
    )

    assert [r["target"] for r in outbox_rows(configured)] == ["email1"]


def test_nobody_subscribed_is_not_an_error(db):
    assert (
        run(
            db,
            lambda cur: enqueue_notifications(
                cur, "power_outage_started:x", "power_outage_started", {"at": AT}
            ),
        )
        == 0
    )


@pytest.mark.parametrize(
    ("key", "kind", "context", "field"),
    [
        ("", "alert_started", {}, "event_key"),
        ("x" * 201, "alert_started", {}, "event_key"),
        ("k", "fire", {}, "kind"),
        ("k", "alert_started", ["not", "a", "mapping"], "context"),
    ],
)
def test_bad_input_names_the_field(db, key, kind, context, field):
    with pytest.raises(ValueError, match=field):
        run(db, lambda cur: enqueue_notifications(cur, key, kind, context))


def test_pending_rows_reads_oldest_first(configured):
    run(
        configured,
        lambda cur: enqueue_notifications(
            cur, "alert_started:7", "alert_started", CONTEXT
        ),
    )

    rows = run(configured, pending_rows)

    assert [r.target for r in rows] == ["email1", "sms1", "call1", "call2"]
    assert rows[0].created_at == AT


def test_backoff_sequence():
    delays = [backoff_delay(n, 10.0, 2.0, 100.0) for n in range(7)]

    assert delays == [0.0, 10.0, 20.0, 40.0, 80.0, 100.0, 100.0]

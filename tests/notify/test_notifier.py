"""The Notifier actor with real storage, a real SMTP server and the fake modem."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from arpi.actors import Crash, Lifecycle, Ping
from arpi.actors.gsm import (
    DeleteSms,
    GetModemStatus,
    ListSms,
    SmsDeleteReport,
    SmsListing,
)
from arpi.actors.notifier import (
    NotificationsQueued,
    PlaceTestCall,
    ReloadNotifications,
    SendTestEmail,
    SendTestSms,
)
from arpi.actors.power import PowerActor
from arpi.drivers import DriverFactory, SimulatedHardware
from arpi.drivers.fake_modem import CallScript
from tests.helpers import wait_for
from tests.notify.conftest import outbox_rows, subscriptions, write_options

AT = datetime(2026, 7, 1, 10, 30, tzinfo=UTC)
ALERT = {
    "at": AT,
    "alert_id": 42,
    "alert_type": "alert_away",
    "sensors": [{"id": 1, "name": "Előszoba ablak"}],
}


def statuses(rig) -> dict[str, str]:
    return {r["target"]: r["status"] for r in outbox_rows(rig.db)}


def settled(rig, expected: dict[str, str]) -> bool:
    return statuses(rig) == expected


def test_alert_goes_out_by_email_and_sms_with_any_characters(rig):
    write_options(
        rig.db,
        notifications__subscriptions=subscriptions(
            email1=["alert_started"], email2=["alert_started"], sms1=["alert_started"]
        ),
    )
    rig.start_notifier()

    rig.enqueue("alert_started:42", "alert_started", ALERT)
    rig.ctx.directory.address("notifier").tell(NotificationsQueued("alert_started:42"))

    wait_for(lambda: settled(rig, {"email1": "sent", "email2": "sent", "sms1": "sent"}))
    [mail] = rig.smtp.handler.received("anna@example.org")
    assert "Villa Kert" in mail["Subject"]
    assert len(rig.smtp.handler.received("bela@example.org")) == 1
    [sms] = rig.modem.sms
    assert sms.number == "+36301111111"
    assert "Előszoba ablak" in sms.text and "Villa Kert" in sms.text
    assert all(r["attempts"] == 1 for r in outbox_rows(rig.db))


def test_silent_modem_does_not_delay_email(rig):
    write_options(
        rig.db,
        notifications__subscriptions=subscriptions(
            sms1=["alert_started"],
            sms2=["alert_started"],
            email1=["alert_started"],
            call1=["alert_started"],
        ),
    )
    rig.modem.set_mode("silent")
    rig.start_notifier(gsm_timeout=60.0)

    rig.enqueue("alert_started:42", "alert_started", ALERT)
    rig.ctx.directory.address("notifier").tell(NotificationsQueued())

    # No time passes on the actor clock: the e-mail goes out at once.
    wait_for(lambda: statuses(rig).get("email1") == "sent")
    assert rig.clock.monotonic() == 1000.0
    assert rig.modem.sms == []
    assert statuses(rig)["sms1"] == "pending"


def test_modem_that_never_answers_counts_as_a_failed_try(rig):
    write_options(
        rig.db, notifications__subscriptions=subscriptions(sms1=["alert_started"])
    )
    rig.modem.set_mode("silent")
    rig.start_notifier(gsm_timeout=60.0, retry_base=30.0)
    rig.enqueue("alert_started:42", "alert_started", ALERT)
    rig.ctx.directory.address("notifier").tell(NotificationsQueued())
    wait_for(lambda: "sms1" in statuses(rig))

    rig.clock.advance(60.0)

    wait_for(lambda: outbox_rows(rig.db)[0]["attempts"] == 1)
    row = outbox_rows(rig.db)[0]
    assert row["status"] == "pending"
    # The send itself times out, or the gsm actor's health check found the modem
    # silent first and refused it: either way one failed try, kept for a retry.
    assert "no answer" in row["last_error"] or "not available" in row["last_error"]


def test_per_target_backoff_then_a_visible_failure(rig):
    rig.smtp.handler.refuse.add("anna@example.org")
    write_options(
        rig.db,
        notifications__subscriptions=subscriptions(
            email1=["power_outage_started"], email2=["power_outage_started"]
        ),
    )
    rig.start_notifier(
        retry_base=10.0, retry_factor=2.0, retry_max=30.0, max_attempts=4
    )
    rig.enqueue("power_outage_started:1", "power_outage_started", {"at": AT})
    rig.ctx.directory.address("notifier").tell(NotificationsQueued())

    def email1():
        return next(r for r in outbox_rows(rig.db) if r["target"] == "email1")

    # Both e-mails go out at once on the notifier's worker threads: the refused
    # one can be recorded before the other is sent, so wait for both outcomes.
    wait_for(lambda: email1()["attempts"] == 1 and statuses(rig)["email2"] == "sent")
    for attempts, delay in ((1, 10.0), (2, 20.0), (3, 30.0)):
        tries = rig.smtp.handler.attempts
        rig.clock.advance(delay - 0.5)  # not yet due: nothing is tried
        rig.ctx.directory.address("notifier").ask(Ping(), timeout=5)
        assert rig.smtp.handler.attempts == tries
        assert email1()["attempts"] == attempts
        rig.clock.advance(0.5)
        wait_for(lambda n=attempts: email1()["attempts"] == n + 1)

    row = email1()
    assert row["status"] == "failed"
    assert "recipient refused" in row["last_error"]
    [event] = wait_for(rig.failures)
    assert event.payload["target"] == "email1"
    assert event.payload["attempts"] == 4
    assert event.payload["kind"] == "power_outage_started"
    assert len(rig.smtp.handler.received("bela@example.org")) == 1


def test_stalled_smtp_server_fails_the_try_and_never_delays_sms(rig):
    rig.smtp.handler.mode = "stall"
    write_options(
        rig.db,
        notifications__subscriptions=subscriptions(
            email1=["alert_started"], sms1=["alert_started"]
        ),
    )
    rig.start_notifier(smtp_timeout=0.5)
    rig.enqueue("alert_started:42", "alert_started", ALERT)
    rig.ctx.directory.address("notifier").tell(NotificationsQueued())

    wait_for(lambda: statuses(rig).get("sms1") == "sent")
    wait_for(lambda: outbox_rows(rig.db)[0]["attempts"] == 1)
    assert statuses(rig)["email1"] == "pending"
    assert "did not answer" in outbox_rows(rig.db)[0]["last_error"]


def test_dropped_connection_is_retried_and_then_delivered(rig):
    rig.smtp.handler.mode = "drop"
    write_options(
        rig.db, notifications__subscriptions=subscriptions(email1=["alert_stopped"])
    )
    rig.start_notifier(retry_base=10.0)
    rig.enqueue("alert_stopped:42", "alert_stopped", ALERT)
    rig.ctx.directory.address("notifier").tell(NotificationsQueued())
    wait_for(lambda: outbox_rows(rig.db)[0]["attempts"] == 1)

    rig.smtp.handler.mode = "accept"
    rig.clock.advance(10.0)

    wait_for(lambda: statuses(rig) == {"email1": "sent"})
    assert outbox_rows(rig.db)[0]["attempts"] == 2
    assert len(rig.smtp.handler.received()) == 1


def test_killed_before_delivery_every_message_arrives_once_after_restart(rig):
    write_options(
        rig.db,
        notifications__subscriptions=subscriptions(
            email1=["alert_started"],
            email2=["alert_started"],
            sms1=["alert_started"],
            sms2=["alert_started"],
        ),
    )
    rig.smtp.handler.mode = "stall"  # nothing can be delivered before the kill
    rig.modem.set_mode("silent")
    ref = rig.start_notifier(smtp_timeout=30.0, gsm_timeout=600.0)
    rig.enqueue("alert_started:42", "alert_started", ALERT)
    rig.ctx.directory.address("notifier").tell(NotificationsQueued())
    wait_for(lambda: rig.smtp.handler.stalled >= 1)

    ended: list[Lifecycle] = []
    rig.ctx.bus.subscribe(Lifecycle, ended.append)
    ref.tell(Crash("crash"))  # the notifier dies with everything in flight
    wait_for(lambda: any(e.name == "notifier" and e.kind == "failed" for e in ended))
    rig.smtp.handler.mode = "accept"
    rig.smtp.handler.unstall()  # the stalled try goes nowhere: the client is gone
    rig.modem.set_mode("ok")
    rig.start_notifier()

    wait_for(lambda: set(statuses(rig).values()) == {"sent"})
    received = [m["To"] for m in rig.smtp.handler.received()]
    assert sorted(received) == ["anna@example.org", "bela@example.org"]
    assert sorted(s.number for s in rig.modem.sms) == ["+36301111111", "+36302222222"]

    # A further restart and the same event queued again send nothing more.
    rig.stop_notifier()
    assert rig.enqueue("alert_started:42", "alert_started", ALERT) == 0
    rig.start_notifier()
    rig.ctx.directory.address("notifier").tell(NotificationsQueued())
    rig.ctx.directory.address("notifier").ask(Ping(), timeout=5)
    assert len(rig.smtp.handler.received()) == 2
    assert len(rig.modem.sms) == 2


def test_call_acknowledged_with_1_skips_the_second_call(rig):
    write_options(
        rig.db,
        notifications__subscriptions=subscriptions(
            call1=["alert_started"], call2=["alert_started"]
        ),
    )
    rig.modem.next_call = CallScript(keys="1", hang_up_after_keys=True)
    rig.start_notifier()

    rig.enqueue("alert_started:42", "alert_started", ALERT)
    rig.ctx.directory.address("notifier").tell(NotificationsQueued())

    wait_for(lambda: settled(rig, {"call1": "sent", "call2": "skipped"}))
    [call] = rig.modem.calls
    assert call.number == "+36301111111"
    assert call.answered
    assert rig.alarm_messages == []


def test_unanswered_first_call_goes_on_to_the_second(rig):
    write_options(
        rig.db,
        notifications__subscriptions=subscriptions(
            call1=["alert_started"], call2=["alert_started"]
        ),
    )
    rig.modem.next_call = CallScript(answer=False)
    rig.start_notifier(retry_base=60.0)

    rig.enqueue("alert_started:42", "alert_started", ALERT)
    rig.ctx.directory.address("notifier").tell(NotificationsQueued())

    wait_for(
        lambda: (
            len(rig.modem.calls) == 2
            and all(r["attempts"] == 1 for r in outbox_rows(rig.db))
        )
    )
    assert [c.number for c in rig.modem.calls] == ["+36301111111", "+36302222222"]
    assert set(statuses(rig).values()) == {"pending"}


def test_access_code_typed_during_a_call_disarms(rig):
    write_options(
        rig.db,
        notifications__subscriptions=subscriptions(
            call1=["alert_started"], call2=["alert_started"]
        ),
    )
    rig.modem.next_call = CallScript(keys="1234#", hang_up_after_keys=False)
    rig.start_notifier()

    rig.enqueue("alert_started:42", "alert_started", ALERT)
    rig.ctx.directory.address("notifier").tell(NotificationsQueued())

    wait_for(lambda: settled(rig, {"call1": "sent", "call2": "skipped"}))
    [disarm] = rig.alarm_messages
    assert "Disarm" in type(disarm).__name__
    assert (disarm.area_id, disarm.user_id, disarm.keypad_id) == (None, 1, None)


def test_wrong_code_during_a_call_does_not_disarm_and_is_counted(rig):
    from arpi.http.limiter import AttemptLimiter

    write_options(
        rig.db, notifications__subscriptions=subscriptions(call1=["alert_started"])
    )
    rig.modem.next_call = CallScript(keys="9999#")
    limiter = AttemptLimiter(rig.clock, name="phone")
    rig.start_notifier(limiter=limiter)

    rig.enqueue("alert_started:42", "alert_started", ALERT)
    rig.ctx.directory.address("notifier").tell(NotificationsQueued())

    wait_for(lambda: settled(rig, {"call1": "sent"}))
    assert rig.alarm_messages == []
    assert limiter.failures("phone:call1") == 1


def _power_rig(rig):
    """A `power` actor over simulated power lines, on the rig's clock and storage."""
    hardware = SimulatedHardware(3, wall=rig.clock.wall)
    factory = DriverFactory(
        SimpleNamespace(board="simulated", simulated_board=3), hardware=hardware
    )
    ctx = replace(rig.ctx, drivers=factory)
    return hardware, factory, ctx


def _start_power(ctx):
    PowerActor.start(ctx, name="power", poll_interval=0.25, hold=1.0)
    power = ctx.directory.address("power")
    power.ask(Ping(), timeout=10)
    return power


def _polls(rig, power, times: int = 6) -> None:
    for _ in range(times):
        rig.clock.advance(0.25)
        power.ask(Ping(), timeout=10)


def stored_power(rig) -> str | None:
    conn = rig.db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT power_source FROM runtime_state")
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_power_texts_commit_with_the_source_and_go_out_once_after_a_crash(rig):
    write_options(
        rig.db,
        notifications__subscriptions=subscriptions(
            email1=["power_outage_started", "power_outage_stopped"],
            sms2=["power_outage_started"],
        ),
    )
    conn = rig.db.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE runtime_state SET power_source = 'network'")
    finally:
        conn.close()
    hardware, factory, ctx = _power_rig(rig)
    try:
        # The notifier is down (crashed): the power actor's tell after the commit
        # is lost, the committed rows are not.
        power = _start_power(ctx)
        hardware.set_power("battery")
        _polls(rig, power)
        wait_for(lambda: stored_power(rig) == "battery", what="source stored")
        rows = outbox_rows(rig.db)
        assert {r["target"] for r in rows} == {"email1", "sms2"}
        assert {r["status"] for r in rows} == {"pending"}
        [key] = {r["event_key"] for r in rows}
        assert key.startswith("power_outage_started:")

        # The power actor crashes right after the commit and comes back: the
        # outage is known, nothing new is queued.
        ctx.directory.address("power").tell(Crash("crash"))
        wait_for(lambda: not ctx.directory.address("power").alive())
        power = _start_power(ctx)
        _polls(rig, power)
        assert len(outbox_rows(rig.db)) == 2

        # After the restart the notifier delivers the queued rows, once.
        rig.start_notifier()
        wait_for(lambda: settled(rig, {"email1": "sent", "sms2": "sent"}))
        rig.stop_notifier()
        rig.start_notifier()
        rig.ctx.directory.address("notifier").ask(Ping(), timeout=10)
        assert len(rig.modem.sms) == 1 and len(rig.smtp.handler.received()) == 1
        assert "Power cut" in rig.modem.sms[0].text

        rig.clock.advance(5.0)
        hardware.set_power("network")
        _polls(rig, power)
        wait_for(lambda: len(rig.smtp.handler.received()) == 2)
        subjects = [m["Subject"] for m in rig.smtp.handler.received()]
        assert subjects == [
            "[arpi] Power cut at Villa Kert",
            "[arpi] Power restored at Villa Kert",
        ]
        wait_for(lambda: {r["status"] for r in outbox_rows(rig.db)} == {"sent"})
        assert len(rig.modem.sms) == 1  # sms2 is subscribed to outages only
    finally:
        ref = ctx.directory.lookup("power")
        if ref is not None:
            ref.stop(block=True, timeout=10)
        factory.close()


# -- test actions --------------------------------------------------------------------


def test_test_email_answers_per_address(rig):
    rig.start_notifier()
    message = SendTestEmail()

    rig.ctx.directory.address("notifier").tell(message)

    report = message.reply.result(timeout=10)
    assert (report.status, report.body) == (
        200,
        {"message": "", "email1": True, "email2": True},
    )
    assert "Test" in rig.smtp.handler.received("anna@example.org")[0]["Subject"]


def test_test_email_with_a_refused_address_is_a_500(rig):
    rig.smtp.handler.refuse.add("bela@example.org")
    rig.start_notifier()
    message = SendTestEmail()

    rig.ctx.directory.address("notifier").tell(message)

    report = message.reply.result(timeout=10)
    assert report.status == 500
    assert report.body == {
        "message": "Error in email sending!",
        "email1": True,
        "email2": False,
    }


def test_test_email_without_smtp_is_a_500_without_connection(rig):
    write_options(rig.db, notifications__smtp={"enabled": False})
    rig.start_notifier()
    rig.ctx.directory.address("notifier").tell(ReloadNotifications())
    message = SendTestEmail()

    rig.ctx.directory.address("notifier").tell(message)

    report = message.reply.result(timeout=10)
    assert report.status == 500
    assert report.body["connection"] is False


def test_test_sms_and_test_call(rig):
    rig.modem.next_call = CallScript(hang_up_after_keys=True, keys="")
    rig.start_notifier()
    sms, call = SendTestSms(), PlaceTestCall()

    rig.ctx.directory.address("notifier").tell(sms)
    rig.ctx.directory.address("notifier").tell(call)

    assert sms.reply.result(timeout=10).body == {
        "message": "",
        "phone1": True,
        "phone2": True,
    }
    report = call.reply.result(timeout=15)
    assert report.status == 200 and report.body["phone1"] is True
    assert [s.number for s in rig.modem.sms] == ["+36301111111", "+36302222222"]
    assert rig.modem.calls[0].tones == "5"


def test_test_sms_with_a_silent_modem_does_not_block_the_notifier(rig):
    rig.modem.set_mode("silent")
    rig.start_notifier(gsm_timeout=30.0)
    sms, mail = SendTestSms(), SendTestEmail()

    rig.ctx.directory.address("notifier").tell(sms)
    rig.ctx.directory.address("notifier").tell(mail)

    assert mail.reply.result(timeout=10).status == 200
    assert not sms.reply.done()
    rig.clock.advance(30.0)
    report = sms.reply.result(timeout=10)
    assert report.status == 500 and report.body["connection"] is False


def test_stored_sms_are_listed_and_deleted_through_the_gsm_actor(rig):
    index = rig.modem.store_sms("+36309999999", "Szia, működik?")
    gsm = rig.ctx.directory.address("gsm")

    listing = gsm.ask(ListSms(), timeout=10)

    assert isinstance(listing, SmsListing) and listing.ok
    [item] = listing.messages
    assert item["idx"] == index and item["text"] == "Szia, működik?"
    assert item["number"] == "+36309999999"
    assert item["time"].endswith("Z")
    assert gsm.ask(DeleteSms(index), timeout=10) == SmsDeleteReport(True)
    assert rig.modem.stored_indexes() == []

    # Nothing stored there any more: said so, and not taken for a modem fault.
    again = gsm.ask(DeleteSms(index), timeout=10)
    assert again.missing and not again.ok
    assert gsm.ask(GetModemStatus(), timeout=10).state == "ok"


@pytest.mark.parametrize("mode", ["silent"])
def test_gsm_actor_answers_even_when_the_modem_is_silent(rig, mode):
    rig.modem.set_mode(mode)

    listing = rig.ctx.directory.address("gsm").ask(ListSms(), timeout=20)

    assert listing.ok is False and listing.error


def test_smtp_change_applies_to_the_next_mail_without_a_restart(rig):
    from aiosmtpd.controller import Controller

    from arpi.bus import ConfigChanged
    from tests.notify.conftest import SmtpHandler, _free_port

    write_options(
        rig.db, notifications__subscriptions=subscriptions(email1=["alert_started"])
    )
    rig.start_notifier()
    rig.enqueue("alert_started:1", "alert_started", {**ALERT, "alert_id": 1})
    rig.ctx.directory.address("notifier").tell(NotificationsQueued())
    wait_for(lambda: settled(rig, {"email1": "sent"}))
    assert len(rig.smtp.handler.received("anna@example.org")) == 1

    other = SmtpHandler()
    controller = Controller(other, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        write_options(
            rig.db,
            notifications__smtp={
                "enabled": True,
                "smtp_hostname": "127.0.0.1",
                "smtp_port": controller.port,
                "smtp_username": None,
                "smtp_password": None,
                "email_address_1": "anna@example.org",
                "email_address_2": "bela@example.org",
            },
        )
        # As the front does after the option write committed.
        rig.ctx.bus.publish(ConfigChanged(frozenset({"notifications/smtp"})))
        rig.ctx.directory.address("notifier").ask(Ping(), timeout=5)  # reloaded

        rig.enqueue("alert_started:2", "alert_started", {**ALERT, "alert_id": 2})
        rig.ctx.directory.address("notifier").tell(NotificationsQueued())
        wait_for(lambda: len(other.received("anna@example.org")) == 1)
        assert len(rig.smtp.handler.received("anna@example.org")) == 1
    finally:
        controller.stop()

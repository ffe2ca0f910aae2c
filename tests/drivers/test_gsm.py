"""GSM modem driver against the fake SIM800 on a pseudo-terminal."""

from __future__ import annotations

import pytest

from arpi.drivers import CallOutcome, ModemError, ModemTimeout
from arpi.drivers.fake_modem import CallScript, FakeModem
from arpi.drivers.sms import decode_submit, encode_submit

NUMBER = "+36301234567"


@pytest.fixture
def rig(make_factory):
    factory = make_factory(3, gsm_pin="4321")
    fake = factory.hardware.modem
    modem = factory.modem(command_timeout=0.5, health_timeout=0.3, sms_timeout=0.5)
    modem.start()
    yield modem, fake
    modem.close()


def test_start_unlocks_the_sim_and_reports_signal_and_registration(rig):
    modem, fake = rig

    assert modem.signal_quality() == 20
    assert modem.registration().registered
    assert 'AT+CPIN="4321"' in fake.commands


def test_wrong_or_missing_pin_is_a_clear_error(make_factory):
    factory = make_factory(3, gsm_pin="1111")
    fake = factory.hardware.modem
    fake.pin = "4321"
    fake.set_mode("absent")
    fake.set_mode("ok")  # new pty, SIM locked again
    with pytest.raises(ModemError, match="incorrect password"):
        factory.modem(command_timeout=0.5).start()
    modem = factory.modem(command_timeout=0.5, pin=None)
    with pytest.raises(ModemError, match="needs a PIN"):
        modem.start()
    modem.close()


@pytest.mark.parametrize(
    "text",
    [
        "Alarm: front door",
        "Előszoba ablak",
        "Előszoba ablak nyitva! " * 9,
        "a@b{c}€ " * 30,
        "x" * 160,
    ],
)
def test_sms_arrives_intact(rig, text):
    modem, fake = rig

    modem.send_sms(NUMBER, text)

    assert fake.sms[-1].number == NUMBER
    assert fake.sms[-1].text == text


def test_long_ucs2_message_is_split_with_udh_and_reassembled(rig):
    modem, fake = rig
    text = "Előszoba ablak nyitva 🚪 " * 8

    parts = modem.send_sms(NUMBER, text)

    assert parts == len(encode_submit(NUMBER, text, 1)) > 1
    assert fake.sms[-1].parts == parts and fake.sms[-1].text == text


def test_pdu_parts_keep_surrogate_pairs_whole():
    text = "🚪" * 40  # 80 UTF-16 units, a pair straddles unit 67
    parts = encode_submit(NUMBER, text, 7)

    decoded = [decode_submit(p.pdu) for p in parts]

    assert "".join(d.text for d in decoded) == text
    assert [d.concat.sequence for d in decoded] == [1, 2]


@pytest.mark.parametrize("number", ["", "12", "+36-30", "0036301234567890123456"])
def test_bad_numbers_are_refused(rig, number):
    modem, _ = rig

    with pytest.raises(ValueError, match="number"):
        modem.send_sms(number, "x")


def test_modem_going_silent_mid_sms_times_out_clearly(rig):
    modem, fake = rig
    fake.go_silent_after("AT+CMGS")

    with pytest.raises(ModemTimeout, match=r"no answer to AT\+CMGS"):
        modem.send_sms(NUMBER, "Alarm")
    with pytest.raises(ModemTimeout, match="no answer to AT"):
        modem.health_check()


def test_cme_and_cms_errors_are_modem_errors(rig):
    modem, fake = rig
    fake.set_mode("error")

    with pytest.raises(ModemError, match=r"\+CME ERROR: 100 \(unknown error\)"):
        modem.signal_quality()
    with pytest.raises(ModemError, match=r"\+CMS ERROR: 500"):
        modem.delete_sms(3)


def test_no_coverage_is_reported(rig):
    modem, fake = rig
    fake.registered = False

    with pytest.raises(ModemError, match="no network coverage"):
        modem.send_sms(NUMBER, "Alarm", coverage_timeout=0.2)


def test_slow_modem_within_the_timeout_works_beyond_it_times_out(rig):
    modem, fake = rig
    fake.set_mode("slow", delay=0.1)

    assert modem.signal_quality() == 20
    fake.set_mode("slow", delay=1.0)
    with pytest.raises(ModemTimeout):
        modem.signal_quality()


def test_absent_modem_fails_and_reset_recovers(rig):
    modem, fake = rig
    fake.set_mode("absent")

    with pytest.raises(ModemError):
        modem.health_check()
    with pytest.raises(ModemError, match="cannot open"):
        modem.reset()
    fake.set_mode("ok")
    modem.reset()
    modem.health_check()


def test_list_and_delete_stored_sms(rig):
    modem, fake = rig
    first = fake.store_sms("+3670111222", "Teszt üzenet ő")
    fake.store_sms("+3670111333", "status?")

    listed = modem.list_sms()
    modem.delete_sms(first)

    assert [(s.indexes, s.text) for s in listed] == [
        ((first,), "Teszt üzenet ő"),
        ((first + 1,), "status?"),
    ]
    assert fake.stored_indexes() == [first + 1]
    with pytest.raises(ModemError, match="321"):
        modem.delete_sms(first)


def test_call_plays_tones_and_collects_the_callee_keys(rig):
    modem, fake = rig
    fake.next_call = CallScript(keys="1")

    result = modem.call(NUMBER, "111", listen=5, stop_when=lambda keys: "1" in keys)

    assert result.outcome is CallOutcome.ANSWERED and result.acknowledged
    assert fake.calls[-1].tones == "111" and fake.calls[-1].ended


def test_callee_hanging_up_ends_listening(rig):
    modem, fake = rig
    fake.next_call = CallScript(keys="1234#", hang_up_after_keys=True)

    result = modem.call(NUMBER, "5", listen=5)

    assert result.keys == "1234#" and not result.acknowledged


def test_busy_and_unanswered_calls(rig):
    modem, fake = rig
    fake.next_call = CallScript(answer=False)
    assert modem.call(NUMBER, "111", listen=1).outcome is CallOutcome.BUSY

    fake.next_call = CallScript(answer=None)
    result = modem.call(NUMBER, "111", dial_timeout=0.3, listen=1)
    assert result.outcome is CallOutcome.NO_ANSWER
    assert fake.calls[-1].ended


def test_unsolicited_ring_does_not_disturb_a_command(rig):
    modem, fake = rig
    fake.ring()

    assert modem.signal_quality() == 20
    modem.health_check()


def test_fake_modem_closes_without_a_thread_left():
    import threading

    fake = FakeModem()
    fake.set_mode("absent")
    fake.close()
    fake.close()

    assert not [t for t in threading.enumerate() if t.name == "fake-modem"]

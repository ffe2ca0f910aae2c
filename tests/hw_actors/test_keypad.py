"""Keypad: codes with and without `#`, arming, lockout, cards, registration, beeps."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import bcrypt
import pytest

from arpi.actors.keypad import GetKeypadStatus, KeypadActor, RegisterCard
from arpi.bus import UiEvent
from arpi.http.limiter import AttemptLimiter, LimiterPolicy
from tests.helpers import wait_for

POLL = 0.05


def hashed(secret: str) -> str:
    return bcrypt.hashpw(secret.encode(), bcrypt.gensalt(rounds=4)).decode()


@pytest.fixture
def users(rig):
    """The admin (id 1) keeps code 1234 (cheap hash); user 2 has code 567890."""
    rig.query('UPDATE "user" SET access_code = %s WHERE id = 1', (hashed("1234"),))
    rig.query(
        'INSERT INTO "user" (id, name, role, access_code, fourkey_code)'
        " VALUES (2, 'Second', 'user', %s, %s)",
        (hashed("567890"), hashed("5678")),
    )
    return rig


def start_keypad(rig, **options):
    address = rig.start(
        KeypadActor, "keypad", poll_interval=POLL, bcrypt_rounds=4, **options
    )
    rig.settle("keypad")
    return address


def press(rig, keys: str) -> None:
    rig.hardware.keypad.press(keys)
    rig.step(POLL, "keypad")


def commands(rig) -> list[tuple[str, object]]:
    """(class name, fields) of what the alarm probe received from the keypad."""
    found = []
    for message in rig.inbox.of(object, "alarm"):
        name = type(message).__name__
        if name.endswith(("Arm", "Disarm")):
            found.append((name, message))
    return found


def wait_commands(rig, count: int):
    return wait_for(lambda: (c := commands(rig)) and len(c) >= count and c)


def test_four_digit_code_disarms_without_hash(users):
    rig = users
    start_keypad(rig)

    press(rig, "1234")

    ((name, message),) = wait_commands(rig, 1)
    assert name == "Disarm"
    assert (message.user_id, message.keypad_id) == (1, 1)


def test_hash_after_a_four_digit_code_only_ends_it(users):
    """`1234#` twice: two disarms, no wrong code, and the `#` starts no function."""
    rig = users
    start_keypad(rig)

    press(rig, "1234#")
    wait_commands(rig, 1)
    press(rig, "1234#")

    commands_seen = wait_commands(rig, 2)
    assert [name for name, _ in commands_seen] == ["Disarm", "Disarm"]


def test_long_code_disarms_with_hash(users):
    rig = users
    start_keypad(rig)

    press(rig, "567890#")

    ((name, message),) = wait_commands(rig, 1)
    assert name == "Disarm" and message.user_id == 2


def test_arming_needs_a_code_and_uses_the_exit_delay(users):
    rig = users
    start_keypad(rig)

    press(rig, "#1")
    rig.settle("alarm")
    assert commands(rig) == []
    press(rig, "1234")

    ((name, message),) = wait_commands(rig, 1)
    assert name == "Arm"
    assert (message.mode, message.user_id, message.use_delay) == ("arm_away", 1, True)


def test_arming_without_code_when_the_installer_allows_it(rigs):
    from arpi.db.storage import DatabaseWriter
    from tests.hw_actors.conftest import Probe

    rig = rigs(keypad_arm_needs_code=False)
    rig.start(Probe, "alarm", inbox=rig.inbox)
    rig.start(DatabaseWriter, "storage")
    start_keypad(rig)

    press(rig, "#2")

    ((name, message),) = wait_commands(rig, 1)
    assert name == "Arm" and message.mode == "arm_stay" and message.user_id is None


def test_wrong_codes_lock_the_keypad_out_even_for_a_correct_code(users):
    rig = users
    policy = LimiterPolicy(free_failures=5, lockout_after=3, lockout=60.0)
    start_keypad(rig, limiter=AttemptLimiter(rig.clock, policy, name="keypad"))

    for _ in range(3):
        press(rig, "9999#")
    press(rig, "1234")
    rig.settle("keypad", "alarm")

    assert commands(rig) == []
    status = rig.ctx.directory.address("keypad").ask(GetKeypadStatus(), timeout=10)
    assert status.locked

    rig.step(61.0, "keypad")
    press(rig, "1234")
    assert wait_commands(rig, 1)[0][0] == "Disarm"


def test_abandoned_four_digit_guess_counts_as_a_failure(users):
    rig = users
    limiter = AttemptLimiter(rig.clock, name="keypad")
    start_keypad(rig, limiter=limiter)

    press(rig, "4321*")
    press(rig, "12")  # fewer than four digits: nothing tested
    rig.step(11.0, "keypad")  # the entry times out

    assert limiter.failures("keypad:1") == 1


def test_card_disarms_while_armed(users):
    rig = users
    rig.query("UPDATE area SET arm_state = 'AWAY'")
    rig.query(
        "INSERT INTO card (code, user_id, enabled) VALUES (%s, 2, true)",
        (hashed("123456"),),
    )
    start_keypad(rig)

    rig.hardware.keypad.show_card(999)  # unknown card
    rig.step(POLL, "keypad")
    rig.hardware.keypad.show_card(123456)
    rig.step(POLL, "keypad")

    ((name, message),) = wait_commands(rig, 1)
    assert name == "Disarm" and message.user_id == 2


def test_card_ignored_while_disarmed(users):
    rig = users
    rig.query(
        "INSERT INTO card (code, user_id, enabled) VALUES (%s, 2, true)",
        (hashed("123456"),),
    )
    start_keypad(rig)

    rig.hardware.keypad.show_card(123456)
    rig.step(POLL, "keypad")
    rig.settle("alarm")

    assert commands(rig) == []


def test_card_registration_stores_the_next_card(users):
    rig = users
    keypad = start_keypad(rig)

    keypad.tell(RegisterCard(2))
    rig.hardware.keypad.show_card(4242, bits=34)
    rig.step(POLL, "keypad")

    wait_for(lambda: rig.inbox.ui("card_registered"))
    assert rig.inbox.ui("card_registered") == [True]
    rows = rig.query("SELECT code, user_id, enabled FROM card")
    assert len(rows) == 1 and rows[0][1:] == (2, True)
    assert bcrypt.checkpw(b"4242", rows[0][0].encode())

    keypad.tell(RegisterCard(1))  # the same card again is refused
    rig.hardware.keypad.show_card(4242, bits=34)
    rig.step(POLL, "keypad")
    wait_for(lambda: len(rig.inbox.ui("card_registered")) == 2)
    assert rig.inbox.ui("card_registered") == [True, False]


def test_card_registration_times_out(users):
    rig = users
    keypad = start_keypad(rig)

    keypad.tell(RegisterCard(2))
    rig.settle("keypad")
    rig.step(59.0, "keypad")
    assert rig.inbox.ui("card_registered") == []
    rig.step(1.0, "keypad")

    wait_for(lambda: rig.inbox.ui("card_registered"))
    assert rig.inbox.ui("card_registered") == [False]
    assert rig.query("SELECT count(*) FROM card")[0][0] == 0


def test_armed_flag_is_restored_from_the_areas(users):
    rig = users
    rig.query("UPDATE area SET arm_state = 'STAY'")
    keypad = start_keypad(rig)

    assert keypad.ask(GetKeypadStatus(), timeout=10).armed


def test_exit_delay_beeps_each_second_and_faster_at_the_end(users):
    rig = users
    wall = rig.clock.wall()
    rig.query(
        "UPDATE runtime_state SET exit_deadline = %s", (wall + timedelta(seconds=7),)
    )
    beeper = rig.hardware.wiegand_pins.beeper
    start_keypad(rig)
    start = len(rig.hardware.gpio.history(beeper))

    rig.ctx.bus.publish(UiEvent("system_state_change", "monitoring_arm_delay"))
    rig.settle("keypad")
    for _ in range(80):  # 8 s in 0.1 s steps: beeps are 0.1 s on, 0.1 s off
        rig.step(0.1, "keypad")

    levels = rig.hardware.gpio.history(beeper)[start - 1 :]  # from the quiet level
    beeps = sum(1 for a, b in pairwise(levels) if a == 1 and b == 0)
    # 1 beep at 1..2 s, 2 beeps at 3..6 s (under 5 s left), 3 when it ends at 7 s.
    assert beeps == 2 * 1 + 4 * 2 + 3
    assert not rig.hardware.keypad.beeper_sounding


def test_code_typed_while_the_database_is_down_is_refused_and_keypad_survives(
    pg_server,
):
    from structlog.testing import capture_logs

    from arpi.actors import Ping
    from tests.hw_actors.conftest import make_rig

    rig = make_rig(pg_server.create_database())
    try:
        rig.probe("alarm")
        rig.query('UPDATE "user" SET access_code = %s WHERE id = 1', (hashed("1234"),))
        incarnation = start_keypad(rig).ask(Ping(), timeout=10).incarnation

        pg_server.stop()
        with capture_logs() as logs:
            press(rig, "1234")
        assert rig.hardware.keypad.beeper_sounding  # the error beeps
        events = [e["event"] for e in logs]
        assert "keypad_database_unavailable" in events
        assert commands(rig) == []
        pong = rig.ctx.directory.address("keypad").ask(Ping(), timeout=10)
        assert pong.incarnation == incarnation  # no crash, no restart

        pg_server.start()
        rig.step(5.0, "keypad")  # the error signal is over
        press(rig, "1234")
        ((name, message),) = wait_commands(rig, 1)
        assert name == "Disarm" and message.user_id == 1
    finally:
        for ref in reversed(rig.started):
            if ref.is_alive():
                ref.stop(block=True, timeout=5)
        rig.factory.close()


# -- DSC ------------------------------------------------------------------------


@pytest.fixture
def dsc_rig(rigs):
    """A board-2 rig whose keypad row is a DSC keypad; the alarm probe answers
    `GetAlarmStatus` from `rig.alarm_state` (mutable: sensor_states, areas, state)."""
    from arpi.alarm.messages import AlarmStatus, GetAlarmStatus
    from arpi.db.storage import DatabaseWriter
    from tests.hw_actors.conftest import Reply

    rig = rigs(board=2)
    rig.alarm_state = {"sensors": {}, "arm": "disarm", "state": "monitoring_ready"}

    def reply(message):
        if isinstance(message, GetAlarmStatus):
            s = rig.alarm_state
            return AlarmStatus(
                monitoring_state=s["state"],
                arm_state=s["arm"],
                areas=({"id": 1, "name": "Home", "armState": s["arm"], "uiOrder": 1},),
                sensor_states=dict(s["sensors"]),
            )
        return Reply()

    rig.probe("alarm", reply=reply)
    rig.start(DatabaseWriter, "storage")
    rig.query(
        "UPDATE keypad SET type_id = (SELECT id FROM keypad_type WHERE name = 'DSC')"
    )
    return rig


def show(rig, name, payload, condition):
    """Publish the alarm's UI event; poll the keypad until `condition()` holds."""
    rig.ctx.bus.publish(UiEvent(name, payload))

    def shown():
        rig.step(POLL, "keypad")
        return condition()

    return wait_for(shown, what=f"keypad after {name}")


def test_dsc_keypad_shows_an_open_zone_and_the_ready_armed_memory_lights(dsc_rig):
    from tests.hw_actors.conftest import add_sensor

    rig = dsc_rig
    door = add_sensor(rig.db, 2)  # channel 2 = zone 3
    window = add_sensor(rig.db, 9)  # zone 10
    rig.alarm_state["sensors"] = {door: "idle", window: "idle"}
    start_keypad(rig)
    keypad = rig.hardware.dsc_keypad
    wait_for(lambda: (rig.step(POLL, "keypad"), keypad.panel_time)[1])
    assert keypad.ready and not keypad.armed and keypad.open_zones == frozenset()

    rig.alarm_state["sensors"] = {door: "active", window: "cut"}
    show(rig, "sensors_state_change", True, lambda: keypad.open_zones == {3, 10})
    assert not keypad.ready and keypad.backlight and keypad.bad_messages == 0

    rig.alarm_state["sensors"] = {door: "idle", window: "idle"}
    show(
        rig,
        "sensors_state_change",
        False,
        lambda: keypad.ready and not keypad.open_zones,
    )

    rig.alarm_state["arm"] = "arm_away"
    show(rig, "arm_state_change", "arm_away", lambda: keypad.armed)
    assert not keypad.ready and not keypad.memory

    rig.alarm_state["sensors"] = {door: "active", window: "idle"}
    rig.alarm_state["state"] = "monitoring_alert"
    show(
        rig,
        "system_state_change",
        "monitoring_alert",
        lambda: keypad.memory and keypad.open_zones == {3},
    )
    assert keypad.armed

    rig.alarm_state.update(arm="disarm", state="monitoring_ready")
    rig.alarm_state["sensors"] = {door: "idle", window: "idle"}
    show(rig, "arm_state_change", "disarm", lambda: keypad.ready)
    assert keypad.memory and not keypad.armed  # the memory stays until the next arm

    rig.alarm_state["arm"] = "arm_stay"
    show(rig, "arm_state_change", "arm_stay", lambda: keypad.armed)
    assert not keypad.memory


def test_dsc_key_reaches_the_keypad_actor(dsc_rig, users):
    rig = dsc_rig
    start_keypad(rig)

    for code in (0x05, 0x0A, 0x0F, 0x11):  # 1 2 3 4
        rig.hardware.dsc_keypad.press(code)
    for _ in range(6):
        rig.step(POLL, "keypad")

    ((name, message),) = wait_commands(rig, 1)
    assert name == "Disarm" and message.user_id == 1


def test_dsc_exit_delay_beeps_follow_the_countdown(dsc_rig):
    rig = dsc_rig
    wall = rig.clock.wall()
    rig.query(
        "UPDATE runtime_state SET exit_deadline = %s", (wall + timedelta(seconds=7),)
    )
    start_keypad(rig)
    keypad = rig.hardware.dsc_keypad

    rig.ctx.bus.publish(UiEvent("system_state_change", "monitoring_arm_delay"))
    rig.settle("keypad")
    for _ in range(80):
        rig.step(0.1, "keypad")

    # one beep message a second, 2 beeps under 5 s left, 3 when the delay ends
    assert keypad.beeps == [1, 1, 2, 2, 2, 2, 3], keypad.beeps

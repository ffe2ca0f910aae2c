"""Restore: an open arm row the durable state does not hold is closed with a marked
disarm row; the arm the state does hold stays open."""

from __future__ import annotations

from tests.alarm_actors.rig import Core, query


def _disarms(core: Core) -> list[tuple]:
    return query(
        core.db,
        "SELECT id, arm_id, user_id, keypad_id, alert_id, reason FROM disarm"
        " ORDER BY id",
    )


def test_an_open_arm_is_closed_when_the_state_says_disarmed(core: Core) -> None:
    core.stop("outputs", "siren", "alarm")
    query(core.db, "INSERT INTO arm (id, type, time) VALUES (7, 'AWAY', now())")

    core.start("alarm", "siren", "outputs")
    core.flush()

    assert _disarms(core) == [(1, 7, None, None, None, "not_in_durable_state")]
    assert core.status().arm_state == "disarm"
    # The machine's own ids go on after the clean-up's: arm and disarm again.
    assert core.arm().ok
    assert core.disarm().ok
    assert _disarms(core)[1:] == [(2, 8, None, None, None, None)]


def test_the_arm_the_state_holds_stays_open(core: Core) -> None:
    assert core.arm(user_id=1).ok
    (armed,) = query(core.db, "SELECT id FROM arm")
    core.stop("outputs", "siren", "alarm")
    # An older arm left open by some earlier fault.
    query(core.db, "INSERT INTO arm (id, type, time) VALUES (50, 'STAY', now())")

    core.start("alarm", "siren", "outputs")
    core.flush()

    assert _disarms(core) == [(1, 50, None, None, None, "not_in_durable_state")]
    assert core.status().arm_state == "arm_away"
    assert core.disarm(user_id=1).ok
    assert _disarms(core)[1:] == [(2, armed[0], 1, None, None, None)]


def test_an_unreadable_state_closes_open_arms_with_that_reason(core: Core) -> None:
    assert core.arm().ok
    core.stop("outputs", "siren", "alarm")
    query(core.db, "UPDATE runtime_state SET alarm_state = '{\"version\": -1}'")

    core.start("alarm", "siren", "outputs")
    core.flush()

    assert [row[-1] for row in _disarms(core)] == ["state_unreadable"]
    # A second start finds nothing left to close.
    core.stop("outputs", "siren", "alarm")
    core.start("alarm", "siren", "outputs")
    core.flush()
    assert len(_disarms(core)) == 1

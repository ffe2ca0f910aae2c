"""AlarmLogic with real storage, siren and outputs: durability, alerts, races."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

import pytest

from arpi.actors import Crash
from arpi.actors.alarm import Flush, resolve_reply
from arpi.alarm.messages import Arm, ArmResult, Disarm, DisarmResult
from arpi.bus import ConfigChanged
from arpi.db.storage import submit
from tests.alarm_actors.rig import (
    DOOR,
    ENTRY_DELAY,
    EXIT_DELAY,
    GARAGE,
    GARAGE_DOOR,
    HOUSE,
    LID,
    TIMEOUT,
    WINDOW,
    WINDOW2,
    A,
    C,
    Core,
    I,
    count,
    query,
)
from tests.helpers import wait_for


def _hold_storage(core: Core) -> threading.Event:
    """Occupy the storage thread until the returned event is set."""
    gate, started = threading.Event(), threading.Event()

    def hold(cur: Any) -> None:
        started.set()
        gate.wait(TIMEOUT)

    submit(core.ctx.directory.address("storage"), hold, "hold")
    assert started.wait(TIMEOUT)
    return gate


def _hold_alarm(core: Core) -> threading.Event:
    """Block the alarm's thread (messages queue up) until the event is set."""
    gate = threading.Event()
    core.alarm.tell(Crash("hang", gate=gate))
    return gate


# -- acknowledgement after commit ------------------------------------------------------


def test_arm_is_acknowledged_only_after_its_rows_are_committed(core: Core) -> None:
    gate = _hold_storage(core)
    reply = core.alarm.ask(Arm("arm_away", user_id=1), TIMEOUT)

    assert isinstance(reply, Future)
    assert not reply.done()
    assert count(core.db, "arm") == 0

    gate.set()
    result = resolve_reply(reply, TIMEOUT)

    assert result == ArmResult(True)
    # The rows were committed before the reply was set.
    assert query(core.db, "SELECT id, type, user_id FROM arm") == [(1, "AWAY", 1)]
    assert count(core.db, "arm_sensor", "arm_id = 1") == 5
    assert query(core.db, "SELECT arm_state FROM area ORDER BY id") == [
        ("AWAY",),
        ("AWAY",),
    ]
    state = query(core.db, "SELECT alarm_state->>'monitoring_state' FROM runtime_state")
    assert state == [("monitoring_armed",)]


def test_disarm_is_acknowledged_only_after_its_rows_are_committed(core: Core) -> None:
    core.arm()
    gate = _hold_storage(core)
    reply = core.alarm.ask(Disarm(user_id=1), TIMEOUT)

    assert isinstance(reply, Future) and not reply.done()
    assert count(core.db, "disarm") == 0
    gate.set()

    assert resolve_reply(reply, TIMEOUT) == DisarmResult(True)
    assert query(core.db, "SELECT id, arm_id, user_id FROM disarm") == [(1, 1, 1)]


def test_a_refusal_is_answered_at_once_with_the_blocking_sensors(core: Core) -> None:
    core.sample((WINDOW, A))
    core.flush()

    result = core.alarm.ask(Arm("arm_away"), TIMEOUT)

    assert isinstance(result, ArmResult)
    assert not result.ok
    assert [(s.id, s.name) for s in result.sensors] == [(WINDOW, "window")]
    assert count(core.db, "arm") == 0


def test_force_arm_bypasses_and_records_the_bypass(core: Core) -> None:
    core.sample((WINDOW, A))
    core.flush()

    result = core.arm(force=True)

    assert result.ok
    assert [s.id for s in result.bypassed] == [WINDOW]
    rows = query(
        core.db, "SELECT sensor_id, bypassed FROM arm_sensor ORDER BY sensor_id"
    )
    assert dict(rows)[WINDOW] is True
    assert sum(1 for _, bypassed in rows if bypassed) == 1
    # The bypassed sensor raises nothing, however often it opens and closes.
    for state in (I, A, I, A):
        core.sample((WINDOW, state))
    core.settle_outputs()
    assert count(core.db, "alert") == 0
    assert not core.chip()


# -- alerts ------------------------------------------------------------------------


def test_instant_zone_trip_opens_one_alert_and_sounds_the_siren(core: Core) -> None:
    core.arm()
    core.sample((WINDOW, A))
    core.wait_chip(True)
    core.flush()

    assert core.status().monitoring_state == "monitoring_alert"
    assert query(core.db, "SELECT id, end_time FROM alert") == [(1, None)]
    assert query(core.db, "SELECT alert_id FROM arm") == [(1,)]
    assert query(core.db, "SELECT sensor_id, kind FROM alert_sensor") == [
        (WINDOW, "intrusion")
    ]
    assert query(core.db, "SELECT event_key FROM notification_outbox") == [
        ("alert_started:1",)
    ]
    alerts = [p for p in core.published("alert_state_change") if p is not None]
    assert alerts and alerts[-1]["id"] == 1
    assert core.published("syren_state_change")[-1] is True
    # The siren's durable run is what the outputs actor would restore.
    assert query(
        core.db,
        "SELECT siren_started_at IS NOT NULL, siren_until IS NOT NULL"
        " FROM runtime_state",
    ) == [(True, True)]


def test_two_sensors_tripping_together_open_one_alert(core: Core) -> None:
    core.arm()
    core.sample((WINDOW, A), (WINDOW2, A))
    core.wait_chip(True)
    core.flush()

    assert count(core.db, "alert") == 1
    assert sorted(
        r[0] for r in query(core.db, "SELECT sensor_id FROM alert_sensor")
    ) == [WINDOW, WINDOW2]
    assert count(core.db, "notification_outbox") == 1


def test_entry_delay_then_alert(core: Core) -> None:
    core.arm()
    core.sample((DOOR, A))
    core.flush()
    assert core.status().monitoring_state == "monitoring_alert_delay"
    assert query(
        core.db, "SELECT alarm_state->'entries'->0->>'sensor_id' FROM runtime_state"
    ) == [(str(DOOR),)]

    core.advance(ENTRY_DELAY - 0.001)
    core.settle_outputs()
    assert not core.chip()
    assert count(core.db, "alert") == 0

    core.advance(0.002)
    core.wait_chip(True)
    assert core.status().monitoring_state == "monitoring_alert"
    assert query(core.db, "SELECT sensor_id, delay FROM alert_sensor") == [
        (DOOR, ENTRY_DELAY)
    ]


@pytest.mark.parametrize("offset", [-0.001, 0.0, 0.001])
def test_disarm_queued_before_the_deadline_tick_means_no_alert(
    core: Core, offset: float
) -> None:
    """Race rule: a disarm handled before the entry deadline's tick wins, even when
    the clock has already reached the deadline (the tick is still queued)."""
    core.arm()
    core.sample((DOOR, A))
    core.flush()
    mark = core.mark()

    gate = _hold_alarm(core)
    reply: Future = Future()
    threading.Thread(
        target=lambda: reply.set_result(core.alarm.ask(Disarm(), TIMEOUT)), daemon=True
    ).start()
    wait_for(lambda: _inbox(core) >= 1, TIMEOUT, "disarm queued behind the hang")
    core.clock.advance(ENTRY_DELAY + offset)  # any tick is queued after the disarm
    gate.set()

    assert resolve_reply(reply.result(TIMEOUT), TIMEOUT) == DisarmResult(True)
    core.advance(100)
    core.settle_outputs()
    assert count(core.db, "alert") == 0
    assert not core.chip()
    assert all(p is None for p in core.published_since(mark, "alert_state_change"))
    assert core.status().monitoring_state == "monitoring_ready"


@pytest.mark.parametrize(
    ("offset", "alerted"), [(-0.001, False), (0.0, True), (0.001, True)]
)
def test_disarm_after_the_deadline_tick_closes_the_alert(
    core: Core, offset: float, alerted: bool
) -> None:
    """Race rule, other order: a tick handled first opens the alert; the disarm
    closes it. Either way nothing sounds or alerts after the acknowledgement."""
    core.arm()
    core.sample((DOOR, A))
    core.flush()

    core.advance(ENTRY_DELAY + offset)  # the tick (if due) is handled first
    assert core.disarm() == DisarmResult(True)
    mark = core.mark()
    core.advance(100)
    core.settle_outputs()

    assert count(core.db, "alert") == (1 if alerted else 0)
    assert count(core.db, "alert", "end_time IS NULL") == 0
    if alerted:
        assert query(core.db, "SELECT alert_id FROM disarm") == [(1,)]
        assert count(core.db, "alert_sensor", "end_time IS NULL") == 0
    assert not core.chip()
    assert all(p is None for p in core.published_since(mark, "alert_state_change"))
    assert core.published_since(mark, "syren_state_change") in ([], [None])


def test_two_disarms_at_once_record_one_disarm(core: Core) -> None:
    core.arm()
    core.sample((DOOR, A))
    core.flush()
    gate = _hold_alarm(core)
    futures: list[Future] = [Future(), Future()]
    for future in futures:
        threading.Thread(
            target=lambda f=future: f.set_result(core.alarm.ask(Disarm(), TIMEOUT)),
            daemon=True,
        ).start()
    wait_for(lambda: _inbox(core) >= 2, TIMEOUT, "two disarms queued")
    core.clock.advance(ENTRY_DELAY + 1)
    gate.set()

    results = [resolve_reply(f.result(TIMEOUT), TIMEOUT) for f in futures]
    assert results == [DisarmResult(True), DisarmResult(True)]
    core.advance(100)
    assert count(core.db, "disarm") == 1
    assert count(core.db, "alert") == 0
    assert not core.chip()


def test_three_alarm_cycles_each_alarm_once(core: Core) -> None:
    for cycle in range(1, 4):
        assert core.arm().ok
        core.sample((WINDOW, A))
        core.wait_chip(True)
        core.sample((WINDOW, I), (WINDOW2, A))  # another sensor joins, no new alert
        core.flush()
        assert count(core.db, "alert") == cycle
        assert core.disarm().ok
        core.sample((WINDOW2, I))
        core.wait_chip(False)
        core.advance(5)

    assert count(core.db, "alert", "end_time IS NOT NULL") == 3
    assert count(core.db, "notification_outbox", "kind = 'alert_started'") == 3
    assert count(core.db, "notification_outbox", "kind = 'alert_stopped'") == 3
    assert query(core.db, "SELECT count(*), count(DISTINCT alert_id) FROM disarm") == [
        (3, 3)
    ]


def test_sabotage_while_disarmed(core: Core) -> None:
    core.sample((LID, A))
    core.wait_chip(True)
    core.flush()

    assert core.status().monitoring_state == "monitoring_sabotage"
    assert core.status().alert["alertType"] == "alert_sabotage"
    assert core.disarm().ok
    core.wait_chip(False)
    assert query(core.db, "SELECT arm_id, alert_id FROM disarm") == [(None, 1)]


def test_sabotage_while_armed_and_an_intrusion_joining_it(core: Core) -> None:
    core.arm()
    core.sample((LID, A))
    core.wait_chip(True)
    core.flush()
    assert core.status().monitoring_state == "monitoring_sabotage"

    core.sample((WINDOW, A))
    core.flush()
    assert core.status().monitoring_state == "monitoring_alert"
    assert count(core.db, "alert") == 1
    assert count(core.db, "alert_sensor") == 2


def test_a_cut_line_is_a_tamper_alarm_after_the_grace_time(core: Core) -> None:
    core.sample((WINDOW, C))
    core.advance(1.9)
    assert count(core.db, "alert") == 0
    core.advance(0.2)
    core.wait_chip(True)
    assert query(core.db, "SELECT sensor_id, kind FROM alert_sensor") == [
        (WINDOW, "tamper")
    ]


def test_per_area_disarm_keeps_the_other_area_armed(core: Core) -> None:
    assert core.arm(area_id=HOUSE).ok
    assert core.arm(area_id=GARAGE).ok
    assert core.disarm(area_id=GARAGE).ok
    assert query(core.db, "SELECT id, arm_state FROM area ORDER BY id") == [
        (HOUSE, "AWAY"),
        (GARAGE, "DISARM"),
    ]
    assert core.status().arm_state == "arm_away"

    core.sample((GARAGE_DOOR, A))
    core.settle_outputs()
    assert count(core.db, "alert") == 0

    core.sample((WINDOW, A))
    core.wait_chip(True)
    core.flush()
    assert query(core.db, "SELECT sensor_id FROM alert_sensor") == [(WINDOW,)]
    assert count(core.db, "arm") == 1


def test_exit_delay_is_durable_and_ends(core: Core) -> None:
    assert core.arm(use_delay=True).ok
    assert core.status().monitoring_state == "monitoring_arm_delay"
    assert query(core.db, "SELECT exit_deadline IS NOT NULL FROM runtime_state") == [
        (True,)
    ]
    core.advance(EXIT_DELAY + 0.001)
    assert core.status().monitoring_state == "monitoring_armed"


def test_storage_down_keeps_guarding_and_writes_everything_in_order(
    core: Core,
) -> None:
    core.arm()
    core.stop("outputs", "siren", "alarm", "storage")
    core.start("alarm", "siren", "outputs")  # storage is down: the alarm still starts
    core.sample((WINDOW, A))
    core.wait_chip(True)  # guarding without the disk
    reply = core.alarm.ask(Disarm(), TIMEOUT)
    assert isinstance(reply, Future) and not reply.done()
    core.wait_chip(False)

    core.start("storage")
    assert resolve_reply(reply, TIMEOUT) == DisarmResult(True)
    core.flush()
    assert query(core.db, "SELECT id, end_time IS NOT NULL FROM alert") == [(1, True)]
    assert query(core.db, "SELECT alert_id, arm_id FROM disarm") == [(1, 1)]
    assert count(core.db, "notification_outbox") == 2


def test_config_change_is_reloaded(core: Core) -> None:
    query(core.db, "UPDATE zone SET away_alert_delay = 0 WHERE id = 2")
    core.ctx.bus.publish(ConfigChanged(frozenset({"zones"})))
    wait_for(
        lambda: "monitoring_updating_config" in core.published("system_state_change"),
        TIMEOUT,
        "reload",
    )
    core.flush()
    core.arm()
    core.sample((DOOR, A))
    core.wait_chip(True)


def test_flush_answers_at_once_when_nothing_is_waiting(core: Core) -> None:
    assert core.alarm.ask(Flush(), TIMEOUT).__class__.__name__ == "Flushed"


def _inbox(core: Core) -> int:
    ref = core.ctx.directory.lookup("alarm")
    return ref.actor_inbox.qsize()

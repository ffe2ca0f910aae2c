"""The hot-path shortcuts keep their behaviour: early siren commands, batched
statements, the cached notification options, the cheap GPIO model."""

from __future__ import annotations

import json

import psycopg2
import pytest

from arpi.actors.alarm import _Batched
from arpi.alarm.effects import Command, Publish, StartSiren
from arpi.alarm.lines import LineState
from arpi.db import Database
from arpi.drivers.buses import Direction
from arpi.drivers.factory import DriverFactory, HardwareConfig
from arpi.drivers.fakes import HISTORY_LIMIT, FakeGpio
from arpi.notify import enqueue_notifications
from tests.alarm.rig import WINDOW, Rig


def test_siren_command_is_handed_over_before_the_event_is_finished() -> None:
    rig = Rig()
    early: list[Command] = []
    seen_then: list[int] = []

    def sink(command: Command) -> None:
        early.append(command)
        seen_then.append(len(rig.log))  # nothing of this event returned yet

    rig.machine.on_command = sink
    rig.arm("arm_away")
    start = len(rig.log)
    effects = rig.set(WINDOW, LineState.ACTIVE)

    assert [type(c) for c in early] == [StartSiren]
    assert seen_then == [start]
    # Still in the returned effects, in the same order relative to other commands.
    commands = [e for e in effects if isinstance(e, Command)]
    assert commands[: len(early)] == early
    assert early[0] is commands[0]
    assert any(
        isinstance(e, Publish) and e.name == "alert_state_change" for e in effects
    )


def test_no_sink_changes_nothing() -> None:
    with_sink, without = Rig(), Rig()
    with_sink.machine.on_command = lambda _c: None
    for rig in (with_sink, without):
        rig.arm("arm_away")
        rig.set(WINDOW, LineState.ACTIVE)
    assert [type(e) for e in with_sink.log] == [type(e) for e in without.log]


def _cursor(db: Database) -> tuple[object, object]:
    conn = db.connect(application_name="bench-test")
    cur = conn.cursor()
    cur.execute("CREATE TEMP TABLE t (id int PRIMARY KEY, v text)")
    return conn, cur


def test_batched_statements_go_together_and_report_the_last_result(
    db: Database,
) -> None:
    conn, cur = _cursor(db)
    try:
        batched = _Batched(cur)
        batched.defer("INSERT INTO t VALUES (%s, %s)", (1, "a%s'b"))
        batched.defer("INSERT INTO t VALUES (%s, %s)", (2, "b"))
        batched.execute("UPDATE t SET v = %s WHERE id >= %s", ("c", 2))
        assert batched.rowcount == 1
        batched.defer("INSERT INTO t VALUES (%s, %s)", (3, "d"))
        batched.execute("SELECT id, v FROM t ORDER BY id")
        assert batched.fetchall() == [(1, "a%s'b"), (2, "c"), (3, "d")]
        batched.defer("DELETE FROM t WHERE id = %s", (3,))
        batched.flush()
        cur.execute("SELECT count(*) FROM t")
        assert cur.fetchone() == (2,)
    finally:
        conn.rollback()
        conn.close()


def test_an_error_in_a_deferred_statement_is_raised_by_the_next_call(
    db: Database,
) -> None:
    conn, cur = _cursor(db)
    try:
        batched = _Batched(cur)
        batched.defer("INSERT INTO t VALUES (%s, %s)", (1, "a"))
        batched.defer("INSERT INTO t VALUES (%s, %s)", (1, "again"))
        with pytest.raises(psycopg2.IntegrityError):
            batched.flush()
    finally:
        conn.rollback()
        conn.close()


def _set_option(cur: object, name: str, section: str, value: object) -> None:
    cur.execute(  # type: ignore[attr-defined]
        "INSERT INTO option (name, section, value) VALUES (%s, %s, %s) "
        "ON CONFLICT (name, section) DO UPDATE SET value = EXCLUDED.value",
        (name, section, json.dumps(value)),
    )


def test_notification_options_are_read_in_the_transaction_every_time(
    db: Database,
) -> None:
    conn = db.connect(application_name="bench-test")
    try:
        with conn.cursor() as cur:
            _set_option(cur, "notifications", "subscriptions", {})
            assert (
                enqueue_notifications(
                    cur,
                    "alert_started:1",
                    "alert_started",
                    {"alert_id": 1, "sensors": []},
                )
                == 0
            )
            _set_option(
                cur,
                "notifications",
                "gsm",
                {"enabled": True, "phone_number_1": "+36301111111"},
            )
            _set_option(
                cur,
                "notifications",
                "subscriptions",
                {"sms1": {"alert_started": True}},
            )
            # Changed inside the same transaction: seen at once, no stale cache.
            assert (
                enqueue_notifications(
                    cur,
                    "alert_started:2",
                    "alert_started",
                    {"alert_id": 2, "sensors": []},
                )
                == 1
            )
            _set_option(cur, "notifications", "subscriptions", {})
            assert (
                enqueue_notifications(
                    cur,
                    "alert_started:3",
                    "alert_started",
                    {"alert_id": 3, "sensors": []},
                )
                == 0
            )
    finally:
        conn.rollback()
        conn.close()


def test_gpio_history_is_bounded_and_the_chip_still_latches() -> None:
    gpio = FakeGpio()
    gpio.setup(5, Direction.OUT, initial=0)
    for i in range(HISTORY_LIMIT + 10):
        gpio.output(5, i % 2 == 0)
    assert len(gpio.history(5)) == HISTORY_LIMIT

    factory = DriverFactory(HardwareConfig(board="simulated"))
    try:
        chip = factory.outputs()
        for channel in range(8):
            states = [c == channel for c in range(8)]
            chip.write(states)
            assert factory.hardware.drv8860.channel_states() == tuple(states)
    finally:
        factory.close()

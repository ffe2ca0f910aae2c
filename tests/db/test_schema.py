"""Seed data, enums and constraints of the schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import bcrypt
import psycopg2
import psycopg2.errorcodes
import pytest

from arpi.db import Database


@pytest.fixture
def cur(db: Database) -> Iterator[Any]:
    conn = db.connect()
    try:
        with conn.cursor() as cursor:
            yield cursor
    finally:
        conn.rollback()
        conn.close()


def _rows(cur: Any, sql: str) -> list[tuple]:
    cur.execute(sql)
    return cur.fetchall()


# --- seed (reference 1.14 `prod`, DECISIONS W5) -------------------------------------


def test_seed_sensor_types(cur: Any) -> None:
    assert _rows(cur, "SELECT id, name, description FROM sensor_type ORDER BY id") == [
        (1, "Motion", "Detect motion"),
        (2, "Tamper", "Detect sabotage"),
        (3, "Open", "Detect opening"),
        (4, "Break", "Detect glass break"),
    ]


def test_seed_keypads_and_area(cur: Any) -> None:
    assert _rows(cur, "SELECT id, name FROM keypad_type ORDER BY id") == [
        (1, "DSC"),
        (2, "WIEGAND"),
    ]
    assert _rows(cur, "SELECT id, type_id, enabled FROM keypad") == [(1, 2, True)]
    assert _rows(cur, "SELECT id, name, arm_state, deleted FROM area") == [
        (1, "House", "DISARM", False)
    ]
    assert _rows(cur, "SELECT count(*) FROM zone") == [(0,)]
    assert _rows(cur, "SELECT count(*) FROM sensor") == [(0,)]


def test_seed_admin_codes_are_bcrypt_of_1234_and_abcd1234(cur: Any) -> None:
    cur.execute(
        "SELECT id, name, role, email, access_code, fourkey_code, registration_code, "
        'registration_expiry FROM "user"'
    )
    [(uid, name, role, email, access, fourkey, registration, expiry)] = cur.fetchall()

    assert (uid, name, role, email, expiry) == (1, "Administrator", "admin", "", None)
    assert bcrypt.checkpw(b"1234", access.encode())
    assert fourkey.startswith("$2b$") and fourkey != access  # its own salt
    # Registration codes are stored normalised: lower case, dashes removed.
    assert bcrypt.checkpw(b"abcd1234", registration.encode())


def test_seed_options_and_runtime_state(cur: Any) -> None:
    assert _rows(cur, "SELECT name, section, value FROM option") == [
        (
            "network",
            "access",
            {
                "service_enabled": True,
                "restrict_local_network": False,
                "password_authentication_enabled": True,
            },
        )
    ]
    assert _rows(
        cur,
        "SELECT monitoring_state, exit_deadline, siren_started_at, siren_until "
        "FROM runtime_state",
    ) == [("monitoring_startup", None, None, None)]


# --- enums ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("enum", "labels"),
    [
        ("armstates", ["AWAY", "STAY", "MIXED", "DISARM"]),
        ("channel_types", ["basic", "normal", "channel_a", "channel_b"]),
        ("sensor_contact_types", ["NO", "NC"]),
        ("sensor_eol_count", ["single", "double"]),
        ("output_trigger_type", ["area", "system", "button"]),
        (
            "monitoring_states",
            [
                "monitoring_startup",
                "monitoring_updating_config",
                "monitoring_invalid_config",
                "monitoring_ready",
                "monitoring_arm_delay",
                "monitoring_armed",
                "monitoring_alert_delay",
                "monitoring_alert",
                "monitoring_sabotage",
                "monitoring_error",
                "monitoring_stopped",
            ],
        ),
    ],
)
def test_enum_labels(cur: Any, enum: str, labels: list[str]) -> None:
    cur.execute(
        "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
        "WHERE t.typname = %s ORDER BY e.enumsortorder",
        (enum,),
    )
    assert [row[0] for row in cur.fetchall()] == labels


# --- constraints ----------------------------------------------------------------------

ZONE = "INSERT INTO zone (id, name) VALUES (1, 'Z')"
SENSOR = (
    "INSERT INTO sensor (id, name, channel, zone_id, area_id, type_id) "
    "VALUES (1, 'S', 0, 1, 1, 1)"
)
ARM = "INSERT INTO arm (id, type, time) VALUES (1, 'AWAY', now())"
ALERT_SENSOR = (
    "INSERT INTO alert_sensor (alert_id, sensor_id, start_time) VALUES (1, 1, now())"
)
USER = 'INSERT INTO "user" (name, role, access_code, fourkey_code) VALUES '


CHECK = psycopg2.errorcodes.CHECK_VIOLATION
UNIQUE = psycopg2.errorcodes.UNIQUE_VIOLATION
FOREIGN = psycopg2.errorcodes.FOREIGN_KEY_VIOLATION
NOT_NULL = psycopg2.errorcodes.NOT_NULL_VIOLATION
TOO_LONG = psycopg2.errorcodes.STRING_DATA_RIGHT_TRUNCATION
BAD_ENUM = psycopg2.errorcodes.INVALID_TEXT_REPRESENTATION

REFUSED = [
    # (case, setup statements, refused statement, SQLSTATE, constraint or None)
    (
        "zone delay below zero",
        [],
        "INSERT INTO zone (name, away_alert_delay) VALUES ('z', -1)",
        CHECK,
        "zone_delays_not_negative",
    ),
    (
        "sensor channel below -1",
        [ZONE],
        (
            "INSERT INTO sensor (name, channel, zone_id, area_id, type_id) "
            "VALUES ('s', -2, 1, 1, 1)"
        ),
        CHECK,
        "sensor_channel_valid",
    ),
    (
        "sensor threshold over 100",
        [ZONE],
        (
            "INSERT INTO sensor (name, monitor_threshold, zone_id, area_id, type_id) "
            "VALUES ('s', 101, 1, 1, 1)"
        ),
        CHECK,
        "sensor_monitor_threshold_percent",
    ),
    (
        "sensor period zero",
        [ZONE],
        (
            "INSERT INTO sensor (name, monitor_period, zone_id, area_id, type_id) "
            "VALUES ('s', 0, 1, 1, 1)"
        ),
        CHECK,
        "sensor_monitor_period_positive",
    ),
    (
        "sensor name over 16",
        [ZONE],
        (
            "INSERT INTO sensor (name, zone_id, area_id, type_id) "
            "VALUES (repeat('x', 17), 1, 1, 1)"
        ),
        TOO_LONG,
        None,
    ),
    (
        "sensor unknown zone",
        [],
        "INSERT INTO sensor (name, zone_id, area_id, type_id) VALUES ('s', 99, 1, 1)",
        FOREIGN,
        "sensor_zone_id_fkey",
    ),
    (
        "sensor unknown type",
        [ZONE],
        "INSERT INTO sensor (name, zone_id, area_id, type_id) VALUES ('s', 1, 1, 9)",
        FOREIGN,
        "sensor_type_id_fkey",
    ),
    (
        "sensor bad channel type",
        [ZONE],
        (
            "INSERT INTO sensor (name, channel_type, zone_id, area_id, type_id) "
            "VALUES ('s', 'channel_c', 1, 1, 1)"
        ),
        BAD_ENUM,
        None,
    ),
    (
        "area bad arm state",
        [],
        "INSERT INTO area (name, arm_state) VALUES ('a', 'arm_away')",
        BAD_ENUM,
        None,
    ),
    (
        "zone in use cannot be deleted",
        [ZONE, SENSOR],
        "DELETE FROM zone WHERE id = 1",
        FOREIGN,
        "sensor_zone_id_fkey",
    ),
    (
        "area in use cannot be deleted",
        [ZONE, SENSOR],
        "DELETE FROM area WHERE id = 1",
        FOREIGN,
        "sensor_area_id_fkey",
    ),
    (
        "output on the siren channel",
        [],
        "INSERT INTO output (channel, trigger_type) VALUES (0, 'system')",
        CHECK,
        "output_channel_valid",
    ),
    (
        "output channel twice",
        ["INSERT INTO output (channel, trigger_type) VALUES (3, 'system')"],
        "INSERT INTO output (channel, trigger_type) VALUES (3, 'button')",
        UNIQUE,
        "output_channel_unique",
    ),
    (
        "area output without area",
        [],
        "INSERT INTO output (channel, trigger_type) VALUES (2, 'area')",
        CHECK,
        "output_trigger_area",
    ),
    (
        "system output with area",
        [],
        "INSERT INTO output (channel, trigger_type, area_id) VALUES (2, 'system', 1)",
        CHECK,
        "output_trigger_area",
    ),
    (
        "output negative duration",
        [],
        "INSERT INTO output (trigger_type, duration) VALUES ('system', -1)",
        CHECK,
        "output_duration_not_negative",
    ),
    (
        "two open alerts",
        ["INSERT INTO alert (start_time) VALUES (now())"],
        "INSERT INTO alert (start_time) VALUES (now())",
        UNIQUE,
        "alert_one_open",
    ),
    (
        "two disarms of one arm",
        [ARM, "INSERT INTO disarm (time, arm_id) VALUES (now(), 1)"],
        "INSERT INTO disarm (time, arm_id) VALUES (now(), 1)",
        UNIQUE,
        "disarm_arm_id_unique",
    ),
    (
        "a sensor twice in one alert",
        [
            ZONE,
            SENSOR,
            "INSERT INTO alert (id, start_time) VALUES (1, now())",
            ALERT_SENSOR,
        ],
        ALERT_SENSOR,
        UNIQUE,
        "alert_sensor_pkey",
    ),
    (
        "user role",
        [],
        USER + "('u', 'root', 'x', 'x')",
        CHECK,
        "user_role_valid",
    ),
    (
        "user empty name",
        [],
        USER + "('', 'user', 'x', 'x')",
        CHECK,
        "user_name_not_empty",
    ),
    (
        "user without access code",
        [],
        "INSERT INTO \"user\" (name, role, fourkey_code) VALUES ('u', 'user', 'x')",
        NOT_NULL,
        None,
    ),
    (
        "user with cards cannot be deleted",
        ["INSERT INTO card (code, user_id) VALUES ('x', 1)"],
        'DELETE FROM "user" WHERE id = 1',
        FOREIGN,
        "card_user_id_fkey",
    ),
    (
        "second runtime state row",
        [],
        "INSERT INTO runtime_state (id) VALUES (false)",
        CHECK,
        "runtime_state_single_row",
    ),
    (
        "siren cut-off without start",
        [],
        "UPDATE runtime_state SET siren_until = now()",
        CHECK,
        "runtime_state_siren_until_needs_start",
    ),
    (
        "entry delay deadline before start",
        [ZONE, SENSOR],
        "INSERT INTO entry_delay VALUES (1, now(), now() - interval '1 second')",
        CHECK,
        "entry_delay_deadline_after_start",
    ),
    (
        "option twice",
        [],
        "INSERT INTO option (name, section, value) VALUES ('network', 'access', '{}')",
        UNIQUE,
        "option_name_section_unique",
    ),
    (
        "throttle scope",
        [],
        "INSERT INTO auth_throttle (scope, subject) VALUES ('planet', 'x')",
        CHECK,
        "auth_throttle_scope_valid",
    ),
]


@pytest.mark.parametrize(
    ("setup", "statement", "sqlstate", "constraint"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_constraint_refuses(
    cur: Any, setup: list[str], statement: str, sqlstate: str, constraint: str | None
) -> None:
    for sql in setup:
        cur.execute(sql)

    with pytest.raises(psycopg2.Error) as caught:
        cur.execute(statement)

    assert caught.value.pgcode == sqlstate
    if constraint is not None:
        assert caught.value.diag.constraint_name == constraint


def test_deleting_a_user_keeps_the_id_in_history(cur: Any) -> None:
    cur.execute(
        'INSERT INTO "user" (name, role, access_code, fourkey_code) '
        "VALUES ('Chuck', 'user', 'x', 'x') RETURNING id"
    )
    [(uid,)] = cur.fetchall()
    cur.execute(
        "INSERT INTO arm (type, time, user_id) VALUES ('AWAY', now(), %s)", (uid,)
    )
    cur.execute("INSERT INTO disarm (time, user_id) VALUES (now(), %s)", (uid,))

    cur.execute('DELETE FROM "user" WHERE id = %s', (uid,))

    assert _rows(cur, "SELECT user_id FROM arm") == [(uid,)]
    assert _rows(cur, "SELECT user_id FROM disarm") == [(uid,)]


def test_generated_user_and_card_ids_have_8_digits(cur: Any) -> None:
    ids = []
    for i in range(20):
        cur.execute(
            'INSERT INTO "user" (name, role, access_code, fourkey_code) '
            "VALUES (%s, 'user', 'x', 'x') RETURNING id",
            (f"u{i}",),
        )
        ids.append(cur.fetchone()[0])
    cur.execute("INSERT INTO card (code, user_id) VALUES ('x', 1) RETURNING id")
    ids.append(cur.fetchone()[0])

    assert all(10_000_000 <= i <= 99_999_999 for i in ids)
    assert len(set(ids)) == len(ids)


def test_defaults_of_new_rows(cur: Any) -> None:
    cur.execute(ZONE)
    cur.execute(
        "INSERT INTO sensor (name, zone_id, area_id, type_id) VALUES ('s', 1, 1, 1)"
    )
    cur.execute("INSERT INTO area (name) VALUES ('Garage')")

    assert _rows(
        cur,
        "SELECT channel_type, sensor_contact_type, sensor_eol_count, "
        "monitor_threshold, alert, silent_alert, error, enabled, deleted, ui_hidden "
        "FROM sensor",
    ) == [("normal", "NO", "single", 100, False, False, False, True, False, False)]
    assert _rows(
        cur,
        "SELECT description, disarmed_delay, away_alert_delay, stay_alert_delay, "
        "away_arm_delay, stay_arm_delay FROM zone",
    ) == [("", None, 0, 0, 0, 0)]
    assert _rows(cur, "SELECT arm_state FROM area WHERE name = 'Garage'") == [
        ("DISARM",)
    ]


def test_option_values_are_json(cur: Any) -> None:
    value = {"silent": None, "delay": 0, "duration": 30}
    cur.execute(
        "INSERT INTO option (name, section, value) VALUES ('syren', 'timing', %s)",
        (json.dumps(value),),
    )

    assert _rows(cur, "SELECT value FROM option WHERE name = 'syren'") == [(value,)]

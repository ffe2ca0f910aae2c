"""dbmate migrations: up, down to nothing, up again; status; failures."""

from __future__ import annotations

import pytest

from arpi.db import Database, MigrationFailed, migrate, run_dbmate
from arpi.db.migrate import MIGRATIONS_DIR


def _objects(db: Database) -> tuple[set[str], set[str]]:
    """Tables and enum types of the public schema."""
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public'"
            )
            tables = {row[0] for row in cur.fetchall()}
            cur.execute(
                "SELECT t.typname FROM pg_type t JOIN pg_namespace n "
                "ON n.oid = t.typnamespace "
                "WHERE n.nspname = 'public' AND t.typtype = 'e'"
            )
            types = {row[0] for row in cur.fetchall()}
            return tables, types
    finally:
        conn.close()


MIGRATIONS = sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))


def test_every_migration_goes_down_and_up_again(db: Database) -> None:
    tables_before, types_before = _objects(db)

    for _ in MIGRATIONS:
        run_dbmate(db, ["down"])
    tables_empty, types_empty = _objects(db)
    migrate(db)

    assert tables_empty == {"schema_migrations"}
    assert types_empty == set()
    assert _objects(db) == (tables_before, types_before)
    status = run_dbmate(db, ["status"])
    assert f"Applied: {len(MIGRATIONS)}" in status and "Pending: 0" in status


def test_migrating_again_changes_nothing(db: Database) -> None:
    before = _objects(db)

    migrate(db)

    assert _objects(db) == before


def test_schema_has_every_table(db: Database) -> None:
    tables, types = _objects(db)

    assert tables == {
        "schema_migrations",
        "sensor_type",
        "sensor",
        "zone",
        "area",
        "alert",
        "alert_sensor",
        "arm",
        "disarm",
        "arm_sensor",
        "user",
        "card",
        "keypad",
        "keypad_type",
        "output",
        "option",
        "runtime_state",
        "entry_delay",
        "arm_bypass",
        "notification_outbox",
        "auth_throttle",
        "storage_commit",
    }
    assert types == {
        "armstates",
        "channel_types",
        "sensor_contact_types",
        "sensor_eol_count",
        "output_trigger_type",
        "monitoring_states",
    }


def test_a_failed_migration_is_one_sentence() -> None:
    unreachable = Database("postgresql://arpi@127.0.0.1:1/arpi")

    with pytest.raises(MigrationFailed) as caught:
        migrate(unreachable)

    message = str(caught.value)
    assert message.startswith("dbmate --migration-lock up failed on 127.0.0.1:1/arpi: ")
    assert "connection refused" in message
    assert "\n" not in message

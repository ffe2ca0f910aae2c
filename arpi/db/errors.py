"""Exceptions of the database layer that carry one sentence for a human."""

from __future__ import annotations

__all__ = [
    "BadDatabaseUrl",
    "DatabaseSetupError",
    "DatabaseUnreachable",
    "EmbeddedServerError",
    "MigrationFailed",
]


class DatabaseSetupError(Exception):
    """The database could not be made ready; `str(error)` is one sentence to log.

    The caller logs it once (no traceback is needed: the sentence names the problem)
    and exits non-zero.
    """


class BadDatabaseUrl(DatabaseSetupError):
    """DATABASE_URL (or a URL given in its place) is not a usable PostgreSQL URL."""


class DatabaseUnreachable(DatabaseSetupError):
    """The PostgreSQL server named by the URL does not answer or refuses us."""


class EmbeddedServerError(DatabaseSetupError):
    """The embedded PostgreSQL server could not be initialised, started or stopped."""


class MigrationFailed(DatabaseSetupError):
    """dbmate could not apply (or roll back) the schema migrations."""

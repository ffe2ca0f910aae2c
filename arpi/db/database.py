"""`Database`: a validated PostgreSQL URL that hands out psycopg2 connections."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg2
import psycopg2.extensions
import structlog
from pypika import Table

from arpi.db import sql
from arpi.db.errors import BadDatabaseUrl, DatabaseUnreachable

__all__ = ["Database"]

log = structlog.get_logger("arpi.db")

# The server's catalogue of databases (asked through the `postgres` database).
_PG_DATABASE = Table("pg_database")
_SCHEMES = ("postgresql", "postgres")
CONNECT_TIMEOUT = 5


class Database:
    """One PostgreSQL database named by a `postgresql://` URL.

    The URL is checked when the object is built: `BadDatabaseUrl` (one sentence that
    names `source`, e.g. "DATABASE_URL") if it cannot be a PostgreSQL URL. A Unix
    socket is named by a `host=/path/to/dir` query parameter. The object is immutable
    and may be shared between threads; each connection belongs to one thread.
    """

    def __init__(self, url: str, *, source: str = "DATABASE_URL") -> None:
        self.url = _validate(url, source)
        self.source = source
        parts = urlsplit(self.url)
        self.name = parts.path.lstrip("/")

    def __repr__(self) -> str:
        return f"Database({self.redacted_url!r})"

    @property
    def redacted_url(self) -> str:
        """The URL with any password replaced by `***`, safe for logs and messages."""
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        user = parts.username or ""
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))

    @property
    def where(self) -> str:
        """`host:port/name` (or `socket dir/name`) for human messages; no password."""
        parts = urlsplit(self.url)
        query = dict(parse_qsl(parts.query))
        host = parts.hostname or query.get("host") or "the default socket"
        port = parts.port or query.get("port")
        return f"{host}{':' + str(port) if port else ''}/{self.name}"

    def connect(
        self,
        *,
        application_name: str = "arpi",
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> psycopg2.extensions.connection:
        """A new connection (autocommit off); blocks up to `connect_timeout` seconds.

        Raises psycopg2.OperationalError if the server cannot be reached: use
        `check()` where a human sentence is wanted.
        """
        return psycopg2.connect(
            self.url,
            application_name=application_name,
            connect_timeout=max(1, round(connect_timeout)),
        )

    def check(self, timeout: float = CONNECT_TIMEOUT) -> None:
        """Connect and run `SELECT 1`; raises DatabaseUnreachable with one sentence.

        Blocks up to `timeout` seconds; call it from any thread except the event loop.
        """
        try:
            conn = self.connect(application_name="arpi-check", connect_timeout=timeout)
        except psycopg2.Error as exc:
            raise DatabaseUnreachable(
                f"Cannot reach PostgreSQL at {self.where} ({self.source}): "
                f"{_first_line(exc)}."
            ) from None
        try:
            with conn.cursor() as cur:
                sql.execute(cur, sql.Q.select(1))
        except psycopg2.Error as exc:
            raise DatabaseUnreachable(
                f"PostgreSQL at {self.where} ({self.source}) does not answer queries: "
                f"{_first_line(exc)}."
            ) from None
        finally:
            conn.close()

    def with_name(self, name: str) -> Database:
        """The database called `name` on the same server, with the same credentials."""
        parts = urlsplit(self.url)
        return Database(
            urlunsplit(parts._replace(path="/" + quote(name, safe=""))),
            source=self.source,
        )

    def dbmate_url(self) -> str:
        """The URL in the form dbmate understands (`postgres://` scheme).

        dbmate's driver (lib/pq) requires SSL unless told otherwise, where libpq
        (psycopg2) prefers it; without an explicit `sslmode` dbmate is given
        libpq's default, `prefer`, so both connect the same way.
        """
        parts = urlsplit(self.url)
        query = parse_qsl(parts.query)
        if not any(key == "sslmode" for key, _ in query):
            query.append(("sslmode", "prefer"))
        return urlunsplit(parts._replace(scheme="postgres", query=urlencode(query)))

    def exists(self) -> bool:
        """True if this database exists, asked through the `postgres` database.

        Raises DatabaseUnreachable if the server does not answer.
        """
        admin = self.with_name("postgres")
        try:
            conn = admin.connect(application_name="arpi-admin")
        except psycopg2.Error as exc:
            raise DatabaseUnreachable(
                f"Cannot reach PostgreSQL at {admin.where}: {_first_line(exc)}."
            ) from None
        try:
            with conn.cursor() as cur:
                found = sql.fetch_one(
                    cur,
                    sql.Q.from_(_PG_DATABASE)
                    .select(1)
                    .where(_PG_DATABASE.datname == sql.param()),
                    (self.name,),
                )
                return found is not None
        finally:
            conn.close()

    def create(self, template: str | None = None) -> None:
        """CREATE DATABASE this one (optionally from `template`) through `postgres`.

        Raises psycopg2.Error if it exists already or the server refuses.
        """
        admin = self.with_name("postgres")
        conn = admin.connect(application_name="arpi-admin")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                # CREATE/DROP DATABASE are DDL, not queries: pypika has no builder
                # for them; names are quoted identifiers (they cannot be parameters).
                text = f"CREATE DATABASE {_ident(self.name)}"
                if template is not None:
                    text += f" TEMPLATE {_ident(template)}"
                cur.execute(text)
        finally:
            conn.close()

    def drop(self) -> None:
        """DROP DATABASE IF EXISTS this one, closing its other connections first."""
        admin = self.with_name("postgres")
        conn = admin.connect(application_name="arpi-admin")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS {_ident(self.name)} WITH (FORCE)")
        finally:
            conn.close()


def _validate(url: object, source: str) -> str:
    if not isinstance(url, str) or not url.strip():
        raise BadDatabaseUrl(f"{source} is empty; give a postgresql:// URL.")
    url = url.strip()
    if any(ch.isspace() for ch in url):
        raise BadDatabaseUrl(f"{source} contains whitespace; a URL cannot.")
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        shown = f"{parts.scheme}://" if parts.scheme else "no scheme"
        raise BadDatabaseUrl(
            f"{source} must start with postgresql:// or postgres://, not {shown}."
        )
    try:
        port = parts.port
    except ValueError:
        raise BadDatabaseUrl(
            f"{source} has a port that is not a number from 1 to 65535."
        ) from None
    if port == 0:
        raise BadDatabaseUrl(
            f"{source} has a port that is not a number from 1 to 65535."
        )
    name = parts.path.lstrip("/")
    if not name:
        raise BadDatabaseUrl(
            f"{source} names no database; add /<database name> after the host."
        )
    if "/" in name:
        raise BadDatabaseUrl(f"{source} has a database name with a slash in it.")
    try:
        parse_qsl(parts.query, strict_parsing=bool(parts.query))
    except ValueError:
        raise BadDatabaseUrl(
            f"{source} has a malformed query string after '?'."
        ) from None
    try:
        psycopg2.extensions.parse_dsn(url)
    except psycopg2.ProgrammingError as exc:
        reason = _first_line(exc).removeprefix("invalid dsn: ")
        raise BadDatabaseUrl(
            f"{source} is not a valid PostgreSQL URL: {reason}."
        ) from None
    return url


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__

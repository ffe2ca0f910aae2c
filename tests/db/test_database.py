"""`Database` URLs, reachability messages, and `open_database` for the app."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from arpi.db import (
    BadDatabaseUrl,
    Database,
    DatabaseUnreachable,
    EmbeddedPostgres,
    EmbeddedServerError,
    open_database,
)
from tests.pg import TEST_SERVER_SETTINGS


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "DATABASE_URL is empty; give a postgresql:// URL."),
        (
            "mysql://u@h/db",
            "DATABASE_URL must start with postgresql:// or postgres://, not mysql://.",
        ),
        (
            "localhost/arpi",
            "DATABASE_URL must start with postgresql:// or postgres://, not no scheme.",
        ),
        (
            "postgresql://u@h:port/db",
            "DATABASE_URL has a port that is not a number from 1 to 65535.",
        ),
        (
            "postgresql://u@h:70000/db",
            "DATABASE_URL has a port that is not a number from 1 to 65535.",
        ),
        (
            "postgresql://u:secret@h:5432",
            "DATABASE_URL names no database; add /<database name> after the host.",
        ),
        (
            "postgresql://u@h/a/b",
            "DATABASE_URL has a database name with a slash in it.",
        ),
        (
            "postgresql://u@h/db?sslmode",
            "DATABASE_URL has a malformed query string after '?'.",
        ),
        (
            "postgresql://u@h/db?colour=blue",
            (
                "DATABASE_URL is not a valid PostgreSQL URL: "
                'invalid URI query parameter: "colour".'
            ),
        ),
        ("postgresql://u@h/my db", "DATABASE_URL contains whitespace; a URL cannot."),
    ],
)
def test_bad_urls_are_named_clearly(url: str, message: str) -> None:
    with pytest.raises(BadDatabaseUrl) as caught:
        Database(url)

    assert str(caught.value) == message
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://arpi:pw@127.0.0.1:5432/arpi",
        "postgres://arpi@localhost/arpi?sslmode=disable",
        "postgresql://postgres@/arpi?host=/run/postgresql",
        "postgresql:///arpi",
    ],
)
def test_good_urls_are_accepted(url: str) -> None:
    assert Database(url).name == "arpi"


def test_password_never_shows() -> None:
    db = Database("postgresql://arpi:hunter2@127.0.0.1:5432/arpi")

    assert db.redacted_url == "postgresql://arpi:***@127.0.0.1:5432/arpi"
    assert "hunter2" not in repr(db) and "hunter2" not in db.where


def test_unreachable_server_is_one_sentence() -> None:
    db = Database("postgresql://arpi:hunter2@127.0.0.1:1/arpi")

    with pytest.raises(DatabaseUnreachable) as caught:
        db.check(timeout=2)

    assert str(caught.value) == (
        "Cannot reach PostgreSQL at 127.0.0.1:1/arpi (DATABASE_URL): connection to "
        'server at "127.0.0.1", port 1 failed: Connection refused.'
    )


def test_missing_socket_is_reported(scratch: Path) -> None:
    db = Database(f"postgresql://postgres@/arpi?host={scratch}")

    with pytest.raises(
        DatabaseUnreachable, match=r"^Cannot reach PostgreSQL at .*/arpi"
    ):
        db.check(timeout=2)


def test_unknown_database_is_reported(db: Database) -> None:
    missing = db.with_name("no_such_db")

    with pytest.raises(
        DatabaseUnreachable, match='database "no_such_db" does not exist'
    ):
        missing.check()


@dataclass(frozen=True)
class _Settings:
    data_dir: Path
    database_url: str | None = None


def test_open_database_uses_database_url(db: Database, scratch: Path) -> None:
    opened, close = open_database(_Settings(scratch, db.url))

    try:
        assert opened.url == db.url
        opened.check()
        assert list(scratch.iterdir()) == []  # no embedded server was made
    finally:
        close()


def test_open_database_with_unreachable_url_fails_clearly(scratch: Path) -> None:
    with pytest.raises(
        DatabaseUnreachable, match="^Cannot reach PostgreSQL at 127.0.0.1:1"
    ):
        open_database(_Settings(scratch, "postgresql://arpi@127.0.0.1:1/arpi"))


def test_open_database_embedded_creates_migrates_and_stops(scratch: Path) -> None:
    opened, close = open_database(_Settings(scratch / "data"))
    try:
        conn = opened.connect()
        with conn.cursor() as cur:
            cur.execute('SELECT name FROM "user"')
            assert cur.fetchall() == [("Administrator",)]
            cur.execute("SELECT current_database()")
            assert cur.fetchone() == ("arpi",)
        conn.close()
        pid = int(
            (scratch / "data" / "pgdata" / "postmaster.pid").read_text().split()[0]
        )
        processes = [psutil.Process(pid), *psutil.Process(pid).children()]
    finally:
        close()

    assert not any(
        p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in processes
    )

    # The second start finds the cluster and the database and migrates nothing new.
    opened, close = open_database(_Settings(scratch / "data"))
    close()


def test_open_database_in_an_unusable_data_dir(scratch: Path) -> None:
    (scratch / "file").write_text("")

    with pytest.raises(EmbeddedServerError, match="is not writable"):
        open_database(_Settings(scratch / "file" / "data"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_open_database_over_tcp_without_sslmode(
    pg_cluster: Path, scratch: Path
) -> None:
    port = _free_port()
    server = EmbeddedPostgres(
        pg_cluster / "pgdata",
        settings={**TEST_SERVER_SETTINGS, "listen_addresses": "127.0.0.1"},
        port=port,
    )
    server.start()
    try:
        url = f"postgresql://postgres@127.0.0.1:{port}/arpi"
        Database(url).create()

        opened, close = open_database(_Settings(scratch, url))
        close()

        conn = opened.connect()
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM sensor_type")
            assert cur.fetchone() == (4,)
        conn.close()
    finally:
        server.stop()

"""The embedded PostgreSQL server: start, stop, adoption and clear failures."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import psycopg2
import pytest

from arpi.db import Database, EmbeddedPostgres, EmbeddedServerError
from tests.pg import TEST_SERVER_SETTINGS


def _tree(pid: int) -> list[psutil.Process]:
    parent = psutil.Process(pid)
    return [parent, *parent.children(recursive=True)]


def _gone(processes: list[psutil.Process]) -> bool:
    """No process left; a zombie (not reaped by a container's init) counts as gone."""

    def running(process: psutil.Process) -> bool:
        try:
            return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    return not any(running(p) for p in processes)


def _select_one(url: str) -> int:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_start_then_stop_leaves_no_postgres_process(pg_cluster: Path) -> None:
    server = EmbeddedPostgres(pg_cluster / "pgdata", settings=TEST_SERVER_SETTINGS)

    server.start()
    assert server.pid is not None
    # Hold a connection open so that a backend process exists too.
    conn = psycopg2.connect(server.url())
    processes = _tree(server.pid)
    assert len(processes) > 2
    server.stop()
    conn.close()

    assert _gone(processes)
    assert not server.running
    assert not (pg_cluster / "pgdata" / "postmaster.pid").exists()
    server.stop()  # a second stop is harmless


def test_restart_keeps_the_data(pg_server) -> None:
    db = pg_server.create_database("keep", migrated=False)
    conn = db.connect()
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (v text)")
        cur.execute("INSERT INTO t VALUES ('kept')")
    conn.commit()
    conn.close()

    pg_server.stop()
    pg_server.start()

    conn = db.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT v FROM t")
        assert cur.fetchall() == [("kept",)]
    conn.close()


def test_a_server_left_running_is_adopted_and_then_stopped(pg_cluster: Path) -> None:
    first = EmbeddedPostgres(pg_cluster / "pgdata", settings=TEST_SERVER_SETTINGS)
    first.start()
    processes = _tree(first.pid)

    # A new process (here: a new object) finds the server of a killed predecessor.
    second = EmbeddedPostgres(pg_cluster / "pgdata")
    second.start()

    try:
        assert second.adopted
        assert second.pid == first.pid
        assert _select_one(second.url()) == 1
    finally:
        second.stop()
    assert _gone(processes)
    first.stop()


def test_start_after_a_crash_and_with_a_foreign_pid_in_the_lock_file(
    pg_cluster: Path,
) -> None:
    server = EmbeddedPostgres(pg_cluster / "pgdata", settings=TEST_SERVER_SETTINGS)
    server.start()
    server.kill()
    # After a reboot the old pid may belong to another program: here, this one.
    pid_file = pg_cluster / "pgdata" / "postmaster.pid"
    lines = pid_file.read_text().splitlines()
    lines[0] = str(os.getpid())
    pid_file.write_text("\n".join(lines) + "\n")

    server.start()

    try:
        assert not server.adopted
        assert _select_one(server.url()) == 1
    finally:
        server.stop()


def test_data_directory_that_cannot_be_written(scratch: Path) -> None:
    blocker = scratch / "a-file"
    blocker.write_text("not a directory")
    server = EmbeddedPostgres(blocker / "data" / "pgdata")

    with pytest.raises(EmbeddedServerError) as caught:
        server.start()

    message = str(caught.value)
    assert (
        message
        == f"The data directory {blocker / 'data'} is not writable (not a directory)."
    )
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_server_that_fails_to_start_says_why_and_leaves_nothing(
    pg_cluster: Path,
) -> None:
    server = EmbeddedPostgres(pg_cluster / "pgdata", settings=TEST_SERVER_SETTINGS)
    with open(pg_cluster / "pgdata" / "postgresql.conf", "a") as conf:
        conf.write("\nshared_buffers = 'lots'\n")

    with pytest.raises(EmbeddedServerError) as caught:
        server.start()

    message = str(caught.value)
    assert message.startswith(f"PostgreSQL did not start in {pg_cluster / 'pgdata'}: ")
    assert 'postgresql.conf" contains errors' in message
    assert message.count("\n") == 0
    assert not server.running
    assert not any(
        p.info["name"] == "postgres"
        and p.info["status"] != psutil.STATUS_ZOMBIE
        and str(pg_cluster) in " ".join(p.info["cmdline"] or [])
        for p in psutil.process_iter(["name", "cmdline", "status"])
    )


def test_url_of_a_stopped_server_is_an_error(scratch: Path) -> None:
    server = EmbeddedPostgres(scratch / "pgdata")

    with pytest.raises(EmbeddedServerError, match="is not running"):
        server.url()


def test_database_on_the_embedded_server(pg_server) -> None:
    db = Database(pg_server.url("postgres"))

    db.check()

    assert db.where.endswith(":5432/postgres")

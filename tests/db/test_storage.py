"""The storage actor: order, batching, savepoint isolation, reconnects without loss."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import psycopg2
import psycopg2.errors
import pytest

from arpi.actors import Ping, Pong, make_test_context
from arpi.clock import ManualClock
from arpi.db import Database
from arpi.db.storage import (
    DatabaseWriter,
    GetStorageStatus,
    StorageStatus,
    StorageUnavailable,
    submit,
    transact,
    transact_async,
)
from tests.helpers import wait_for

TIMEOUT = 10.0


def _make_table(db: Database) -> None:
    conn = db.connect()
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE item (id serial PRIMARY KEY, seq integer UNIQUE NOT NULL)"
        )
    conn.commit()
    conn.close()


def _seqs(db: Database) -> list[int]:
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT seq FROM item ORDER BY id")
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


def _insert(seq: int):
    def fn(cur: Any) -> tuple[int, int]:
        cur.execute("INSERT INTO item (seq) VALUES (%s)", (seq,))
        cur.execute("SELECT txid_current()")
        return seq, cur.fetchone()[0]

    return fn


class Writer:
    """A started DatabaseWriter with its address and clock."""

    def __init__(self, db: Database, clock: ManualClock | None = None) -> None:
        self.clock = clock or ManualClock()
        self.ctx = make_test_context(self.clock)
        self.ref = DatabaseWriter.start(self.ctx, name="storage", database=db)
        self.address = self.ctx.directory.address("storage")

    def status(self) -> StorageStatus:
        return self.address.ask(GetStorageStatus(), timeout=TIMEOUT)

    def stop(self) -> None:
        if self.ref.is_alive():
            self.ref.stop(timeout=TIMEOUT)


@pytest.fixture
def writer(db: Database) -> Iterator[Writer]:
    _make_table(db)
    handle = Writer(db)
    yield handle
    handle.stop()


def _block_storage(writer: Writer) -> threading.Event:
    """Occupy the storage thread until the returned event is set."""
    gate = threading.Event()
    started = threading.Event()

    def hold(cur: Any) -> None:
        started.set()
        gate.wait(TIMEOUT)

    submit(writer.address, hold, "hold")
    started.wait(TIMEOUT)
    return gate


def test_results_come_back_in_order_after_commit(writer: Writer, db: Database) -> None:
    futures = [submit(writer.address, _insert(i), f"insert {i}") for i in range(200)]

    results = [f.result(TIMEOUT) for f in futures]

    assert [seq for seq, _ in results] == list(range(200))
    assert _seqs(db) == list(range(200))


def test_the_answer_comes_only_after_commit(writer: Writer, db: Database) -> None:
    seen_by_others: list[list[int]] = []

    def insert_and_look(cur: Any) -> None:
        cur.execute("INSERT INTO item (seq) VALUES (7)")
        seen_by_others.append(_seqs(db))  # another connection: not yet committed

    transact(writer.address, insert_and_look, "insert", TIMEOUT)

    assert seen_by_others == [[]]
    assert _seqs(db) == [7]


def test_queued_transacts_share_one_transaction(writer: Writer) -> None:
    gate = _block_storage(writer)
    futures = [submit(writer.address, _insert(i), f"insert {i}") for i in range(10)]
    gate.set()

    txids = {f.result(TIMEOUT)[1] for f in futures}

    assert len(txids) == 1
    assert writer.status().batches == 2  # the blocking one, then the ten together


def test_a_failing_transact_fails_only_its_own_caller(
    writer: Writer, db: Database
) -> None:
    def broken(cur: Any) -> None:
        cur.execute(
            "INSERT INTO item (seq) VALUES (3)"
        )  # rolled back with its savepoint
        raise ValueError("bad input")

    gate = _block_storage(writer)
    first = submit(writer.address, _insert(1), "first")
    duplicate = submit(writer.address, _insert(1), "duplicate")
    failing = submit(writer.address, broken, "broken")
    last = submit(writer.address, _insert(2), "last")
    gate.set()

    assert first.result(TIMEOUT)[1] == last.result(TIMEOUT)[1]  # same transaction
    with pytest.raises(psycopg2.errors.UniqueViolation):
        duplicate.result(TIMEOUT)
    with pytest.raises(ValueError, match="bad input"):
        failing.result(TIMEOUT)
    assert _seqs(db) == [1, 2]


def test_transact_async_does_not_block_the_loop(writer: Writer, db: Database) -> None:
    async def main() -> list[tuple[int, int]]:
        return await asyncio.gather(
            *(
                transact_async(writer.address, _insert(i), "insert", TIMEOUT)
                for i in range(5)
            )
        )

    results = asyncio.run(main())

    assert [seq for seq, _ in results] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("how", ["restart", "kill"])
def test_postgres_restart_mid_stream_loses_and_reorders_nothing(
    pg_server, how: str
) -> None:
    db = pg_server.create_database()
    _make_table(db)
    writer = Writer(db)
    try:
        futures: list[Future] = []
        for i in range(100):
            futures.append(submit(writer.address, _insert(i), f"insert {i}"))
        wait_for(lambda: futures[49].done(), what="first commits")

        if how == "restart":
            pg_server.stop()
        else:
            pg_server.kill()
        for i in range(100, 200):
            futures.append(submit(writer.address, _insert(i), f"insert {i}"))
        wait_for(lambda: writer.status().retry_scheduled, what="a reconnect timer")
        # The actor keeps answering while PostgreSQL is away: it never sleeps.
        assert isinstance(writer.address.ask(Ping(), timeout=TIMEOUT), Pong)
        assert not any(f.done() for f in futures[100:])
        pg_server.start()

        def all_done() -> bool:
            writer.clock.advance(1.0)  # fire whatever reconnect timer is due
            return all(f.done() for f in futures)

        wait_for(all_done, what="every transact answered")
    finally:
        writer.stop()

    assert [f.result(0)[0] for f in futures] == list(range(200))
    assert _seqs(db) == list(range(200))


def test_commit_cut_off_and_not_committed_is_run_again(
    writer: Writer, db: Database
) -> None:
    # A deferred trigger that kills its own backend during the first COMMIT only.
    conn = db.connect()
    with conn.cursor() as cur:
        cur.execute("CREATE SEQUENCE kill_once")
        cur.execute(
            """
            CREATE FUNCTION die_once() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF nextval('kill_once') = 1 THEN
                    PERFORM pg_terminate_backend(pg_backend_pid());
                END IF;
                RETURN NULL;
            END $$
            """
        )
        cur.execute(
            "CREATE CONSTRAINT TRIGGER die_at_commit AFTER INSERT ON item "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION die_once()"
        )
    conn.commit()
    conn.close()

    future = submit(writer.address, _insert(5), "insert 5")

    assert future.result(TIMEOUT)[0] == 5
    assert _seqs(db) == [5]


class _CommitThenBreak:
    """A connection whose first COMMIT succeeds but whose answer is 'lost'."""

    def __init__(self, conn: Any, state: dict[str, int]) -> None:
        self._conn = conn
        self._state = state

    def commit(self) -> None:
        self._conn.commit()
        self._state["commits"] += 1
        if self._state["commits"] == 1:
            self._conn.close()
            raise psycopg2.OperationalError("server closed the connection unexpectedly")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class _FlakyDatabase:
    def __init__(self, db: Database) -> None:
        self._db = db
        self.state = {"commits": 0}

    def connect(self, **kwargs: Any) -> Any:
        return _CommitThenBreak(self._db.connect(**kwargs), self.state)


def test_commit_cut_off_after_it_committed_is_not_applied_twice(db: Database) -> None:
    _make_table(db)
    flaky = _FlakyDatabase(db)
    ctx = make_test_context()
    ref = DatabaseWriter.start(ctx, name="storage", database=flaky)
    try:
        address = ctx.directory.address("storage")
        future = submit(address, _insert(9), "insert 9")

        assert future.result(TIMEOUT)[0] == 9
    finally:
        ref.stop(timeout=TIMEOUT)
    assert _seqs(db) == [9]


def test_stopping_with_postgres_away_fails_the_waiting_callers(pg_server) -> None:
    db = pg_server.create_database()
    _make_table(db)
    writer = Writer(db)
    transact(writer.address, _insert(0), "warm up", TIMEOUT)
    pg_server.stop()
    future = submit(writer.address, _insert(1), "insert 1")
    wait_for(lambda: writer.status().retry_scheduled, what="a reconnect timer")

    writer.stop()

    with pytest.raises(StorageUnavailable, match="insert 1"):
        future.result(TIMEOUT)


def test_storage_started_while_postgres_is_down_catches_up(pg_server) -> None:
    db = pg_server.create_database()
    _make_table(db)
    pg_server.stop()
    writer = Writer(db)
    try:
        future = submit(writer.address, _insert(1), "insert 1")
        wait_for(lambda: writer.status().retry_scheduled, what="a reconnect timer")
        pg_server.start()

        def done() -> bool:
            writer.clock.advance(1.0)
            return future.done()

        wait_for(done, what="the insert")
    finally:
        writer.stop()

    assert future.result(0)[0] == 1
    assert _seqs(db) == [1]

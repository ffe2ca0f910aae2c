"""The `storage` actor (`DatabaseWriter`): the only writer of the database.

Callers hand it `Transact(fn, label)`; `fn(cursor)` runs inside a transaction on
the actor's own connection and its result is handed back **after COMMIT**.

Reply mechanism. An `ask` is answered with the handler's return value at once, but
a Transact may have to wait for a later batch, or for PostgreSQL to come back,
while the actor keeps handling messages (it never sleeps). So every Transact
carries its own `concurrent.futures.Future` (`Transact.reply`); the handler queues
the Transact and returns that future, and the future is resolved on the actor's
thread once the transaction holding it has committed (`set_result(fn's value)`),
or fails with the exception `fn` raised, or with `StorageUnavailable` when the
actor stops before a commit. Use the helpers rather than raw messages:

- `transact(address, fn, label, timeout)`: blocking, from any thread that may block
  (never inside an actor's handler, never on the event loop);
- `await transact_async(address, fn, label, timeout)`: on the event loop, which is
  never blocked (the future is bridged with `asyncio.wrap_future`);
- `submit(address, fn, label)`: from an actor's handler; returns the future at
  once. Add a done-callback that only tells the actor itself a message (it runs on
  the storage thread), e.g. `fut.add_done_callback(lambda f: ref.tell(Saved(f)))`.

Batching and isolation. Transacts are queued in arrival order. A batch is all the
queued Transacts (at most `max_batch`) taken when a flush runs; the flush message
is queued behind the Transacts already in the inbox, so a burst becomes one
transaction. Each Transact runs under its own SAVEPOINT: if `fn` raises, only its
savepoint is rolled back and only its caller gets the exception; the others
commit. A failure at COMMIT itself that is not a lost connection re-runs the
batch one Transact per transaction.

Lost connection. If the connection breaks (PostgreSQL restarted or killed) the
batch is rolled back by the server and stays at the head of the queue; the actor
reconnects (once at once, then after growing delays on `ctx.clock`:
`reconnect_initial` doubling up to `reconnect_max`) and re-runs the same
Transacts in the same order. So `fn` may run more than once, but only one run is
ever committed: `fn` must only use the cursor (no commit, no rollback, no effect
outside the database). A connection that breaks during COMMIT leaves the outcome
unknown; each batch writes its id into `storage_commit`, and after reconnecting
the actor looks it up: found means committed (the callers get the results of
that run), absent means re-run. Nothing is lost, duplicated or reordered.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import psycopg2
import psycopg2.extensions
from pypika import Table
from pypika import functions as fn

from arpi.actors import Actor, ActorUnavailable, Address, AskTimeout
from arpi.clock import TimerHandle
from arpi.db import sql

__all__ = [
    "DatabaseWriter",
    "GetStorageStatus",
    "StorageStatus",
    "StorageUnavailable",
    "Transact",
    "submit",
    "transact",
    "transact_async",
]

T = TypeVar("T")

# Rows of storage_commit older than this are pruned; a lost COMMIT is resolved
# within seconds, so a day is ample.
_COMMIT_RECORD_KEEP = "1 day"
_PRUNE_EVERY = 1000

# One row per committed batch (batch_id uuid, committed_at timestamptz).
_COMMITS = Table("storage_commit")
_RECORD_COMMIT_SQL = sql.to_sql(
    sql.Q.into(_COMMITS).columns(_COMMITS.batch_id).insert(sql.param())
)
_COMMITTED_SQL = sql.to_sql(
    sql.Q.from_(_COMMITS).select(1).where(_COMMITS.batch_id == sql.param())
)
_PRUNE_SQL = sql.to_sql(
    sql.Q.from_(_COMMITS)
    .delete()
    .where(_COMMITS.committed_at < fn.Now() - fn.Cast(sql.param(), "interval"))
)
# SAVEPOINT / ROLLBACK TO SAVEPOINT / RELEASE SAVEPOINT below are transaction
# control, not queries: pypika has no builder for them, so they stay plain text.


class StorageUnavailable(Exception):
    """The storage actor stopped (or is not running) before the Transact committed."""


@dataclass(frozen=True, eq=False)
class Transact(Generic[T]):
    """Run `fn(cursor)` in a transaction; `reply` resolves to its result after COMMIT.

    `label` names the write in logs (e.g. "arm_area"). `fn` runs on the storage
    thread, must use only the cursor, and may run more than once (see the module
    docstring); it must not commit or roll back.
    """

    fn: Callable[[psycopg2.extensions.cursor], T]
    label: str
    reply: Future = field(default_factory=Future, repr=False)


@dataclass(frozen=True)
class GetStorageStatus:
    """Ask for a `StorageStatus` snapshot."""


@dataclass(frozen=True)
class StorageStatus:
    """The writer's state: connected, queue length, consecutive connection failures,
    whether a reconnect timer is waiting, and batches committed so far."""

    connected: bool
    pending: int
    failures: int
    retry_scheduled: bool
    batches: int


@dataclass(frozen=True)
class _Flush:
    """Run one batch (queued behind the Transacts that form it)."""


@dataclass(frozen=True)
class _Reconnect:
    """The backoff timer fired."""


class _ConnectionLost(Exception):
    """The connection broke; the current batch did not commit."""


class _CommitUnknown(Exception):
    """The connection broke during COMMIT; the batch may or may not have committed."""


class DatabaseWriter(Actor):
    """The `storage` actor. Options: `database` (default `ctx.db`), `max_batch`
    (100), `reconnect_initial` (0.05 s), `reconnect_max` (5 s).

    `handle` answers `Transact` with its reply future and `GetStorageStatus` with a
    `StorageStatus`. `setup` does not fail when PostgreSQL is down: it retries in
    the background while Transacts queue.
    """

    def setup(self) -> None:
        self._db = self.options.get("database") or self.ctx.db
        self._max_batch = int(self.options.get("max_batch", 100))  # type: ignore[arg-type]
        self._initial = float(self.options.get("reconnect_initial", 0.05))
        self._maximum = float(self.options.get("reconnect_max", 5.0))  # type: ignore[arg-type]
        self._pending: deque[Transact[Any]] = deque()
        self._conn: psycopg2.extensions.connection | None = None
        self._flush_queued = False
        self._timer: TimerHandle | None = None
        self._failures = 0
        self._batches = 0
        # A batch whose COMMIT was cut off: (batch id, results of that run).
        self._unknown: tuple[str, list[tuple[bool, Any]]] | None = None
        try:
            self._ensure_connection()
        except psycopg2.Error as exc:
            # Not fatal: Transacts queue and the next one tries again.
            self._lost(exc)

    def handle(self, message: object) -> object:
        if isinstance(message, Transact):
            self._pending.append(message)
            self._request_flush()
            return message.reply
        if isinstance(message, _Flush):
            self._flush_queued = False
            self._flush()
            return None
        if isinstance(message, _Reconnect):
            self._timer = None
            self._flush()
            return None
        if isinstance(message, GetStorageStatus):
            return StorageStatus(
                connected=self._conn is not None and not self._conn.closed,
                pending=len(self._pending),
                failures=self._failures,
                retry_scheduled=self._timer is not None,
                batches=self._batches,
            )
        return super().handle(message)

    def teardown(self) -> None:
        # An orderly stop commits what is queued if the database is there.
        if self._pending and self._timer is None:
            self._flush(drain=True)

    def release(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg2.Error:
                pass
            self._conn = None
        in_doubt = len(self._unknown[1]) if self._unknown is not None else 0
        waiting = list(self._pending)
        self._pending.clear()
        # Transacts still in pykka's inbox would otherwise be dropped unanswered.
        inbox = self.actor_inbox
        while not inbox.empty():
            try:
                envelope = inbox.get_nowait()
            except Exception:  # noqa: BLE001 - queue.Empty from a racing reader
                break
            message = getattr(envelope, "message", None)
            if isinstance(message, Transact):
                waiting.append(message)
                if envelope.reply_to is not None:
                    envelope.reply_to.set(message.reply)
        for index, item in enumerate(waiting):
            reason = f"storage stopped before {item.label} was committed"
            if index < in_doubt:
                reason = (
                    f"storage stopped after the connection broke during the COMMIT "
                    f"of {item.label}; it may have been committed"
                )
            _fail(item, StorageUnavailable(reason))
        if waiting:
            self.log.warning("storage_stopped_with_pending", pending=len(waiting))

    # --- batches -------------------------------------------------------------

    def _request_flush(self) -> None:
        if not self._flush_queued and self._timer is None:
            self._flush_queued = True
            self.actor_ref.tell(_Flush())

    def _flush(self, drain: bool = False) -> None:
        """Commit the next batch; on a lost connection keep it and plan a retry."""
        while self._pending:
            try:
                self._ensure_connection()
                if self._unknown is not None:
                    self._resolve_unknown()
                    continue
                self._run(self._take_batch())
            except (
                _ConnectionLost,
                _CommitUnknown,
                psycopg2.OperationalError,
                psycopg2.InterfaceError,
            ) as exc:
                self._lost(exc)
                if drain:
                    return
                self._plan_retry()
                return
            if not drain:
                break
        if self._pending and not drain:
            self._request_flush()

    def _take_batch(self) -> list[Transact[Any]]:
        return [
            self._pending[i] for i in range(min(self._max_batch, len(self._pending)))
        ]

    def _run(self, batch: list[Transact[Any]]) -> None:
        """One transaction for `batch`; answers its callers after COMMIT."""
        conn = self._conn
        assert conn is not None
        batch_id = str(uuid.uuid4())
        results: list[tuple[bool, Any]] = []
        with conn.cursor() as cur:
            for item in batch:
                results.append(self._run_one(conn, cur, item))
            self._execute(
                conn,
                cur,
                _RECORD_COMMIT_SQL,
                (batch_id,),
            )
            if (self._batches + 1) % _PRUNE_EVERY == 0:
                self._prune(conn, cur)
        try:
            conn.commit()
        except psycopg2.Error as exc:
            if _broken(conn, exc):
                self._unknown = (batch_id, results)
                raise _CommitUnknown(str(exc)) from exc
            # Not the connection: the batch as a whole failed at COMMIT (e.g. a
            # deferred check). Re-run each Transact alone so each gets its answer.
            self._rollback(conn)
            if len(batch) > 1:
                self.log.warning(
                    "storage_batch_commit_failed",
                    size=len(batch),
                    error=_first_line(exc),
                )
                for item in batch:
                    self._run([item])
                return
            self._complete(batch, [(False, exc)])
            return
        self._complete(batch, results)

    def _run_one(
        self, conn: psycopg2.extensions.connection, cur: Any, item: Transact[Any]
    ) -> tuple[bool, Any]:
        self._execute(conn, cur, "SAVEPOINT arpi_transact")
        try:
            value = item.fn(cur)
        except Exception as exc:
            if _broken(conn, exc):
                raise _ConnectionLost(str(exc)) from exc
            self._execute(conn, cur, "ROLLBACK TO SAVEPOINT arpi_transact")
            self.log.info("transact_failed", label=item.label, error=_first_line(exc))
            return False, exc
        self._execute(conn, cur, "RELEASE SAVEPOINT arpi_transact")
        return True, value

    def _execute(self, conn: Any, cur: Any, text: str, params: tuple = ()) -> None:
        try:
            cur.execute(text, params)
        except psycopg2.Error as exc:
            if _broken(conn, exc):
                raise _ConnectionLost(str(exc)) from exc
            raise

    def _complete(
        self, batch: list[Transact[Any]], results: list[tuple[bool, Any]]
    ) -> None:
        for item in batch:
            popped = self._pending.popleft()
            assert popped is item
        self._batches += 1
        self._failures = 0
        for item, (ok, value) in zip(batch, results, strict=True):
            if ok:
                _resolve(item, value)
            else:
                _fail(item, value)

    def _resolve_unknown(self) -> None:
        """After a COMMIT cut off by the connection: did it commit?"""
        assert self._unknown is not None and self._conn is not None
        batch_id, results = self._unknown
        with self._conn.cursor() as cur:
            self._execute(
                self._conn,
                cur,
                _COMMITTED_SQL,
                (batch_id,),
            )
            committed = cur.fetchone() is not None
        self._conn.rollback()
        self._unknown = None
        self.log.warning(
            "storage_commit_outcome_resolved", committed=committed, size=len(results)
        )
        if committed:
            self._complete(self._take_batch()[: len(results)], results)

    def _prune(self, conn: Any, cur: Any) -> None:
        self._execute(
            conn,
            cur,
            _PRUNE_SQL,
            (_COMMIT_RECORD_KEEP,),
        )

    # --- connection ----------------------------------------------------------

    def _ensure_connection(self) -> None:
        if self._conn is not None and not self._conn.closed:
            return
        self._conn = self._db.connect(application_name="arpi-storage")
        if self._failures:
            self.log.info(
                "storage_reconnected",
                attempts=self._failures,
                pending=len(self._pending),
            )

    def _lost(self, exc: BaseException) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg2.Error:
                pass
        self._conn = None
        self._failures += 1
        event = (
            "storage_connection_lost"
            if self._failures == 1
            else "storage_reconnect_failed"
        )
        level = self.log.warning if self._failures == 1 else self.log.info
        level(
            event,
            error=_first_line(exc),
            pending=len(self._pending),
            attempt=self._failures,
        )

    def _plan_retry(self) -> None:
        """Retry at once after a first failure, then with growing delays."""
        if self._failures <= 1:
            self._request_flush()
            return
        delay = min(self._maximum, self._initial * 2 ** (self._failures - 2))
        self._timer = self.tell_self_later(delay, _Reconnect())

    def _rollback(self, conn: Any) -> None:
        try:
            conn.rollback()
        except psycopg2.Error as exc:
            if _broken(conn, exc):
                raise _ConnectionLost(str(exc)) from exc
            raise


# --- helpers for callers -----------------------------------------------------------


def submit(address: Address, fn: Callable[[Any], T], label: str) -> Future:
    """Queue `fn` with the storage actor; returns the reply future at once.

    Never blocks; safe inside a handler. Raises ActorUnavailable if storage is down.
    """
    message: Transact[T] = Transact(fn, label)
    if not address.tell(message):
        raise ActorUnavailable(f"{address.name} is not running; {label} was not queued")
    return message.reply


def transact(address: Address, fn: Callable[[Any], T], label: str, timeout: float) -> T:
    """Run `fn` through the storage actor and return its result after COMMIT.

    Blocks the calling thread (never call it in a handler or on the event loop).
    Raises what `fn` raised, ActorUnavailable if storage is down, StorageUnavailable
    if it stopped before committing, AskTimeout after `timeout` seconds (the write
    may still commit later).
    """
    future = submit(address, fn, label)
    try:
        return future.result(timeout)
    except FutureTimeout:
        raise AskTimeout(f"{label} was not committed within {timeout}s") from None


async def transact_async(
    address: Address, fn: Callable[[Any], T], label: str, timeout: float
) -> T:
    """`transact` for coroutines on the event loop; the loop is never blocked."""
    future = submit(address, fn, label)
    try:
        return await asyncio.wait_for(
            asyncio.shield(asyncio.wrap_future(future)), timeout
        )
    except TimeoutError:
        raise AskTimeout(f"{label} was not committed within {timeout}s") from None


def _resolve(item: Transact[Any], value: Any) -> None:
    if not item.reply.done():
        item.reply.set_result(value)


def _fail(item: Transact[Any], exc: BaseException) -> None:
    if not item.reply.done():
        item.reply.set_exception(exc)


def _broken(conn: Any, exc: BaseException) -> bool:
    """True if `exc` means the connection is gone (not an error of the statement)."""
    if conn.closed:
        return True
    if isinstance(exc, psycopg2.InterfaceError):
        return True
    code = getattr(exc, "pgcode", None) or ""
    # Class 08: connection exception; 57P01-57P03: admin/crash shutdown, cannot
    # connect now.
    return code.startswith("08") or code in ("57P01", "57P02", "57P03")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

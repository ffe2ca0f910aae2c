"""Read-only database access for the front: a few threads, each with its own conn.

`await pool.run(fn)` runs `fn(cursor)` on one of `size` worker threads and returns
its result; the event loop never touches psycopg2. Each worker thread owns one
connection (autocommit, read-only session), opened on first use and reopened after
a connection error, so a list read is one round trip. Writes never come here: they
go through the `storage` actor (see `arpi.http.store`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg2
import structlog

__all__ = ["ReadPool"]

T = TypeVar("T")
log = structlog.get_logger("arpi.http")


class ReadPool:
    def __init__(self, connect: Callable[[], Any], size: int = 4) -> None:
        """`connect()` returns a new psycopg2 connection (e.g. `Database.connect`)."""
        self._connect = connect
        self._executor = ThreadPoolExecutor(
            max_workers=size, thread_name_prefix="arpi-front-db"
        )
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False

    async def run(self, fn: Callable[[Any], T]) -> T:
        """Run `fn(cursor)` on a pool thread; raises what `fn` or psycopg2 raise."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn)

    def _call(self, fn: Callable[[Any], T]) -> T:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._open()
        try:
            with conn.cursor() as cur:
                return fn(cur)
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            # The server went away (restart, network): drop this connection so
            # the next call opens a fresh one; this call fails to its caller.
            self._discard(conn)
            raise

    def _open(self) -> Any:
        if self._closed:
            raise RuntimeError("read pool is closed")
        conn = self._connect()
        conn.autocommit = True
        conn.set_session(readonly=True, autocommit=True)
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    def _discard(self, conn: Any) -> None:
        self._local.conn = None
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        try:
            conn.close()
        except psycopg2.Error:
            log.debug("read_connection_close_failed")

    def close(self) -> None:
        """Stop the worker threads and close every connection. Blocks briefly."""
        self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except psycopg2.Error:
                log.debug("read_connection_close_failed")

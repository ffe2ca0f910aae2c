"""The one place where the front writes: transactions run by the `storage` actor.

`await store.transact(fn)` runs `fn(cursor)` in one transaction and returns its
result after COMMIT; an exception from `fn` rolls back and reaches the caller
(an `ApiError` raised inside keeps its status). The storage actor is the only
writer of the database (ARCHITECTURE "Data"); the front asks it with `Transact`.
A storage actor that is down, or does not commit in time, gives 503.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import structlog

from arpi.http.errors import ApiError

__all__ = ["Store"]

T = TypeVar("T")
log = structlog.get_logger("arpi.http")


class Store:
    def __init__(
        self,
        ctx: Any,
        timeout: float = 10.0,
        on_write: Callable[[], None] | None = None,
    ) -> None:
        """`on_write` runs on the loop after every transaction (committed or not)."""
        self._ctx = ctx
        self._timeout = timeout
        self._on_write = on_write

    async def transact(self, fn: Callable[[Any], T], label: str = "front") -> T:
        """Run `fn(cursor)` in one committed transaction. Runs on the loop.

        Raises ApiError(503) if the storage actor is down or does not commit in
        time; an ApiError raised by `fn` reaches the caller (its work rolled back).
        """
        from arpi.actors import ActorUnavailable, AskTimeout
        from arpi.db.storage import StorageUnavailable, transact_async

        address = self._ctx.directory.address("storage")
        try:
            result = await transact_async(address, _guarded(fn), label, self._timeout)
        except (ActorUnavailable, AskTimeout, StorageUnavailable):
            log.warning("storage_write_failed", label=label)
            raise ApiError(503, "storage not available") from None
        finally:
            if self._on_write is not None:
                self._on_write()
        if isinstance(result, _Failed):
            raise result.error
        return result

    def close(self) -> None:
        """Nothing to release: the storage actor owns the connection."""


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: ApiError) -> None:
        self.error = error


def _guarded(fn: Callable[[Any], T]) -> Callable[[Any], Any]:
    """Run `fn` inside a savepoint; a refusal rolls back to it and is returned.

    The storage actor's handler then never sees an exception for a user mistake
    (which could end its incarnation), and the rest of its batch is unaffected.
    Constraint violations become 409/400 naming the constraint, never a 500.
    """

    def run(cur: Any) -> Any:
        import psycopg2
        from psycopg2 import errorcodes

        # SAVEPOINT / ROLLBACK TO / RELEASE are transaction control, not queries:
        # pypika has no builder for them, so they stay plain text (no values).
        cur.execute("SAVEPOINT arpi_front")
        try:
            result = fn(cur)
        except ApiError as exc:
            cur.execute("ROLLBACK TO SAVEPOINT arpi_front")
            return _Failed(exc)
        except psycopg2.IntegrityError as exc:
            cur.execute("ROLLBACK TO SAVEPOINT arpi_front")
            diag = getattr(exc, "diag", None)
            name = getattr(diag, "constraint_name", None) or "constraint"
            if exc.pgcode == errorcodes.UNIQUE_VIOLATION:
                return _Failed(ApiError(409, f"conflict with an existing row ({name})"))
            if exc.pgcode == errorcodes.FOREIGN_KEY_VIOLATION:
                return _Failed(
                    ApiError(409, f"still referenced or unknown reference ({name})")
                )
            return _Failed(ApiError(400, f"invalid value ({name})"))
        except psycopg2.DataError as exc:
            cur.execute("ROLLBACK TO SAVEPOINT arpi_front")
            return _Failed(ApiError(400, f"invalid value ({exc.pgcode})"))
        cur.execute("RELEASE SAVEPOINT arpi_front")
        return result

    return run

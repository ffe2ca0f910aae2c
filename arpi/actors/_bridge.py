"""A pykka future that can notify a callback, and its bridge to asyncio."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pykka
import structlog

from arpi.actors._messages import ActorUnavailable

if TYPE_CHECKING:
    from pykka._types import OptExcInfo

__all__ = ["ReplyFuture", "bridge_to_loop"]

log = structlog.get_logger("arpi.actors")


class ReplyFuture(pykka.ThreadingFuture[Any]):
    """`ThreadingFuture` plus one completion callback.

    pykka futures offer no callbacks, and `await`ing one blocks the event loop. Every
    `arpi.actors.Actor` creates its ask futures with this class (through pykka's
    `_create_future` hook), so `Address.ask_async` can learn of the reply without a
    thread waiting for it.
    """

    _callback: Callable[[ReplyFuture], object] | None = None

    def set(self, value: Any | None = None) -> None:
        super().set(value)
        if self._callback is not None:
            self._fire()

    def set_exception(self, exc_info: OptExcInfo | None = None) -> None:
        super().set_exception(exc_info if exc_info is not None else sys.exc_info())
        if self._callback is not None:
            self._fire()

    def add_done_callback(self, callback: Callable[[ReplyFuture], object]) -> None:
        """Call `callback(self)` once the reply is set; at once if it already is.

        Only one callback is kept. It runs on the thread that completes the future
        (usually the actor's) and must be quick and must not raise.
        """
        with self._condition:
            if self._result is None:
                self._callback = callback
                return
        callback(self)

    def _fire(self) -> None:
        # set() stores the result under the condition before we read the callback,
        # and add_done_callback() checks the result under the same condition, so
        # exactly one of the two calls the callback.
        callback, self._callback = self._callback, None
        if callback is None:
            return
        try:
            callback(self)
        except Exception:
            log.exception("reply_callback_failed")


def bridge_to_loop(
    reply: ReplyFuture, loop: asyncio.AbstractEventLoop, name: str
) -> asyncio.Future[Any]:
    """An asyncio future on `loop` completed from `reply`, without blocking anyone.

    Call on the loop's thread. The completion is posted with `call_soon_threadsafe`;
    if the waiter was cancelled or timed out meanwhile it is skipped, and if the loop
    is already closed it is dropped. `ActorDeadError` becomes `ActorUnavailable`.
    """
    waiter: asyncio.Future[Any] = loop.create_future()

    def settle() -> None:
        # Runs on the loop.
        if waiter.done():
            return
        try:
            value = reply.get(timeout=0)
        except pykka.ActorDeadError:
            waiter.set_exception(ActorUnavailable(f"{name} stopped before replying"))
        except Exception as exc:  # noqa: BLE001 (handed to the awaiting caller)
            waiter.set_exception(exc)
        else:
            waiter.set_result(value)

    def post(_: ReplyFuture) -> None:
        # Runs on the actor's thread (or here, if the reply is already set).
        try:
            loop.call_soon_threadsafe(settle)
        except RuntimeError:
            pass  # the loop is closed: nobody can be waiting any more

    reply.add_done_callback(post)
    return waiter

"""Asking actors from the event loop, with every failure mapped to HTTP 503."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

import structlog

from arpi.actors import ActorUnavailable, AskTimeout
from arpi.http.errors import ApiError

__all__ = ["actor_alive", "ask_actor", "pending_text", "tell_actor"]

log = structlog.get_logger("arpi.http")


def _address(ctx: Any, name: str) -> Any | None:
    directory = getattr(ctx, "directory", None)
    if directory is None:
        return None
    return directory.address(name)


def actor_alive(ctx: Any, name: str) -> bool:
    address = _address(ctx, name)
    return bool(address is not None and address.alive())


# ASYNC109: `timeout` is the actor's answer deadline, turned into a 503 here.
async def ask_actor(ctx: Any, name: str, message: object, timeout: float) -> Any:  # noqa: ASYNC109
    """Ask actor `name` without blocking the loop. Runs on the loop.

    Raises ApiError(503, "<name> not available") when the actor is not running or
    does not answer within `timeout`; an exception raised by the actor's handler
    is passed on unchanged (an ApiError from the actor keeps its status).

    An actor that accepts a change but acknowledges it only once it is durable
    (the alarm) replies with a `concurrent.futures.Future`; this waits for it too,
    so the HTTP answer never precedes the commit. When that wait times out the
    change was made but is not stored yet (the alarm keeps it and writes it when
    the database is back): ApiError(503) says exactly that (`pending_text`).
    """
    from arpi.actors.alarm import AlarmWriteFailed

    address = _address(ctx, name)
    if address is None:
        raise ApiError(503, f"{name} not available")
    try:
        result = await address.ask_async(message, timeout)
        if isinstance(result, concurrent.futures.Future):
            try:
                result = await asyncio.wait_for(
                    asyncio.shield(asyncio.wrap_future(result)), timeout
                )
            except TimeoutError:
                log.warning(
                    "actor_change_not_durable",
                    actor=name,
                    message=type(message).__name__,
                )
                raise ApiError(503, pending_text(message)) from None
        return result
    except (ActorUnavailable, AskTimeout, TimeoutError):
        log.warning("actor_ask_failed", actor=name, message=type(message).__name__)
        raise ApiError(503, f"{name} not available") from None
    except AlarmWriteFailed:
        log.error("alarm_write_failed", actor=name, message=type(message).__name__)
        raise ApiError(503, "the change could not be stored; try again") from None


# What an accepted change did, by the type name of the command (alarm messages).
_DONE = {
    "Arm": "armed",
    "Disarm": "disarmed",
    "PressButton": "the output was switched",
}


def pending_text(message: object) -> str:
    """The 503 text for a change that was made but is not durable yet."""
    done = _DONE.get(type(message).__name__, "the change was made")
    return (
        f"{done}, but the change could not be stored yet; "
        "it will be stored when the database is back"
    )


def tell_actor(ctx: Any, name: str, message: object) -> bool:
    """Fire and forget; False when the actor is not there. Never blocks."""
    address = _address(ctx, name)
    if address is None:
        return False
    try:
        return bool(address.tell(message))
    except Exception:  # noqa: BLE001 - a lost tell must never fail the request
        log.warning("actor_tell_failed", actor=name, message=type(message).__name__)
        return False

"""Asking actors from the event loop, with every failure mapped to HTTP 503."""

from __future__ import annotations

from typing import Any

import structlog

from arpi.http.errors import ApiError

__all__ = ["actor_alive", "ask_actor", "tell_actor"]

log = structlog.get_logger("arpi.http")

try:  # the actor library lands in parallel; until then nothing is reachable
    from arpi.actors import ActorUnavailable, AskTimeout  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - only before arpi.actors exists

    class ActorUnavailable(Exception):  # type: ignore[no-redef]
        pass

    class AskTimeout(Exception):  # type: ignore[no-redef]
        pass


def _address(ctx: Any, name: str) -> Any | None:
    directory = getattr(ctx, "directory", None)
    if directory is None:
        return None
    return directory.address(name)


def actor_alive(ctx: Any, name: str) -> bool:
    address = _address(ctx, name)
    return bool(address is not None and address.alive())


async def ask_actor(ctx: Any, name: str, message: object, timeout: float) -> Any:
    """Ask actor `name` without blocking the loop. Runs on the loop.

    Raises ApiError(503, "<name> not available") when the actor is not running or
    does not answer within `timeout`; an exception raised by the actor's handler
    is passed on unchanged (an ApiError from the actor keeps its status).
    """
    address = _address(ctx, name)
    if address is None:
        raise ApiError(503, f"{name} not available")
    try:
        return await address.ask_async(message, timeout)
    except (ActorUnavailable, AskTimeout, TimeoutError):
        log.warning("actor_ask_failed", actor=name, message=type(message).__name__)
        raise ApiError(503, f"{name} not available") from None


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

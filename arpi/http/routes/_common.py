"""Small helpers shared by the route modules."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from arpi.http.errors import json_response

__all__ = ["ID", "config_changed", "created", "empty_ok", "no_change", "ok"]

ID = r"{id:\d{1,12}}"


def ok(value: Any = None) -> web.Response:
    return json_response(value)


def created(value: Any) -> web.Response:
    return json_response(value, status=201)


def no_change() -> web.Response:
    return web.Response(status=204)


def empty_ok() -> web.Response:
    return web.Response(status=200)


def config_changed(front: Any, *kinds: str) -> None:
    """Publish `ConfigChanged(kinds)` after a committed write (internals,
    "Configuration changes"): the alarm, sensor banks, outputs, keypad and notifier
    reload what concerns them; no restart is needed. Any thread; never blocks."""
    from arpi.bus import ConfigChanged

    front.ctx.bus.publish(ConfigChanged(frozenset(kinds)))

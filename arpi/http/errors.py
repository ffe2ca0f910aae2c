"""The one error type of the web front and the JSON responses it becomes."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

__all__ = ["ApiError", "dumps", "error_response", "json_response"]


def dumps(value: Any) -> str:
    """Compact JSON text, as every response of the front uses."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class ApiError(Exception):
    """A handled failure: becomes `status` with `{"error": message, **extra}`.

    Raise it anywhere below a route handler (also inside a storage transaction: the
    storage actor hands the exception back to the caller after a rollback).
    """

    def __init__(self, status: int, message: str, /, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.extra}


def json_response(
    value: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response; `value` None gives the JSON text `null`."""
    return web.Response(
        text=dumps(value),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def error_response(status: int, message: str, /, **extra: Any) -> web.Response:
    return json_response({"error": message, **extra}, status=status)

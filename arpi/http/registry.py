"""The route table: one `Route` per method and path, with auth level and schemas.

Route modules declare handlers with `@route(...)`; `build_app` registers them all on
the aiohttp router and `openapi.document` describes the same list, so the router and
the OpenAPI document come from one source.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from aiohttp import web

from arpi.http.errors import ApiError, error_response
from arpi.http.schema import INT32, Field, parse_query, validate

if TYPE_CHECKING:
    from arpi.http.front import Front
    from arpi.http.tokens import Claims

__all__ = [
    "EXTRA_ROUTES",
    "FRONT",
    "ROUTES",
    "Auth",
    "Req",
    "Route",
    "make_handler",
    "register_route",
    "route",
]


class Auth(Enum):
    NONE = "none"
    DEVICE = "device"
    USER = "user"
    ADMIN = "admin"


Handler = Callable[["Req"], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # aiohttp form, ids as {name:\d+}
    handler: Handler
    auth: Auth
    body: Field | None = None
    query: Mapping[str, Field] = field(default_factory=dict)
    summary: str = ""
    responses: Mapping[int, str] = field(default_factory=dict)
    tag: str = ""
    body_optional: bool = False


ROUTES: list[Route] = []
FRONT: web.AppKey[Any] = web.AppKey("front")  # the app's `Front`
# Routes an app adds beyond ROUTES (operations, simulator); the OpenAPI document
# lists them too.
EXTRA_ROUTES: web.AppKey[list[Any]] = web.AppKey("extra_routes", list)


def route(
    method: str,
    path: str,
    *,
    auth: Auth,
    body: Field | None = None,
    query: Mapping[str, Field] | None = None,
    summary: str = "",
    responses: Mapping[int, str] | None = None,
    tag: str = "",
    body_optional: bool = False,
) -> Callable[[Handler], Handler]:
    """Add the decorated coroutine to `ROUTES` (at import time)."""

    def deco(fn: Handler) -> Handler:
        ROUTES.append(
            Route(
                method,
                path,
                fn,
                auth,
                body,
                dict(query or {}),
                summary,
                dict(responses or {}),
                tag,
                body_optional,
            )
        )
        return fn

    return deco


class Req:
    """What a handler gets: the request, the front, verified claims, checked input."""

    __slots__ = ("body", "claims", "front", "query", "request")

    def __init__(
        self,
        request: web.Request,
        front: Front,
        claims: Claims | None,
        body: Any,
        query: dict[str, Any],
    ) -> None:
        self.request = request
        self.front = front
        self.claims = claims
        self.body = body
        self.query = query

    def id(self, name: str = "id", what: str = "Item") -> int:
        """The integer path parameter `name`; 404 `"<what> not found"` if too large."""
        value = int(self.request.match_info[name])
        if value > INT32:
            raise ApiError(404, f"{what} not found")
        return value

    @property
    def user_id(self) -> int | None:
        return self.claims.user_id if self.claims else None

    @property
    def is_admin(self) -> bool:
        return bool(self.claims and self.claims.role == "admin")


async def _read_json(request: web.Request, optional: bool) -> Any:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "body: too large") from None
    if not raw.strip():
        if optional:
            return None
        raise ApiError(400, "body: a JSON body is required")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "body: not valid JSON") from None
    except RecursionError:
        raise ApiError(400, "body: nested too deeply") from None


def make_handler(spec: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap a route's handler with auth, input checks and the `User-Token` header."""

    async def handler(request: web.Request) -> web.StreamResponse:
        front: Front = request.app[FRONT]
        claims = None
        if spec.auth is not Auth.NONE:
            claims = await front.auth.check(request, spec.auth)
        try:
            query = parse_query(spec.query, request.query) if spec.query else {}
            body = None
            if spec.body is not None:
                raw = await _read_json(request, spec.body_optional)
                if raw is not None or not spec.body_optional:
                    body = validate(spec.body, raw)
            response = await spec.handler(Req(request, front, claims, body, query))
        except ApiError as exc:
            response = error_response(exc.status, exc.message, **exc.extra)
            if exc.status == 429 and "retry_after" in exc.extra:
                response.headers["Retry-After"] = str(exc.extra["retry_after"])
        if claims is not None and claims.kind == "user":
            response.headers["User-Token"] = front.auth.renew(claims)
        return response

    handler.__name__ = spec.handler.__name__
    return handler


def register_route(app: web.Application, spec: Route) -> None:
    """Add `spec` to `app` beside `ROUTES`, with the front's auth, query checks and
    token renewal, and list it in the app's OpenAPI document.

    An `ApiError` from the auth check becomes its JSON response here too, so the
    route answers the same with or without the front's error middleware.
    """
    from arpi.http.errors import ApiError, error_response

    inner = make_handler(spec)

    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            return await inner(request)
        except ApiError as exc:
            return error_response(exc.status, exc.message, **exc.extra)

    handler.__name__ = inner.__name__
    app.router.add_route(spec.method, spec.path, handler)
    if EXTRA_ROUTES not in app:
        app[EXTRA_ROUTES] = []
    app[EXTRA_ROUTES].append(spec)

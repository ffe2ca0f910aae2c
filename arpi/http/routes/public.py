"""Public probes (no auth): version, board, installation, health, OpenAPI."""

from __future__ import annotations

import hashlib

from aiohttp import web

from arpi.http.errors import json_response
from arpi.http.options import read_option
from arpi.http.registry import Auth, Req, route

PLAIN = {200: "plain text"}


@route(
    "GET",
    "/api/version",
    auth=Auth.NONE,
    summary="Version vX.Y.Z:commit",
    responses=PLAIN,
    tag="public",
)
async def version(req: Req) -> web.Response:
    return web.Response(text=req.front.settings.version)


@route(
    "OPTIONS",
    "/api/version",
    auth=Auth.NONE,
    summary="Reachability probe of the UI (answered by the CORS layer)",
    responses={204: "reachable"},
    tag="public",
)
async def version_probe(req: Req) -> web.Response:  # pragma: no cover - CORS answers
    return web.Response(status=204)


@route(
    "GET",
    "/api/board_version",
    auth=Auth.NONE,
    summary="Board version 2 or 3",
    responses=PLAIN,
    tag="public",
)
async def board_version(req: Req) -> web.Response:
    return web.Response(text=str(req.front.settings.board_version))


@route(
    "GET",
    "/api/config/installation_id",
    auth=Auth.NONE,
    summary="sha256 of the secret, 64 hex chars",
    responses=PLAIN,
    tag="public",
)
async def installation_id(req: Req) -> web.Response:
    digest = hashlib.sha256(req.front.settings.secret.encode()).hexdigest()
    return web.Response(text=digest)


@route(
    "GET",
    "/api/config/location_name",
    auth=Auth.NONE,
    summary="system/location name as a JSON string",
    tag="public",
)
async def location_name(req: Req) -> web.Response:
    value = await read_option(req.front, "system", "location")
    name = value.get("name")
    return json_response(name if isinstance(name, str) else "")


@route(
    "GET",
    "/api/config/installation",
    auth=Auth.NONE,
    summary="Primary and secondary domain",
    tag="public",
)
async def installation(req: Req) -> web.Response:
    value = await read_option(req.front, "network", "dyndns")
    host = value.get("hostname") or "localhost"
    return json_response({"primaryDomain": host, "secondaryDomain": "localhost"})


@route(
    "GET",
    "/api/openapi.json",
    auth=Auth.NONE,
    summary="This API as OpenAPI 3",
    tag="public",
)
async def openapi(req: Req) -> web.Response:
    from arpi.http.openapi import document
    from arpi.http.registry import EXTRA_ROUTES

    extra = tuple(req.request.app.get(EXTRA_ROUTES, ()))
    settings = req.front.settings
    return json_response(document(settings.version, extra, settings))

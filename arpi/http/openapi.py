"""The OpenAPI 3 document of the REST API, generated from the route table."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from arpi.http.registry import ROUTES, Auth
from arpi.http.schema import json_schema

__all__ = ["document", "openapi_path"]

_PARAM = re.compile(r"\{(\w+)(?::(?:[^{}]|\{[^{}]*\})*)?\}")
_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
}


def openapi_path(path: str) -> str:
    """`/api/user/{id:\\d+}` -> `/api/user/{id}`."""
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", path)


def document(
    version: str, extra: tuple[Any, ...] = (), settings: Any = None
) -> dict[str, Any]:
    """The whole document: `ROUTES` and the app's `extra` routes. `settings` (the
    front's `FrontSettings`, hashable) gives limits that depend on the installation,
    such as the highest sensor channel; without it the static bounds are shown."""
    if extra:
        return _document(version, extra, settings)
    return _base_document(version, settings)


@lru_cache(maxsize=4)
def _base_document(version: str, settings: Any) -> dict[str, Any]:
    return _document(version, (), settings)


def _document(version: str, extra: tuple[Any, ...], settings: Any) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for spec in (*ROUTES, *extra):
        path = openapi_path(spec.path)
        op: dict[str, Any] = {
            "operationId": f"{spec.method.lower()}_{spec.handler.__name__}",
            "summary": spec.summary or spec.handler.__name__,
            "tags": [spec.tag] if spec.tag else [],
        }
        params = []
        for name in _PARAM.findall(spec.path):
            schema: dict[str, Any] = {"type": "string"}
            if name in ("id", "idx", "channel"):
                schema = {"type": "integer", "minimum": 0, "maximum": 999_999}
            elif name in ("name", "section"):
                schema = {"type": "string", "pattern": "^[a-z_]{1,32}$"}
            params.append(
                {"name": name, "in": "path", "required": True, "schema": schema}
            )
        for name, field in spec.query.items():
            schema = json_schema(field, settings)
            if field.type == "boolean":
                schema = {"type": "boolean"}
            param = {
                "name": name,
                "in": "query",
                "required": field.required,
                "schema": schema,
            }
            if field.description:
                param["description"] = field.description
            params.append(param)
        if spec.auth is not Auth.NONE:
            op["security"] = [{"bearer": []}]
            op["description"] = f"Needs a {spec.auth.value} token."
        if params:
            op["parameters"] = params
        if spec.body is not None:
            op["requestBody"] = {
                "required": not spec.body_optional,
                "content": {
                    "application/json": {"schema": json_schema(spec.body, settings)}
                },
            }
        responses: dict[str, Any] = {}
        for status, text in (spec.responses or {200: "OK"}).items():
            responses[str(status)] = {"description": text}
        if 200 not in (spec.responses or {}) and not any(
            s < 300 for s in (spec.responses or {})
        ):
            responses["200"] = {"description": "OK"}
        responses.setdefault(
            "400",
            {
                "description": "invalid input",
                "content": {"application/json": {"schema": _ERROR}},
            },
        )
        if spec.auth is not Auth.NONE:
            responses.setdefault("401", {"description": "token expired"})
            responses.setdefault(
                "403", {"description": "missing, bad or insufficient token"}
            )
        if spec.auth is not Auth.NONE:
            op["x-arpi-auth"] = spec.auth.value
        paths.setdefault(path, {})[spec.method.lower()] = op
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "arpi REST API",
            "version": version,
            "description": "The ArPI web UI's API as served by arpi.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "device token or user token",
                }
            }
        },
    }

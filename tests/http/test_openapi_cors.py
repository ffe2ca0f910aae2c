"""The OpenAPI document matches the router; a bounded fuzz finds no 500; CORS."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import requests

from arpi.http.app import FRONT, build_app, start_front, stop_front
from arpi.http.openapi import document, openapi_path
from arpi.http.registry import EXTRA_ROUTES
from tests.http.conftest import serve


def test_document_matches_the_router(ctx):
    app = build_app(ctx)
    routed = set()
    for resource in app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter")
        if not path.startswith("/api/"):
            continue
        for route in resource:
            if route.method != "HEAD":
                routed.add((route.method.lower(), openapi_path(path)))
    doc = document("v", tuple(app.get(EXTRA_ROUTES, ())))
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert routed == documented
    assert doc["openapi"].startswith("3.")


class _ServerThread:
    """The front on its own loop thread, for synchronous clients (schemathesis)."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="test-front")
        self.runner: Any = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.runner = self.loop.run_until_complete(
            start_front(self.ctx, "127.0.0.1", 0)
        )
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(stop_front(self.runner))
        self.loop.close()

    def __enter__(self) -> _ServerThread:  # noqa: PYI034 - final test helper
        self.thread.start()
        assert self.ready.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}"


@pytest.mark.timeout(300)
def test_fuzzing_finds_no_server_error(ctx, alarm):
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable

    with _ServerThread(ctx) as server:
        front = server.runner.app[FRONT]
        admin = front.tokens.user_token(
            1, "Administrator", "admin", "http://localhost:4200"
        )
        headers = {
            "Authorization": f"Bearer {admin}",
            "Origin": "http://localhost:4200",
        }
        doc = requests.get(server.base + "/api/openapi.json", timeout=10).json()
        schema = schemathesis.openapi.from_dict(doc)
        errors: list[str] = []
        session = requests.Session()
        from schemathesis import GenerationMode

        plans = [
            (op.ok(), mode, n)
            for op in schema.get_all_operations()
            for mode, n in ((GenerationMode.POSITIVE, 6), (GenerationMode.NEGATIVE, 4))
        ]
        for operation, mode, examples in plans:

            @settings(
                max_examples=examples,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: Any) -> None:
                response = case.call(
                    base_url=server.base, headers=headers, session=session, timeout=20
                )
                status = response.status_code
                where = f"{case.method} {case.formatted_path} {case.query}"
                if status >= 500 and status != 503:
                    errors.append(f"{where} {case.body!r}: {status} {response.text}")
                elif status >= 400 and "error" not in (response.json() or {}):
                    errors.append(f"{where}: {status} without an error body")

            try:
                check()
            except Unsatisfiable:
                # Nothing in this operation can be made invalid (no parameters).
                assert mode is GenerationMode.NEGATIVE
        session.close()
    assert not errors, errors


def test_cors(ctx):
    async def scenario(api):
        for origin in (
            "http://localhost:4200",
            "http://127.0.0.1:8123",
            "https://arpi.local",
            "https://home.arpi.local",
        ):
            status, _, hdrs = await api.call(
                "OPTIONS",
                "/api/sensors/",
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Headers": "authorization",
                },
            )
            assert status == 204
            assert hdrs["Access-Control-Allow-Origin"] == origin
            assert "PUT" in hdrs["Access-Control-Allow-Methods"]
            assert hdrs["Access-Control-Allow-Headers"] == "authorization"
        status, _, hdrs = await api.call(
            "OPTIONS",
            "/api/sensors/",
            headers={
                "Origin": "http://evil.example",
                "Access-Control-Request-Method": "GET",
            },
        )
        assert status == 204 and "Access-Control-Allow-Origin" not in hdrs
        status, _, _ = await api.call("OPTIONS", "/api/version")
        assert 200 <= status < 300
        status, _, hdrs = await api.admin(
            "GET", "/api/sensors/", headers={"Origin": "http://localhost:9"}
        )
        assert hdrs["Access-Control-Expose-Headers"] == "User-Token"
        assert hdrs["Access-Control-Allow-Credentials"] == "true"
        status, _, hdrs = await api.call(
            "GET", "/api/nothing", headers={"Origin": "http://localhost:9"}
        )
        assert status == 404 and hdrs["Access-Control-Allow-Origin"]

    serve(ctx, scenario)


def test_cors_origins_are_configurable(ctx):
    ctx.settings.cors_origins = ("https://alarm.example.org",)

    async def scenario(api):
        _, _, hdrs = await api.call(
            "GET", "/api/version", headers={"Origin": "https://alarm.example.org"}
        )
        assert hdrs["Access-Control-Allow-Origin"] == "https://alarm.example.org"
        _, _, hdrs = await api.call(
            "GET", "/api/version", headers={"Origin": "http://localhost:4200"}
        )
        assert "Access-Control-Allow-Origin" not in hdrs

    serve(ctx, scenario)

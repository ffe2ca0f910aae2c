"""Smoke: the public probes and one authenticated list over real HTTP."""

from __future__ import annotations

from tests.http.conftest import serve


def test_public_probes(ctx):
    async def scenario(api):
        status, body, _ = await api.call("GET", "/api/version")
        assert (status, body) == (200, "v1.2.3:abc1234")
        status, body, _ = await api.call("GET", "/api/board_version")
        assert (status, body) == (200, "3")
        status, body, _ = await api.call("GET", "/api/config/installation_id")
        assert status == 200 and len(body) == 64
        status, body, _ = await api.call("GET", "/api/config/location_name")
        assert (status, body) == (200, "")
        status, body, hdrs = await api.admin("GET", "/api/sensors/")
        assert (status, body) == (200, [])
        assert hdrs["User-Token"]

    serve(ctx, scenario)

"""Every route against every kind of token: none, device, user, admin, expired."""

from __future__ import annotations

import re

from arpi.http.registry import ROUTES, Auth
from tests.http.conftest import ADMIN_ID, serve

_PARAM = re.compile(r"\{(\w+)(?::(?:[^{}]|\{[^{}]*\})*)?\}")


def _path(path: str, user_id: int) -> str:
    values = {
        "id": str(user_id) if path.startswith("/api/user/") else "1",
        "idx": "1",
        "name": "syren",
        "section": "timing",
    }
    return _PARAM.sub(lambda m: values[m.group(1)], path)


def _expected_ok(status: int) -> bool:
    """Auth passed: anything but 401/403 (the handler may still say 4xx/503)."""
    return status not in (401, 403)


def test_auth_matrix(ctx):
    async def scenario(api):
        status, user, _ = await api.admin(
            "POST",
            "/api/users",
            json={"name": "Chuck", "role": "user", "accessCode": "1111"},
        )
        assert status == 201, user
        uid = user["id"]
        device = api.device(uid)
        expired = api.token("user", uid, "Chuck")
        ctx.clock.advance(901)
        fresh_user = api.token("user", uid, "Chuck")
        failures = []

        for spec in ROUTES:
            if spec.method == "OPTIONS":
                continue
            own = _path(spec.path, uid)
            cases = [
                ("none", None),
                ("device", device),
                ("expired", expired),
                ("user", fresh_user),
            ]
            for label, token in cases:
                status, body, headers = await api.call(
                    spec.method, own, token=token, json={}
                )
                if spec.auth is Auth.NONE:
                    good = status not in (401, 403) or spec.path.endswith(
                        "register_device"
                    )
                elif spec.auth is Auth.DEVICE:
                    good = (status == 403) if label == "none" else _expected_ok(status)
                else:
                    want = {"none": 403, "device": 403, "expired": 401}
                    if label in want:
                        good = status == want[label]
                    elif spec.auth is Auth.ADMIN:
                        good = status == 403 and "role" in body["error"]
                    else:
                        good = _expected_ok(status) and "User-Token" in headers
                if not good:
                    failures.append((spec.method, spec.path, label, status, body))

        # Admin last: admin calls may delete what the user calls above needed.
        admin = api.token()
        for spec in ROUTES:
            if spec.method == "OPTIONS":
                continue
            path = _path(spec.path, ADMIN_ID)
            status, body, headers = await api.call(
                spec.method, path, token=admin, json={}
            )
            if not _expected_ok(status) and not (
                spec.auth is Auth.NONE and spec.path.endswith("register_device")
            ):
                failures.append((spec.method, spec.path, "admin", status, body))
            elif spec.auth in (Auth.USER, Auth.ADMIN) and "User-Token" not in headers:
                failures.append((spec.method, spec.path, "admin-header", status, body))
            assert status != 500, (spec.method, spec.path, body)
        assert not failures, failures

    serve(ctx, scenario)


def test_error_bodies_for_tokens(ctx):
    async def scenario(api):
        status, body, _ = await api.call("GET", "/api/sensors/")
        assert (status, body) == (
            403,
            {"error": "operation not permitted (missing token)"},
        )
        status, body, _ = await api.call("GET", "/api/sensors/", token="garbage")
        assert (status, body) == (
            403,
            {"error": "operation not permitted (wrong token)"},
        )
        status, body, _ = await api.call("GET", "/api/monitoring/arm")
        assert (status, body) == (403, {"error": "missing device token"})
        status, body, _ = await api.call("GET", "/api/monitoring/arm", token="x.y.z")
        assert (status, body) == (403, {"error": "invalid device token"})
        old = api.token()
        ctx.clock.advance(900.5)
        status, body, _ = await api.call("GET", "/api/sensors/", token=old)
        assert (status, body) == (401, {"error": "token expired"})
        # An expired user token is still a signed token for device routes.
        status, body, _ = await api.call("GET", "/api/monitoring/arm", token=old)
        assert status == 200

    serve(ctx, scenario)


def test_fresh_user_token_on_errors_and_deleted_user(ctx):
    async def scenario(api):
        status, body, headers = await api.admin("GET", "/api/sensor/999")
        assert status == 404 and body == {"error": "Sensor not found"}
        renewed = headers["User-Token"]
        claims = api.front.tokens.decode(renewed)
        assert (claims.user_id, claims.role, claims.expired) == (
            ADMIN_ID,
            "admin",
            False,
        )

        status, user, _ = await api.admin(
            "POST",
            "/api/users",
            json={"name": "Temp", "role": "admin", "accessCode": "2222"},
        )
        token = api.token("admin", user["id"], "Temp")
        assert (await api.call("GET", "/api/users", token=token))[0] == 200
        assert (await api.admin("DELETE", f"/api/user/{user['id']}"))[0] == 200
        status, body, _ = await api.call("GET", "/api/users", token=token)
        assert status == 403

    serve(ctx, scenario)

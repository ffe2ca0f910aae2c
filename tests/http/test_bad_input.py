"""Hostile input over real HTTP: each answers a 4xx naming the problem, never a 500."""

from __future__ import annotations

import json

from arpi.bus import UiEvent
from arpi.http.limiter import LimiterEvent, security_warning
from tests.http.conftest import ADMIN_ID, ORIGIN, serve

JSON = {"Content-Type": "application/json"}


async def _raw(api, method, path, text, token=None):
    """Send `text` as the body exactly as written (JSON escapes kept)."""
    return await api.call(
        method,
        path,
        token=token or api.token(),
        data=text.encode("ascii"),
        headers=JSON,
    )


def test_lone_surrogates_and_nul_are_refused_naming_the_field(ctx):
    async def scenario(api):
        status, body, _ = await _raw(api, "POST", "/api/areas/", r'{"name":"\ud800"}')
        assert status == 400, body
        assert body["error"].startswith("name:") and "surrogate" in body["error"]
        status, body, _ = await _raw(api, "POST", "/api/areas/", r'{"name":"a\u0000"}')
        assert status == 400 and body["error"].startswith("name:"), body
        # Checked centrally: nested fields and other routes too.
        status, body, _ = await _raw(
            api, "POST", "/api/zones/", r'{"name":"Z","description":"x\udc00y"}'
        )
        assert status == 400 and body["error"].startswith("description:"), body
        status, body, _ = await _raw(
            api, "PUT", "/api/config/system/location", r'{"city":"\udfff"}'
        )
        assert status == 400 and body["error"].startswith("city:"), body
        # An unknown key that is itself a lone surrogate is named, escaped.
        status, body, _ = await _raw(
            api, "PUT", "/api/config/system/location", r'{"\ud800":"x"}'
        )
        assert (status, body) == (400, {"error": "\\ud800: unknown key"})
        # A proper pair is one character and is stored.
        status, area, _ = await _raw(
            api, "POST", "/api/areas/", r'{"name":"Pool \ud83c\udfca"}'
        )
        assert status == 201 and area["name"] == "Pool \U0001f3ca", area

    serve(ctx, scenario)


def test_deeply_nested_body_is_a_400(ctx):
    async def scenario(api):
        text = '{"name":"deep","description":' + "[" * 5000 + "]" * 5000 + "}"
        status, body, _ = await _raw(api, "POST", "/api/zones/", text)
        assert (status, body) == (400, {"error": "body: nested too deeply"})
        # The front still serves.
        assert (await api.admin("GET", "/api/zones/"))[0] == 200

    serve(ctx, scenario)


def test_clock_input_is_checked_before_the_clock_is_asked(ctx):
    async def scenario(api):
        for payload, field in [
            ({"timezone": "Mars/Base"}, "timezone"),
            ({"datetime": "9999-12-31 23:59:59"}, "datetime"),
            ({"datetime": "9999-12-31T23:59:59-05:00"}, "datetime"),
            ({"datetime": "1999-12-31 23:59:59"}, "datetime"),
            ({"timezone": "UTC", "datetime": "2100-01-01 00:00:00"}, "datetime"),
        ]:
            status, body, _ = await api.admin("PUT", "/api/clock", json=payload)
            assert status == 400 and body["error"].startswith(field), (payload, body)
        # Valid input reaches the (absent) clock actor.
        status, body, _ = await api.admin(
            "PUT", "/api/clock", json={"datetime": "2099-12-31 23:59:59"}
        )
        assert (status, body) == (503, {"error": "clock not available"})

    serve(ctx, scenario)


def _forged(api, **claims):
    """A user token signed with the front's secret carrying `claims` as given."""
    base = {"id": ADMIN_ID, "name": "Administrator", "role": "admin"}
    return api.front.tokens._encode({**base, "origin": ORIGIN, **claims})


def test_signed_tokens_with_absurd_timestamps_are_refused(ctx):
    async def scenario(api):
        now = api.front.tokens.now()
        for stamp in (10**400, 10**20, 1e300, -5, now + 3600):
            token = _forged(api, timestamp=stamp)
            status, body, _ = await api.call("GET", "/api/users", token=token)
            assert status == 403, (stamp, body)
        # json.dumps writes NaN / Infinity, which json.loads reads back.
        for stamp in (float("nan"), float("inf")):
            token = _forged(api, timestamp=stamp)
            assert (await api.call("GET", "/api/users", token=token))[0] == 403
        # Ids out of the database's range are refused too.
        token = _forged(api, id=10**30, timestamp=int(now))
        assert (await api.call("GET", "/api/users", token=token))[0] == 403
        # A little clock skew is fine; the token then expires as usual.
        token = _forged(api, timestamp=int(now) + 30)
        assert (await api.call("GET", "/api/users", token=token))[0] == 200
        api.ctx.clock.advance(api.front.tokens.ttl + 31)
        assert (await api.call("GET", "/api/users", token=token))[0] == 401

    serve(ctx, scenario)


def test_a_deeply_nested_token_header_is_a_bad_token(ctx):
    async def scenario(api):
        import base64

        header = base64.urlsafe_b64encode(b"[" * 5000).rstrip(b"=").decode()
        token = f"{header}.e30.c2ln"
        status, body, _ = await api.call("GET", "/api/users", token=token)
        assert status == 403, body

    serve(ctx, scenario)


def test_the_last_admin_can_be_neither_demoted_nor_deleted(ctx):
    async def scenario(api):
        status, second, _ = await api.admin(
            "POST",
            "/api/users",
            json={"name": "Second", "role": "admin", "accessCode": "5555"},
        )
        assert status == 201, second
        sid = second["id"]
        # With another admin there, an admin may demote itself.
        status, body, _ = await api.admin(
            "PUT", f"/api/user/{ADMIN_ID}", json={"role": "user"}
        )
        assert status == 200 and body["role"] == "user", body
        # Now Second is the last admin: neither its own demotion nor deletion.
        other = api.token(user_id=sid, name="Second")
        status, body, _ = await api.call(
            "PUT", f"/api/user/{sid}", token=other, json={"role": "user"}
        )
        assert status == 409 and "last admin" in body["error"], body
        status, body, _ = await api.call("DELETE", f"/api/user/{sid}", token=other)
        assert status == 409 and "last admin" in body["error"], body
        # The old admin token now carries a user's rights only.
        assert (await api.admin("DELETE", f"/api/user/{sid}"))[0] == 403
        # Promote the first again: then the second may go.
        status, body, _ = await api.call(
            "PUT", f"/api/user/{ADMIN_ID}", token=other, json={"role": "admin"}
        )
        assert status == 200, body
        assert (await api.admin("DELETE", f"/api/user/{sid}"))[:2] == (200, None)

    serve(ctx, scenario)


def test_openapi_shows_the_enforced_channel_range_and_the_arm_flags(ctx):
    async def scenario(api):
        status, doc, _ = await api.call("GET", "/api/openapi.json")
        assert status == 200
        top = ctx.settings.input_number - 1
        for method, path in (("post", "/api/sensors/"), ("put", "/api/sensor/{id}")):
            body = doc["paths"][path][method]["requestBody"]["content"]
            channel = body["application/json"]["schema"]["properties"]["channel"]
            assert (channel["minimum"], channel["maximum"]) == (-1, top), path
        for path in ("/api/monitoring/arm", "/api/area/arm"):
            params = {p["name"]: p for p in doc["paths"][path]["put"]["parameters"]}
            assert "exit delay" in params["use_delay"]["description"], path
            assert params["force"]["description"], path
        # ... and the server enforces exactly that.
        status, zone, _ = await api.admin("POST", "/api/zones/", json={"name": "Z"})
        assert status == 201
        sensor = {"name": "S", "zoneId": zone["id"], "areaId": 1, "typeId": 1}
        status, body, _ = await api.admin(
            "POST", "/api/sensors/", json={**sensor, "channel": top + 1}
        )
        assert status == 400 and body["error"].startswith("channel:"), body
        status, body, _ = await api.admin(
            "POST", "/api/sensors/", json={**sensor, "channel": top}
        )
        assert status == 201, body

    serve(ctx, scenario)


def test_security_warning_is_the_admin_only_event_of_a_limiter_event():
    event = LimiterEvent("lockout", "user:3", 10, 899.96, "keypad")
    assert security_warning(event) == UiEvent(
        "security_warning",
        {
            "kind": "lockout",
            "what": "keypad",
            "key": "user:3",
            "failures": 10,
            "retry_after": 900.0,
        },
        admin_only=True,
        coalesce=False,
    )
    assert json.dumps(security_warning(event).payload)


def test_notification_addresses_cannot_carry_protocol_lines(ctx):
    async def scenario(api):
        for path, payload, field in [
            (
                "/api/config/notifications/smtp",
                {"smtp_hostname": "a\r\nRCPT TO:<x@y>"},
                "smtp_hostname",
            ),
            (
                "/api/config/notifications/smtp",
                {"email_address_1": "a@b\r\nDATA"},
                "email_address_1",
            ),
            (
                "/api/config/notifications/gsm",
                {"phone_number_1": "+3630\r\nAT+CMGD=1,4"},
                "phone_number_1",
            ),
            ("/api/config/mqtt/external_publish", {"hostname": "h h"}, "hostname"),
        ]:
            status, body, _ = await api.admin("PUT", path, json=payload)
            assert status == 400, (payload, body)
            assert field in body["error"], body
        status, _, _ = await api.admin(
            "PUT",
            "/api/config/notifications/smtp",
            json={"smtp_hostname": "mail.example.org", "email_address_1": ""},
        )
        assert status in (200, 204)

    serve(ctx, scenario)

"""Device registration, login, users, registration codes and cards."""

from __future__ import annotations

from tests.http.conftest import ADMIN_ID, ORIGIN, serve

HDR = {"Origin": ORIGIN}


def _sql(ctx, statement, args=()):
    conn = ctx.db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(statement, args)
            rows = cur.fetchall() if cur.description else None
        conn.commit()
        return rows
    finally:
        conn.close()


def test_register_device_and_login(ctx):
    async def scenario(api):
        status, body, _ = await api.call(
            "POST",
            "/api/user/register_device",
            json={"registration_code": "abcd-1234"},
            headers=HDR,
        )
        assert status == 200, body
        device = body["device_token"]
        claims = api.front.tokens.decode(device)
        assert (claims.kind, claims.user_id, claims.origin) == ("device", 1, ORIGIN)
        # One-time: the same code no longer works.
        status, body, _ = await api.call(
            "POST",
            "/api/user/register_device",
            json={"registration_code": "ABCD1234"},
            headers=HDR,
        )
        assert (status, body) == (
            400,
            {"error": "Failed to register device", "reason": "User not found"},
        )
        status, body, _ = await api.call(
            "POST",
            "/api/user/register_device",
            json={"registration_code": " - "},
            headers=HDR,
        )
        assert body["reason"] == "Missing registration code"
        status, body, _ = await api.call(
            "POST", "/api/user/register_device", json={"registration_code": "x"}
        )
        assert (status, body) == (400, {"error": "Origin header required"})

        login = {"device_token": device, "access_code": "1234"}
        status, body, _ = await api.call(
            "POST", "/api/user/authenticate", token=device, json=login, headers=HDR
        )
        assert status == 200
        user = api.front.tokens.decode(body["user_token"])
        assert (user.kind, user.role, user.name) == ("user", "admin", "Administrator")
        status, body, _ = await api.call(
            "POST",
            "/api/user/authenticate",
            token=device,
            headers=HDR,
            json={"device_token": device, "access_code": 9999},
        )
        assert (status, body) == (200, False)
        status, body, _ = await api.call(
            "POST",
            "/api/user/authenticate",
            token=device,
            headers=HDR,
            json={"device_token": "forged", "access_code": "1234"},
        )
        assert status == 400 and "device_token" in body["error"]
        status, body, _ = await api.call(
            "POST",
            "/api/user/authenticate",
            token=device,
            headers=HDR,
            json={"device_token": device, "access_code": "12a4"},
        )
        assert status == 400 and "access_code" in body["error"]
        gone = api.device(user_id=424242)
        status, body, _ = await api.call(
            "POST",
            "/api/user/authenticate",
            token=gone,
            headers=HDR,
            json={"device_token": gone, "access_code": "1234"},
        )
        assert (status, body) == (400, {"error": "invalid user id"})
        assert (await api.call("GET", "/api/user/1/name", token=device))[:2] == (
            200,
            "Administrator",
        )
        assert (await api.call("GET", "/api/user/7/name", token=device))[0] == 404

    serve(ctx, scenario)


def test_registration_codes(ctx):
    async def scenario(api):
        status, body, _ = await api.admin("GET", "/api/user/1/registration_code")
        assert (status, body) == (400, {"error": "Already has registration code"})
        assert (await api.admin("DELETE", "/api/user/1/registration_code"))[:2] == (
            200,
            None,
        )
        status, body, _ = await api.admin(
            "GET", "/api/user/1/registration_code?expiry=60"
        )
        code = body["code"]
        assert status == 200 and len(code) == 12 and code == code.upper()
        int(code, 16)
        users = (await api.admin("GET", "/api/users"))[1]
        assert users[0]["hasRegistrationCode"] is True
        assert users[0]["registrationExpiry"] is not None
        dashed = f"{code[:3]}-{code[3:6]}-{code[6:9]}-{code[9:]}".lower()
        # The code expires: after 61 s of wall time it no longer works.
        _sql(api.ctx, "UPDATE \"user\" SET registration_expiry = now() - interval '1s'")
        status, body, _ = await api.call(
            "POST",
            "/api/user/register_device",
            json={"registration_code": dashed},
            headers=HDR,
        )
        assert body == {
            "error": "Failed to register device",
            "reason": "Expired registration code",
        }
        _sql(api.ctx, 'UPDATE "user" SET registration_expiry = NULL')
        status, body, _ = await api.call(
            "POST",
            "/api/user/register_device",
            json={"registration_code": dashed},
            headers=HDR,
        )
        assert status == 200
        assert (await api.admin("GET", "/api/user/999/registration_code"))[0] == 404

    serve(ctx, scenario)


def test_users_crud_and_rules(ctx):
    async def scenario(api):
        status, user, _ = await api.admin(
            "POST",
            "/api/users",
            json={
                "name": "Chuck",
                "role": "user",
                "accessCode": "1111",
                "comment": "c",
                "email": "chuck@example.org",
            },
        )
        assert status == 201
        uid = user["id"]
        assert user == {
            "id": uid,
            "name": "Chuck",
            "email": "chuck@example.org",
            "hasRegistrationCode": False,
            "hasCard": False,
            "registrationExpiry": None,
            "role": "user",
            "comment": "c",
        }
        for bad, field in [
            ({"accessCode": "12"}, "accessCode"),
            ({"accessCode": "12345678901234"}, "accessCode"),
            ({"role": "root"}, "role"),
            ({"name": ""}, "name"),
            ({"email": "nope"}, "email"),
        ]:
            body = {"name": "X", "role": "user", "accessCode": "1234", **bad}
            status, err, _ = await api.admin("POST", "/api/users", json=body)
            assert status == 400 and field in err["error"], (bad, err)
        users = (await api.admin("GET", "/api/users"))[1]
        assert [u["role"] for u in users] == ["admin", "user"]

        mine = api.token("user", uid, "Chuck")
        assert (await api.call("GET", f"/api/user/{uid}", token=mine))[0] == 200
        assert (await api.call("GET", "/api/user/1", token=mine))[0] == 403
        assert (await api.call("PUT", "/api/user/1", token=mine, json={"name": "x"}))[
            0
        ] == 403
        status, body, _ = await api.call(
            "PUT", f"/api/user/{uid}", token=mine, json={"role": "admin"}
        )
        assert (status, body) == (403, {"error": "Cannot change user role"})
        status, body, _ = await api.call(
            "PUT",
            f"/api/user/{uid}",
            token=mine,
            json={"oldAccessCode": "0000", "newAccessCode": "2222"},
        )
        assert (status, body) == (400, {"error": "Invalid old access code"})
        status, body, _ = await api.call(
            "PUT",
            f"/api/user/{uid}",
            token=mine,
            json={
                "id": uid,
                "name": "Chuck",
                "role": "user",
                "comment": "c",
                "oldAccessCode": "1111",
                "newAccessCode": "2222",
            },
        )
        assert status == 200
        assert (
            await api.call(
                "PUT",
                f"/api/user/{uid}",
                token=mine,
                json={"name": "Chuck", "comment": "c"},
            )
        )[0] == 204
        # An admin changes another user's code without the old one.
        assert (
            await api.admin("PUT", f"/api/user/{uid}", json={"newAccessCode": "3333"})
        )[0] == 200
        device = api.device(uid)
        status, body, _ = await api.call(
            "POST",
            "/api/user/authenticate",
            token=device,
            headers=HDR,
            json={"device_token": device, "access_code": "3333"},
        )
        assert status == 200 and "user_token" in body
        status, body, _ = await api.admin("PUT", "/api/user/1", json={"role": "user"})
        assert status == 409 and "last admin" in body["error"]
        status, body, _ = await api.admin("DELETE", "/api/user/1")
        assert status == 409
        # A user with history can be deleted; the history keeps the id.
        _sql(
            api.ctx,
            "INSERT INTO arm (type, time, user_id) VALUES ('AWAY', now(), %s)",
            (uid,),
        )
        assert (await api.admin("DELETE", f"/api/user/{uid}"))[:2] == (200, None)
        assert (await api.admin("GET", f"/api/user/{uid}"))[0] == 404
        assert _sql(api.ctx, "SELECT user_id FROM arm") == [(uid,)]

    serve(ctx, scenario)


def test_cards(ctx, db):
    async def scenario(api):
        status, user, _ = await api.admin(
            "POST",
            "/api/users",
            json={"name": "C", "role": "user", "accessCode": "1111"},
        )
        uid = user["id"]
        rows = _sql(
            api.ctx,
            "INSERT INTO card (code, user_id, description) VALUES "
            "('h', %s, 'mine'), ('h', 1, 'admins') RETURNING id",
            (uid,),
        )
        mine_id, admins_id = rows[0][0], rows[1][0]
        mine = api.token("user", uid, "C")
        status, cards, _ = await api.call("GET", "/api/cards", token=mine)
        assert [c["id"] for c in cards] == [mine_id]
        assert cards[0] == {
            "id": mine_id,
            "userId": uid,
            "description": "mine",
            "enabled": True,
        }
        assert (await api.call("GET", "/api/cards?userId=1", token=mine))[0] == 403
        assert len((await api.admin("GET", "/api/cards"))[1]) == 2
        assert (await api.call("GET", f"/api/card/{admins_id}", token=mine))[:2] == (
            403,
            {"error": "Not authorized"},
        )
        status, body, _ = await api.call(
            "PUT",
            f"/api/card/{mine_id}",
            token=mine,
            json={"enabled": False, "userId": 1},
        )
        assert (status, body["enabled"], body["userId"]) == (200, False, uid)
        assert (
            await api.call(
                "PUT", f"/api/card/{mine_id}", token=mine, json={"enabled": False}
            )
        )[0] == 204
        assert (await api.call("GET", f"/api/user/{uid}/cards", token=mine))[0] == 200
        assert (await api.call("GET", "/api/user/1/cards", token=mine))[0] == 403
        assert (
            await api.call("PUT", f"/api/user/{uid}/register_card", token=mine, json={})
        )[:2] == (200, {})
        assert (await api.call("PUT", "/api/user/1/register_card", token=mine))[
            0
        ] == 403
        assert (await api.call("DELETE", f"/api/card/{mine_id}", token=mine))[0] == 200
        assert (await api.admin("GET", f"/api/card/{mine_id}"))[:2] == (
            404,
            {"error": "Card not found"},
        )
        # The user with a card is listed with hasCard.
        users = {u["id"]: u for u in (await api.admin("GET", "/api/users"))[1]}
        assert users[1]["hasCard"] is True and users[uid]["hasCard"] is False

    serve(ctx, scenario)


def test_mcp_and_ssh(ctx):
    async def scenario(api):
        assert (await api.admin("GET", "/api/user/1/mcp_token"))[1] == {
            "has_mcp_token": False
        }
        status, token, _ = await api.admin("POST", "/api/user/1/mcp_token?ttl=60")
        assert status == 200 and isinstance(token, str)
        assert (await api.admin("GET", "/api/user/1/mcp_token"))[1] == {
            "has_mcp_token": True
        }
        assert (await api.admin("DELETE", "/api/user/1/mcp_token"))[:2] == (200, None)
        status, body, _ = await api.admin(
            "PUT", "/api/user/1/ssh_key", json={"publicKey": "ssh-ed25519 AAAA"}
        )
        assert (status, body) == (503, {"error": "ssh key management not available"})
        assert ADMIN_ID == 1

    serve(ctx, scenario)

"""Device registration, login, users, registration codes, cards, SSH and MCP keys."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta
from typing import Any

import bcrypt
import structlog
from aiohttp import web
from pypika import Table

from arpi.http.asks import tell_actor
from arpi.http.entities import CARD, USER, USER_GET_SQL, USER_LIST_SQL, P, Q
from arpi.http.errors import ApiError, json_response
from arpi.http.origins import origin_of
from arpi.http.registry import Auth, Req, route
from arpi.http.routes._common import ID, config_changed, created, no_change, ok
from arpi.http.schema import INT32, Field, Obj
from arpi.http.sshkeys import (
    KEY_TYPES,
    AuthorizedKeys,
    BadPublicKey,
    KeyFileError,
    generate_key_pair,
    key_comment,
    parse_public_key,
)
from arpi.http.tokens import BadToken

log = structlog.get_logger("arpi.auth")

_U = Table("user")
_C = Table("card")
_REG_FAILED = "Failed to register device"


def hash_secret(text: str, rounds: int) -> str:
    """bcrypt hash (blocks ~0.25 s at 12 rounds: call it off the loop)."""
    return bcrypt.hashpw(text.encode(), bcrypt.gensalt(rounds)).decode()


def check_secret(text: str, hashed: str | None) -> bool:
    """bcrypt check; False for a missing or unreadable hash. Blocks: off the loop."""
    if not hashed:
        return False
    try:
        return bcrypt.checkpw(text.encode(), hashed.encode())
    except ValueError:
        return False


def _page_origin(req: Req) -> str | None:
    for header in ("Origin", "Referer"):
        parsed = origin_of(req.request.headers.get(header))
        if parsed is not None:
            scheme, host, port = parsed
            default = 443 if scheme == "https" else 80
            return f"{scheme}://{host}" + ("" if port == default else f":{port}")
    return None


def _source(req: Req) -> str:
    return f"source:{req.request.remote or 'unknown'}"


def _refuse_if_limited(req: Req, *keys: str) -> None:
    verdict = req.front.limiter.check(*keys)
    if not verdict.allowed:
        wait = max(1, int(verdict.retry_after + 0.999))
        what = "locked out" if verdict.locked else "too many wrong codes"
        raise ApiError(429, f"{what}: retry in {wait} s", retry_after=wait)


async def _read(req: Req, fn: Any) -> Any:
    try:
        return await req.front.reads.run(fn)
    except ApiError:
        raise
    except Exception as exc:
        raise ApiError(503, "database not available") from exc


# --- device registration and login ---------------------------------------------

_CANDIDATES_SQL = str(
    Q.from_(_U)
    .select(_U.id, _U.registration_code, _U.registration_expiry)
    .where(_U.registration_code.notnull())
)
_CONSUME_SQL = str(
    Q.update(_U)
    .set(_U.registration_code, None)
    .where(_U.id == P)
    .where(_U.registration_code == P)
    .returning(_U.id)
)


@route(
    "POST",
    "/api/user/register_device",
    auth=Auth.NONE,
    tag="auth",
    body=Obj({"registration_code": Field("string", required=True, max_length=64)}),
    summary="Trade a one-time registration code for a device token",
    responses={200: "{device_token}", 400: "{error, reason}", 429: "rate limited"},
)
async def register_device(req: Req) -> web.Response:
    source = _source(req)
    _refuse_if_limited(req, source)
    origin = _page_origin(req)
    if origin is None:
        raise ApiError(400, "Origin header required")
    code = "".join(req.body["registration_code"].lower().replace("-", "").split())
    if not code:
        raise ApiError(400, _REG_FAILED, reason="Missing registration code")
    candidates = await _read(
        req, lambda cur: (cur.execute(_CANDIDATES_SQL), cur.fetchall())[1]
    )
    match = await asyncio.to_thread(
        lambda: next((c for c in candidates if check_secret(code, c[1])), None)
    )
    now = req.front.ctx.clock.wall()
    reason = None
    if match is None:
        reason = "User not found"
    elif match[2] is not None and match[2] < now:
        reason = "Expired registration code"
    else:
        user_id, hashed = match[0], match[1]

        def consume(cur: Any) -> bool:
            cur.execute(_CONSUME_SQL, (user_id, hashed))
            return cur.fetchone() is not None

        if not await req.front.store.transact(consume):
            reason = "User not found"
    if reason is not None:
        req.front.limiter.failure(source)
        raise ApiError(400, _REG_FAILED, reason=reason)
    req.front.limiter.success(source)
    token = req.front.tokens.device_token(user_id, req.request.remote or "", origin)
    log.info("device_registered", user_id=user_id)
    return ok({"device_token": token})


_LOGIN_SQL = str(Q.from_(_U).select(_U.name, _U.role, _U.access_code).where(_U.id == P))


@route(
    "POST",
    "/api/user/authenticate",
    auth=Auth.DEVICE,
    tag="auth",
    body=Obj(
        {
            "device_token": Field("string", required=True, max_length=4096),
            "access_code": Field("digits", required=True, min_length=1, max_length=12),
        }
    ),
    summary="Trade a device token and an access code for a user token",
    responses={200: "{user_token} or false", 400: "invalid", 429: "rate limited"},
)
async def authenticate(req: Req) -> web.Response:
    try:
        device = req.front.tokens.decode(req.body["device_token"])
    except BadToken:
        raise ApiError(400, "device_token: invalid") from None
    if device.kind != "device":
        raise ApiError(400, "device_token: not a device token")
    source, user_key = _source(req), f"user:{device.user_id}"
    _refuse_if_limited(req, source, user_key)
    row = await _read(
        req, lambda cur: (cur.execute(_LOGIN_SQL, (device.user_id,)), cur.fetchone())[1]
    )
    if row is None:
        req.front.limiter.failure(source)
        raise ApiError(400, "invalid user id")
    name, role, hashed = row
    if not await asyncio.to_thread(check_secret, req.body["access_code"], hashed):
        req.front.limiter.failure(source, user_key)
        return json_response(False)
    req.front.limiter.success(source, user_key)
    origin = _page_origin(req) or device.origin
    log.info("user_logged_in", user_id=device.user_id)
    return ok(
        {"user_token": req.front.tokens.user_token(device.user_id, name, role, origin)}
    )


@route(
    "GET",
    f"/api/user/{ID}/name",
    auth=Auth.DEVICE,
    tag="users",
    summary="A user's name (login greeting)",
    responses={200: "name", 404: "unknown"},
)
async def user_name(req: Req) -> web.Response:
    ident = req.id(what="User")
    user = await req.front.users.get(ident)
    if user is None:
        raise ApiError(404, "User not found")
    return ok(user[0])


# --- users ---------------------------------------------------------------------

_EMAIL = Field(
    "string", max_length=255, pattern=r"|[^@\s]{1,64}@[^@\s]{1,200}\.[^@\s]{2,20}"
)
_CODE = Field("digits", nullable=True, min_length=4, max_length=12)
_USER_CREATE = Obj(
    {
        "name": Field("string", required=True, min_length=1, max_length=32),
        "role": Field("string", required=True, enum=("admin", "user")),
        "accessCode": Field("digits", required=True, min_length=4, max_length=12),
        "comment": Field("string", nullable=True, max_length=2000),
        "email": _EMAIL,
    }
)
_USER_UPDATE = Obj(
    {
        "name": Field("string", min_length=1, max_length=32),
        "role": Field("string", enum=("admin", "user")),
        "comment": Field("string", nullable=True, max_length=2000),
        "email": _EMAIL,
        "oldAccessCode": Field("digits", nullable=True, max_length=12),
        "newAccessCode": _CODE,
        "accessCode": _CODE,
        "fourkeyCode": Field("digits", nullable=True, min_length=4, max_length=4),
    }
)


def _self_or_admin(req: Req, ident: int) -> None:
    if not req.is_admin and req.user_id != ident:
        raise ApiError(403, "operation not permitted (not your user)")


def _user_row(cur: Any, ident: int) -> dict[str, Any] | None:
    cur.execute(USER_GET_SQL, (ident,))
    row = cur.fetchone()
    return None if row is None else USER.to_json(row)


def _admins(cur: Any) -> int:
    cur.execute(str(Q.from_(_U).select(_U.id).where(_U.role == P)), ("admin",))
    return len(cur.fetchall())


@route("GET", "/api/users", auth=Auth.USER, tag="users", summary="List users")
async def users_list(req: Req) -> web.Response:
    return ok(await _read(req, lambda cur: USER.fetch_all(cur, USER_LIST_SQL)))


@route(
    "POST",
    "/api/users",
    auth=Auth.ADMIN,
    body=_USER_CREATE,
    tag="users",
    summary="Create a user",
    responses={201: "created", 400: "invalid"},
)
async def user_create(req: Req) -> web.Response:
    body = req.body
    rounds = req.front.settings.bcrypt_rounds
    code = body["accessCode"]
    access, fourkey = await asyncio.to_thread(
        lambda: (hash_secret(code, rounds), hash_secret(code[:4], rounds))
    )
    values = {
        "name": body["name"],
        "role": body["role"],
        "access_code": access,
        "fourkey_code": fourkey,
        "comment": body.get("comment"),
        "email": body.get("email") or "",
    }

    def write(cur: Any) -> dict[str, Any] | None:
        cur.execute(
            str(
                Q.into(_U).columns(*values).insert(*[P] * len(values)).returning(_U.id)
            ),
            list(values.values()),
        )
        return _user_row(cur, cur.fetchone()[0])

    user = await req.front.store.transact(write)
    await req.front.users.reload()
    config_changed(req.front, "users")
    log.info("user_created", user_id=user["id"] if user else None)
    return created(user)


@route(
    "GET",
    f"/api/user/{ID}",
    auth=Auth.USER,
    tag="users",
    summary="Read a user (self or admin)",
    responses={200: "user", 403: "other", 404: "unknown"},
)
async def user_get(req: Req) -> web.Response:
    ident = req.id(what="User")
    _self_or_admin(req, ident)
    user = await _read(req, lambda cur: _user_row(cur, ident))
    if user is None:
        raise ApiError(404, "User not found")
    return ok(user)


@route(
    "PUT",
    f"/api/user/{ID}",
    auth=Auth.USER,
    body=_USER_UPDATE,
    tag="users",
    summary="Update a user (self or admin; own code change needs the old one)",
    responses={
        200: "updated",
        204: "unchanged",
        400: "invalid",
        403: "not allowed",
        404: "unknown",
        409: "last admin",
        429: "rate limited",
    },
)
async def user_update(req: Req) -> web.Response:
    ident = req.id(what="User")
    _self_or_admin(req, ident)
    body = req.body
    rounds = req.front.settings.bcrypt_rounds
    new_code = body.get("newAccessCode") or body.get("accessCode")
    changes: dict[str, Any] = {}
    stored = await _read(
        req,
        lambda cur: (
            cur.execute(
                str(
                    Q.from_(_U)
                    .select(_U.name, _U.email, _U.role, _U.comment, _U.access_code)
                    .where(_U.id == P)
                ),
                (ident,),
            ),
            cur.fetchone(),
        )[1],
    )
    if stored is None:
        raise ApiError(404, "User not found")
    name, email, role, comment, access_hash = stored
    if "role" in body and body["role"] != role and not req.is_admin:
        raise ApiError(403, "Cannot change user role")
    if new_code:
        if req.user_id == ident:
            key = f"user:{ident}"
            _refuse_if_limited(req, _source(req), key)
            old = body.get("oldAccessCode") or ""
            if not await asyncio.to_thread(check_secret, old, access_hash):
                req.front.limiter.failure(_source(req), key)
                raise ApiError(400, "Invalid old access code")
            req.front.limiter.success(key)
        fourkey = body.get("fourkeyCode") or new_code[:4]
        changes["access_code"], changes["fourkey_code"] = await asyncio.to_thread(
            lambda: (hash_secret(new_code, rounds), hash_secret(fourkey, rounds))
        )
    for key, current in (
        ("name", name),
        ("email", email),
        ("role", role),
        ("comment", comment),
    ):
        if key in body and body[key] != current:
            changes[key] = body[key] if key != "email" else (body[key] or "")
    if not changes:
        return no_change()

    def write(cur: Any) -> dict[str, Any]:
        if changes.get("role") == "user" and role == "admin" and _admins(cur) <= 1:
            raise ApiError(409, "The last admin cannot lose the admin role")
        USER.update(cur, ident, changes)
        user = _user_row(cur, ident)
        if user is None:
            raise ApiError(404, "User not found")
        return user

    user = await req.front.store.transact(write)
    await req.front.users.reload()
    config_changed(req.front, "users")
    log.info("user_updated", user_id=ident, fields=sorted(changes))
    return ok(user)


@route(
    "DELETE",
    f"/api/user/{ID}",
    auth=Auth.ADMIN,
    tag="users",
    summary="Delete a user (history keeps the id; cards go with the user)",
    responses={200: "null", 404: "unknown", 409: "last admin"},
)
async def user_delete(req: Req) -> web.Response:
    ident = req.id(what="User")

    def write(cur: Any) -> None:
        user = _user_row(cur, ident)
        if user is None:
            raise ApiError(404, "User not found")
        if user["role"] == "admin" and _admins(cur) <= 1:
            raise ApiError(409, "The last admin cannot be deleted")
        cur.execute(str(Q.from_(_C).delete().where(_C.user_id == P)), (ident,))
        cur.execute(str(Q.from_(_U).delete().where(_U.id == P)), (ident,))

    await req.front.store.transact(write)
    await req.front.users.reload()
    config_changed(req.front, "users", "cards")
    log.info("user_deleted", user_id=ident)
    return ok(None)


@route(
    "GET",
    f"/api/user/{ID}/registration_code",
    auth=Auth.USER,
    tag="users",
    query={"expiry": Field("integer", minimum=1, maximum=31_536_000)},
    summary="Make a one-time registration code (shown once)",
    responses={200: "{code}", 400: "already has one", 404: "unknown"},
)
async def registration_code_create(req: Req) -> web.Response:
    ident = req.id(what="User")
    _self_or_admin(req, ident)
    code = secrets.token_hex(6).upper()
    hashed = await asyncio.to_thread(
        hash_secret, code.lower(), req.front.settings.bcrypt_rounds
    )
    expiry = req.query.get("expiry")
    expires = req.front.ctx.clock.wall() + timedelta(seconds=expiry) if expiry else None

    def write(cur: Any) -> None:
        cur.execute(
            str(Q.from_(_U).select(_U.registration_code).where(_U.id == P)), (ident,)
        )
        row = cur.fetchone()
        if row is None:
            raise ApiError(404, "User not found")
        if row[0] is not None:
            raise ApiError(400, "Already has registration code")
        USER.update(
            cur, ident, {"registration_code": hashed, "registration_expiry": expires}
        )

    await req.front.store.transact(write)
    log.info("registration_code_created", user_id=ident)
    return ok({"code": code})


@route(
    "DELETE",
    f"/api/user/{ID}/registration_code",
    auth=Auth.USER,
    tag="users",
    summary="Drop the registration code",
    responses={200: "null", 404: "unknown"},
)
async def registration_code_delete(req: Req) -> web.Response:
    ident = req.id(what="User")
    _self_or_admin(req, ident)

    def write(cur: Any) -> None:
        if _user_row(cur, ident) is None:
            raise ApiError(404, "User not found")
        USER.update(
            cur, ident, {"registration_code": None, "registration_expiry": None}
        )

    await req.front.store.transact(write)
    return ok(None)


@route(
    "PUT",
    f"/api/user/{ID}/register_card",
    auth=Auth.USER,
    tag="users",
    body=Obj({}),
    body_optional=True,
    summary="Open a 60 s window to register the next card read (self or admin)",
    responses={200: "{} (outcome: card_registered event)", 404: "unknown"},
)
async def register_card(req: Req) -> web.Response:
    ident = req.id(what="User")
    _self_or_admin(req, ident)
    until = req.front.ctx.clock.wall() + timedelta(seconds=60)

    def write(cur: Any) -> None:
        if _user_row(cur, ident) is None:
            raise ApiError(404, "User not found")
        cur.execute(str(Q.update(_U).set(_U.card_registration_expiry, None)))
        USER.update(cur, ident, {"card_registration_expiry": until})

    await req.front.store.transact(write)
    from arpi.actors.keypad import RegisterCard

    tell_actor(req.front.ctx, "keypad", RegisterCard(ident))
    return ok({})


# --- cards ---------------------------------------------------------------------

_CARDS_OF_SQL = str(
    CARD.select().where(_C.user_id == P).orderby(_C.description).orderby(_C.id)
)


@route(
    "GET",
    f"/api/user/{ID}/cards",
    auth=Auth.USER,
    tag="cards",
    summary="A user's cards (owner or admin)",
)
async def user_cards(req: Req) -> web.Response:
    ident = req.id(what="User")
    _self_or_admin(req, ident)
    return ok(
        await _read(req, lambda cur: CARD.fetch_all(cur, _CARDS_OF_SQL, (ident,)))
    )


@route(
    "GET",
    "/api/cards",
    auth=Auth.USER,
    tag="cards",
    query={"userId": Field("integer", minimum=0, maximum=INT32)},
    summary="Cards (a non-admin sees only its own)",
)
async def cards_list(req: Req) -> web.Response:
    user_id = req.query.get("userId")
    if not req.is_admin:
        if user_id is not None and user_id != req.user_id:
            raise ApiError(403, "Not authorized")
        user_id = req.user_id
    if user_id is None:
        return ok(await _read(req, CARD.fetch_all))
    return ok(
        await _read(req, lambda cur: CARD.fetch_all(cur, _CARDS_OF_SQL, (user_id,)))
    )


def _card_for(req: Req, cur: Any, ident: int) -> dict[str, Any]:
    card = CARD.fetch_one(cur, ident)
    if card is None:
        raise ApiError(404, "Card not found")
    if not req.is_admin and card["userId"] != req.user_id:
        raise ApiError(403, "Not authorized")
    return card


@route(
    "GET",
    f"/api/card/{ID}",
    auth=Auth.USER,
    tag="cards",
    summary="Read a card (owner or admin)",
    responses={200: "card", 403: "not yours", 404: "unknown"},
)
async def card_get(req: Req) -> web.Response:
    ident = req.id(what="Card")
    return ok(await _read(req, lambda cur: _card_for(req, cur, ident)))


@route(
    "PUT",
    f"/api/card/{ID}",
    auth=Auth.USER,
    tag="cards",
    body=Obj(
        {
            "enabled": Field("boolean"),
            "description": Field("string", nullable=True, max_length=2000),
        }
    ),
    summary="Update a card (owner or admin)",
    responses={200: "card", 204: "unchanged", 403: "not yours", 404: "unknown"},
)
async def card_update(req: Req) -> web.Response:
    ident = req.id(what="Card")
    body = req.body

    def write(cur: Any) -> dict[str, Any] | None:
        card = _card_for(req, cur, ident)
        changes = {k: v for k, v in body.items() if card.get(k) != v}
        if not changes:
            return None
        CARD.update(cur, ident, changes)
        return CARD.fetch_one(cur, ident)

    card = await req.front.store.transact(write)
    if card is None:
        return no_change()
    config_changed(req.front, "cards")
    return ok(card)


@route(
    "DELETE",
    f"/api/card/{ID}",
    auth=Auth.USER,
    tag="cards",
    summary="Delete a card (owner or admin)",
    responses={200: "null", 403: "not yours", 404: "unknown"},
)
async def card_delete(req: Req) -> web.Response:
    ident = req.id(what="Card")

    def write(cur: Any) -> None:
        _card_for(req, cur, ident)
        cur.execute(str(Q.from_(_C).delete().where(_C.id == P)), (ident,))

    await req.front.store.transact(write)
    config_changed(req.front, "cards")
    return ok(None)


# --- SSH keys ------------------------------------------------------------------

_KEY_TYPE = Field(
    "string",
    required=True,
    enum=tuple(KEY_TYPES),
    description="Type of the key pair to generate (RSA 3072 bits, ECDSA P-256)",
)
_PASSPHRASE = Field(
    "string",
    nullable=True,
    max_length=256,
    description="Encrypts the returned private key; empty or null: unencrypted",
)
_PUBLIC_KEY = Field(
    "string",
    required=True,
    min_length=1,
    max_length=16384,
    description="One OpenSSH public key line: '<type> <base64> [comment]' with "
    "type ssh-rsa (>= 2048 bits), ssh-ed25519 or ecdsa-sha2-nistp256/384/521",
)


async def _ssh_target(req: Req) -> tuple[AuthorizedKeys, str]:
    """The authorized_keys file and this user's key comment. 503 when the
    `ssh_authorized_keys` setting is absent, 404 for an unknown user."""
    ident = req.id(what="User")
    path = getattr(req.front.ctx.settings, "ssh_authorized_keys", None)
    if not path:
        raise ApiError(503, "ssh key management not available")
    user = await req.front.users.get(ident)
    if user is None:
        raise ApiError(404, "User not found")
    return AuthorizedKeys(path), key_comment(user[0], ident)


async def _on_key_file(fn: Any, *args: Any) -> Any:
    """`fn(*args)` off the loop; a KeyFileError becomes 503 with its text."""
    try:
        return await asyncio.to_thread(fn, *args)
    except KeyFileError as exc:
        raise ApiError(503, str(exc)) from None


@route(
    "GET",
    f"/api/user/{ID}/has_ssh_key",
    auth=Auth.ADMIN,
    tag="users",
    summary="Is an SSH key of this user in authorized_keys",
    responses={200: "bool", 404: "unknown", 503: "file unreadable or not set"},
)
async def has_ssh_key(req: Req) -> web.Response:
    keys, comment = await _ssh_target(req)
    return ok(await _on_key_file(keys.has, comment))


@route(
    "POST",
    f"/api/user/{ID}/ssh_key",
    auth=Auth.ADMIN,
    tag="users",
    body=Obj({"keyType": _KEY_TYPE, "passphrase": _PASSPHRASE}),
    summary="Generate an SSH key pair, install its public key (replacing the "
    "user's), return the private key",
    responses={
        200: "private key (OpenSSH PEM)",
        404: "unknown",
        503: "file unwritable or not set",
    },
)
async def ssh_key_create(req: Req) -> web.Response:
    keys, comment = await _ssh_target(req)
    key_type = req.body["keyType"]
    private, public = await asyncio.to_thread(
        generate_key_pair, key_type, req.body.get("passphrase")
    )
    await _on_key_file(keys.put, comment, public)
    log.info("ssh_key_generated", user_id=req.id(what="User"), key_type=key_type)
    return ok(private)


@route(
    "PUT",
    f"/api/user/{ID}/ssh_key",
    auth=Auth.ADMIN,
    tag="users",
    body=Obj({"publicKey": _PUBLIC_KEY}),
    summary="Install a public SSH key for the user (replacing the user's)",
    responses={
        200: "true",
        400: "invalid key",
        404: "unknown",
        503: "file unwritable or not set",
    },
)
async def ssh_key_set(req: Req) -> web.Response:
    keys, comment = await _ssh_target(req)
    try:
        public = await asyncio.to_thread(parse_public_key, req.body["publicKey"])
    except BadPublicKey as exc:
        raise ApiError(400, f"publicKey: {exc}") from None
    await _on_key_file(keys.put, comment, public)
    log.info(
        "ssh_key_installed", user_id=req.id(what="User"), key_type=public.split()[0]
    )
    return ok(True)


@route(
    "DELETE",
    f"/api/user/{ID}/ssh_key",
    auth=Auth.ADMIN,
    tag="users",
    summary="Remove the user's SSH key from authorized_keys",
    responses={200: "true", 404: "unknown", 503: "file unwritable or not set"},
)
async def ssh_key_delete(req: Req) -> web.Response:
    keys, comment = await _ssh_target(req)
    removed = await _on_key_file(keys.remove, comment)
    log.info("ssh_key_removed", user_id=req.id(what="User"), removed=removed)
    return ok(True)


# --- MCP tokens ----------------------------------------------------------------

_MCP_KEY_SQL = str(Q.from_(_U).select(_U.mcp_key).where(_U.id == P))


@route(
    "POST",
    f"/api/user/{ID}/mcp_token",
    auth=Auth.ADMIN,
    tag="users",
    query={"ttl": Field("integer", minimum=0, maximum=31_536_000, default=0)},
    body=Obj({}),
    body_optional=True,
    summary="Make an MCP token for the user",
    responses={200: "token", 404: "unknown", 503: "no MCP secret"},
)
async def mcp_token_create(req: Req) -> web.Response:
    ident = req.id(what="User")
    secret = getattr(req.front.ctx.settings, "mcp_secret", None)
    if not secret:
        raise ApiError(503, "MCP not configured")
    fresh = secrets.token_hex(32)

    def write(cur: Any) -> str:
        cur.execute(_MCP_KEY_SQL, (ident,))
        row = cur.fetchone()
        if row is None:
            raise ApiError(404, "User not found")
        if row[0]:
            return str(row[0])
        USER.update(cur, ident, {"mcp_key": fresh})
        return fresh

    key = await req.front.store.transact(write)
    claims = {
        "id": ident,
        "secret": key,
        "timestamp": int(req.front.tokens.now()),
        "ttl": req.query["ttl"],
    }
    # Imported here: PyJWT pulls in `cryptography` (~9 MB resident) for this one
    # rarely used endpoint.
    import jwt

    return ok(jwt.encode(claims, secret, "HS256"))


@route(
    "GET",
    f"/api/user/{ID}/mcp_token",
    auth=Auth.ADMIN,
    tag="users",
    summary="Does the user have an MCP key",
    responses={200: "{has_mcp_token}", 404: "unknown"},
)
async def mcp_token_exists(req: Req) -> web.Response:
    ident = req.id(what="User")
    row = await _read(
        req, lambda cur: (cur.execute(_MCP_KEY_SQL, (ident,)), cur.fetchone())[1]
    )
    if row is None:
        raise ApiError(404, "User not found")
    return ok({"has_mcp_token": bool(row[0])})


@route(
    "DELETE",
    f"/api/user/{ID}/mcp_token",
    auth=Auth.ADMIN,
    tag="users",
    summary="Drop the MCP key",
    responses={200: "null", 404: "unknown"},
)
async def mcp_token_delete(req: Req) -> web.Response:
    ident = req.id(what="User")

    def write(cur: Any) -> None:
        cur.execute(_MCP_KEY_SQL, (ident,))
        if cur.fetchone() is None:
            raise ApiError(404, "User not found")
        USER.update(cur, ident, {"mcp_key": None})

    await req.front.store.transact(write)
    return ok(None)

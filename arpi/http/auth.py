"""Token checks of every REST call (W2, F7): levels none/device/user/admin.

The token path does no bcrypt and no database round trip: a JWT decode and a dict
lookup in `UserCache` (id -> name, role), which the front reloads after every
user write. The cache makes a deleted user's tokens stop working at once and a
changed role apply to tokens already issued.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

from arpi.db import sql, tables
from arpi.http.errors import ApiError
from arpi.http.registry import Auth
from arpi.http.tokens import BadToken, Claims, TokenIssuer

if TYPE_CHECKING:
    from arpi.http.readpool import ReadPool

__all__ = ["AuthGate", "UserCache", "bearer"]


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


_USERS_QUERY = sql.Q.from_(tables.user).select(
    tables.user.id, tables.user.name, tables.user.role
)


class UserCache:
    """Who exists and with which role; loaded from the database on the loop."""

    def __init__(self, reads: ReadPool) -> None:
        self._reads = reads
        self._users: dict[int, tuple[str, str]] | None = None
        self._lock = asyncio.Lock()

    async def reload(self) -> None:
        """Read every user (one query). Raises ApiError(503) if the DB fails."""

        def query(cur: Any) -> dict[int, tuple[str, str]]:
            rows = sql.fetch_all(cur, _USERS_QUERY)
            return {row["id"]: (row["name"], row["role"]) for row in rows}

        try:
            users = await self._reads.run(query)
        except Exception as exc:
            raise ApiError(503, "database not available") from exc
        self._users = users

    async def get(self, user_id: int) -> tuple[str, str] | None:
        """(name, role) of `user_id`, or None if there is no such user."""
        if self._users is None:
            async with self._lock:
                if self._users is None:
                    await self.reload()
        assert self._users is not None
        return self._users.get(user_id)


class AuthGate:
    def __init__(self, tokens: TokenIssuer, users: UserCache) -> None:
        self.tokens = tokens
        self.users = users

    async def check(self, request: web.Request, level: Auth) -> Claims:
        """The verified claims for `level`; raises ApiError 401 (expired) or 403."""
        token = bearer(request)
        if level is Auth.DEVICE:
            if token is None:
                raise ApiError(403, "missing device token")
            try:
                return self.tokens.decode(token)
            except BadToken:
                raise ApiError(403, "invalid device token") from None
        if token is None:
            raise ApiError(403, "operation not permitted (missing token)")
        try:
            claims = self.tokens.decode(token)
        except BadToken:
            raise ApiError(403, "operation not permitted (wrong token)") from None
        if claims.kind != "user":
            raise ApiError(403, "operation not permitted (user token required)")
        if claims.expired:
            raise ApiError(401, "token expired")
        user = await self.users.get(claims.user_id)
        if user is None:
            raise ApiError(403, "operation not permitted (unknown user)")
        name, role = user
        if role != claims.role or name != claims.name:
            claims = Claims(
                "user",
                claims.user_id,
                role,
                name,
                claims.origin,
                claims.timestamp,
                False,
            )
        if level is Auth.ADMIN and role != "admin":
            raise ApiError(403, "operation not permitted (role)")
        return claims

    def renew(self, claims: Claims) -> str:
        """A fresh user token with the same identity (the `User-Token` header)."""
        assert claims.role is not None
        return self.tokens.user_token(
            claims.user_id, claims.name or "", claims.role, claims.origin
        )

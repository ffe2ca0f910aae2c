"""Device and user tokens: HS256 JWTs as the ArPI web UI reads them (W2).

Device token claims ``{ip, origin, user_id}``, no expiry. User token claims
``{id, name, role, origin, timestamp}``; it expires `USER_TOKEN_TTL` seconds after
`timestamp` (wall seconds from the context clock, so tests move it); a timestamp
more than `MAX_FUTURE` seconds ahead of the clock, or not a finite number, makes a
bad token (else a forged-but-signed one would never expire). Pure functions
of the secret and the clock: callable from any thread, no I/O, no bcrypt.

The HS256 signing is done here with `hmac` (RFC 7515 compact form) instead of
PyJWT: PyJWT checks on every call whether an HMAC key looks like a PEM or SSH
public key, which cost more than the rest of an authenticated request. Only
HS256 is accepted; any other `alg` (including "none") is a bad token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from dataclasses import dataclass
from typing import Any

from arpi.clock import Clock

__all__ = ["MAX_FUTURE", "USER_TOKEN_TTL", "BadToken", "Claims", "TokenIssuer"]

USER_TOKEN_TTL = 900
MAX_FUTURE = 60.0  # seconds a user token's timestamp may be ahead of the clock
_MAX_ID = 2_147_483_647  # ids are PostgreSQL integers


class BadToken(Exception):
    """The text is not a token signed with our secret."""


@dataclass(frozen=True, slots=True)
class Claims:
    """A verified token. `user_id` is set for both kinds; `role` only for users."""

    kind: str  # "device" | "user"
    user_id: int
    role: str | None
    name: str | None
    origin: str
    timestamp: float | None
    expired: bool


_HEADER = base64.urlsafe_b64encode(
    json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode()
).rstrip(b"=")


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _unb64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


class TokenIssuer:
    def __init__(self, secret: str, clock: Clock, ttl: int = USER_TOKEN_TTL) -> None:
        if not secret:
            raise ValueError("the token secret must not be empty")
        self._key = secret.encode()
        self._clock = clock
        self.ttl = ttl

    def _encode(self, claims: dict[str, Any]) -> str:
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = _HEADER + b"." + body
        mac = hmac.new(self._key, signing_input, hashlib.sha256).digest()
        return (signing_input + b"." + _b64(mac)).decode()

    def _verify(self, token: str) -> Any:
        parts = token.split(".")
        if len(parts) != 3 or len(token) > 8192:
            raise BadToken("not a compact JWT")
        try:
            header = json.loads(_unb64(parts[0]))
            signature = _unb64(parts[2])
            signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
        except (ValueError, UnicodeError, RecursionError):
            raise BadToken("malformed token") from None
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            raise BadToken("not an HS256 token")
        mac = hmac.new(self._key, signing_input, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, signature):
            raise BadToken("bad signature")
        try:
            return json.loads(_unb64(parts[1]))
        except (ValueError, UnicodeError, RecursionError):
            raise BadToken("malformed claims") from None

    def now(self) -> float:
        return self._clock.wall().timestamp()

    def device_token(self, user_id: int, ip: str, origin: str) -> str:
        return self._encode({"ip": ip, "origin": origin, "user_id": user_id})

    def user_token(self, user_id: int, name: str, role: str, origin: str) -> str:
        claims = {
            "id": user_id,
            "name": name,
            "role": role,
            "origin": origin,
            "timestamp": int(self.now()),
        }
        return self._encode(claims)

    def decode(self, token: str) -> Claims:
        """Verify the signature and read the claims. Raises BadToken (also for a
        user token whose timestamp is not finite or lies in the future)."""
        data = self._verify(token)
        if not isinstance(data, dict):
            raise BadToken("claims are not an object")
        origin = data.get("origin")
        origin = origin if isinstance(origin, str) else ""
        if "timestamp" in data or "role" in data:
            user_id = data.get("id")
            role = data.get("role")
            name = data.get("name")
            stamp = data.get("timestamp")
            if (
                not _is_int(user_id)
                or role not in ("admin", "user")
                or not _is_number(stamp)
            ):
                raise BadToken("malformed user token")
            issued = self._issued(stamp)
            return Claims(
                "user",
                user_id,
                role,
                name if isinstance(name, str) else "",
                origin,
                issued,
                self.now() - issued > self.ttl,
            )
        user_id = data.get("user_id")
        if not _is_int(user_id):
            raise BadToken("malformed device token")
        return Claims("device", user_id, None, None, origin, None, False)

    def _issued(self, stamp: int | float) -> float:
        """`stamp` as a float; BadToken if not finite or beyond `MAX_FUTURE`."""
        if isinstance(stamp, int) and abs(stamp) > 2**53:
            raise BadToken("user token timestamp out of range")
        value = float(stamp)
        if not math.isfinite(value) or value < 0:
            raise BadToken("user token timestamp out of range")
        if value > self.now() + MAX_FUTURE:
            raise BadToken("user token issued in the future")
        return value


def _is_int(value: object) -> bool:
    return (
        isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_ID
    )


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)

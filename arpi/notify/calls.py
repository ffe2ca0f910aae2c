"""What the callee's keys mean: "1" acknowledges, an access code disarms (F8, F16).

The keys come back from the modem after the call. Exactly "1" acknowledges the
alarm, which makes the other call of the same event unnecessary. Anything else of
4 to 12 digits (an optional closing "#" is dropped) is tried as the access code of
any user, through the same wrong-code limiter rules as the REST login and the
keypad: a phone line that typed too many wrong codes is refused until its delay or
lockout has passed, even with the right code. A code is never logged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import bcrypt
import structlog

from arpi.db import sql
from arpi.db.tables import user

__all__ = [
    "CallVerdict",
    "CodeLookup",
    "Limiter",
    "interpret_keys",
    "judge_keys",
    "user_by_access_code",
]

log = structlog.get_logger("arpi.notify")

ACK_KEYS = "1"
MIN_CODE, MAX_CODE = 4, 12


class Limiter(Protocol):
    """The part of `arpi.http.limiter.AttemptLimiter` used here."""

    def check(self, *keys: str) -> Any:
        """A verdict with `allowed`, `retry_after`, `locked`."""

    def failure(self, *keys: str) -> Any: ...

    def success(self, *keys: str) -> None: ...


CodeLookup = Callable[[str], "int | None"]


def interpret_keys(keys: str) -> tuple[Literal["ack", "code", "none"], str]:
    """("ack", ""), ("code", digits) or ("none", "") for the keys of one call."""
    if keys == ACK_KEYS:
        return "ack", ""
    code = keys.removesuffix("#")
    if MIN_CODE <= len(code) <= MAX_CODE and code.isdigit() and code.isascii():
        return "code", code
    return "none", ""


@dataclass(frozen=True, slots=True)
class CallVerdict:
    """What an answered call achieved.

    `outcome`: `acknowledged`, `disarmed` (with `user_id`), `wrong_code`,
    `refused` (limiter delay or lockout; `retry_after` seconds), `answered`
    (no meaningful keys).
    """

    outcome: Literal["acknowledged", "disarmed", "wrong_code", "refused", "answered"]
    user_id: int | None = None
    retry_after: float = 0.0

    @property
    def stops_other_call(self) -> bool:
        return self.outcome in ("acknowledged", "disarmed")


def judge_keys(
    keys: str, line: str, limiter: Limiter, lookup: CodeLookup
) -> CallVerdict:
    """Decide what `keys` typed on phone line `line` (e.g. "call1") achieve.

    Runs `lookup(code)` (a blocking bcrypt check) only when the limiter allows an
    attempt for `phone:<line>`. Never raises for any `keys`.
    """
    what, code = interpret_keys(keys)
    if what == "ack":
        return CallVerdict("acknowledged")
    if what == "none":
        return CallVerdict("answered")
    key = f"phone:{line}"
    verdict = limiter.check(key)
    if not verdict.allowed:
        return CallVerdict("refused", retry_after=float(verdict.retry_after))
    user_id = lookup(code)
    if user_id is None:
        limiter.failure(key)
        return CallVerdict("wrong_code")
    limiter.success(key)
    return CallVerdict("disarmed", user_id=user_id)


def user_by_access_code(cur: Any, code: str) -> int | None:
    """The id of the user whose access code is `code`, or None. Blocks (bcrypt)."""
    query = sql.Q.from_(user).select(user.id, user.access_code).orderby(user.id)
    candidate = code.encode()
    for row in sql.fetch_all(cur, query):
        stored = row["access_code"]
        if not stored:
            continue
        try:
            if bcrypt.checkpw(candidate, stored.encode()):
                return int(row["id"])
        except ValueError:
            log.warning("access_code_unreadable", user_id=row["id"])
    return None

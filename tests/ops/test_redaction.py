"""No secret reaches the log: the buffer, the JSON output and the admin stream."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
import structlog

from arpi.logs import log_buffer
from tests.helpers import async_wait_for
from tests.ops.conftest import make_ctx
from tests.ops.front import served

PHONE = "+36301234567"


def _cases(device: str, user: str) -> dict[str, tuple[list[str], object]]:
    """kind -> (strings that must never appear, how a record carries them)."""
    return {
        "access_code": (
            ["80417352"],
            lambda log: log.warning(
                "ops_secret", access_code="80417352", body={"access_code": "80417352"}
            ),
        ),
        "registration_code": (
            ["a1b2c3d4e5f6"],
            lambda log: log.warning(
                "ops_secret",
                registration_code="a1b2c3d4e5f6",
                body={"registration_code": "a1b2c3d4e5f6"},
            ),
        ),
        "device_token": (
            [device],
            lambda log: log.warning(
                "ops_secret", device_token=device, header=f"Bearer {device}"
            ),
        ),
        "user_token": (
            [user],
            lambda log: log.warning(
                "ops_secret", user_token=user, note=f"renewed to {user}"
            ),
        ),
        "user_token_stdlib": (
            [user],
            lambda log: logging.getLogger("aiohttp.server").warning(
                "ops_secret GET /x?token=%s", user
            ),
        ),
        "smtp_password": (
            ["hunter2-s3cret"],
            lambda log: log.warning(
                "ops_secret",
                smtp_password="hunter2-s3cret",
                option={"smtp": {"smtp_password": "hunter2-s3cret"}},
            ),
        ),
        "password": (
            ["pa55-w0rd-x"],
            lambda log: log.warning("ops_secret", password="pa55-w0rd-x"),
        ),
        "phone_number": (
            [PHONE, PHONE[1:]],
            lambda log: log.warning(
                "ops_secret", phone=PHONE, recipients=[PHONE], text=f"calling {PHONE}"
            ),
        ),
    }


KINDS = list(_cases("d", "u"))


@pytest.mark.parametrize("kind", KINDS)
def test_secret_is_redacted_everywhere(db, logged, kind):
    ctx = make_ctx(db)

    async def scenario() -> None:
        async with served(ctx) as s:
            needles, emit = _cases(s.device(), s.user())[kind]
            admin, events, _ = await s.socket(s.device(), s.user())
            try:
                before = log_buffer.records(limit=1)
                since = before[-1]["seq"] if before else 0
                emit(structlog.get_logger("arpi.test.redaction"))

                def streamed():
                    return [
                        d
                        for n, d in events
                        if n == "log_record" and "ops_secret" in str(d.get("event"))
                    ]

                await async_wait_for(streamed, what="the record on the admin stream")
                buffered = [
                    r
                    for r in log_buffer.records(since=since)
                    if "ops_secret" in str(r.get("event"))
                ]
                status, api_text, _ = await s.get(f"/api/logs?since={since}", s.user())
            finally:
                await admin.disconnect()

            assert buffered and status == 200 and "ops_secret" in api_text
            places = {
                "buffer": json.dumps(buffered),
                "json output": logged.getvalue(),
                "api": api_text,
                "stream": json.dumps(streamed()),
            }
            for place, text in places.items():
                for needle in needles:
                    assert needle not in text, f"{kind} visible in the {place}"

    asyncio.run(scenario())

"""Configuration options and the configuration actions (reference 2.10)."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from aiohttp import web

from arpi.http.asks import ask_actor, tell_actor
from arpi.http.entities import guard_disarmed
from arpi.http.errors import ApiError, json_response
from arpi.http.options import (
    OPTIONS,
    READ_ONLY,
    UPSERT_SQL,
    any_option_schema,
    masked,
    merge_value,
    option_schema,
    stored_value,
    with_defaults,
)
from arpi.http.registry import Auth, Req, route
from arpi.http.routes._common import config_changed, no_change, ok
from arpi.http.schema import Field, validate

NAME = r"{name:[a-z_]{1,32}}/{section:[a-z_]{1,32}}"
_TESTING_REFUSED = "Testing is not allowed currently."


def _pair(req: Req) -> tuple[str, str]:
    pair = (req.request.match_info["name"], req.request.match_info["section"])
    if pair not in OPTIONS:
        raise ApiError(404, f"unknown option {pair[0]}/{pair[1]}")
    return pair


async def _armed(req: Req) -> bool:
    from arpi.http.routes.monitoring import aggregate_arm_state

    return (await aggregate_arm_state(req.front)) != "disarm"


@route(
    "GET",
    "/api/config/test_email",
    auth=Auth.ADMIN,
    tag="config",
    summary="Send a test e-mail",
    responses={200: "sent", 403: "armed", 502: "failed", 503: "no notifier"},
)
async def test_email(req: Req) -> web.Response:
    from arpi.actors.notifier import SendTestEmail

    return await _test(req, SendTestEmail())


@route(
    "GET",
    "/api/config/test_sms",
    auth=Auth.ADMIN,
    tag="config",
    summary="Send a test SMS",
    responses={200: "sent", 403: "armed", 502: "failed", 503: "no notifier"},
)
async def test_sms(req: Req) -> web.Response:
    from arpi.actors.notifier import SendTestSms

    return await _test(req, SendTestSms())


@route(
    "GET",
    "/api/config/test_call",
    auth=Auth.ADMIN,
    tag="config",
    summary="Make a test call",
    responses={200: "called", 403: "armed", 502: "failed", 503: "no notifier"},
)
async def test_call(req: Req) -> web.Response:
    from arpi.actors.notifier import PlaceTestCall

    return await _test(req, PlaceTestCall())


async def _test(req: Req, message: Any) -> web.Response:
    """Tell the notifier a test message and await its `reply` future (internals,
    "Notifications"); the report's status (200 or 500) and body go to the UI."""
    if await _armed(req):
        raise ApiError(403, _TESTING_REFUSED, result=False, message=_TESTING_REFUSED)
    if not tell_actor(req.front.ctx, "notifier", message):
        raise ApiError(503, "notifier not available")
    try:
        report = await asyncio.wait_for(asyncio.wrap_future(message.reply), 90.0)
    except TimeoutError:
        raise ApiError(503, "notifier did not finish the test in time") from None
    body = dict(report.body)
    if report.status >= 400:
        body.setdefault("error", body.get("message") or "test failed")
    return json_response(body, status=report.status)


@route(
    "GET",
    "/api/config/test_syren",
    auth=Auth.ADMIN,
    tag="config",
    query={"duration": Field("integer", default=5)},
    summary="Sound the siren for duration seconds (clamped 1-30)",
    responses={200: "started", 403: "armed", 503: "no siren"},
)
async def test_syren(req: Req) -> web.Response:
    if await _armed(req):
        raise ApiError(403, _TESTING_REFUSED, result=False, message=_TESTING_REFUSED)
    from arpi.actors.siren import TestSiren

    duration = min(30, max(1, req.query["duration"]))
    reply = await ask_actor(
        req.front.ctx, "siren", TestSiren(duration), req.front.settings.ask_timeout
    )
    if not getattr(reply, "ok", False):
        raise ApiError(400, getattr(reply, "message", "") or "siren test refused")
    return ok({})


@route(
    "GET",
    "/api/config/sms",
    auth=Auth.ADMIN,
    tag="config",
    summary="SMS messages on the SIM",
    responses={200: "list", 503: "no modem"},
)
async def sms_list(req: Req) -> web.Response:
    from arpi.actors.gsm import ListSms

    reply = await ask_actor(req.front.ctx, "gsm", ListSms(), 30.0)
    if not getattr(reply, "ok", False):
        return ok([])  # reference: [] when the modem fails
    return ok(list(reply.messages))


@route(
    "DELETE",
    r"/api/config/sms/{idx:\d{1,6}}",
    auth=Auth.ADMIN,
    tag="config",
    summary="Delete one SMS from the SIM",
    responses={200: "deleted", 404: "no such SMS", 502: "failed", 503: "no modem"},
)
async def sms_delete(req: Req) -> web.Response:
    from arpi.actors.gsm import DeleteSms

    idx = int(req.request.match_info["idx"])
    reply = await ask_actor(req.front.ctx, "gsm", DeleteSms(idx), 30.0)
    if getattr(reply, "missing", False):
        raise ApiError(404, f"idx: no SMS stored at {idx}")
    if not getattr(reply, "ok", False):
        raise ApiError(502, getattr(reply, "error", None) or "SMS not deleted")
    return ok({})


@route(
    "GET",
    "/api/config/public_access",
    auth=Auth.ADMIN,
    tag="config",
    summary="Does the TLS certificate exist",
)
async def public_access(req: Req) -> web.Response:
    path = getattr(req.front.ctx.settings, "tls_cert", None)
    if not path:
        return ok(False)
    return ok(await asyncio.to_thread(os.path.exists, str(path)))


@route(
    "GET",
    f"/api/config/{NAME}",
    auth=Auth.ADMIN,
    tag="config",
    summary="Read an option (defaults when unset; secrets masked)",
    responses={200: "the option", 404: "unknown option"},
)
async def option_get(req: Req) -> web.Response:
    pair = _pair(req)
    try:
        stored = await req.front.reads.run(lambda cur: stored_value(cur, *pair))
    except Exception as exc:
        raise ApiError(503, "database not available") from exc
    value = masked(pair, with_defaults(pair, stored))
    return ok({"name": pair[0], "section": pair[1], "value": value})


@route(
    "PUT",
    f"/api/config/{NAME}",
    auth=Auth.ADMIN,
    tag="config",
    body=any_option_schema(),
    summary="Save an option (partial values merge; unknown keys are refused)",
    responses={
        200: "saved",
        204: "unchanged",
        400: "bad value",
        404: "unknown",
        405: "read-only",
        409: "armed",
    },
)
async def option_put(req: Req) -> web.Response:
    pair = _pair(req)
    if pair in READ_ONLY:
        raise ApiError(405, f"{pair[0]}/{pair[1]} is read-only")
    raw = await req.request.json(loads=_loads)
    update = validate(option_schema(pair), raw)
    update = {k: v for k, v in update.items() if k in raw}

    def write(cur: Any) -> dict[str, Any] | None:
        guard_disarmed(cur)
        current = with_defaults(pair, stored_value(cur, *pair))
        merged = merge_value(pair, current, update)
        stored = stored_value(cur, *pair)
        if stored is not None and merged == with_defaults(pair, stored):
            return None
        cur.execute(UPSERT_SQL, (pair[0], pair[1], json.dumps(merged)))
        return merged

    merged = await req.front.store.transact(write)
    if merged is None:
        return no_change()
    config_changed(req.front, f"{pair[0]}/{pair[1]}")
    return ok({"name": pair[0], "section": pair[1], "value": masked(pair, merged)})


def _loads(text: str) -> Any:
    return json.loads(text)

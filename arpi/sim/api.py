"""The simulator control API: `/api/simulator/...`, simulate mode and loopback only.

`setup_simulator(app)` adds the routes to an app made by `arpi.http.app.build_app`
(call it only when simulating) and lists them in that app's `/api/openapi.json`. Every
request from a peer that is not on the loopback interface is refused with 403, so
even a simulator started with `--host 0.0.0.0` for a phone on the LAN cannot be
driven from the network. Bodies are validated with the front's `Field` specs: a bad
one is 400 naming the field.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from arpi.http.errors import ApiError, error_response, json_response
from arpi.http.registry import EXTRA_ROUTES, FRONT, Auth, Req, Route, make_handler
from arpi.http.schema import Field, Obj
from arpi.sim.control import MODEM_MODES, POWER_SOURCES, Simulator, SimulatorError
from arpi.sim.lines import STATES

__all__ = ["SIMULATOR", "SIM_ROUTES", "setup_simulator"]

log = structlog.get_logger("arpi.sim")

SIMULATOR: web.AppKey[Simulator] = web.AppKey("simulator", Simulator)
PREFIX = "/api/simulator"
SIM_ROUTES: list[Route] = []

_Handler = Callable[[Req], Awaitable[web.StreamResponse]]


def _sim_route(
    method: str,
    path: str,
    *,
    body: Field | None = None,
    summary: str,
    responses: dict[int, str] | None = None,
) -> Callable[[_Handler], _Handler]:
    def deco(fn: _Handler) -> _Handler:
        SIM_ROUTES.append(
            Route(
                method,
                PREFIX + path,
                fn,
                Auth.NONE,
                body,
                {},
                summary,
                {**(responses or {}), 403: "the peer is not on loopback"},
                "simulator",
            )
        )
        return fn

    return deco


def _sim(req: Req) -> Simulator:
    return req.request.app[SIMULATOR]


def _ok(value: Any = None) -> web.Response:
    return json_response(value if value is not None else {})


def _one_of(body: dict[str, Any], *names: str) -> str:
    given = [n for n in names if n in body]
    if len(given) != 1:
        raise ApiError(400, f"body: give exactly one of {' or '.join(names)}")
    return given[0]


async def _guard(coro: Awaitable[web.Response]) -> web.Response:
    try:
        return await coro
    except SimulatorError as exc:
        raise ApiError(exc.status, str(exc)) from None


# --- routes ----------------------------------------------------------------------

_CHANNEL_PATH = "/channel/{channel:\\d{1,3}}"


@_sim_route("GET", "/state", summary="Every line, power, modem, outputs, siren, clock")
async def simulator_state(req: Req) -> web.Response:
    return _ok(await _sim(req).state())


_CHANNEL_BODY = Obj(
    {
        "state": Field(
            "string",
            enum=STATES,
            description="a person's view; translated with the channel's wiring",
        ),
        "level": Field(
            "number", minimum=0, maximum=1, description="a raw level, fraction of VREF"
        ),
    },
    extra="reject",
)


@_sim_route(
    "PUT",
    _CHANNEL_PATH,
    body=_CHANNEL_BODY,
    summary="Set a sensor line: a state for its wiring, or a raw level",
    responses={200: "the channel's new view", 404: "no such channel"},
)
async def simulator_channel(req: Req) -> web.Response:
    channel = int(req.request.match_info["channel"])
    sim = _sim(req)
    which = _one_of(req.body, "state", "level")
    if which == "state":
        return await _guard(_view(sim.set_channel_state(channel, req.body["state"])))
    return await _guard(_view(sim.set_channel_level(channel, float(req.body["level"]))))


async def _view(coro: Awaitable[dict[str, Any]]) -> web.Response:
    return _ok(await coro)


@_sim_route(
    "PUT",
    "/power",
    body=Obj(
        {"source": Field("string", required=True, enum=POWER_SOURCES)}, extra="reject"
    ),
    summary="Switch the power source: network (mains) or battery",
)
async def simulator_power(req: Req) -> web.Response:
    _sim(req).set_power(req.body["source"])
    return _ok({"source": req.body["source"]})


@_sim_route(
    "PUT",
    "/gsm",
    body=Obj(
        {"mode": Field("string", required=True, enum=MODEM_MODES)}, extra="reject"
    ),
    summary="The fake modem's behaviour: ok, slow, silent, error or absent",
)
async def simulator_gsm(req: Req) -> web.Response:
    _sim(req).set_gsm_mode(req.body["mode"])
    return _ok({"mode": req.body["mode"]})


@_sim_route("GET", "/gsm/messages", summary="The SMS and calls the fake modem received")
async def simulator_gsm_messages(req: Req) -> web.Response:
    return _ok(_sim(req).gsm_messages())


@_sim_route("GET", "/mail", summary="The e-mails the local SMTP sink received")
async def simulator_mail(req: Req) -> web.Response:
    sim = _sim(req)
    mail = sim.mail
    return _ok(
        {
            "host": getattr(mail, "host", None),
            "port": mail.port if mail is not None and mail.running else None,
            "error": getattr(mail, "error", None)
            if mail is not None
            else "not started",
            "messages": sim.mail_messages(),
        }
    )


@_sim_route(
    "POST",
    "/keypad",
    body=Obj(
        {
            "keys": Field(
                "string",
                min_length=1,
                max_length=32,
                pattern=r"[0-9*#]+",
                description="keys typed on the Wiegand keypad",
            ),
            "card": Field(
                "digits",
                min_length=1,
                max_length=10,
                description="a card number held to the reader",
            ),
        },
        extra="reject",
    ),
    summary="Type keys or show a card on the Wiegand keypad",
)
async def simulator_keypad(req: Req) -> web.Response:
    sim = _sim(req)
    which = _one_of(req.body, "keys", "card")
    try:
        if which == "keys":
            sim.press_keys(req.body["keys"])
        else:
            sim.show_card(str(req.body["card"]))
    except SimulatorError as exc:
        raise ApiError(exc.status, str(exc)) from None
    return _ok({which: req.body[which]})


@_sim_route(
    "POST",
    "/clock",
    body=Obj(
        {
            "advance": Field(
                "number",
                required=True,
                minimum=0,
                maximum=86400,
                description="seconds to move the manual clock forward",
            )
        },
        extra="reject",
    ),
    summary="Move the manual clock (only with --clock manual)",
    responses={200: "the new clock", 409: "the clock is not manual"},
)
async def simulator_clock(req: Req) -> web.Response:
    sim = _sim(req)
    try:
        await sim.advance(float(req.body["advance"]))
    except SimulatorError as exc:
        raise ApiError(exc.status, str(exc)) from None
    return _ok(sim.clock_view())


@_sim_route(
    "POST",
    "/fault",
    body=Obj(
        {
            "actor": Field(
                "string",
                required=True,
                min_length=1,
                max_length=64,
                pattern=r"[A-Za-z0-9_.-]+",
            ),
            "kind": Field("string", required=True, enum=("crash", "hang")),
        },
        extra="reject",
    ),
    summary="Inject a crash or a hang into a named actor",
    responses={200: "sent", 404: "no running actor of that name"},
)
async def simulator_fault(req: Req) -> web.Response:
    try:
        _sim(req).inject_fault(req.body["actor"], req.body["kind"])
    except SimulatorError as exc:
        raise ApiError(exc.status, str(exc)) from None
    return _ok({"actor": req.body["actor"], "kind": req.body["kind"]})


# --- wiring into the app -----------------------------------------------------------


def _loopback_only(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def guarded(request: web.Request) -> web.StreamResponse:
        if not _is_loopback(request.remote):
            log.warning("simulator_refused_remote_peer", peer=request.remote)
            return error_response(403, "the simulator API answers only on loopback")
        return await handler(request)

    guarded.__name__ = handler.__name__
    return guarded


def _is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        address = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def setup_simulator(app: web.Application, simulator: Simulator | None = None) -> None:
    """Add the simulator routes to `app` (made by `build_app`). Idempotent.

    The simulator is `simulator`, else the running application's
    (`ctx.app.simulator`), else one built on `ctx.drivers.hardware`. Without
    simulated hardware nothing is added (a warning is logged).
    """
    if SIMULATOR in app:
        return
    front = app[FRONT]
    ctx = front.ctx
    if simulator is None:
        simulator = getattr(getattr(ctx, "app", None), "simulator", None)
    if simulator is None:
        drivers = getattr(ctx, "drivers", None)
        hardware = getattr(drivers, "hardware", None)
        if hardware is None:
            log.warning("simulator_api_disabled", problem="no simulated hardware")
            return
        simulator = Simulator(ctx, hardware)
        owner = getattr(ctx, "app", None)
        if owner is not None:
            try:
                owner.simulator = simulator
            except AttributeError:
                pass
    app[SIMULATOR] = simulator
    if EXTRA_ROUTES not in app:
        app[EXTRA_ROUTES] = []
    for spec in SIM_ROUTES:
        app.router.add_route(spec.method, spec.path, _loopback_only(make_handler(spec)))
        app[EXTRA_ROUTES].append(spec)  # listed in /api/openapi.json like the rest

    async def on_startup(app: web.Application) -> None:
        import asyncio

        simulator.watch_config(asyncio.get_running_loop())

    app.on_startup.append(on_startup)

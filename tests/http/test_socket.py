"""Socket.IO: connect rules, the connect-time snapshot, every event, admin-only events."""

from __future__ import annotations

import threading

import pytest
import socketio

from arpi.bus import ConfigChanged, UiEvent
from tests.helpers import async_wait_for
from tests.http.conftest import ORIGIN, serve

# Every event of reference section 5 with a payload of its type.
EVENTS = [
    ("system_state_change", "monitoring_armed"),
    ("arm_state_change", "arm_away"),
    (
        "area_state_change",
        {"id": 1, "name": "House", "armState": "arm_away", "uiOrder": None},
    ),
    ("alert_state_change", {"id": 3, "alertType": "alert_away", "sensors": []}),
    ("sensors_state_change", True),
    ("sensors_error_change", False),
    ("syren_state_change", True),
    ("power_state_change", "battery"),
    ("output_state_change", {"id": 2, "state": True}),
    ("card_registered", True),
    ("public_access_change", False),
]


def _publish_from_thread(ctx, event):
    """Publish like an actor does: from another thread."""
    thread = threading.Thread(target=ctx.bus.publish, args=(event,))
    thread.start()
    thread.join()


async def _close(client):
    """Disconnect; a polling client is cut off at once (see the Referer test)."""
    if client.transport() == "polling":
        await client.eio.disconnect(abort=True)
    else:
        await client.disconnect()


def _names(client):
    return [name for name, _ in client.recorded]


def test_connect_refusals(ctx):
    async def scenario(api):
        for token, origin in [
            ("", ORIGIN),
            ("junk", ORIGIN),
            (api.token(), ORIGIN),  # a user token is not enough
            (api.device(origin="https://arpi.local"), ORIGIN),
        ]:
            with pytest.raises(socketio.exceptions.ConnectionError):
                client = await api.socket(token=token, origin=origin)
                await client.disconnect()
        # A disallowed origin is refused by Engine.IO before the handler.
        with pytest.raises(socketio.exceptions.ConnectionError):
            await api.socket(
                token=api.device(origin="http://evil.example"),
                origin="http://evil.example",
            )

    serve(ctx, scenario)


def test_referer_is_used_without_origin(ctx):
    async def scenario(api):
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(
            f"{api.base}?token={api.device()}",
            headers={"Referer": ORIGIN + "/en/home"},
            transports=["polling"],
            wait_timeout=5,
        )
        assert client.connected
        # python-engineio's client waits for its pending long-poll GET, which the
        # server releases only at the next ping (25 s): do not wait for it.
        await _close(client)

    serve(ctx, scenario)


def test_snapshot_on_connect_and_after_reconnect(ctx, alarm):
    async def scenario(api):
        await api.admin(
            "POST",
            "/api/outputs/",
            json={"name": "L", "triggerType": "button", "channel": 2},
        )
        first = await api.socket()
        await async_wait_for(lambda: "output_state_change" in _names(first))
        names = _names(first)
        for name in (
            "system_state_change",
            "arm_state_change",
            "area_state_change",
            "alert_state_change",
            "syren_state_change",
            "sensors_state_change",
            "sensors_error_change",
            "output_state_change",
            "outputs_state_change",
        ):
            assert name in names, name
        assert dict(first.recorded)["system_state_change"] == "monitoring_ready"
        await first.disconnect()

        # Something changes while nobody is connected; a new client learns it.
        _publish_from_thread(ctx, UiEvent("arm_state_change", "arm_stay"))
        _publish_from_thread(ctx, UiEvent("power_state_change", "battery"))
        await async_wait_for(lambda: api.front.state.get("power_state_change"))
        second = await api.socket()
        await async_wait_for(lambda: "outputs_state_change" in _names(second))
        got = dict(second.recorded)
        assert got["arm_state_change"] == "arm_stay"
        assert got["power_state_change"] == "battery"
        await second.disconnect()

    serve(ctx, scenario)


def test_every_event_reaches_clients(ctx):
    async def scenario(api):
        clients = [await api.socket(), await api.socket(transports=["polling"])]
        for name, payload in EVENTS:
            _publish_from_thread(ctx, UiEvent(name, payload, coalesce=False))
        for client in clients:
            await async_wait_for(lambda c=client: "public_access_change" in _names(c))
            seen = [(n, p) for n, p in client.recorded]
            for name, payload in EVENTS:
                assert (name, payload) in seen, name
            assert ("outputs_state_change", {"id": 2, "state": True}) in seen
            await _close(client)

    serve(ctx, scenario)


def test_snapshots_coalesce_latest_wins(ctx):
    async def scenario(api):
        client = await api.socket()
        await async_wait_for(lambda: client.connected)

        def burst():
            for i in range(500):
                ctx.bus.publish(UiEvent("system_state_change", f"s{i}"))
            ctx.bus.publish(UiEvent("card_registered", True, coalesce=False))

        thread = threading.Thread(target=burst)
        thread.start()
        thread.join()
        await async_wait_for(lambda: "card_registered" in _names(client))
        states = [p for n, p in client.recorded if n == "system_state_change"]
        assert states[-1] == "s499"
        assert len(states) < 500  # intermediate snapshots were skipped
        await client.disconnect()

    serve(ctx, scenario)


def test_admin_only_events(ctx):
    async def scenario(api):
        _, user, _ = await api.admin(
            "POST",
            "/api/users",
            json={"name": "U", "role": "user", "accessCode": "1111"},
        )
        plain = await api.socket()
        as_user = await api.socket()
        as_admin = await api.socket()
        reply = await as_admin.call("authenticate", {"user_token": api.token()})
        assert reply["ok"] is True and reply["role"] == "admin"
        reply = await as_user.call("authenticate", api.token("user", user["id"], "U"))
        assert reply["ok"] is True and reply["role"] == "user"
        assert 899 <= reply["expires_in"] <= 900
        bad = await plain.call("authenticate", {"user_token": "nope"})
        assert bad["ok"] is False

        _publish_from_thread(
            ctx, UiEvent("log_line", {"msg": "secret"}, admin_only=True, coalesce=False)
        )
        _publish_from_thread(ctx, UiEvent("card_registered", False, coalesce=False))
        for client in (plain, as_user, as_admin):
            await async_wait_for(lambda c=client: "card_registered" in _names(c))
        assert "log_line" in _names(as_admin)
        assert "log_line" not in _names(plain) + _names(as_user)

        # When the user token behind the socket expires, admin events stop.
        ctx.clock.advance(901)
        _publish_from_thread(
            ctx, UiEvent("log_line", {"msg": "2"}, admin_only=True, coalesce=False)
        )
        _publish_from_thread(ctx, UiEvent("card_registered", True, coalesce=False))
        await async_wait_for(lambda: _names(as_admin).count("card_registered") == 2)
        assert _names(as_admin).count("log_line") == 1
        reply = await as_admin.call("authenticate", {"user_token": api.token()})
        assert reply["ok"] is True
        assert (await as_admin.call("deauthenticate"))["ok"] is True
        for client in (plain, as_user, as_admin):
            await client.disconnect()

    serve(ctx, scenario)


def test_config_change_while_connected(ctx, alarm):
    async def scenario(api):
        client = await api.socket()
        await async_wait_for(lambda: "system_state_change" in _names(client))
        changes = []
        ctx.bus.subscribe(ConfigChanged, changes.append)
        status, _, _ = await api.admin(
            "PUT", "/api/config/syren/timing", json={"delay": 5}
        )
        assert status == 200
        assert changes == [ConfigChanged(frozenset({"syren/timing"}))]
        # The alarm publishes its reload; the connected client receives it.
        _publish_from_thread(
            ctx, UiEvent("system_state_change", "monitoring_updating_config")
        )
        _publish_from_thread(ctx, UiEvent("system_state_change", "monitoring_ready"))
        await async_wait_for(
            lambda: client.recorded[-1] == ("system_state_change", "monitoring_ready")
        )
        assert client.connected
        # python-engineio's client waits for its pending long-poll GET, which the
        # server releases only at the next ping (25 s): do not wait for it.
        await _close(client)

    serve(ctx, scenario)

"""Blocking work of the clock routes (zone files, /proc) runs off the event loop."""

from __future__ import annotations

import threading

from arpi.http.routes import monitoring
from tests.http.conftest import serve


def _recording(fn, threads):
    def wrapper(*args):
        threads.append(threading.get_ident())
        return fn(*args)

    return wrapper


def test_clock_routes_read_files_off_the_loop(ctx, monkeypatch):
    threads: dict[str, list[int]] = {"uptime": [], "timezone": [], "zone": []}
    monkeypatch.setattr(
        monitoring, "_uptime", _recording(monitoring._uptime, threads["uptime"])
    )
    monkeypatch.setattr(
        monitoring, "_timezone", _recording(monitoring._timezone, threads["timezone"])
    )
    monkeypatch.setattr(
        monitoring, "_check_zone", _recording(monitoring._check_zone, threads["zone"])
    )
    loop_thread: list[int] = []

    async def scenario(api):
        loop_thread.append(threading.get_ident())
        status, body, _ = await api.admin("GET", "/api/clock")
        assert status == 200 and "uptime" in body and "timezone" in body
        status, body, _ = await api.admin(
            "PUT", "/api/clock", json={"timezone": "No/Such_Zone"}
        )
        assert status == 400 and "timezone" in body["error"]

    serve(ctx, scenario)
    assert all(threads.values()), threads
    for name, seen in threads.items():
        assert loop_thread[0] not in seen, name

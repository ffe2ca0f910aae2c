"""The admin log: GET /api/logs (filters, auth), the log_record stream, arpi-logs."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
import structlog

from arpi.bus import UiEvent
from arpi.cli.logs import Tail, _parser, format_record
from arpi.cli.logs import main as logs_main
from arpi.logs import log_buffer
from tests.helpers import async_wait_for
from tests.ops.conftest import make_ctx
from tests.ops.front import add_user, served, set_access_code


def _last_seq() -> int:
    records = log_buffer.records(limit=1)
    return records[-1]["seq"] if records else 0


def test_auth_matrix_and_filters(db, logged):
    ctx = make_ctx(db)
    bob = add_user(db)

    async def scenario() -> None:
        async with served(ctx) as s:
            since = _last_seq()
            log = structlog.get_logger("arpi.test.filters")
            log.debug("probe_debug")
            log.info("probe_info")
            log.error("probe_error")
            structlog.get_logger("arpi.other").error("other_error")
            admin = s.user()
            expired_ctx_token = s.user()

            assert (await s.get("/api/logs"))[0] == 403
            assert (await s.get("/api/logs", s.device()))[0] == 403
            assert (await s.get("/api/logs", s.user(bob, "user", "Bob")))[0] == 403
            status, text, headers = await s.get(f"/api/logs?since={since}", admin)
            assert status == 200 and "User-Token" in headers
            events = [r["event"] for r in json.loads(text)["records"]]
            assert events[:4] == [
                "probe_debug",
                "probe_info",
                "probe_error",
                "other_error",
            ]

            status, text, _ = await s.get(
                f"/api/logs?since={since}&level=error&component=arpi.test", admin
            )
            body = json.loads(text)
            assert [r["event"] for r in body["records"]] == ["probe_error"]
            assert body["last_seq"] == body["records"][-1]["seq"]

            status, text, _ = await s.get(
                f"/api/logs?since={since}&limit=1&component=arpi.test", admin
            )
            assert [r["event"] for r in json.loads(text)["records"]] == ["probe_error"]

            ctx.clock.advance(901)  # the user token has expired
            assert (await s.get("/api/logs", expired_ctx_token))[0] == 401

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "query, name",
    [
        ("since=-1", "since"),
        ("since=abc", "since"),
        ("level=loud", "level"),
        ("component=a%20b", "component"),
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
    ],
)
def test_bad_query_is_400_naming_the_parameter(db, query, name):
    ctx = make_ctx(db)

    async def scenario() -> None:
        async with served(ctx) as s:
            status, text, _ = await s.get(f"/api/logs?{query}", s.user())
            assert status == 400
            assert json.loads(text)["error"].startswith(f"{name}:")

    asyncio.run(scenario())


def test_stream_reaches_admin_sockets_only(db, logged):
    ctx = make_ctx(db)
    bob = add_user(db)

    async def scenario() -> None:
        async with served(ctx) as s:
            admin, admin_events, ack = await s.socket(s.device(), s.user())
            assert ack["ok"] and ack["role"] == "admin"
            user, user_events, ack = await s.socket(
                s.device(bob), s.user(bob, "user", "Bob")
            )
            assert ack["ok"] and ack["role"] == "user"
            anon, anon_events, _ = await s.socket(s.device())
            try:
                structlog.get_logger("arpi.test.stream").warning("stream_probe", n=1)
                await async_wait_for(
                    lambda: any(
                        n == "log_record" and d.get("event") == "stream_probe"
                        for n, d in admin_events
                    ),
                    what="admin got the record",
                )
                # Emitted after the record to every socket; each socket's packets
                # arrive in order, so a socket holding the marker got all before it.
                ctx.bus.publish(UiEvent("ops_marker", 1, coalesce=False))
                for events in (user_events, anon_events, admin_events):
                    await async_wait_for(
                        lambda ev=events: any(n == "ops_marker" for n, _ in ev),
                        what="marker",
                    )

                assert not [n for n, _ in user_events if n == "log_record"]
                assert not [n for n, _ in anon_events if n == "log_record"]
            finally:
                for client in (admin, user, anon):
                    await client.disconnect()

    asyncio.run(scenario())


def test_a_log_storm_is_bounded_and_marks_the_gap(db, logged):
    ctx = make_ctx(db)

    async def scenario() -> None:
        async with served(ctx, rate=0.001, burst=3) as s:
            admin, events, _ = await s.socket(s.device(), s.user())
            try:
                log = structlog.get_logger("arpi.test.storm")
                for i in range(50):
                    log.info("storm", i=i)
                ctx.bus.publish(UiEvent("ops_marker", 1, coalesce=False))
                await async_wait_for(lambda: any(n == "ops_marker" for n, _ in events))
                streamed = [d for n, d in events if n == "log_record"]
                assert len(streamed) <= 3
            finally:
                await admin.disconnect()

    asyncio.run(scenario())


def test_arpi_logs_logs_in_prints_and_follows(db, logged):
    ctx = make_ctx(db)
    set_access_code(db, 1, "4711")

    async def scenario() -> None:
        async with served(ctx) as s:
            structlog.get_logger("arpi.test.cli").error("cli_before", zone=3)
            out = io.StringIO()
            args = _parser().parse_args(
                [
                    "--url",
                    s.base,
                    "--device-token",
                    s.device(),
                    "--component",
                    "arpi.test.cli",
                    "--follow",
                    "--json",
                ]
            )
            import os

            os.environ["ARPI_ACCESS_CODE"] = "4711"
            try:
                task = asyncio.get_running_loop().create_task(Tail(args, out).run())
                await async_wait_for(
                    lambda: "cli_before" in out.getvalue(), what="recent"
                )
                # Following: wait until the socket is authenticated as admin.
                await async_wait_for(lambda: len(s.front._admins) == 1, what="socket")
                structlog.get_logger("arpi.test.cli").warning("cli_live")
                structlog.get_logger("arpi.test.elsewhere").warning("filtered_out")
                await async_wait_for(lambda: "cli_live" in out.getvalue(), what="live")
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            finally:
                del os.environ["ARPI_ACCESS_CODE"]
            lines = [json.loads(line) for line in out.getvalue().splitlines()]
            assert [r["event"] for r in lines] == ["cli_before", "cli_live"]

    asyncio.run(scenario())


def test_arpi_logs_rejects_bad_options_and_colours_by_level(capsys):
    assert logs_main(["--limit", "0"]) == 2
    assert logs_main(["--user-token", "x.y.z", "--url", "http://127.0.0.1:9"]) == 1
    line = format_record(
        {"level": "error", "event": "boom", "logger": "arpi", "k": 1}, colour=True
    )
    assert line.startswith("\x1b[31m") and "boom" in line and "k=1" in line
    assert "\x1b" not in format_record({"level": "error", "event": "x"}, colour=False)

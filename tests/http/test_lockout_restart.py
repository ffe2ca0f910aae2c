"""F8 lockouts survive a restart of the front: stored when they start, loaded at start."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from arpi.clock import ManualClock
from arpi.http.limiter import AttemptLimiter, LimiterPolicy, Lockout
from tests.helpers import async_wait_for
from tests.http.conftest import ORIGIN, serve


def _rows(ctx: Any) -> list[tuple[Any, ...]]:
    conn = ctx.db.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "SELECT scope, subject, failures, locked_until FROM auth_throttle"
                " ORDER BY scope"
            )
            return cur.fetchall()
    finally:
        conn.close()


async def _login(api: Any, device: str, code: str) -> tuple[int, Any, Any]:
    return await api.call(
        "POST",
        "/api/user/authenticate",
        token=device,
        headers={"Origin": ORIGIN},
        json={"device_token": device, "access_code": code},
    )


def test_a_lockout_is_still_there_after_a_restart(ctx: Any) -> None:
    seen: dict[str, Any] = {}

    async def lock_out(api: Any) -> None:
        device = api.device()
        policy = api.front.limiter.policy
        seen["policy"] = policy
        for _ in range(policy.lockout_after - 1):
            ctx.clock.advance(policy.max_delay)
            assert (await _login(api, device, "0000"))[:2] == (200, False)
        assert _rows(ctx) == []  # failures alone are not stored
        ctx.clock.advance(policy.max_delay)
        await _login(api, device, "0000")  # this one starts the lockout
        seen["locked_at"] = ctx.clock.wall()
        rows = await async_wait_for(lambda: _rows(ctx), what="stored lockout")
        seen["device"] = device
        assert [(r[0], r[1], r[2]) for r in rows] == [
            ("source", "127.0.0.1", policy.lockout_after),
            ("user", "1", policy.lockout_after),
        ]
        until = seen["locked_at"] + timedelta(seconds=policy.lockout)
        assert all(r[3] == until for r in rows)

    serve(ctx, lock_out)
    ctx.clock.advance(60)  # the restart takes a minute

    async def after_restart(api: Any) -> None:
        policy = seen["policy"]
        status, body, headers = await _login(api, seen["device"], "1234")
        assert status == 429 and "locked out" in body["error"], body
        assert body["retry_after"] == int(policy.lockout - 60)
        assert int(headers["Retry-After"]) == body["retry_after"]
        ctx.clock.advance(body["retry_after"])
        status, body, _ = await _login(api, seen["device"], "1234")
        assert status == 200 and "user_token" in body

    serve(ctx, after_restart)


def test_an_ended_lockout_is_not_loaded(ctx: Any) -> None:
    async def first(api: Any) -> None:
        api.front.lockouts.started(Lockout("user:1", 10, 30.0))
        await async_wait_for(lambda: _rows(ctx), what="stored lockout")

    serve(ctx, first)
    ctx.clock.advance(31)

    async def second(api: Any) -> None:
        assert api.front.limiter.check("user:1").allowed

    serve(ctx, second)


class TestRestoreLockout:
    def test_restored_lockout_refuses_until_it_ends(self) -> None:
        clock = ManualClock()
        limiter = AttemptLimiter(clock, LimiterPolicy())
        limiter.restore_lockout("user:3", 90.0, 10)
        verdict = limiter.check("user:3")
        assert not verdict.allowed and verdict.locked and verdict.retry_after == 90
        assert limiter.failures("user:3") == 10
        clock.advance(90)
        assert limiter.check("user:3").allowed

    def test_a_lockout_start_is_reported_each_time(self) -> None:
        clock = ManualClock()
        started: list[Lockout] = []
        policy = LimiterPolicy(free_failures=10, lockout_after=2, lockout=5.0)
        limiter = AttemptLimiter(clock, policy, on_lockout=started.append)
        limiter.failure("source:a")
        assert started == []
        limiter.failure("source:a", "user:1")
        assert started == [Lockout("source:a", 2, 5.0)]
        clock.advance(5)
        limiter.failure("source:a")  # a new lockout after the first ended
        assert started[-1] == Lockout("source:a", 3, 5.0)

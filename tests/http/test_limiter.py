"""Wrong-code rate limiting (F8): the limiter itself and through the REST login."""

from __future__ import annotations

import threading

from arpi.bus import UiEvent
from arpi.clock import ManualClock
from arpi.http.limiter import AttemptLimiter, LimiterPolicy
from tests.helpers import async_wait_for
from tests.http.conftest import ORIGIN, serve

POLICY = LimiterPolicy(
    free_failures=2,
    base_delay=1.0,
    factor=2.0,
    max_delay=8.0,
    lockout_after=6,
    lockout=60.0,
    forget_after=300.0,
)


class TestAttemptLimiter:
    def test_free_failures_then_growing_delays(self):
        clock = ManualClock()
        limiter = AttemptLimiter(clock, POLICY)

        assert limiter.failure("user:1").allowed
        assert limiter.failure("user:1").allowed
        waits = [limiter.failure("user:1").retry_after for _ in range(3)]

        assert waits == [1.0, 2.0, 4.0]
        assert not limiter.check("user:1").allowed

    def test_delay_ends_with_time(self):
        clock = ManualClock()
        limiter = AttemptLimiter(clock, POLICY)
        for _ in range(3):
            limiter.failure("k")

        clock.advance(0.9)
        assert not limiter.check("k").allowed
        clock.advance(0.2)
        assert limiter.check("k").allowed

    def test_lockout_refuses_until_it_ends(self):
        clock = ManualClock()
        limiter = AttemptLimiter(clock, POLICY)
        for _ in range(6):
            verdict = limiter.failure("source:a")

        assert verdict.locked and verdict.retry_after == 60.0
        clock.advance(59)
        assert not limiter.check("source:a").allowed
        clock.advance(1.5)
        assert limiter.check("source:a").allowed

    def test_keys_are_independent_and_worst_wins(self):
        clock = ManualClock()
        limiter = AttemptLimiter(clock, POLICY)
        for _ in range(4):
            limiter.failure("user:1")

        assert limiter.check("user:2").allowed
        assert limiter.check("user:2", "user:1").retry_after == 2.0

    def test_success_resets_and_old_failures_are_forgotten(self):
        clock = ManualClock()
        limiter = AttemptLimiter(clock, POLICY)
        limiter.failure("a")
        limiter.success("a")
        assert limiter.failures("a") == 0
        limiter.failure("b")
        clock.advance(301)
        assert limiter.failures("b") == 0

    def test_memory_is_bounded(self):
        limiter = AttemptLimiter(ManualClock(), LimiterPolicy(max_keys=10))
        for i in range(100):
            limiter.failure(f"source:{i}")
        assert len(limiter._entries) == 10

    def test_thread_safe_counting(self):
        limiter = AttemptLimiter(
            ManualClock(), LimiterPolicy(lockout_after=10**9, free_failures=10**9)
        )
        threads = [
            threading.Thread(target=lambda: [limiter.failure("k") for _ in range(500)])
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert limiter.failures("k") == 2000

    def test_events_report_failures_lockouts_and_refusals(self):
        seen = []
        limiter = AttemptLimiter(ManualClock(), POLICY, on_event=seen.append)
        for _ in range(6):
            limiter.failure("k")
        limiter.check("k")
        kinds = [e.kind for e in seen]
        assert kinds == ["failure"] * 5 + ["lockout", "refused"]


def test_rest_login_is_limited_and_warns_admins(ctx):
    async def scenario(api):
        device = api.device()
        admin_socket = await api.socket()
        assert (await admin_socket.call("authenticate", {"user_token": api.token()}))[
            "ok"
        ]
        warnings = []
        admin_socket.on("security_warning", warnings.append)

        async def login(code):
            return await api.call(
                "POST",
                "/api/user/authenticate",
                token=device,
                headers={"Origin": ORIGIN},
                json={"device_token": device, "access_code": code},
            )

        policy = api.front.limiter.policy
        for _ in range(policy.free_failures):
            assert (await login("0000"))[:2] == (200, False)
        assert (await login("0000"))[:2] == (200, False)  # now delayed
        status, body, headers = await login("1234")  # right code, still refused
        assert status == 429 and "retry" in body["error"]
        assert int(headers["Retry-After"]) >= 1
        ctx.clock.advance(body["retry_after"])
        status, body, _ = await login("1234")
        assert status == 200 and "user_token" in body

        # Lockout: a correct code during lockout waits it out too.
        for _ in range(policy.lockout_after):
            ctx.clock.advance(policy.max_delay)
            await login("0000")
        ctx.clock.advance(policy.max_delay)
        status, body, _ = await login("1234")
        assert status == 429 and "locked out" in body["error"]
        ctx.clock.advance(policy.lockout)
        assert (await login("1234"))[0] == 200

        await async_wait_for(lambda: any(w["kind"] == "lockout" for w in warnings))
        assert all("1234" not in str(w) and "0000" not in str(w) for w in warnings)
        await admin_socket.disconnect()

    serve(ctx, scenario)


def test_registration_is_limited_per_source(ctx):
    async def scenario(api):
        async def register(code):
            return await api.call(
                "POST",
                "/api/user/register_device",
                headers={"Origin": ORIGIN},
                json={"registration_code": code},
            )

        for _ in range(api.front.limiter.policy.free_failures + 1):
            assert (await register("ffffffffffff"))[0] == 400
        status, body, _ = await register("ABCD1234")
        assert status == 429
        ctx.clock.advance(body["retry_after"])
        assert (await register("ABCD1234"))[0] == 200

    serve(ctx, scenario)


def test_limiter_event_is_published_on_the_bus(ctx):
    seen = []
    ctx.bus.subscribe(UiEvent, seen.append)

    async def scenario(api):
        api.front.limiter.failure("keypad:1")

    serve(ctx, scenario)
    assert seen and seen[0].name == "security_warning" and seen[0].admin_only

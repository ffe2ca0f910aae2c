"""`Address.ask_async`: replies reach the event loop without blocking it."""

from __future__ import annotations

import asyncio

import pytest

from arpi.actors import (
    ActorUnavailable,
    AskTimeout,
    Crash,
    InjectedCrash,
    Ping,
    release_hangs,
)
from arpi.actors.testing import Echo, FaultyChild
from tests.helpers import async_wait_for


def run(coro):
    return asyncio.run(coro)


def test_ask_async_returns_the_reply(start, ctx) -> None:
    start(FaultyChild, name="w")

    async def main():
        return await ctx.directory.address("w").ask_async(Echo(42), timeout=5)

    assert run(main()) == 42


def test_loop_keeps_running_while_an_ask_is_pending(start, ctx) -> None:
    start(FaultyChild, name="w")
    address = ctx.directory.address("w")
    address.tell(Crash("hang"))  # the reply to the ask below waits behind this

    async def main():
        beats = 0

        async def heartbeat():
            nonlocal beats
            while True:
                beats += 1
                await asyncio.sleep(0)

        ask = asyncio.create_task(address.ask_async(Echo("late"), timeout=30))
        beat = asyncio.create_task(heartbeat())
        await async_wait_for(lambda: beats >= 50, what="other tasks to run")
        pending_while_running = not ask.done()
        release_hangs()
        reply = await ask
        beat.cancel()
        return pending_while_running, reply

    pending_while_running, reply = run(main())

    assert pending_while_running
    assert reply == "late"


def test_ask_async_times_out_with_ask_timeout(start, ctx) -> None:
    start(FaultyChild, name="w")
    address = ctx.directory.address("w")
    address.tell(Crash("hang"))

    async def main():
        await address.ask_async(Ping(), timeout=0.05)

    with pytest.raises(AskTimeout):
        run(main())


def test_ask_async_raises_the_handler_exception(start, ctx) -> None:
    start(FaultyChild, name="w")

    async def main():
        await ctx.directory.address("w").ask_async(Crash(), timeout=5)

    with pytest.raises(InjectedCrash):
        run(main())
    assert not ctx.directory.address("w").alive()


def test_ask_async_to_a_down_actor_is_unavailable(ctx) -> None:
    async def main():
        await ctx.directory.address("nobody").ask_async(Ping(), timeout=5)

    with pytest.raises(ActorUnavailable):
        run(main())
    assert ctx.directory.dead_letters == 1


def test_actor_ending_with_the_ask_queued_gives_unavailable(start, ctx) -> None:
    start(FaultyChild, name="w")
    address = ctx.directory.address("w")
    address.tell(Crash("hang"))
    address.tell(Crash("crash"))

    async def main():
        ask = asyncio.create_task(address.ask_async(Echo(1), timeout=30))
        await asyncio.sleep(0)
        release_hangs()
        await ask

    with pytest.raises(ActorUnavailable):
        run(main())


def test_reply_to_a_cancelled_ask_is_skipped(start, ctx) -> None:
    start(FaultyChild, name="w")
    address = ctx.directory.address("w")
    address.tell(Crash("hang"))

    async def main():
        errors: list[dict] = []
        asyncio.get_running_loop().set_exception_handler(
            lambda loop, context: errors.append(context)
        )
        ask = asyncio.create_task(address.ask_async(Echo(1), timeout=30))
        await asyncio.sleep(0)
        ask.cancel()
        release_hangs()
        # a second ask behind the first proves the first reply was delivered
        assert await address.ask_async(Echo(2), timeout=5) == 2
        await asyncio.sleep(0)
        return ask.cancelled(), errors

    cancelled, errors = run(main())

    assert cancelled
    assert errors == []

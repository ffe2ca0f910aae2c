"""Fixtures for the actor layer: a test Context, a Lifecycle probe, tree cleanup."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pykka
import pytest

from arpi.actors import Actor, Ping, Supervisor, release_hangs
from arpi.actors.testing import LifecycleProbe, make_test_context, stop_all_actors
from arpi.context import Context


@pytest.fixture(autouse=True)
def _settle_actors() -> Iterator[None]:
    """Free injected hangs, stop what is left and wait for actor threads to end."""
    yield
    assert stop_all_actors() == []


@pytest.fixture
def ctx() -> Context:
    return make_test_context()


@pytest.fixture
def probe(ctx: Context) -> Iterator[LifecycleProbe]:
    p = LifecycleProbe(ctx.bus)
    yield p
    p.close()


@pytest.fixture
def start(ctx: Context) -> Iterator[Callable[..., pykka.ActorRef[Any]]]:
    """Start actors on the test context and wait until their setup ended (as a
    supervisor does); they are stopped in reverse order afterwards."""
    refs: list[pykka.ActorRef[Any]] = []

    def _start(
        actor_class: type[Actor] = Supervisor, **kwargs: Any
    ) -> pykka.ActorRef[Any]:
        kwargs.setdefault("name", "root")
        ref = actor_class.start(ctx, **kwargs)
        refs.append(ref)
        try:
            ref.ask(Ping(), timeout=10)
        except pykka.ActorDeadError:
            pass  # setup failed; the test looks at how
        return ref

    yield _start
    release_hangs()
    for ref in reversed(refs):
        if ref.is_alive():
            ref.stop(block=True, timeout=10)

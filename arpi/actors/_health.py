"""A tree-wide health snapshot (state, restarts, failures, inbox depth) for the API."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from arpi.actors._directory import Directory
from arpi.actors._messages import (
    ActorUnavailable,
    AskTimeout,
    ChildInfo,
    Ping,
    Pong,
    WhichChildren,
)

__all__ = ["ActorHealth", "health_snapshot", "health_snapshot_async"]


@dataclass(frozen=True, slots=True)
class ActorHealth:
    """One actor of the tree as seen by its supervisor.

    `path` is the chain of names from the root ("root/core/alarm"). `state` is a
    `ChildInfo` state (`hung`: running but its supervisor's liveness `Ping` is
    overdue; a hung supervisor's subtree is not walked), or for the root
    `running`/`down`, and `unresponsive` for a supervisor that did not answer in
    time (its subtree is then missing).
    """

    path: str
    name: str
    state: str
    alive: bool
    incarnation: int
    restarts: int
    last_failure: str | None
    inbox_depth: int
    supervisor: bool


async def health_snapshot_async(
    directory: Directory, root: str = "root", timeout: float = 1.0
) -> tuple[ActorHealth, ...]:
    """Walk the tree from the supervisor named `root`, depth first in start order.

    Runs on the event loop and never blocks it; each ask is bounded by `timeout`.
    Never raises for a down or hung actor: it shows up in the result instead.
    """
    address = directory.address(root)
    entries: list[ActorHealth] = []
    try:
        pong = await address.ask_async(Ping(), timeout)
    except (ActorUnavailable, AskTimeout) as exc:
        record = directory.last_exit(root)
        state = "unresponsive" if isinstance(exc, AskTimeout) else "down"
        entries.append(
            ActorHealth(
                root,
                root,
                state,
                state == "unresponsive",
                record.incarnation if record else 0,
                0,
                record.error if record else None,
                0,
                True,
            )
        )
        return tuple(entries)
    assert isinstance(pong, Pong)
    entries.append(
        ActorHealth(
            root, root, "running", True, pong.incarnation, 0, None, pong.inbox, True
        )
    )
    await _walk(directory, root, root, timeout, entries)
    return tuple(entries)


async def _walk(
    directory: Directory,
    name: str,
    path: str,
    timeout: float,
    entries: list[ActorHealth],
) -> None:
    parent_index = len(entries) - 1
    try:
        infos = await directory.address(name).ask_async(WhichChildren(), timeout)
    except (ActorUnavailable, AskTimeout):
        old = entries[parent_index]
        entries[parent_index] = ActorHealth(
            old.path,
            old.name,
            "unresponsive",
            old.alive,
            old.incarnation,
            old.restarts,
            old.last_failure,
            old.inbox_depth,
            old.supervisor,
        )
        return
    for info in infos:
        assert isinstance(info, ChildInfo)
        child_path = f"{path}/{info.id}"
        entries.append(
            ActorHealth(
                child_path,
                info.id,
                info.state,
                info.alive,
                info.incarnation,
                info.restarts,
                info.last_failure,
                info.inbox_depth,
                info.supervisor,
            )
        )
        if info.supervisor and info.alive and info.state != "hung":
            await _walk(directory, info.id, child_path, timeout, entries)


def health_snapshot(
    directory: Directory, root: str = "root", timeout: float = 1.0
) -> tuple[ActorHealth, ...]:
    """`health_snapshot_async` for a thread without a running event loop.

    Blocks the calling thread (at most `timeout` per supervisor). Never call it
    from an actor's handler or on the event loop.
    """
    return asyncio.run(health_snapshot_async(directory, root, timeout))

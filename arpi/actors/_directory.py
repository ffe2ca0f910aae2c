"""Addressing actors by name: the directory of current incarnations."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

import pykka
import structlog

from arpi.actors._bridge import ReplyFuture, bridge_to_loop
from arpi.actors._messages import ActorUnavailable, AskTimeout

__all__ = ["Address", "Directory", "ExitRecord"]

log = structlog.get_logger("arpi.actors")


@dataclass(frozen=True, slots=True)
class ExitRecord:
    """How the last incarnation registered under a name ended."""

    urn: str
    incarnation: int
    normal: bool
    phase: str
    error: str | None


class Directory:
    """Maps a name to the current incarnation of the actor running under it.

    `Actor.start` registers every incarnation; the incarnation removes itself when
    it ends. Lookups take no lock (a dict read), so sending by name costs almost
    nothing beyond pykka's own `tell`.
    """

    def __init__(self) -> None:
        self._refs: dict[str, pykka.ActorRef[Any]] = {}
        self._exits: dict[str, ExitRecord] = {}
        self._dead_letters: dict[str, int] = {}
        self._abandoned: set[str] = set()
        self._lock = threading.Lock()

    def address(self, name: str) -> Address:
        """A stable handle for `name`; valid before, during and after restarts."""
        return Address(self, name)

    def lookup(self, name: str) -> pykka.ActorRef[Any] | None:
        """The current incarnation's ref, or None. It may be dead already."""
        return self._refs.get(name)

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self._refs)

    def register(self, name: str, ref: pykka.ActorRef[Any]) -> None:
        """Make `ref` the current incarnation of `name` (called by `Actor.start`)."""
        with self._lock:
            self._refs[name] = ref

    def register_started(self, name: str, ref: pykka.ActorRef[Any]) -> bool:
        """As `register`, unless `ref` was abandoned meanwhile (then False). Called
        by the incarnation itself once its setup finished, so that whoever hears of
        its start can already reach it by name."""
        with self._lock:
            if ref.actor_urn in self._abandoned:
                return False
            self._refs[name] = ref
            return True

    def unregister(self, name: str, ref: pykka.ActorRef[Any]) -> None:
        """Forget `name` if `ref` is still its current incarnation; thread-safe."""
        with self._lock:
            if self._refs.get(name) is ref:
                del self._refs[name]

    def abandon(self, name: str, ref: pykka.ActorRef[Any]) -> None:
        """Give up on the incarnation `ref` of `name` (hung: its thread cannot be
        killed). It is unregistered if still current (senders get dead letters until
        a new incarnation registers) and marked, so that if its thread ever wakes up
        it handles nothing more and ends (see `Actor`). Thread-safe."""
        with self._lock:
            self._abandoned.add(ref.actor_urn)
            if self._refs.get(name) is ref:
                del self._refs[name]

    def is_abandoned(self, urn: str) -> bool:
        """True if the incarnation `urn` was abandoned and has not ended yet."""
        return urn in self._abandoned

    def forget_abandoned(self, urn: str) -> None:
        """Drop the mark of an abandoned incarnation that has ended (by `Actor`)."""
        with self._lock:
            self._abandoned.discard(urn)

    def record_exit(self, name: str, record: ExitRecord) -> None:
        """Remember how an incarnation of `name` ended (see `last_exit`)."""
        with self._lock:
            self._exits[name] = record

    def last_exit(self, name: str) -> ExitRecord | None:
        """How the most recent incarnation of `name` that ended, ended."""
        return self._exits.get(name)

    @property
    def dead_letters(self) -> int:
        """Messages sent by name to an actor that was not running, in total."""
        with self._lock:
            return sum(self._dead_letters.values())

    def dead_letter_counts(self) -> dict[str, int]:
        """Dead letters per addressed name."""
        with self._lock:
            return dict(self._dead_letters)

    def _dead_letter(self, name: str, message: object) -> None:
        with self._lock:
            self._dead_letters[name] = count = self._dead_letters.get(name, 0) + 1
        log.warning(
            "dead_letter",
            to=name,
            message_type=type(message).__name__,
            dead_letters=count,
        )


class Address:
    """Sends to whatever incarnation currently runs under `name`.

    Methods are safe from any thread. They never raise pykka's `ActorDeadError`:
    a message to an actor that is down is a dead letter (logged as `dead_letter`
    at WARNING and counted on the directory).
    """

    __slots__ = ("_directory", "name")

    def __init__(self, directory: Directory, name: str) -> None:
        self._directory = directory
        self.name = name

    def __repr__(self) -> str:
        return f"Address({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Address)
            and other._directory is self._directory
            and other.name == self.name
        )

    def __hash__(self) -> int:
        return hash((id(self._directory), self.name))

    def alive(self) -> bool:
        """True if an incarnation is registered and has not stopped."""
        ref = self._directory._refs.get(self.name)
        return ref is not None and ref.is_alive()

    def tell(self, message: object) -> bool:
        """Queue `message`; never blocks. False (and a dead letter) if down."""
        ref = self._directory._refs.get(self.name)
        if ref is not None:
            try:
                ref.tell(message)
                return True
            except pykka.ActorDeadError:
                pass
        self._directory._dead_letter(self.name, message)
        return False

    def _live_ref(self, message: object) -> pykka.ActorRef[Any]:
        ref = self._directory._refs.get(self.name)
        if ref is None or not ref.is_alive():
            self._directory._dead_letter(self.name, message)
            raise ActorUnavailable(f"{self.name} is not running")
        return ref

    def ask(self, message: object, timeout: float) -> Any:
        """Send `message` and block the calling thread until the reply.

        Never call it inside a handler (deadlock risk). Returns the handler's return
        value; re-raises the handler's exception (which also ended that
        incarnation). Raises ActorUnavailable if the actor is down or stops before
        replying, AskTimeout after `timeout` seconds (the message is not withdrawn).
        """
        if not timeout > 0:
            raise ValueError(f"timeout: must be positive, got {timeout!r}")
        ref = self._live_ref(message)
        try:
            return ref.ask(message, timeout=timeout)
        except pykka.Timeout:
            raise AskTimeout(f"{self.name} did not reply within {timeout}s") from None
        except pykka.ActorDeadError:
            raise ActorUnavailable(f"{self.name} stopped before replying") from None

    async def ask_async(self, message: object, timeout: float) -> Any:
        """`ask` for coroutines on the event loop; the loop is never blocked.

        Same results and exceptions as `ask`. The reply is handed to the loop with
        `call_soon_threadsafe`; no executor thread is held while waiting (except for
        a plain pykka actor that is not an arpi `Actor`).
        """
        if not timeout > 0:
            raise ValueError(f"timeout: must be positive, got {timeout!r}")
        loop = asyncio.get_running_loop()
        ref = self._live_ref(message)
        reply = ref.ask(message, block=False)
        if isinstance(reply, ReplyFuture):
            waiter = bridge_to_loop(reply, loop, self.name)
        else:
            waiter = asyncio.ensure_future(
                asyncio.to_thread(reply.get, timeout=timeout)
            )
        limit = asyncio.timeout(timeout)
        try:
            async with limit:
                return await waiter
        except TimeoutError:
            if limit.expired():
                raise AskTimeout(
                    f"{self.name} did not reply within {timeout}s"
                ) from None
            raise
        except pykka.Timeout:
            raise AskTimeout(f"{self.name} did not reply within {timeout}s") from None
        except pykka.ActorDeadError:
            raise ActorUnavailable(f"{self.name} stopped before replying") from None

"""The `Actor` base class: pykka's hooks wrapped so that every failure is contained."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Self

import pykka
import structlog

from arpi.actors._bridge import ReplyFuture
from arpi.actors._directory import Address, ExitRecord
from arpi.actors._messages import (
    ActorCrashed,
    ActorUnavailable,
    ChildExited,
    Crash,
    InjectedCrash,
    Lifecycle,
    Phase,
    Ping,
    Pong,
    SupervisorEscalated,
    summarize,
)

if TYPE_CHECKING:
    from types import TracebackType

    from arpi.clock import TimerHandle
    from arpi.context import Context

__all__ = ["Actor"]

THREAD_PREFIX = "arpi-actor-"

_BUILTINS = frozenset({Ping, Crash})


class _AlreadyReported(logging.Filter):
    """Drops pykka's own record of an exception that `Actor` has logged already.

    For a crash in a told message pykka logs the traceback at ERROR, for an asked
    one at INFO; `Actor` logs `actor_failed` with the traceback itself, so without
    this filter every crash would be in the log twice.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not getattr(exc, "_arpi_reported", False)


logging.getLogger("pykka").addFilter(_AlreadyReported())


def _mark_reported(exc: BaseException) -> None:
    try:
        exc._arpi_reported = True  # type: ignore[attr-defined]
    except AttributeError:
        pass


def inbox_depth(ref: pykka.ActorRef[Any]) -> int:
    """Messages waiting in the actor's inbox (approximate; any thread)."""
    inbox = ref.actor_inbox
    # ThreadingActor's inbox is a queue.Queue; pykka types it as a bare protocol.
    return inbox.qsize() if isinstance(inbox, queue.Queue) else 0


class _TellLater:
    """Timer callback: tell one incarnation a message; dropped if it has ended."""

    __slots__ = ("_message", "_ref")

    def __init__(self, ref: pykka.ActorRef[Any], message: object) -> None:
        self._ref = ref
        self._message = message

    def __call__(self) -> None:
        try:
            self._ref.tell(self._message)
        except pykka.ActorDeadError:
            pass  # addressed to an incarnation, not a name: no dead letter


class Actor(pykka.ThreadingActor):
    """Base of every arpi actor: supervised, addressable by name, failure-contained.

    Subclasses override `setup`, `handle`, `teardown` and `release`; they never
    override pykka's `on_start`, `on_receive`, `on_stop` or `on_failure`.

    An incarnation ends on an orderly stop or on any exception (BaseException
    included) from `setup`, `handle` or `teardown`. Ending means, in this order,
    on the actor's own thread: the ref is marked stopped (senders now get dead
    letters), the failure is logged as `actor_failed`, `release()` runs,
    `Lifecycle(stopped|failed)` is published, and the parent is told `ChildExited`.
    For an `ask` the caller also gets the exception; a BaseException reaches the
    caller as `ActorCrashed` and never stops other actors.

    An incarnation its supervisor abandoned (hung: `Directory.abandon`) that wakes
    up later does not act: it handles no further message (not even `Ping`; an asker
    gets `ActorUnavailable`), does not publish `started` if its `setup` was what
    hung, skips `teardown`, and ends: `release()` runs with `self.abandoned` True
    (a subclass must then only free its own handles and subscriptions, never drive
    outputs or tell other actors), `Lifecycle(stopped, "abandoned")` is published
    and the parent is told `ChildExited` (which it expects and ignores). The
    directory's exit record is left alone. Its `tell_self_*` timers address this
    incarnation only, never the name, so they cannot reach its replacement.

    Threads are named `arpi-actor-<name>` and are daemon threads: an orderly
    shutdown stops the tree first, and a thread wedged in a driver call (one a
    supervisor had to abandon) must not keep a failed process from exiting.

    Messages through pykka proxies (`ref.proxy()`) bypass `handle` and are not
    covered; use plain messages.
    """

    use_daemon_thread = True

    def __init__(
        self,
        ctx: Context,
        *,
        name: str,
        parent: pykka.ActorRef[Any] | None = None,
        incarnation: int = 0,
        **options: object,
    ) -> None:
        """Runs on the caller's thread. Raises ValueError for an empty name."""
        super().__init__()
        if not isinstance(name, str) or not name:
            raise ValueError(f"name: must be a non-empty string, got {name!r}")
        self.ctx = ctx
        self.name = name
        self.parent = parent
        self.incarnation = incarnation
        self.options: Mapping[str, object] = MappingProxyType(dict(options))
        self.log = structlog.get_logger("arpi.actors").bind(
            actor=name, incarnation=incarnation
        )
        self._ended = False

    @classmethod
    def start(cls, *args: Any, **kwargs: Any) -> pykka.ActorRef[Self]:
        """Start an incarnation and make it the directory's entry for its name.

        Same arguments as the constructor. Returns as soon as the thread runs;
        `setup` may still be in progress (a first `ask` waits for it).
        """
        ref = super().start(*args, **kwargs)
        ctx = args[0] if args else kwargs["ctx"]
        ctx.directory.register(kwargs["name"], ref)
        return ref

    # XXX: pykka (4.x) documents `_create_future` as the hook for actor runtimes.
    # We use it so that every ask future can notify `Address.ask_async` directly.
    @staticmethod
    def _create_future() -> pykka.Future[Any]:
        return ReplyFuture()

    # --- hooks for subclasses (all on the actor's own thread) --------------------

    def setup(self) -> None:
        """Open hardware or the database, restore state. Raise to fail the start."""

    def handle(self, message: object) -> object:
        """Handle one message; the return value is the reply to an `ask`.

        The default logs `unhandled_message` at WARNING and returns None.
        """
        self.log.warning("unhandled_message", message_type=type(message).__name__)
        return None

    def teardown(self) -> None:
        """Orderly stop (not called after a failure; `release` always is)."""

    def release(self) -> None:
        """Release hardware and other exclusive resources; runs on every exit path,
        before the parent is told. Must not raise (errors are logged)."""

    # --- helpers -------------------------------------------------------------------

    @property
    def abandoned(self) -> bool:
        """True once the supervisor gave up on this incarnation (any thread)."""
        return self.ctx.directory.is_abandoned(self.actor_ref.actor_urn)

    def address(self, name: str) -> Address:
        """The address of another actor by name."""
        return self.ctx.directory.address(name)

    def tell_self_later(self, delay: float, message: object) -> TimerHandle:
        """Tell this incarnation `message` after `delay` seconds of `ctx.clock`.

        Thread-safe. Dropped silently if the incarnation has ended by then; cancel
        with the returned handle.
        """
        return self.ctx.clock.call_later(delay, _TellLater(self.actor_ref, message))

    def tell_self_at(self, deadline: float, message: object) -> TimerHandle:
        """As `tell_self_later`, at the monotonic `deadline` of `ctx.clock`."""
        return self.ctx.clock.call_at(deadline, _TellLater(self.actor_ref, message))

    # --- pykka hooks -------------------------------------------------------------

    def on_start(self) -> None:
        threading.current_thread().name = THREAD_PREFIX + self.name
        try:
            self.setup()
        except BaseException as exc:  # noqa: BLE001 (contained: ends this actor only)
            # pykka would log this and stop without calling on_failure (and a
            # BaseException would kill the thread with the actor still registered).
            self._end(exc, "abandoned" if self.abandoned else "start")
            return
        if self.abandoned or not self.ctx.directory.register_started(
            self.name, self.actor_ref
        ):
            # setup hung past the start deadline; a replacement may be running.
            self._end(None, "abandoned")
            return
        # Registered before `started` is published (`start` registers too, but only
        # once pykka returns, which may be after listeners react to `started`).
        self.ctx.bus.publish(Lifecycle(self.name, self.incarnation, "started"))

    def on_receive(self, message: Any) -> Any:
        if self.abandoned:
            # Woke up after its supervisor replaced it: the inbox is stale.
            self._end(None, "abandoned", dropped=message)
            gone = ActorUnavailable(f"{self.name} incarnation was abandoned")
            _mark_reported(gone)
            raise gone
        try:
            if message.__class__ in _BUILTINS:
                return self._builtin(message)
            return self.handle(message)
        except BaseException as exc:
            # Told or asked, the incarnation ends: after an exception its state may
            # be corrupt. Re-raising lets pykka hand the exception to an asker.
            self._end(exc, "abandoned" if self.abandoned else "run")
            if isinstance(exc, Exception):
                raise
            crashed = ActorCrashed(f"{summarize(exc)} in actor {self.name}")
            _mark_reported(crashed)
            raise crashed from exc

    def on_stop(self) -> None:
        if self.abandoned:
            self._end(None, "abandoned")
            return
        error: BaseException | None = None
        try:
            self.teardown()
        except BaseException as exc:  # noqa: BLE001 (contained: ends this actor only)
            error = exc
        self._end(error, "stop")

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Reached only for failures outside `on_receive` (e.g. proxied calls).
        self._end(exception_value or RuntimeError("unknown failure"), "run")

    # --- internals -----------------------------------------------------------------

    def _builtin(self, message: Ping | Crash) -> object:
        if message.__class__ is Ping:
            return Pong(self.name, self.incarnation, inbox_depth(self.actor_ref))
        assert isinstance(message, Crash)
        if message.kind == "crash":
            raise InjectedCrash(f"injected crash in {self.name}")
        self.log.warning("actor_hang_injected")
        message.gate.wait()
        return None

    def _on_exit(self, error: BaseException | None) -> None:
        """Subclass hook, after `release` and before the parent is told."""

    def _end(
        self,
        error: BaseException | None,
        phase: Phase | Literal["abandoned"],
        dropped: object = None,
    ) -> None:
        if self._ended:
            return
        self._ended = True
        abandoned = phase == "abandoned"
        if abandoned:
            phase = "stop" if error is None else "run"
        summary = summarize(error)
        directory = self.ctx.directory
        ref = self.actor_ref

        # The exit record comes first: a supervisor that sees this ref dead reads it.
        # An abandoned incarnation leaves it to its replacement.
        if not abandoned:
            directory.record_exit(
                self.name,
                ExitRecord(
                    ref.actor_urn, self.incarnation, error is None, phase, summary
                ),
            )
        pykka.ActorRegistry.unregister(ref)
        self.actor_stopped.set()
        directory.unregister(self.name, ref)

        if abandoned:
            self.log.warning(
                "abandoned_incarnation_ended",
                dropped=inbox_depth(ref) + (dropped is not None),
                dropped_type=None if dropped is None else type(dropped).__name__,
                error=summary,
            )
            if error is not None:
                _mark_reported(error)
        elif error is None:
            self.log.debug("actor_stopped")
        else:
            _mark_reported(error)
            quiet = isinstance(error, SupervisorEscalated)
            self.log.error(
                "actor_failed",
                phase=phase,
                error=summary,
                exc_info=None if quiet else error,
            )

        try:
            self.release()
        except BaseException as exc:
            self.log.error("release_failed", error=summarize(exc), exc_info=exc)

        kind = "stopped" if error is None or abandoned else "failed"
        reason = "abandoned" if abandoned else summary
        self.ctx.bus.publish(Lifecycle(self.name, self.incarnation, kind, reason))
        try:
            if not abandoned:
                self._on_exit(error)
        except BaseException as exc:
            self.log.error("exit_hook_failed", error=summarize(exc), exc_info=exc)

        if self.parent is not None:
            notice = ChildExited(
                self.name,
                self.incarnation,
                ref.actor_urn,
                error is None,
                phase,
                summary,
            )
            try:
                self.parent.tell(notice)
            except pykka.ActorDeadError:
                self.log.debug("parent_gone")
        if abandoned:
            directory.forget_abandoned(ref.actor_urn)

"""`Supervisor`: starts, watches and restarts child actors as Erlang/OTP does."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pykka

from arpi.actors._actor import Actor, _TellLater, inbox_depth
from arpi.actors._messages import (
    ChildExited,
    ChildInfo,
    ChildState,
    Lifecycle,
    Ping,
    SupervisorEscalated,
    WhichChildren,
    _CheckLiveness,
    _RestartDue,
    summarize,
)
from arpi.actors._policy import (
    ChildSpec,
    Restart,
    RestartWindow,
    Strategy,
    affected_children,
    backoff_delay,
    next_attempt,
    should_restart,
)

if TYPE_CHECKING:
    from arpi.clock import TimerHandle
    from arpi.context import Context

__all__ = ["Supervisor", "effective_shutdown", "effective_start_timeout"]


def _nested_deadline(spec: ChildSpec, attr: str) -> float:
    own: float = getattr(spec, attr)
    if issubclass(spec.actor_class, Supervisor):
        children = spec.options.get("children", ())
        assert isinstance(children, Sequence)
        total = sum(_nested_deadline(child, attr) for child in children)
        return max(own, total + 1.0)
    return own


def effective_shutdown(spec: ChildSpec) -> float:
    """The stop deadline used for `spec`: a supervisor gets its children's sum + 1 s."""
    return _nested_deadline(spec, "shutdown")


def effective_start_timeout(spec: ChildSpec) -> float:
    """The readiness deadline used for `spec`, covering a supervisor's children."""
    return _nested_deadline(spec, "start_timeout")


LIVENESS_THREAD_PREFIX = "arpi-liveness-"


class _Probe:
    """An outstanding liveness `Ping` to one incarnation."""

    __slots__ = ("reply", "sent_at", "urn")

    def __init__(self, urn: str, reply: pykka.Future[Any], sent_at: float) -> None:
        self.urn = urn
        self.reply = reply
        self.sent_at = sent_at  # time.monotonic()

    def answered(self) -> bool:
        """True once the reply (or an error: the incarnation ended) is in."""
        try:
            self.reply.get(timeout=0)
        except pykka.Timeout:
            return False
        except Exception:  # noqa: BLE001 - it ended; its own notice tells how
            return True
        return True


class _LivenessTicker(threading.Thread):
    """Tells one supervisor `_CheckLiveness()` every `interval` real seconds.

    A daemon thread named `arpi-liveness-<supervisor>`. It never touches the
    supervisor's state and never blocks on it: a tick is only told when the previous
    one has been handled (`handled()`), so a busy supervisor does not pile ticks up.
    Ends on `stop()` or when the supervisor is dead.
    """

    def __init__(self, ref: pykka.ActorRef[Any], name: str, interval: float) -> None:
        super().__init__(name=LIVENESS_THREAD_PREFIX + name, daemon=True)
        self._ref = ref
        self._interval = interval
        self._stopped = threading.Event()
        self._idle = threading.Event()
        self._idle.set()

    def handled(self) -> None:
        """The supervisor took the last tick (its thread)."""
        self._idle.set()

    def stop(self) -> None:
        """End the thread and wait briefly for it (any thread but this one)."""
        self._stopped.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=5.0)

    def run(self) -> None:
        while not self._stopped.wait(self._interval):
            if not self._idle.is_set():
                continue
            self._idle.clear()
            try:
                self._ref.tell(_CheckLiveness())
            except pykka.ActorDeadError:
                return


class _Child:
    """A supervisor's bookkeeping for one child slot."""

    __slots__ = (
        "attempt",
        "incarnation",
        "last_failure",
        "pending",
        "ref",
        "spec",
        "started_at",
        "starts",
        "state",
        "urn",
    )

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.ref: pykka.ActorRef[Any] | None = None
        self.urn: str | None = None
        # "restarting" also covers "not started yet"; see _start_group.
        self.state: ChildState = "restarting"
        self.incarnation = 0
        self.starts = 0
        self.last_failure: str | None = None
        self.attempt = 0
        self.started_at: float | None = None
        self.pending: int | None = None  # token of the scheduled restart


class Supervisor(Actor):
    """Runs an ordered list of children and restarts them by `strategy`.

    Options: `strategy` (Strategy), `children` (ChildSpec sequence, unique ids),
    `intensity` (int, default 3) restarts within `period` seconds (default 5.0)
    before giving up, `on_escalate` (callable taking the reason, called on this
    supervisor's thread when it gives up or crashes; the root uses it to end the
    process), `random_source` (callable returning a float in [0, 1) for the
    backoff jitter; default `random.random`), `liveness_interval` (seconds between
    liveness checks, default 2.0; None disables them) and `liveness_timeout`
    (default 3.0).

    Liveness (A3.5: a hung actor is not a crashed actor): every `liveness_interval`
    seconds of real monotonic time (not `ctx.clock`: a manual clock does not move by
    itself) a `_LivenessTicker` thread tells this supervisor to check. The check
    never blocks: each running child has one outstanding non-blocking `Ping`; an
    answered one is replaced by a fresh one, and a child whose `Ping` has waited at
    least its liveness timeout (`ChildSpec.liveness_timeout`, else this
    supervisor's) is hung; for a supervisor child the timeout also covers its own
    bounded start and stop deadlines. A hung child is logged
    `child_hung` at ERROR, published `hung`, abandoned (`Directory.abandon`: its
    thread cannot be killed, but if it ever wakes it acts no more; a hung supervisor
    child's own children are stopped first) and handled like a failed child (restart
    by policy with backoff, counted against the intensity). `WhichChildren` reports
    such a child as `hung` as soon as its `Ping` is overdue.

    Children start in order during `setup`, each confirmed by a readiness `Ping`
    bounded by its `start_timeout`; they stop in reverse order, each within its
    `shutdown` deadline (a child that misses it is logged at ERROR, published as
    `abandoned` and left behind). A child failing to start is handled like a
    child failing later (restart by policy, with backoff), so one broken device
    does not stop the tree from booting. Beyond `intensity` restarts within
    `period` the supervisor stops every child in reverse order and fails to its
    parent (`SupervisorEscalated`).

    Answers `WhichChildren()` with a tuple of `ChildInfo`.
    """

    def __init__(
        self,
        ctx: Context,
        *,
        name: str,
        parent: pykka.ActorRef[Any] | None = None,
        incarnation: int = 0,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        children: Sequence[ChildSpec] = (),
        intensity: int = 3,
        period: float = 5.0,
        on_escalate: Callable[[str], object] | None = None,
        random_source: Callable[[], float] = random.random,
        liveness_interval: float | None = 2.0,
        liveness_timeout: float = 3.0,
        **options: object,
    ) -> None:
        """Raises ValueError (TypeError for a wrong type) naming the bad option."""
        super().__init__(
            ctx, name=name, parent=parent, incarnation=incarnation, **options
        )
        if not isinstance(strategy, Strategy):
            raise TypeError(f"strategy: must be a Strategy, got {strategy!r}")
        specs = tuple(children)
        for spec in specs:
            if not isinstance(spec, ChildSpec):
                raise TypeError(f"children: expected ChildSpec items, got {spec!r}")
        ids = [spec.id for spec in specs]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"children: duplicate ids {duplicates}")
        if on_escalate is not None and not callable(on_escalate):
            raise TypeError(f"on_escalate: must be callable, got {on_escalate!r}")
        if liveness_interval is not None and not (
            isinstance(liveness_interval, int | float) and liveness_interval > 0
        ):
            raise ValueError(
                "liveness_interval: must be a positive number or None, "
                f"got {liveness_interval!r}"
            )
        if not (isinstance(liveness_timeout, int | float) and liveness_timeout > 0):
            raise ValueError(
                f"liveness_timeout: must be a positive number, got {liveness_timeout!r}"
            )
        self.strategy = strategy
        self._liveness_interval = liveness_interval
        self._liveness_timeout = float(liveness_timeout)
        self._probes: dict[str, _Probe] = {}
        self._ticker: _LivenessTicker | None = None
        self._window = RestartWindow(intensity, period)
        self._children: dict[str, _Child] = {spec.id: _Child(spec) for spec in specs}
        self._timers: dict[int, TimerHandle] = {}
        self._tokens = itertools.count(1)
        self._expected: set[str] = set()
        self._on_escalate = on_escalate
        self._escalate_called = False
        self._random = random_source

    # --- Actor hooks ------------------------------------------------------------------

    def setup(self) -> None:
        self._start_group(list(self._children.values()))
        if self._liveness_interval is not None:
            self._ticker = _LivenessTicker(
                self.actor_ref, self.name, self._liveness_interval
            )
            self._ticker.start()

    def handle(self, message: object) -> object:
        if isinstance(message, _CheckLiveness):
            if self._ticker is not None:
                self._ticker.handled()
            self._check_liveness()
            return None
        if isinstance(message, ChildExited):
            self._child_exited(message)
            return None
        if isinstance(message, _RestartDue):
            self._restart_due(message.token)
            return None
        if isinstance(message, WhichChildren):
            return self._which_children()
        return super().handle(message)

    def release(self) -> None:
        # Every exit path (stop, escalation, a crash of this supervisor) ends here:
        # no child may outlive its supervisor.
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        self._probes.clear()
        self._stop_all_children()

    def _on_exit(self, error: BaseException | None) -> None:
        if error is not None:
            self._call_on_escalate(summarize(error) or "supervisor failed")

    # --- starting ---------------------------------------------------------------------

    def _start_group(self, group: list[_Child]) -> None:
        """Start `group` in order. A child that fails is handled at once; children
        its failure reschedules are skipped here (they have a `pending` token)."""
        for child in group:
            if (
                self._children.get(child.spec.id) is not child
                or child.pending is not None
                or child.state != "restarting"
            ):
                continue
            error = self._start_child(child)
            if error is not None:
                self._child_down(child, normal=False, phase="start", error=error)

    def _start_child(self, child: _Child) -> str | None:
        """Start one incarnation and wait (bounded) until its setup finished.

        Returns None when it runs, else a one-line failure reason. Blocks this
        supervisor's thread for at most the start deadline: safe because children
        never ask their parent.
        """
        spec = child.spec
        incarnation = child.starts
        child.starts += 1
        child.incarnation = incarnation
        child.state = "starting"
        try:
            ref = spec.actor_class.start(
                self.ctx,
                name=spec.id,
                parent=self.actor_ref,
                incarnation=incarnation,
                **spec.options,
            )
        except BaseException as exc:
            error = summarize(exc)
            child.state = "restarting"
            self.log.error(
                "child_start_failed", child=spec.id, error=error, exc_info=exc
            )
            self.ctx.bus.publish(Lifecycle(spec.id, incarnation, "failed", error))
            return error

        urn = ref.actor_urn
        child.ref, child.urn = ref, urn
        timeout = effective_start_timeout(spec)
        try:
            ref.ask(Ping(), timeout=timeout)
        except pykka.Timeout:
            child.ref = child.urn = None
            child.state = "restarting"
            self._expected.add(urn)
            # If setup ever returns, the incarnation ends without acting.
            self.ctx.directory.abandon(spec.id, ref)
            ref.stop(block=False)
            reason = f"setup did not finish within {timeout}s"
            self.log.error(
                "child_start_timeout",
                child=spec.id,
                incarnation=incarnation,
                start_timeout=timeout,
            )
            self.ctx.bus.publish(Lifecycle(spec.id, incarnation, "abandoned", reason))
            return reason
        except pykka.ActorDeadError:
            # It ended before answering; its own notice is already handled here.
            child.ref = child.urn = None
            child.state = "restarting"
            self._expected.add(urn)
            record = self.ctx.directory.last_exit(spec.id)
            if record is not None and record.urn == urn and record.error:
                return record.error
            return "stopped during start"

        child.state = "running"
        child.started_at = self.ctx.clock.monotonic()
        if incarnation > 0:
            self.log.info(
                "child_restarted",
                child=spec.id,
                incarnation=incarnation,
                restarts=child.starts - 1,
            )
            self.ctx.bus.publish(Lifecycle(spec.id, incarnation, "restarted"))
        return None

    def _restart_due(self, token: int) -> None:
        self._timers.pop(token, None)
        group = [c for c in self._children.values() if c.pending == token]
        for child in group:
            child.pending = None
        self._start_group(group)

    # --- failures ---------------------------------------------------------------------

    def _child_exited(self, notice: ChildExited) -> None:
        child = self._children.get(notice.name)
        if child is None or child.urn != notice.urn:
            if notice.urn in self._expected:
                self._expected.discard(notice.urn)
            else:
                self.log.debug(
                    "stale_notice_ignored",
                    child=notice.name,
                    incarnation=notice.incarnation,
                )
            return
        self._child_down(
            child, normal=notice.normal, phase=notice.phase, error=notice.error
        )

    def _child_down(
        self, child: _Child, *, normal: bool, phase: str, error: str | None
    ) -> None:
        """The current incarnation of `child` ended on its own: apply the policy.

        Raises SupervisorEscalated when the restart intensity is exceeded.
        """
        spec = child.spec
        now = self.ctx.clock.monotonic()
        uptime = now - child.started_at if child.started_at is not None else 0.0
        child.ref = child.urn = None
        child.started_at = None
        if not normal:
            child.last_failure = error

        if not should_restart(spec.restart, normal):
            log = self.log.info if normal else self.log.warning
            log(
                "child_exited",
                child=spec.id,
                incarnation=child.incarnation,
                normal=normal,
                phase=phase,
                error=error,
                restart=spec.restart.value,
            )
            if spec.restart is Restart.TEMPORARY:
                del self._children[spec.id]
            else:
                child.state = "stopped"
            return

        allowed = self._window.record(now)
        in_window = self._window.count(now)
        log = self.log.warning if in_window < self._window.intensity else self.log.error
        log(
            "child_failed" if not normal else "child_exited",
            child=spec.id,
            incarnation=child.incarnation,
            normal=normal,
            phase=phase,
            error=error,
            restarts=child.starts - 1,
            restarts_in_window=in_window,
            intensity=self._window.intensity,
            period=self._window.period,
        )
        if not allowed:
            self._escalate(spec.id, in_window)

        ids = affected_children(self.strategy, list(self._children), spec.id)
        for sibling_id in reversed(ids):
            sibling = self._children[sibling_id]
            if sibling is not child and sibling.ref is not None:
                self._stop_child(sibling)
        group: list[_Child] = []
        for sibling_id in ids:
            sibling = self._children[sibling_id]
            if sibling is not child:
                if sibling.state == "stopped":
                    continue  # a transient child that finished stays finished
                if sibling.spec.restart is Restart.TEMPORARY:
                    del self._children[sibling_id]
                    continue
            group.append(sibling)

        delay = 0.0
        if spec.backoff is not None:
            child.attempt = next_attempt(child.attempt, uptime, spec.backoff)
            delay = backoff_delay(spec.backoff, child.attempt, self._random())
            child.attempt += 1
        self._schedule(group, delay)
        self.log.info(
            "child_restart_scheduled",
            child=spec.id,
            delay=round(delay, 3),
            attempt=child.attempt,
            strategy=self.strategy.value,
            restarting=[c.spec.id for c in group],
        )
        self.ctx.bus.publish(
            Lifecycle(spec.id, child.incarnation, "restart_scheduled", error, delay)
        )

    def _schedule(self, group: list[_Child], delay: float) -> None:
        token = next(self._tokens)
        replaced = {c.pending for c in group if c.pending is not None}
        for child in group:
            child.pending = token
            child.state = "restarting"
        still_used = {c.pending for c in self._children.values()}
        for old in replaced - still_used:
            timer = self._timers.pop(old, None)
            if timer is not None:
                timer.cancel()
        message = _RestartDue(token)
        if delay > 0:
            self._timers[token] = self.ctx.clock.call_later(
                delay, _TellLater(self.actor_ref, message)
            )
        else:
            # Through the inbox rather than a loop, so notices are served between
            # attempts (as OTP does) and setup never spins.
            self.actor_ref.tell(message)

    def _escalate(self, child_id: str, in_window: int) -> None:
        reason = (
            f"{child_id} exceeded {self._window.intensity} restarts "
            f"in {self._window.period}s"
        )
        self._stop_all_children()
        log = self.log.critical if self.parent is None else self.log.error
        log(
            "supervisor_escalated",
            supervisor=self.name,
            child=child_id,
            restarts_in_window=in_window,
            intensity=self._window.intensity,
            period=self._window.period,
        )
        self.ctx.bus.publish(
            Lifecycle(self.name, self.incarnation, "escalated", reason)
        )
        self._call_on_escalate(reason)
        raise SupervisorEscalated(reason)

    def _call_on_escalate(self, reason: str) -> None:
        if self._on_escalate is None or self._escalate_called:
            return
        self._escalate_called = True
        try:
            self._on_escalate(reason)
        except BaseException as exc:
            self.log.error("on_escalate_failed", error=summarize(exc), exc_info=exc)

    # --- liveness ---------------------------------------------------------------------

    def _liveness_timeout_of(self, spec: ChildSpec) -> float:
        timeout = self._liveness_timeout
        if spec.liveness_timeout is not None:
            timeout = spec.liveness_timeout
        if issubclass(spec.actor_class, Supervisor):
            # A supervisor legitimately blocks while it stops and starts children.
            timeout += effective_start_timeout(spec) + effective_shutdown(spec)
        return timeout

    def _overdue(self, child: _Child, now: float) -> float | None:
        """Seconds the current incarnation's liveness Ping has waited, if too long."""
        probe = self._probes.get(child.spec.id)
        if probe is None or probe.urn != child.urn or child.state != "running":
            return None
        waited = now - probe.sent_at
        if waited < self._liveness_timeout_of(child.spec) or probe.answered():
            return None
        return waited

    def _check_liveness(self) -> None:
        """One liveness round (this supervisor's thread; never blocks on a child)."""
        now = time.monotonic()
        for child in list(self._children.values()):
            if self._children.get(child.spec.id) is not child:
                continue  # dropped by an earlier hang's restart in this round
            ref, urn = child.ref, child.urn
            if child.state != "running" or ref is None or urn is None:
                self._probes.pop(child.spec.id, None)
                continue
            waited = self._overdue(child, now)
            if waited is not None:
                self._probes.pop(child.spec.id, None)
                self._child_hung(child, waited)
                continue
            probe = self._probes.get(child.spec.id)
            if probe is not None and probe.urn == urn and not probe.answered():
                continue  # still within its timeout
            try:
                reply = ref.ask(Ping(), block=False)
            except pykka.ActorDeadError:
                self._probes.pop(child.spec.id, None)
                continue  # it ended; its ChildExited is on the way
            self._probes[child.spec.id] = _Probe(urn, reply, now)

    def _child_hung(self, child: _Child, waited: float) -> None:
        """Abandon the hung incarnation of `child` and apply the restart policy.

        Raises SupervisorEscalated when the restart intensity is exceeded.
        """
        spec, ref, urn = child.spec, child.ref, child.urn
        assert ref is not None and urn is not None
        reason = f"hung: no answer to a liveness ping for {waited:.1f}s"
        self.log.error(
            "child_hung",
            child=spec.id,
            incarnation=child.incarnation,
            unanswered_for=round(waited, 3),
            liveness_timeout=self._liveness_timeout_of(spec),
            inbox_depth=inbox_depth(ref),
        )
        # Any notice it sends if it ever ends is expected; it acts no more.
        self._expected.add(urn)
        self.ctx.directory.abandon(spec.id, ref)
        self.ctx.bus.publish(Lifecycle(spec.id, child.incarnation, "hung", reason))
        if issubclass(spec.actor_class, Supervisor):
            self._stop_orphans(spec)
        self._child_down(child, normal=False, phase="run", error=reason)

    def _stop_orphans(self, spec: ChildSpec) -> None:
        """Stop the children of an abandoned supervisor child, in reverse order,
        each within its own shutdown deadline (a responsive nested supervisor takes
        its own subtree down)."""
        children = spec.options.get("children", ())
        assert isinstance(children, Sequence)
        for orphan in reversed(children):
            ref = self.ctx.directory.lookup(orphan.id)
            if ref is None or not ref.is_alive():
                continue
            deadline = effective_shutdown(orphan)
            try:
                ref.stop(block=True, timeout=deadline)
            except pykka.Timeout:
                self.log.error(
                    "orphan_shutdown_timeout", child=orphan.id, shutdown=deadline
                )
                self.ctx.directory.abandon(orphan.id, ref)

    # --- stopping ---------------------------------------------------------------------

    def _stop_all_children(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for child in reversed(list(self._children.values())):
            child.pending = None
            if child.ref is not None:
                self._stop_child(child)
            if child.state != "stopped":
                child.state = "restarting"

    def _stop_child(self, child: _Child) -> None:
        """Stop the running incarnation within its deadline; its exit is expected."""
        ref, urn = child.ref, child.urn
        child.ref = child.urn = None
        child.started_at = None
        child.state = "restarting"
        if ref is None or urn is None:
            return
        self._expected.add(urn)
        deadline = effective_shutdown(child.spec)
        try:
            ref.stop(block=True, timeout=deadline)
        except pykka.Timeout:
            reason = f"missed its {deadline}s shutdown deadline"
            self.log.error(
                "child_shutdown_timeout",
                child=child.spec.id,
                incarnation=child.incarnation,
                shutdown=deadline,
            )
            self.ctx.bus.publish(
                Lifecycle(child.spec.id, child.incarnation, "abandoned", reason)
            )

    # --- queries ----------------------------------------------------------------------

    def _which_children(self) -> tuple[ChildInfo, ...]:
        infos = []
        now = time.monotonic()
        for child in self._children.values():
            ref = child.ref
            depth = inbox_depth(ref) if ref is not None else 0
            hung = self._overdue(child, now) is not None
            infos.append(
                ChildInfo(
                    id=child.spec.id,
                    state="hung" if hung else child.state,
                    alive=ref is not None and ref.is_alive(),
                    incarnation=child.incarnation,
                    restarts=max(0, child.starts - 1),
                    last_failure=child.last_failure,
                    inbox_depth=depth,
                    supervisor=issubclass(child.spec.actor_class, Supervisor),
                )
            )
        return tuple(infos)

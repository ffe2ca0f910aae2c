"""The `notifier` actor: delivers the durable outbox by e-mail, SMS and voice call.

Rows come from `arpi.notify.outbox` (queued inside the transaction of the event).
The notifier reads the pending rows at start, on `NotificationsQueued` and every
`poll_interval` seconds, and delivers each on its own lane so that no channel can
delay another:

- e-mail on the notifier's own worker threads (smtplib, `smtp_timeout` per step);
- SMS and calls through the `gsm` actor, one request at a time (one modem), asked
  without blocking: the reply comes back as a message. A request unanswered after
  `gsm_timeout` seconds counts as a failed try.

Every outcome is written through the `storage` actor (`Transact`), again without
blocking. A failed try is retried after `retry_base * retry_factor**(n-1)` seconds
(capped at `retry_max`) per target; after `max_attempts` tries the row is `failed`,
`notification_failed` is logged and `UiEvent("notification_failed", {...})` is
published. A row stays in memory until its final state is committed, so a re-read
never sends it twice. Delivery is at least once: a crash after a send and before
its commit repeats that one message after the restart (e-mails keep their
Message-ID, so mail clients show one).

A call answered with "1" acknowledges the alarm and skips the other call of the
same event; another code typed during the call is checked as an access code under
the wrong-code limiter (F8) and, when right, disarms through the `alarm` actor.

PostgreSQL down is handled trouble, never a crash (the notifier shares `core` with
the alarm): a read that cannot reach the server logs `notifier_database_unavailable`
(WARNING) once per outage, keeps every row and the options it holds, and is retried
on the notifier's own timer (`db_retry` seconds, doubling up to `db_retry_max`). It
reads again at once on `NotificationsQueued`, when `storage` publishes
`Lifecycle(started)` and when a write commits; the first read that succeeds logs
`notifier_database_available` and delivery resumes. This holds at start too: a
notifier started without a database runs and waits for it. A code typed during a
call that cannot be checked meanwhile counts as a plain answer (`call_code_unchecked`).

All timers run on `ctx.clock`; no handler sleeps or waits for another actor.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg2
import pykka

from arpi.actors import Actor, ActorUnavailable, Lifecycle
from arpi.actors.gsm import CallReport, PlaceCall, SendSms, SmsReport
from arpi.alarm.messages import Disarm, ReloadConfig
from arpi.bus import ConfigChanged, UiEvent
from arpi.db.storage import submit
from arpi.drivers.gsm import mask_number
from arpi.http.limiter import AttemptLimiter, LimiterEvent, security_warning
from arpi.notify import outbox
from arpi.notify.calls import CallVerdict, judge_keys, user_by_access_code
from arpi.notify.email import (
    Connections,
    EmailError,
    build_message,
    message_id_for,
    send_email,
)
from arpi.notify.outbox import OutboxRow
from arpi.notify.subscriptions import NotificationConfig, load_config
from arpi.notify.texts import ALERT_TONES, TEST_TONES, render

__all__ = [
    "NotificationsQueued",
    "Notifier",
    "PlaceTestCall",
    "ReloadNotifications",
    "SendTestEmail",
    "SendTestSms",
    "TestReport",
]


# -- public messages -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NotificationsQueued:
    """Tell after committing `enqueue_notifications`: deliver what is now pending."""

    event_key: str = ""


@dataclass(frozen=True, slots=True)
class ReloadNotifications:
    """Notification options changed: re-read SMTP, GSM, subscriptions, location.

    The notifier also reloads by itself on `arpi.bus.ConfigChanged` naming one of
    `CONFIG_KINDS`."""


# The `ConfigChanged` kinds (options as "name/section") the notifier's config is
# built from (`arpi.notify.subscriptions.load_config`).
CONFIG_KINDS = frozenset(
    {
        "notifications/smtp",
        "notifications/gsm",
        "notifications/subscriptions",
        "system/location",
    }
)


@dataclass(frozen=True, slots=True)
class TestReport:
    """A test action's answer: HTTP `status` (200 or 500) and the JSON `body`.

    Bodies as reference-web-api 2.10: `{"message": "" | "<error>", "email1"?,
    "email2"?, "connection"?}` for e-mail, `phone1` / `phone2` for SMS and calls.
    """

    status: int
    body: dict[str, Any]


def _reply_future() -> Future[TestReport]:
    return Future()


@dataclass(frozen=True)
class SendTestEmail:
    """Send the test e-mail to addresses 1 and 2; `reply` gets a `TestReport`.

    Tell it (never ask): the notifier completes `reply` when the sends are over.
    On the loop: `await asyncio.wrap_future(message.reply)` under a timeout.
    """

    reply: Future[TestReport] = field(default_factory=_reply_future, compare=False)


@dataclass(frozen=True)
class SendTestSms:
    """As `SendTestEmail`, by SMS to phone numbers 1 and 2."""

    reply: Future[TestReport] = field(default_factory=_reply_future, compare=False)


@dataclass(frozen=True)
class PlaceTestCall:
    """As `SendTestEmail`, a call with the test tone to phone numbers 1 and 2."""

    reply: Future[TestReport] = field(default_factory=_reply_future, compare=False)


# -- internal messages -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Wake:
    """A row may be due, or the periodic poll."""

    poll: bool = False


@dataclass(frozen=True, slots=True)
class _DbRetry:
    """Try the database again after an outage."""


@dataclass(frozen=True, slots=True)
class _StorageStarted:
    """A new `storage` incarnation runs: the database may be back."""


class _DatabaseUnavailable(Exception):
    """PostgreSQL could not be reached for a read (handled: the notifier stays up)."""


@dataclass(frozen=True, slots=True)
class _EmailDone:
    row_id: int
    token: int
    error: str | None


@dataclass(frozen=True, slots=True)
class _GsmReplied:
    token: int
    future: Any


@dataclass(frozen=True, slots=True)
class _GsmDeadline:
    token: int


@dataclass(frozen=True, slots=True)
class _Written:
    token: int
    future: Any


@dataclass(frozen=True, slots=True)
class _RetryWrite:
    token: int


@dataclass(frozen=True, slots=True)
class _TestEmailDone:
    reply: Future
    results: dict[str, str | None]  # target -> error (None = sent)
    connection: bool


# -- bookkeeping ---------------------------------------------------------------------


@dataclass
class _Entry:
    row: OutboxRow
    attempts: int
    due: float  # monotonic
    state: str = "waiting"  # waiting | sending | final (awaiting its commit)
    token: int = 0


@dataclass
class _GsmJob:
    token: int
    message: object
    entry: _Entry | None = None  # an outbox row, or None for a test
    test: _GsmTest | None = None
    target: str = ""
    timed_out: bool = False
    handle: Any = None


@dataclass
class _GsmTest:
    reply: Future
    kind: str  # "sms" | "call"
    pending: int
    results: dict[str, bool] = field(default_factory=dict)
    connection: bool = True


@dataclass
class _Write:
    fn: Callable[[Any], Any]
    on_done: Callable[[], None] | None
    what: str
    tries: int = 0
    retry: Any = None  # the timer of a failed write's next try


_FAIL_MESSAGES = {
    "email": "Error in email sending!",
    "sms": "Error in SMS sending!",
    "call": "Error in calling!",
}


class Notifier(Actor):
    """See the module docstring. Runs under `core` as `notifier`.

    Options (all optional): `smtp_timeout` (30 s), `gsm_timeout` (180 s),
    `retry_base` (10 s), `retry_factor` (2), `retry_max` (600 s), `max_attempts`
    (8), `poll_interval` (60 s), `call_listen` (20 s), `email_workers` (2),
    `db_retry` (1 s) / `db_retry_max` (30 s) (reads during an outage),
    `db_connect_timeout` (2 s), `storage` / `gsm` / `alarm` (actor names),
    `limiter` (an AttemptLimiter to share; by default a private one named
    "phone"), `tz` (tzinfo for texts).
    """

    # -- life cycle ---------------------------------------------------------------

    def setup(self) -> None:
        opt = self.options
        self._smtp_timeout = float(opt.get("smtp_timeout", 30.0))
        self._gsm_timeout = float(opt.get("gsm_timeout", 180.0))
        self._retry_base = float(opt.get("retry_base", 10.0))
        self._retry_factor = float(opt.get("retry_factor", 2.0))
        self._retry_max = float(opt.get("retry_max", 600.0))
        self._max_attempts = int(opt.get("max_attempts", 8))  # type: ignore[call-overload]
        self._poll_interval = float(opt.get("poll_interval", 60.0))
        self._listen = float(opt.get("call_listen", 20.0))
        self._db_retry_base = float(opt.get("db_retry", 1.0))
        self._db_retry_max = float(opt.get("db_retry_max", 30.0))
        self._db_connect_timeout = float(opt.get("db_connect_timeout", 2.0))
        self._storage = str(opt.get("storage", "storage"))
        self._gsm = str(opt.get("gsm", "gsm"))
        self._alarm = str(opt.get("alarm", "alarm"))
        self._tz = opt.get("tz")
        limiter = opt.get("limiter")
        self._limiter = (
            limiter
            if limiter is not None
            else AttemptLimiter(
                self.ctx.clock, on_event=self._limiter_event, name="phone"
            )
        )

        self._tokens = itertools.count(1)
        self._entries: dict[int, _Entry] = {}
        self._gsm_job: _GsmJob | None = None
        self._gsm_tests: list[_GsmJob] = []
        self._writes: dict[int, _Write] = {}
        self._wake_handle: Any = None
        self._wake_at: float | None = None
        self._poll_handle: Any = None
        self._executor: ThreadPoolExecutor | None = ThreadPoolExecutor(
            max_workers=int(opt.get("email_workers", 2)),  # type: ignore[call-overload]
            thread_name_prefix=f"arpi-{self.name}-smtp",
        )
        self._connections = Connections()
        if self.ctx.db is None:
            raise RuntimeError("no database configured")
        self._conn: Any = None  # connected by the first read
        self._config: NotificationConfig | None = None  # None until first read
        self._config_stale = True
        self._db_down = False
        self._db_delay = self._db_retry_base
        self._db_retry_handle: Any = None
        # Subscribed before the first read: a change committed meanwhile only
        # causes one more (harmless) reload.
        self.ctx.bus.subscribe(ConfigChanged, self._on_config_changed)
        self.ctx.bus.subscribe(Lifecycle, self._on_lifecycle)
        self._subscribed = True
        self._refresh()
        self._pump()
        self._poll_handle = self.tell_self_later(self._poll_interval, _Wake(poll=True))

    def release(self) -> None:
        if getattr(self, "_subscribed", False):
            self.ctx.bus.unsubscribe(ConfigChanged, self._on_config_changed)
            self.ctx.bus.unsubscribe(Lifecycle, self._on_lifecycle)
        for handle in (
            self._wake_handle,
            self._poll_handle,
            getattr(self, "_db_retry_handle", None),
            *(w.retry for w in getattr(self, "_writes", {}).values()),
        ):
            if handle is not None:
                handle.cancel()
        job = getattr(self, "_gsm_job", None)
        if job is not None and job.handle is not None:
            job.handle.cancel()
        connections = getattr(self, "_connections", None)
        if connections is not None:
            connections.abort_all()
        executor = getattr(self, "_executor", None)
        if executor is not None:
            self._executor = None
            # Worker threads end by themselves within the SMTP timeout; a stalled
            # server must not hold up a restart.
            executor.shutdown(wait=False, cancel_futures=True)
        conn = getattr(self, "_conn", None)
        if conn is not None:
            try:
                conn.close()
            except Exception as exc:  # noqa: BLE001 - closing must not raise in release
                self.log.warning("notifier_db_close_failed", error=str(exc))
        for test in [*getattr(self, "_gsm_tests", [])]:
            if test.test is not None and not test.test.reply.done():
                test.test.reply.set_result(
                    TestReport(
                        500, {"message": "notifier stopped", "connection": False}
                    )
                )

    # -- dispatch -------------------------------------------------------------------

    def handle(self, message: object) -> object:
        if isinstance(message, NotificationsQueued | _Wake):
            if isinstance(message, _Wake) and message.poll:
                self._poll_handle = self.tell_self_later(
                    self._poll_interval, _Wake(poll=True)
                )
            if isinstance(message, NotificationsQueued) or (
                isinstance(message, _Wake) and message.poll
            ):
                self._refresh()
            self._pump()
        elif isinstance(message, _DbRetry):
            self._db_retry_handle = None
            self._refresh()
            self._pump()
        elif isinstance(message, _StorageStarted):
            self._storage_started()
        elif isinstance(message, _EmailDone):
            self._email_done(message)
        elif isinstance(message, _GsmReplied):
            self._gsm_replied(message)
        elif isinstance(message, _GsmDeadline):
            self._gsm_deadline(message)
        elif isinstance(message, _Written):
            self._written(message)
        elif isinstance(message, _RetryWrite):
            write = self._writes.get(message.token)
            if write is not None:
                write.retry = None
            self._submit_write(message.token)
        elif isinstance(message, ReloadNotifications | ReloadConfig):
            self._config_stale = True  # kept (and retried) while the DB is down
            self._refresh()
            self._pump()
        elif isinstance(message, SendTestEmail):
            self._test_email(message.reply)
        elif isinstance(message, _TestEmailDone):
            self._test_email_done(message)
        elif isinstance(message, SendTestSms):
            self._test_gsm(message.reply, "sms")
        elif isinstance(message, PlaceTestCall):
            self._test_gsm(message.reply, "call")
        else:
            return super().handle(message)
        return None

    def _on_config_changed(self, event: ConfigChanged) -> None:
        """Bus callback (publisher's thread): queue a reload of the options the
        notifier uses; the reload itself runs on the notifier's thread."""
        if not event.kinds.isdisjoint(CONFIG_KINDS):
            _tell(self.actor_ref, ReloadNotifications())

    def _on_lifecycle(self, event: Lifecycle) -> None:
        """Bus callback (publisher's thread): a new `storage` may mean the database
        is back; only tells."""
        if event.kind == "started" and event.name == self._storage:
            _tell(self.actor_ref, _StorageStarted())

    # -- reading ----------------------------------------------------------------------

    def _read(self, fn: Callable[[Any], Any]) -> Any:
        """Run `fn(cursor)` on the notifier's own autocommit connection.

        Connects if needed and reconnects once when the connection broke. Raises
        `_DatabaseUnavailable` when PostgreSQL cannot be reached (the connection
        is dropped; the next read connects again); other errors propagate. Blocks
        up to `db_connect_timeout` per connect, on the notifier's thread.
        """
        for attempt in (1, 2):
            fresh = self._conn is None or self._conn.closed
            try:
                if fresh:
                    self._conn = None
                    conn = self.ctx.db.connect(
                        application_name=f"arpi-{self.name}",
                        connect_timeout=self._db_connect_timeout,
                    )
                    conn.autocommit = True
                    self._conn = conn
                with self._conn.cursor() as cur:
                    return fn(cur)
            except psycopg2.Error as exc:
                lost = isinstance(
                    exc, psycopg2.OperationalError | psycopg2.InterfaceError
                ) or (self._conn is None or self._conn.closed)
                if not lost:
                    raise
                self._drop_connection()
                if attempt == 2 or fresh:
                    detail = str(exc).strip().splitlines()
                    raise _DatabaseUnavailable(
                        f"{type(exc).__name__}: {detail[0] if detail else ''}"
                    ) from exc
                self.log.info("notifier_db_reconnect", error=type(exc).__name__)
        raise AssertionError("unreachable")

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception as exc:  # noqa: BLE001 - a broken connection may fail to close
                self.log.debug("notifier_db_close_failed", error=str(exc))

    def _refresh(self) -> bool:
        """Read the options (when stale) and the pending rows.

        Returns False when PostgreSQL cannot be reached: what is in memory is kept,
        the outage is logged once and a retry is armed on `ctx.clock`.
        """
        try:
            if self._config_stale:
                reload = self._config is not None
                self._config = self._read(load_config)
                self._config_stale = False
                if reload:
                    self.log.info("notifier_config_reloaded")
            self._load_pending()
        except _DatabaseUnavailable as exc:
            self._database_down(exc)
            return False
        self._database_up()
        return True

    def _database_down(self, exc: _DatabaseUnavailable) -> None:
        if not self._db_down:
            self._db_down = True
            self._db_delay = self._db_retry_base
            self.log.warning(
                "notifier_database_unavailable",
                error=str(exc),
                retry_in=self._db_delay,
                pending=len(self._entries),
            )
        if self._db_retry_handle is None:
            self._db_retry_handle = self.tell_self_later(self._db_delay, _DbRetry())
            self._db_delay = min(self._db_delay * 2.0, self._db_retry_max)

    def _database_up(self) -> None:
        if self._db_retry_handle is not None:
            self._db_retry_handle.cancel()
            self._db_retry_handle = None
        self._db_delay = self._db_retry_base
        if self._db_down:
            self._db_down = False
            self.log.info("notifier_database_available", pending=len(self._entries))

    def _storage_started(self) -> None:
        """Try a waiting read and every waiting write now instead of at their timers."""
        for token, write in list(self._writes.items()):
            if write.retry is not None:
                write.retry.cancel()
                write.retry = None
                self._submit_write(token)
        if self._db_down or self._config_stale:
            self._refresh()
            self._pump()

    def _load_pending(self) -> None:
        rows = self._read(outbox.pending_rows)
        now, wall = self.ctx.clock.monotonic(), self.ctx.clock.wall()
        for row in rows:
            if row.id in self._entries:
                continue  # known: in flight, waiting, or final and not yet committed
            wait = 0.0
            if row.attempts > 0:
                wait = max(0.0, (row.next_attempt_at - wall).total_seconds())
            self._entries[row.id] = _Entry(row, row.attempts, now + wait)

    # -- the pump --------------------------------------------------------------------

    def _pump(self) -> None:
        """Start every due delivery its lane can take; re-arm the wake-up timer."""
        if self._config is None:
            return  # nothing was read yet (the database is down): nothing to send
        now = self.ctx.clock.monotonic()
        next_due: float | None = None
        for entry in sorted(self._entries.values(), key=lambda e: e.row.id):
            if entry.state != "waiting":
                continue
            if entry.due > now:
                next_due = entry.due if next_due is None else min(next_due, entry.due)
                continue
            if entry.row.channel == "email":
                self._send_email(entry)
            elif self._gsm_job is None:
                self._send_gsm(entry)
        if self._gsm_job is None and self._gsm_tests:
            self._start_gsm_job(self._gsm_tests.pop(0))
        self._arm_wake(next_due)

    def _arm_wake(self, due: float | None) -> None:
        if due is None or (
            self._wake_at is not None
            and self._wake_at <= due
            and self._wake_at > self.ctx.clock.monotonic()
        ):
            return
        if self._wake_handle is not None:
            self._wake_handle.cancel()
        self._wake_at = due
        self._wake_handle = self.tell_self_at(due, _Wake())

    # -- e-mail --------------------------------------------------------------------

    def _send_email(self, entry: _Entry) -> None:
        row = entry.row
        smtp = self._config.smtp
        if not smtp.usable or self._executor is None:
            self._failed(entry, "SMTP is disabled or has no server")
            return
        entry.state = "sending"
        entry.token = next(self._tokens)
        message = build_message(
            smtp,
            row.address,
            row.subject or "[arpi] notification",
            row.body,
            date=self.ctx.clock.wall(),
            message_id=message_id_for(row.id, row.created_at, self._sender()),
        )
        timeout = self._smtp_timeout
        connections = self._connections
        ref = self.actor_ref
        token = entry.token

        def work() -> None:
            error: str | None = None
            try:
                send_email(smtp, message, timeout=timeout, connections=connections)
            except EmailError as exc:
                error = str(exc)
            # the outcome of a try must never be lost
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
            _tell(ref, _EmailDone(row.id, token, error))

        self._executor.submit(work)

    def _sender(self) -> str:
        from arpi.notify.email import sender_of

        return sender_of(self._config.smtp)

    def _email_done(self, message: _EmailDone) -> None:
        entry = self._entries.get(message.row_id)
        if entry is None or entry.token != message.token or entry.state != "sending":
            return
        if message.error is None:
            self._succeeded(entry)
        else:
            self._failed(entry, message.error)
        self._pump()

    # -- GSM -------------------------------------------------------------------------

    def _send_gsm(self, entry: _Entry) -> None:
        row = entry.row
        if not self._config.gsm.enabled:
            self._failed(entry, "GSM is disabled")
            return
        if row.channel == "sms":
            message: object = SendSms(row.address, row.body, key=f"outbox:{row.id}")
        else:
            message = PlaceCall(row.address, ALERT_TONES, self._listen)
        entry.state = "sending"
        entry.token = next(self._tokens)
        self._start_gsm_job(
            _GsmJob(entry.token, message, entry=entry, target=row.target)
        )

    def _start_gsm_job(self, job: _GsmJob) -> None:
        self._gsm_job = job
        job.handle = self.tell_self_later(self._gsm_timeout, _GsmDeadline(job.token))
        ref = self.ctx.directory.lookup(self._gsm)
        ask_future = None
        if ref is not None:
            try:
                ask_future = ref.ask(job.message, block=False)
            except pykka.ActorDeadError:
                ask_future = None
        if ask_future is None:
            failed: Future = Future()
            failed.set_exception(RuntimeError("the gsm actor is not running"))
            self.actor_ref.tell(_GsmReplied(job.token, failed))
            return
        ref_self = self.actor_ref
        token = job.token
        ask_future.add_done_callback(lambda f: _tell(ref_self, _GsmReplied(token, f)))

    def _gsm_replied(self, message: _GsmReplied) -> None:
        job = self._gsm_job
        if job is None or job.token != message.token:
            return
        self._gsm_job = None
        if job.handle is not None:
            job.handle.cancel()
        try:
            reply = _result(message.future)
            error = None
        except Exception as exc:  # noqa: BLE001 - a failed ask carries any exception
            reply, error = None, f"gsm actor: {type(exc).__name__}: {exc}"
        if job.test is not None:
            self._gsm_test_result(job, reply, error)
        elif job.entry is not None:
            self._gsm_row_result(job, reply, error)
        self._pump()

    def _gsm_deadline(self, message: _GsmDeadline) -> None:
        job = self._gsm_job
        if job is None or job.token != message.token or job.timed_out:
            return
        # The lane stays busy until the gsm actor answers (or dies): a second
        # request would only queue behind the first in its inbox.
        job.timed_out = True
        self.log.warning("gsm_request_timed_out", target=job.target)
        if job.entry is not None and job.entry.state == "sending":
            self._failed(
                job.entry, f"modem gave no answer within {self._gsm_timeout:g} s"
            )
        elif job.test is not None:
            self._gsm_test_result(job, None, "modem gave no answer")
            job.test = None
        self._pump()

    def _gsm_row_result(self, job: _GsmJob, reply: Any, error: str | None) -> None:
        entry = job.entry
        assert entry is not None
        if job.timed_out:
            # Counted as failed already; if it went out after all, record that.
            if entry.state == "waiting" and _gsm_ok(reply):
                self.log.info("notification_sent_late", target=entry.row.target)
                self._succeeded(entry)
            return
        if error is not None:
            self._failed(entry, error)
        elif isinstance(reply, SmsReport):
            if reply.ok:
                self._succeeded(entry)
            else:
                self._failed(entry, reply.error or "SMS not sent")
        elif isinstance(reply, CallReport):
            self._call_result(entry, reply)
        else:
            self._failed(entry, f"unexpected gsm reply {type(reply).__name__}")

    def _call_result(self, entry: _Entry, report: CallReport) -> None:
        if not report.ok:
            self._failed(entry, report.error or "call failed")
            return
        if not report.answered:
            self._failed(entry, f"call not answered ({report.outcome or 'no answer'})")
            return
        try:
            verdict = judge_keys(
                report.keys, entry.row.target, self._limiter, self._lookup
            )
        except _DatabaseUnavailable as exc:
            # Neither right nor wrong: the code cannot be checked now.
            self._database_down(exc)
            self.log.warning(
                "call_code_unchecked",
                target=entry.row.target,
                event_key=entry.row.event_key,
            )
            verdict = CallVerdict("answered")
        self._log_verdict(entry, verdict)
        skip: list[int] = []
        if verdict.stops_other_call:
            skip = [
                other.row.id
                for other in self._entries.values()
                if other is not entry
                and other.row.event_key == entry.row.event_key
                and other.row.channel == "call"
                and other.state == "waiting"
            ]
        if verdict.outcome == "disarmed":
            self.address(self._alarm).tell(Disarm(user_id=verdict.user_id))
        self._succeeded(
            entry, skip=skip, reason=f"{entry.row.target} {verdict.outcome}"
        )

    def _lookup(self, code: str) -> int | None:
        return self._read(lambda cur: user_by_access_code(cur, code))

    def _log_verdict(self, entry: _Entry, verdict: CallVerdict) -> None:
        row = entry.row
        fields = {"target": row.target, "event_key": row.event_key}
        if verdict.outcome == "acknowledged":
            self.log.info("call_acknowledged", **fields)
        elif verdict.outcome == "disarmed":
            self.log.info("call_disarmed", user_id=verdict.user_id, **fields)
        elif verdict.outcome == "wrong_code":
            self.log.warning("call_wrong_code", **fields)
        elif verdict.outcome == "refused":
            self.log.warning(
                "call_code_refused", retry_after=round(verdict.retry_after, 1), **fields
            )

    def _limiter_event(self, event: LimiterEvent) -> None:
        self.ctx.bus.publish(security_warning(event))

    # -- outcomes ----------------------------------------------------------------------

    def _succeeded(
        self, entry: _Entry, *, skip: list[int] | None = None, reason: str = ""
    ) -> None:
        row = entry.row
        entry.attempts += 1
        entry.state = "final"
        attempts, at = entry.attempts, self.ctx.clock.wall()
        skip = list(skip or [])
        for other in skip:
            self._entries[other].state = "final"

        def write(cur: Any) -> None:
            outbox.record_sent(cur, row.id, attempts, at)
            outbox.record_skipped(cur, skip, reason)

        def committed() -> None:
            self._entries.pop(row.id, None)
            for other in skip:
                self._entries.pop(other, None)

        self.log.info(
            "notification_sent",
            target=row.target,
            kind=row.kind,
            event_key=row.event_key,
            attempts=attempts,
            skipped=len(skip),
        )
        self._write(write, committed, "sent")

    def _failed(self, entry: _Entry, error: str) -> None:
        row = entry.row
        entry.attempts += 1
        attempts = entry.attempts
        give_up = attempts >= self._max_attempts
        delay = outbox.backoff_delay(
            attempts, self._retry_base, self._retry_factor, self._retry_max
        )
        next_at = self.ctx.clock.wall() + timedelta(seconds=delay)

        def write(cur: Any) -> None:
            outbox.record_failure(
                cur, row.id, attempts, error, next_at, give_up=give_up
            )

        if give_up:
            entry.state = "final"
            self.log.error(
                "notification_failed",
                target=row.target,
                kind=row.kind,
                event_key=row.event_key,
                attempts=attempts,
                error=error,
            )
            self.ctx.bus.publish(
                UiEvent(
                    "notification_failed",
                    {
                        "id": row.id,
                        "target": row.target,
                        "channel": row.channel,
                        "kind": row.kind,
                        "event_key": row.event_key,
                        "attempts": attempts,
                        "error": error,
                    },
                    coalesce=False,
                )
            )
            self._write(write, lambda: self._entries.pop(row.id, None), "failed")
            return
        entry.state = "waiting"
        entry.due = self.ctx.clock.monotonic() + delay
        self.log.warning(
            "notification_retry",
            target=row.target,
            kind=row.kind,
            event_key=row.event_key,
            attempts=attempts,
            retry_in=delay,
            error=error,
        )
        self._write(write, None, "retry")

    # -- writes through storage ----------------------------------------------------

    def _write(
        self, fn: Callable[[Any], Any], on_done: Callable[[], None] | None, what: str
    ) -> None:
        token = next(self._tokens)
        self._writes[token] = _Write(fn, on_done, what)
        self._submit_write(token)

    def _submit_write(self, token: int) -> None:
        write = self._writes.get(token)
        if write is None:
            return
        write.tries += 1
        try:
            future = submit(
                self.address(self._storage), write.fn, f"notify_{write.what}"
            )
        except ActorUnavailable as exc:
            future = Future()
            future.set_exception(exc)
        me = self.actor_ref
        future.add_done_callback(lambda f: _tell(me, _Written(token, f)))

    def _written(self, message: _Written) -> None:
        write = self._writes.get(message.token)
        if write is None:
            return
        try:
            _result(message.future)
        except Exception as exc:  # noqa: BLE001 - a failed write carries any exception
            delay = min(30.0, 0.5 * 2 ** min(write.tries, 6))
            self.log.warning(
                "notification_write_failed",
                what=write.what,
                tries=write.tries,
                retry_in=delay,
                error=f"{type(exc).__name__}: {exc}",
            )
            write.retry = self.tell_self_later(delay, _RetryWrite(message.token))
            return
        del self._writes[message.token]
        if write.on_done is not None:
            write.on_done()
        if self._db_down:
            # A commit went through: the database answers again.
            self._refresh()
            self._pump()

    # -- test actions ------------------------------------------------------------------

    def _test_texts(self) -> Any:
        return render(
            "test", {"at": self.ctx.clock.wall()}, self._config.location, self._tz
        )

    def _test_email(self, reply: Future) -> None:
        if self._config is None:
            reply.set_result(
                TestReport(
                    500, {"message": _FAIL_MESSAGES["email"], "connection": False}
                )
            )
            return
        config: NotificationConfig = self._config
        smtp = config.smtp
        targets = {
            name: address
            for name, address in zip(("email1", "email2"), smtp.addresses, strict=True)
            if address
        }
        if not smtp.usable or not targets or self._executor is None:
            reply.set_result(
                TestReport(
                    500, {"message": _FAIL_MESSAGES["email"], "connection": False}
                )
            )
            return
        texts = self._test_texts()
        messages = {
            name: build_message(
                smtp, address, texts.subject, texts.body, date=self.ctx.clock.wall()
            )
            for name, address in targets.items()
        }
        timeout = self._smtp_timeout
        connections = self._connections
        me = self.actor_ref

        def work() -> None:
            results: dict[str, str | None] = {}
            connection = False
            for name, email in messages.items():
                try:
                    send_email(smtp, email, timeout=timeout, connections=connections)
                    results[name] = None
                    connection = True
                except EmailError as exc:
                    results[name] = str(exc)
                    connection = connection or "refused" in str(exc)
                except Exception as exc:  # noqa: BLE001 - the outcome of a try must never be lost
                    results[name] = f"{type(exc).__name__}: {exc}"
            _tell(me, _TestEmailDone(reply, results, connection))

        self._executor.submit(work)

    def _test_email_done(self, message: _TestEmailDone) -> None:
        ok = all(error is None for error in message.results.values())
        body: dict[str, Any] = {"message": "" if ok else _FAIL_MESSAGES["email"]}
        for name, error in message.results.items():
            body[name] = error is None
            if error is not None:
                self.log.warning("test_email_failed", target=name, error=error)
        if not message.connection:
            body["connection"] = False
        if not message.reply.done():
            message.reply.set_result(TestReport(200 if ok else 500, body))

    def _test_gsm(self, reply: Future, kind: str) -> None:
        if self._config is None:
            reply.set_result(
                TestReport(500, {"message": _FAIL_MESSAGES[kind], "connection": False})
            )
            return
        gsm = self._config.gsm
        targets = {
            name: number
            for name, number in zip(("phone1", "phone2"), gsm.numbers, strict=True)
            if number
        }
        if not gsm.enabled or not targets:
            reply.set_result(
                TestReport(500, {"message": _FAIL_MESSAGES[kind], "connection": False})
            )
            return
        test = _GsmTest(reply, kind, pending=len(targets))
        texts = self._test_texts()
        for name, number in targets.items():
            message: object = (
                SendSms(number, texts.sms)
                if kind == "sms"
                else PlaceCall(number, TEST_TONES, self._listen)
            )
            self._gsm_tests.append(
                _GsmJob(next(self._tokens), message, test=test, target=name)
            )
        self._pump()

    def _gsm_test_result(self, job: _GsmJob, reply: Any, error: str | None) -> None:
        test = job.test
        if test is None:
            return
        ok = error is None and _gsm_ok(reply)
        if isinstance(reply, CallReport):
            ok = ok and reply.answered
        test.results[job.target] = ok
        if error is not None or (reply is not None and not getattr(reply, "ok", True)):
            test.connection = False
            number = getattr(job.message, "number", "")
            self.log.warning(
                "test_gsm_failed",
                target=job.target,
                number=mask_number(number),
                error=error or getattr(reply, "error", None),
            )
        test.pending -= 1
        if test.pending == 0 and not test.reply.done():
            all_ok = all(test.results.values())
            body: dict[str, Any] = {
                "message": "" if all_ok else _FAIL_MESSAGES[test.kind]
            }
            body.update(test.results)
            if not test.connection:
                body["connection"] = False
            test.reply.set_result(TestReport(200 if all_ok else 500, body))


def _gsm_ok(reply: Any) -> bool:
    if isinstance(reply, SmsReport):
        return reply.ok
    if isinstance(reply, CallReport):
        return reply.ok
    return False


def _result(future: Any) -> Any:
    """The value of a completed pykka or concurrent future; re-raises its error."""
    if isinstance(future, Future):
        return future.result(timeout=0)
    return future.get(timeout=0)


def _tell(ref: pykka.ActorRef[Any], message: object) -> None:
    """Tell an incarnation from a worker thread or callback; dropped if it ended."""
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        pass

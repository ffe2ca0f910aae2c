"""The loop-side web front: Socket.IO server, event bridge from actors, shared state.

Threads: everything here runs on the asyncio loop of the main thread except
`post_threadsafe`, the bus subscriber, which actors call from their own threads.
It only hands the event to the loop with `call_soon_threadsafe`; one drainer task
then emits, so Socket.IO is touched on the loop only (supervision-notes A3.7).

Memory stays bounded when clients are slow or events are many: state snapshots
(`UiEvent.coalesce`) are kept latest-wins per event name (and per area or output
id), and other events sit in a bounded deque. Each client then has python-socketio's
own queue, and the Engine.IO ping timeout drops a client that stopped answering.

Socket authentication (W3): the `token` query parameter must be a device token
whose origin equals the request's `Origin` (or, with no Origin, its `Referer`).
A client may then send the event ``authenticate`` with ``{"user_token": "<jwt>"}``
(or the token as a plain string); the ack is ``{"ok": true, "role": ...,
"expires_in": s}`` or ``{"ok": false, "error": "..."}``. Admin-only events
(`UiEvent.admin_only`, e.g. the live log) go only to sockets authenticated as an
admin whose user token has not yet expired; sending ``authenticate`` again with a
fresh token extends it, ``deauthenticate`` ends it.

Every `output_state_change` is also emitted as `outputs_state_change` (F21);
`outputs_state_change` events published on the bus are dropped, so a client gets
exactly one of each whichever way a publisher sends them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import socketio
import structlog

from arpi.bus import UiEvent
from arpi.db import sql, tables
from arpi.http.asks import ask_actor
from arpi.http.auth import AuthGate, UserCache
from arpi.http.errors import ApiError, dumps
from arpi.http.limiter import AttemptLimiter, LimiterEvent, security_warning
from arpi.http.lockouts import LockoutStore
from arpi.http.origins import OriginPolicy, origin_of
from arpi.http.readpool import ReadPool
from arpi.http.settings import FrontSettings
from arpi.http.store import Store
from arpi.http.tokens import BadToken, TokenIssuer

__all__ = ["SNAPSHOT_EVENTS", "Front"]

log = structlog.get_logger("arpi.http")

# State events a client receives on connect, in this order (areas and outputs are
# per id and follow their aggregate).
SNAPSHOT_EVENTS = (
    "system_state_change",
    "arm_state_change",
    "area_state_change",
    "alert_state_change",
    "syren_state_change",
    "sensors_state_change",
    "sensors_error_change",
    "power_state_change",
    "output_state_change",
)
_PER_ID = ("area_state_change", "output_state_change")
_MAX_BACKLOG = 1000


class Front:
    """What the process runs for the web: build with `build_app`, one per app."""

    def __init__(self, ctx: Any, settings: FrontSettings, *, simulate: bool = False):
        self.ctx = ctx
        self.settings = settings
        self.simulate = simulate
        self.tokens = TokenIssuer(settings.secret, ctx.clock)
        self.origins = OriginPolicy(settings.cors_origins)
        self.lockouts = LockoutStore(ctx)
        self.limiter = AttemptLimiter(
            ctx.clock, on_event=self._limiter_event, on_lockout=self.lockouts.started
        )
        self.reads = ReadPool(ctx.db.connect, settings.read_pool_size)
        self.store = Store(
            ctx, timeout=max(settings.ask_timeout, 10.0), on_write=self.wrote
        )
        self.users = UserCache(self.reads)
        self.auth = AuthGate(self.tokens, self.users)
        self.sio = socketio.AsyncServer(
            async_mode="aiohttp",
            cors_allowed_origins=self._socket_origin_allowed,
            cors_credentials=True,
            ping_interval=settings.ping_interval,
            ping_timeout=settings.ping_timeout,
            max_http_buffer_size=settings.max_body,
            logger=False,
            engineio_logger=False,
        )
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("authenticate", self._on_authenticate)
        self.sio.on("deauthenticate", self._on_deauthenticate)
        self.state: dict[str, Any] = {}
        self.state_by_id: dict[str, dict[Any, Any]] = {n: {} for n in _PER_ID}
        self._admins: dict[str, float] = {}  # sid -> user token expiry (wall s)
        self._pending: dict[tuple[str, Any], UiEvent] = {}
        self._order: deque[tuple[str, Any]] = deque()
        self._backlog: deque[UiEvent] = deque(maxlen=_MAX_BACKLOG)
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drainer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._dropped = 0
        # Events handed over by other threads, taken in order on the loop. One
        # loop wake-up serves every event posted before it runs (an arm publishes
        # six): each wake-up is a syscall and a GIL handoff on the poster's thread.
        self._inbox: deque[UiEvent] = deque()
        self._inbox_scheduled = False
        # Shared reads: requests for the same list join a query already running,
        # but only if nothing was written and no event arrived since it started.
        self.generation = 0
        self._inflight: dict[str, tuple[int, asyncio.Future[str]]] = {}

    # --- lifecycle (loop) ------------------------------------------------------

    async def start(self) -> None:
        """Subscribe to the bus and start the emitter. Runs on the loop."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._drainer = self._loop.create_task(self._drain(), name="arpi-front-emit")
        self.ctx.bus.subscribe(UiEvent, self.post_threadsafe)
        try:
            await self.users.reload()
        except ApiError:
            log.warning("user_cache_not_loaded")
        await self.lockouts.restore(self.limiter, self.reads)  # F8: survive restarts
        await self.prime_state()

    async def stop(self) -> None:
        """Stop taking events, disconnect clients, close DB threads. On the loop."""
        self._closing = True
        for sid in list(self.sio.manager.get_participants("/", None) or ()):
            try:
                await asyncio.wait_for(self.sio.disconnect(sid[0]), 1.0)
            except Exception:  # noqa: BLE001 - best effort on the way out
                log.debug("socket_disconnect_failed", sid=sid[0])
        self.ctx.bus.unsubscribe(UiEvent, self.post_threadsafe)
        for task in [self._drainer, *self._tasks]:
            if task is not None:
                task.cancel()
        for task in [self._drainer, *self._tasks]:
            if task is not None:
                try:
                    await task
                except (asyncio.CancelledError, Exception):  # noqa: BLE001
                    log.debug("front_task_ended")
        try:
            # python-engineio's service task may sit in a ping check of a
            # long-polling client for up to ping_timeout; do not wait for it.
            await asyncio.wait_for(self.sio.shutdown(), 1.0)
        except Exception:  # noqa: BLE001 - best effort on the way out
            log.debug("socket_shutdown_cut_short")
        await asyncio.to_thread(self._close_threads)

    def _close_threads(self) -> None:
        self.reads.close()
        self.store.close()

    async def read_json(self, key: str, fn: Callable[[Any], Any]) -> str:
        """The JSON text of `fn(cursor)`, run on a read thread. On the loop.

        Concurrent calls with the same `key` share one query as long as the
        front saw no write and no event since it started (`generation`), so a
        client never gets data older than a change it was told about. Raises
        ApiError(503) when the database fails.
        """
        current = self._inflight.get(key)
        if current is not None and current[0] == self.generation:
            return await asyncio.shield(current[1])
        future = asyncio.ensure_future(self.reads.run(lambda cur: dumps(fn(cur))))
        self._inflight[key] = (self.generation, future)
        try:
            return await asyncio.shield(future)
        except ApiError:
            raise
        except Exception as exc:
            raise ApiError(503, "database not available") from exc
        finally:
            if self._inflight.get(key, (0, None))[1] is future:
                del self._inflight[key]

    def wrote(self) -> None:
        """A write committed: later reads must not join older queries. Loop."""
        self.generation += 1

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run `coro` as a task the front cancels on stop. On the loop."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- the bridge ------------------------------------------------------------

    def post_threadsafe(self, event: UiEvent) -> None:
        """Hand `event` to the loop; any thread, never blocks, dropped when closing."""
        loop = self._loop
        if self._closing or loop is None or loop.is_closed():
            return
        self._inbox.append(event)
        if self._inbox_scheduled:
            return  # the loop has yet to take the inbox: it will see this one too
        self._inbox_scheduled = True
        try:
            loop.call_soon_threadsafe(self._take_inbox)
        except RuntimeError:
            pass  # the loop closed between the check and the call

    def _take_inbox(self) -> None:
        # Cleared before taking: an event posted from now on schedules a new call.
        self._inbox_scheduled = False
        inbox = self._inbox
        while inbox:
            self._accept(inbox.popleft())

    def _accept(self, event: UiEvent) -> None:
        if self._closing:
            return
        self.generation += 1
        if event.name == "outputs_state_change":
            # The front emits this name itself next to every output_state_change
            # (F21); dropping publishers' copies keeps exactly one of each.
            return
        self._remember(event)
        if event.coalesce:
            key = (event.name, _event_id(event))
            if key not in self._pending:
                self._order.append(key)
            self._pending[key] = event
        else:
            if len(self._backlog) == self._backlog.maxlen:
                self._dropped += 1
                if self._dropped % 100 == 1:
                    log.warning("ui_events_dropped", count=self._dropped)
            self._backlog.append(event)
        assert self._wake is not None
        self._wake.set()

    def _remember(self, event: UiEvent) -> None:
        if event.name in _PER_ID:
            ident = _event_id(event)
            if ident is not None:
                self.state_by_id[event.name][ident] = event.payload
        elif event.name in SNAPSHOT_EVENTS:
            self.state[event.name] = event.payload

    async def _drain(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._order or self._backlog:
                if self._order:
                    event = self._pending.pop(self._order.popleft())
                else:
                    event = self._backlog.popleft()
                try:
                    await self._emit(event)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("ui_event_emit_failed", event_name=event.name)

    async def _emit(self, event: UiEvent, to: str | None = None) -> None:
        names = [event.name]
        if event.name == "output_state_change":
            names.append("outputs_state_change")  # DECISIONS F21
        if event.admin_only:
            now = self.tokens.now()
            targets = [
                sid
                for sid, until in list(self._admins.items())
                if until > now and (to is None or sid == to)
            ]
            for sid in list(self._admins):
                if self._admins[sid] <= now:
                    del self._admins[sid]
            for sid in targets:
                for name in names:
                    await self.sio.emit(name, event.payload, to=sid)
            return
        for name in names:
            await self.sio.emit(name, event.payload, to=to)

    # --- state for connecting clients -----------------------------------------

    async def prime_state(self, timeout: float = 2.0) -> None:  # noqa: ASYNC109
        """Fill the snapshot from the alarm and the outputs table where no event
        has told us yet. Failures leave the gaps (a later connect retries)."""
        from arpi.http.alarm_api import GetAlarmStatus, status_fields

        try:
            status = await ask_actor(self.ctx, "alarm", GetAlarmStatus(), timeout)
        except ApiError:
            status = None
        except Exception:
            # A bad reply must not stop the front; the snapshot stays partial.
            log.warning("alarm_status_failed", exc_info=True)
            status = None
        if status is not None:
            values = status_fields(status)
            areas = values.pop("_areas")
            for name, value in values.items():
                if name == "power_state_change" and value is None:
                    continue
                self.state.setdefault(name, value)
            for area in areas:
                self.state_by_id["area_state_change"].setdefault(area.get("id"), area)
        if not self.state_by_id["output_state_change"]:
            try:
                rows = await self.reads.run(_output_states)
            except Exception:  # noqa: BLE001 - the snapshot is best effort
                log.warning("output_states_not_read")
                rows = []
            for ident, state in rows:
                self.state_by_id["output_state_change"].setdefault(
                    ident, {"id": ident, "state": state}
                )

    async def _send_snapshot(self, sid: str) -> None:
        # The connect handler runs before the CONNECT packet is queued; wait until
        # python-socketio marks the client connected, or events would precede it.
        for _ in range(200):
            if self.sio.manager.is_connected(sid, "/"):
                break
            await asyncio.sleep(0.005)
        else:
            return
        if (
            "system_state_change" not in self.state
            or not self.state_by_id["output_state_change"]
        ):
            await self.prime_state()
        for name in SNAPSHOT_EVENTS:
            if name in _PER_ID:
                for payload in list(self.state_by_id[name].values()):
                    await self._emit(UiEvent(name, payload), to=sid)
            elif name in self.state:
                await self._emit(UiEvent(name, self.state[name]), to=sid)

    def output_changed(self, output_id: int, state: bool | None) -> None:
        """Keep the outputs snapshot in step with REST create (state) and delete
        (None). On the loop."""
        outputs = self.state_by_id["output_state_change"]
        if state is None:
            outputs.pop(output_id, None)
        else:
            outputs.setdefault(output_id, {"id": output_id, "state": state})

    # --- Socket.IO handlers ----------------------------------------------------

    def _socket_origin_allowed(self, origin: str | None, environ: dict) -> bool:
        return self.origins.allows(origin, environ.get("HTTP_HOST"))

    async def _on_connect(self, sid: str, environ: dict, auth: Any = None) -> bool:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        token = (query.get("token") or [None])[0]
        if not token and isinstance(auth, dict):
            token = auth.get("token")
        if not token:
            log.info("socket_refused", reason="missing token")
            return False
        try:
            claims = self.tokens.decode(token)
        except BadToken:
            log.info("socket_refused", reason="invalid token")
            return False
        if claims.kind != "device":
            log.info("socket_refused", reason="not a device token")
            return False
        page = environ.get("HTTP_ORIGIN") or environ.get("HTTP_REFERER")
        if origin_of(page) is None or origin_of(page) != origin_of(claims.origin):
            log.info("socket_refused", reason="origin mismatch")
            return False
        await self.sio.save_session(sid, {"user_id": claims.user_id})
        self.spawn(self._send_snapshot(sid))
        log.debug("socket_connected", sid=sid, user_id=claims.user_id)
        return True

    async def _on_disconnect(self, sid: str, *args: Any) -> None:
        self._admins.pop(sid, None)
        log.debug("socket_disconnected", sid=sid)

    async def _on_authenticate(self, sid: str, data: Any = None) -> dict[str, Any]:
        token = data.get("user_token") if isinstance(data, dict) else data
        if not isinstance(token, str) or not token:
            return {"ok": False, "error": "user_token: required"}
        try:
            claims = self.tokens.decode(token)
        except BadToken:
            return {"ok": False, "error": "invalid token"}
        if claims.kind != "user":
            return {"ok": False, "error": "not a user token"}
        if claims.expired:
            return {"ok": False, "error": "token expired"}
        try:
            user = await self.users.get(claims.user_id)
        except ApiError as exc:
            return {"ok": False, "error": exc.message}
        if user is None:
            return {"ok": False, "error": "unknown user"}
        role = user[1]
        assert claims.timestamp is not None
        until = claims.timestamp + self.tokens.ttl
        if role == "admin":
            self._admins[sid] = until
        else:
            self._admins.pop(sid, None)
        return {
            "ok": True,
            "role": role,
            "expires_in": max(0, int(until - self.tokens.now())),
        }

    async def _on_deauthenticate(self, sid: str, data: Any = None) -> dict[str, Any]:
        self._admins.pop(sid, None)
        return {"ok": True}

    # --- warnings --------------------------------------------------------------

    def _limiter_event(self, event: LimiterEvent) -> None:
        """Publish a wrong-code warning for admins (any thread, F8)."""
        self.ctx.bus.publish(security_warning(event))


def _event_id(event: UiEvent) -> Any:
    payload = event.payload
    if event.name in _PER_ID and isinstance(payload, dict):
        return payload.get("id")
    return None


_OUTPUT_STATES = (
    sql.Q.from_(tables.output)
    .select(tables.output.id, tables.output.state)
    .orderby(tables.output.id)
)


def _output_states(cur: Any) -> list[tuple[int, bool]]:
    rows = sql.fetch_all(cur, _OUTPUT_STATES)
    return [(row["id"], bool(row["state"])) for row in rows]

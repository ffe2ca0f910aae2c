"""The arpi process: database, supervision tree and web front, started and stopped.

`Application` is used by `bin/arpi`, `bin/arpi-simulate` and the end-to-end tests.
The main thread runs the asyncio loop (aiohttp, Socket.IO, signals); the tree's
actors run in their own threads. Start order: database (embedded server or
DATABASE_URL, migrations), then the tree (storage, core, hardware, front). Stop is the
reverse, each step within the shutdown deadline.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from dataclasses import dataclass, field
from typing import Any

import structlog

from arpi.bus import Bus
from arpi.clock import Clock, clock_from_spec
from arpi.config import Settings, ensure_secret
from arpi.db.embedded import EmbeddedPostgres
from arpi.db.errors import EmbeddedServerError

__all__ = ["Application", "StartupError"]

log = structlog.get_logger("arpi.app")


class StartupError(Exception):
    """The process cannot start; the message is one sentence naming the problem."""


@dataclass
class Application:
    """One arpi process. Create, `await start()`, then `await wait_stopped()`."""

    settings: Settings
    clock: Clock | None = None
    hardware: Any = None  # simulated hardware, when settings.board == "sim"
    ctx: Any = None
    root: Any = None
    _close_db: Any = None
    _stopping: asyncio.Event | None = None
    _exit_code: int = 0
    listen_socket: socket.socket | None = None
    notifier: Any = None
    ssl_context: Any = None
    _db_watch: asyncio.Task[None] | None = None
    _feeder: Any = None
    _guard: Any = None

    def __post_init__(self) -> None:
        from arpi.ops.shutdown import ShutdownGuard

        self._guard = ShutdownGuard(
            self.settings.shutdown_deadline + 5.0, before_exit=self._before_hard_exit
        )

    extra_front_setup: list[Any] = field(default_factory=list)

    async def start(self) -> None:
        """Bring the whole process up; raises StartupError with a clear message."""
        from arpi.actors import Directory
        from arpi.context import Context
        from arpi.db.errors import DatabaseSetupError
        from arpi.db.lifecycle import open_database
        from arpi.ops.sdnotify import SystemdNotifier

        if self._stopping is None:
            self._stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        settings = self.settings
        # Taken out of the environment first, so that the embedded PostgreSQL
        # cannot tell systemd "ready" in our name.
        self.notifier = SystemdNotifier.from_environment(unset=True)
        self.notifier.status("starting")
        # Data directory, secrets and certificate files: file I/O, off the loop.
        settings, self.ssl_context = await asyncio.to_thread(_prepare_files, settings)
        self.settings = settings
        if self.clock is None:
            self.clock = clock_from_spec(settings.clock)
        self.listen_socket = _listen(settings.host, settings.port)
        try:
            db, self._close_db = await asyncio.to_thread(open_database, settings)
        except DatabaseSetupError as exc:
            self.listen_socket.close()
            raise StartupError(str(exc)) from None

        drivers = None
        if settings.board == "sim" or self.hardware is not None:
            from arpi.drivers.factory import DriverFactory

            drivers = DriverFactory(settings, hardware=self.hardware)
            self.hardware = drivers.hardware
        else:
            from arpi.drivers.factory import DriverFactory

            drivers = DriverFactory(settings)

        self.ctx = Context(
            settings=settings,
            clock=self.clock,
            directory=Directory(),
            bus=Bus(),
            db=db,
            drivers=drivers,
            loop=loop,
            app=self,
        )
        try:
            self.root = await asyncio.to_thread(self._start_tree, loop)
        except Exception as exc:
            await self._close_database()
            raise StartupError(f"the supervision tree did not start: {exc}") from None
        server = getattr(self._close_db, "__self__", None)
        if isinstance(server, EmbeddedPostgres):
            self._db_watch = asyncio.create_task(self._watch_embedded(server))
        self.notifier.ready(f"serving on port {self.port}")
        if self.notifier.keepalive_interval:
            from arpi.ops.watchdog import WatchdogFeeder

            self._feeder = WatchdogFeeder(self.notifier, self.ctx.directory, loop=loop)
            self._feeder.start()
        scheme = "https" if self.ssl_context is not None else "http"
        log.info(
            "arpi_ready",
            url=f"{scheme}://{settings.host}:{self.port}/",
            simulate=settings.simulate,
            board=settings.board,
        )

    @property
    def port(self) -> int:
        """The port actually listened on (useful with port 0)."""
        return int(self.listen_socket.getsockname()[1])

    def _start_tree(self, loop: asyncio.AbstractEventLoop) -> Any:
        from arpi.actors import Ping, Strategy, Supervisor
        from arpi.tree import build_tree

        def escalate(reason: object) -> None:
            log.critical("root_escalated", reason=str(reason))
            self._exit_code = 70
            loop.call_soon_threadsafe(self._request_stop)

        ref = Supervisor.start(
            self.ctx,
            name="root",
            strategy=Strategy.ONE_FOR_ONE,
            children=build_tree(
                self.settings, sock=self.listen_socket, ssl_context=self.ssl_context
            ),
            intensity=3,
            period=30.0,
            on_escalate=escalate,
        )
        ref.ask(Ping(), timeout=120)
        return ref

    async def _watch_embedded(self, server: EmbeddedPostgres) -> None:
        """Restart the embedded PostgreSQL if it dies: nobody else owns it.

        The storage actor keeps its queued writes and reconnects by itself once the
        server answers again. Runs on the loop; the checks run in a worker thread.
        """
        interval = self.settings.db_watch_interval
        while True:
            await asyncio.sleep(interval)
            if await asyncio.to_thread(lambda: server.running):
                continue
            log.error("embedded_postgres_down", pgdata=str(server.pgdata))
            try:
                await asyncio.to_thread(server.start)
            except EmbeddedServerError as exc:
                log.error("embedded_postgres_restart_failed", problem=str(exc))
            else:
                log.warning("embedded_postgres_restarted", pgdata=str(server.pgdata))

    def install_signal_handlers(self) -> None:
        """SIGINT/SIGTERM: graceful stop; a second one exits at once."""
        loop = asyncio.get_running_loop()
        if self._stopping is None:
            self._stopping = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: int) -> None:
        if self._guard.on_signal(sig):
            self._request_stop()

    def _request_stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()

    def request_stop_threadsafe(self, code: int = 0) -> None:
        self._exit_code = self._exit_code or code
        if self.ctx is not None:
            self.ctx.loop.call_soon_threadsafe(self._request_stop)

    async def wait_stopped(self) -> int:
        """Wait for a stop request, stop everything, and return the exit code."""
        assert self._stopping is not None
        await self._stopping.wait()
        await self.stop()
        return self._exit_code

    async def stop(self) -> None:
        """Stop the tree in reverse order, then the database, within the deadline."""
        from arpi.ops.shutdown import announce_stopping

        deadline = self.settings.shutdown_deadline
        if self.notifier is not None:
            announce_stopping(self.notifier, "stopping")
        self._guard.begin()
        try:
            if self._db_watch is not None:
                self._db_watch.cancel()
                self._db_watch = None
            if self.root is not None:
                root, self.root = self.root, None
                try:
                    await asyncio.wait_for(
                        asyncio.to_thread(root.stop, block=True, timeout=deadline),
                        deadline + 1.0,
                    )
                except Exception as exc:  # noqa: BLE001 - shutdown goes on regardless
                    log.error("tree_stop_incomplete", problem=str(exc))
            await self._close_database()
            if self.listen_socket is not None:
                self.listen_socket.close()
            if self.clock is not None:
                self.clock.close()
            if self.hardware is not None and hasattr(self.hardware, "close"):
                self.hardware.close()
            log.info("arpi_stopped")
        finally:
            if self._feeder is not None:
                self._feeder.stop()
                self._feeder = None
            self._guard.finished()

    async def _close_database(self) -> None:
        if self._close_db is not None:
            close, self._close_db = self._close_db, None
            await asyncio.to_thread(close)

    def _before_hard_exit(self) -> None:
        """Leaving at once: committed data is safe in PostgreSQL; stop its server."""
        if self._close_db is not None:
            self._close_db()


def _prepare_files(settings: Settings) -> tuple[Settings, Any]:
    """Check the data directory is writable, give the settings their secrets
    (`ensure_secret`) and load the TLS context (None without a certificate).

    Blocks on file I/O: run it off the loop. Raises StartupError naming the problem.
    """
    from arpi.ops.tls import TlsConfigError, ssl_context_from_settings

    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        probe = settings.data_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise StartupError(
            f"the data directory {settings.data_dir} is not writable: {exc.strerror}"
        ) from None
    settings = ensure_secret(settings)
    try:
        return settings, ssl_context_from_settings(settings)
    except TlsConfigError as exc:
        raise StartupError(str(exc)) from None


def _listen(host: str, port: int) -> socket.socket:
    """Bind and listen on host:port; raise StartupError naming it when impossible."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock

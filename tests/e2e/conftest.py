"""End-to-end fixtures: `bin/arpi-simulate` as a subprocess, driven over real HTTP.

The tests act only as the web UI and a person would: REST calls and a
python-socketio client as the UI, and the simulator control API as the person at
the doors, the mains switch and the keypad. Nothing is imported from the running
process. Each module shares one process (a start costs a few seconds); a test
first puts the house back to a quiet, disarmed state (`House.reset`).

`ARPI_E2E_SIMULATE` may name another launcher (default `bin/arpi-simulate`);
`ARPI_E2E_KEEP=1` keeps each run's directory (logs, data) for a post-mortem.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
import socketio

from tests.helpers import async_wait_for, wait_for
from tests.pg import temp_root

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = Path(os.environ.get("ARPI_E2E_SIMULATE") or REPO / "bin" / "arpi-simulate")
ORIGIN = "http://localhost:4200"
START_TIMEOUT = 90.0
# The demo house's channels (docs/simulator.md).
(FRONT_DOOR, HALL, KITCHEN, BEDROOM, LIVING, GARAGE_DOOR, GARAGE_MOTION, TAMPER) = (
    range(8)
)
PHONE = "+36301234567"
OWNER = "owner@example.com"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SimProcess:
    """One `arpi-simulate` process on a data directory; restartable on it."""

    def __init__(self, data_dir: Path, log_dir: Path, *args: str) -> None:
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.args = args
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.device_token: str | None = None  # the one registration code is consumed
        self._log: Any = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"arpi-simulate-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env["ARPI_LOG_FORMAT"] = "json"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(LAUNCHER),
                "--data-dir",
                str(self.data_dir),
                "--port",
                str(self.port),
                "--no-console",
                *self.args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        wait_for(self._ready, timeout=START_TIMEOUT, what="arpi-simulate to answer")

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(
                f"arpi-simulate exited with {self.proc.returncode}:\n{self.output()}"
            )
        try:
            with urllib.request.urlopen(
                self.base + "/api/simulator/state", timeout=2
            ) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def kill(self) -> None:
        """SIGKILL, as a power cut of the process would (PostgreSQL lives on)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._close_log()

    def stop(self) -> int:
        """SIGINT and wait; returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._close_log()
        return int(self.proc.returncode)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def cleanup(self) -> None:
        """Stop the process and any PostgreSQL still running on the data dir."""
        self.stop()
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info.get("cmdline") or []
            if any(str(self.data_dir) in part for part in cmdline):
                try:
                    proc.kill()
                except psutil.Error:
                    pass


@contextmanager
def simulator(*args: str) -> Iterator[SimProcess]:
    """A started simulator on a private data directory; everything removed after.

    The directory is not under pytest's tmp_path: pytest makes its base directory
    private (0700) again whenever any pytest session starts, which would lock the
    embedded PostgreSQL (another user) out of a running test's data.
    """
    root = temp_root("arpi-e2e-")
    root.chmod(0o711)
    sim = SimProcess(root / "data", root, *args)
    try:
        sim.start()
        yield sim
    finally:
        sim.cleanup()
        if not os.environ.get("ARPI_E2E_KEEP"):  # keep logs and data for debugging
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def house() -> Iterator[SimProcess]:
    """A simulator with the demo house and a manual clock, for the whole module."""
    with simulator("--clock", "manual", "--demo", "house") as sim:
        yield sim


class Ui:
    """What the web UI and the person do, over HTTP and Socket.IO."""

    def __init__(self, sim: SimProcess, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.session = session
        self.device_token: str | None = None
        self.user_token: str | None = None
        self.events: list[tuple[str, Any]] = []
        self.socket: socketio.AsyncClient | None = None

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = ...,
        token: str | None = None,
        auth: bool = True,
    ) -> tuple[int, Any]:
        headers = {"Origin": ORIGIN}
        bearer = token or (self.user_token if auth else None)
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        kwargs: dict[str, Any] = {"headers": headers}
        if json_body is not ...:
            kwargs["json"] = json_body
        async with self.session.request(method, self.sim.base + path, **kwargs) as r:
            text = await r.text()
            try:
                body = json.loads(text) if text else None
            except ValueError:
                body = text
            if "User-Token" in r.headers:
                self.user_token = r.headers["User-Token"]
            return r.status, body

    async def ok(self, method: str, path: str, **kw: Any) -> Any:
        status, body = await self.call(method, path, **kw)
        assert 200 <= status < 300, (method, path, status, body)
        return body

    # --- the web UI ---------------------------------------------------------------

    async def register(self, code: str = "ABCD1234") -> None:
        body = await self.ok(
            "POST",
            "/api/user/register_device",
            json_body={"registration_code": code},
            auth=False,
        )
        self.device_token = body["device_token"]

    async def login(self, access_code: str = "1234") -> None:
        if self.device_token is None:
            self.device_token = self.sim.device_token
        if self.device_token is None:
            await self.register()
            self.sim.device_token = self.device_token
        body = await self.ok(
            "POST",
            "/api/user/authenticate",
            json_body={"device_token": self.device_token, "access_code": access_code},
            token=self.device_token,
        )
        assert body, "the access code was refused"
        self.user_token = body["user_token"]

    async def connect(self) -> None:
        client = socketio.AsyncClient(reconnection=False)

        @client.on("*")
        async def any_event(name: str, data: Any = None) -> None:
            self.events.append((name, data))

        await client.connect(
            f"{self.sim.base}?token={self.device_token}",
            headers={"Origin": ORIGIN},
            transports=["websocket"],
            socketio_path="socket.io",
            wait_timeout=10,
        )
        self.socket = client

    async def saw(
        self, name: str, payload: Any = ..., timeout: float = 20.0, where: Any = None
    ) -> Any:
        """Wait until event `name` (with `payload`, or matching `where`) arrived."""

        def found() -> Any:
            for event, data in self.events:
                if event != name or (payload is not ... and data != payload):
                    continue
                if where is None or where(data):
                    return (event, data)
            return None

        return await async_wait_for(found, timeout, what=f"event {name} {payload!r}")

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.disconnect()
            self.socket = None

    async def monitoring_state(self) -> str:
        return (await self.ok("GET", "/api/monitoring/state", token=self.device_token))[
            "state"
        ]

    async def wait_state(self, state: str, timeout: float = 20.0) -> None:
        async def poll() -> None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            seen = None
            while loop.time() < deadline:
                status, body = await self.call(
                    "GET", "/api/monitoring/state", token=self.device_token
                )
                ok = status == 200 and isinstance(body, dict)
                seen = body.get("state") if ok else (status, body)
                if seen == state:
                    return
                await asyncio.sleep(0.02)
            raise AssertionError(f"monitoring state stayed {seen!r}, wanted {state!r}")

        await poll()

    # --- the person (simulator control API) ------------------------------------

    async def line(self, channel: int, state: str) -> dict[str, Any]:
        return await self.ok(
            "PUT",
            f"/api/simulator/channel/{channel}",
            json_body={"state": state},
            auth=False,
        )

    async def advance(self, seconds: float) -> None:
        await self.ok(
            "POST", "/api/simulator/clock", json_body={"advance": seconds}, auth=False
        )

    async def keys(self, keys: str) -> None:
        await self.ok(
            "POST", "/api/simulator/keypad", json_body={"keys": keys}, auth=False
        )

    async def panel(self) -> dict[str, Any]:
        return await self.ok("GET", "/api/simulator/state", auth=False)

    async def sms(self) -> list[dict[str, Any]]:
        return (await self.ok("GET", "/api/simulator/gsm/messages", auth=False))["sms"]

    async def mail(self) -> list[dict[str, Any]]:
        return (await self.ok("GET", "/api/simulator/mail", auth=False))["messages"]

    async def wait_sms(
        self, start: str, count: int = 1, timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = [m for m in await self.sms() if m["text"].startswith(start)]
            if len(found) >= count or loop.time() > deadline:
                return found
            await self.advance(0.5)

    async def wait_mail(
        self, start: str, count: int = 1, timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = [m for m in await self.mail() if m["subject"].startswith(start)]
            if len(found) >= count or loop.time() > deadline:
                return found
            await self.advance(0.5)

    async def reset(self) -> None:
        """Disarm, close every demo line, let the house settle: a quiet start."""
        await self.call("PUT", "/api/monitoring/disarm")
        for channel in range(8):
            await self.line(channel, "idle")
        await self.advance(3.0)


def run_ui(sim: SimProcess, scenario: Any) -> None:
    """Run `scenario(ui)` in its own event loop with a logged-in admin UI."""

    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            ui = Ui(sim, session)
            try:
                await ui.login()
                await scenario(ui)
            finally:
                await ui.close()

    asyncio.run(main())

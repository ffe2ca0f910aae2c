"""Fixtures for the operations tests: a notify socket, logging, a served front."""

from __future__ import annotations

import io
import logging
import shutil
import socket
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import structlog

from arpi.actors import Directory, release_hangs
from arpi.bus import Bus
from arpi.clock import ManualClock
from arpi.context import Context
from arpi.logs import configure_logging

SECRET = "ops-test-secret-0123456789abcdef0123456789"
ORIGIN = "http://localhost:4200"


class NotifyListener:
    """The service manager's end of NOTIFY_SOCKET: a bound datagram socket."""

    def __init__(self, address: str, sock: socket.socket) -> None:
        self.address = address
        self.sock = sock

    def receive(self, timeout: float = 5.0) -> str:
        self.sock.settimeout(timeout)
        return self.sock.recv(4096).decode()

    def pending(self) -> list[str]:
        """Every datagram already queued, without waiting."""
        self.sock.setblocking(False)
        out = []
        while True:
            try:
                out.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return out


@pytest.fixture
def notify_path() -> Iterator[NotifyListener]:
    folder = Path(tempfile.mkdtemp(prefix="arpi-sd-", dir="/tmp"))
    path = folder / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    try:
        yield NotifyListener(str(path), sock)
    finally:
        sock.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def notify_abstract() -> Iterator[NotifyListener]:
    name = f"arpi-test-{uuid_hex()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    try:
        yield NotifyListener("@" + name, sock)
    finally:
        sock.close()


def uuid_hex() -> str:
    import uuid

    return uuid.uuid4().hex


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """The production logging chain (JSON), writing to a buffer; restored after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("json", "debug", stream=stream)
    try:
        yield stream
    finally:
        structlog.reset_defaults()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


@pytest.fixture(autouse=True)
def _free_hangs() -> Iterator[None]:
    yield
    release_hangs()


def make_ctx(db: Any = None, **settings: Any) -> Context:
    values = {
        "secret": SECRET,
        "board": "3",
        "input_number": 15,
        "output_number": 8,
        "version": "v1.2.3:abc1234",
        "bcrypt_rounds": 4,
        "tls_cert": None,
        "tls_key": None,
    }
    values.update(settings)
    clock = ManualClock(start=1000.0, wall=datetime.now(UTC))
    return Context(
        settings=SimpleNamespace(**values),
        clock=clock,
        directory=Directory(),
        bus=Bus(),
        db=db,
    )

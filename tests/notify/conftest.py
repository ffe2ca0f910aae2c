"""Fixtures for notification tests: a real SMTP server on loopback, the fake modem,
and a rig of real actors (storage, gsm, notifier) on a fresh database."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
import serial
from aiosmtpd.controller import Controller

from arpi.actors import Actor, make_test_context, release_hangs
from arpi.actors.gsm import GsmActor
from arpi.actors.notifier import Notifier
from arpi.bus import UiEvent
from arpi.clock import ManualClock
from arpi.context import Context
from arpi.db import Database
from arpi.db.storage import DatabaseWriter
from arpi.drivers.fake_modem import FakeModem
from arpi.drivers.gsm import GsmModem
from tests.helpers import wait_for


class SmtpHandler:
    """aiosmtpd handler whose behaviour the test sets: accept, refuse, stall, drop."""

    def __init__(self) -> None:
        self.mode = "accept"
        self.refuse: set[str] = set()
        self.messages: list[tuple[str, list[str], Message]] = []
        self.attempts = 0
        self.stalled = 0
        self._release: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self._lock:
            self.attempts += 1
        if self.mode == "drop":
            server.transport.close()
            return "421 closing"
        if self.mode == "stall":
            self._loop = asyncio.get_running_loop()
            if self._release is None:
                self._release = asyncio.Event()
            with self._lock:
                self.stalled += 1
            await self._release.wait()
        if self.mode == "refuse" or address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            self.messages.append(
                (
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    message_from_bytes(envelope.original_content),
                )
            )
        return "250 Message accepted"

    def unstall(self) -> None:
        if self._loop is not None and self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)

    def received(self, to: str | None = None) -> list[Message]:
        with self._lock:
            return [m for _, rcpt, m in self.messages if to is None or to in rcpt]


@dataclass
class SmtpServer:
    handler: SmtpHandler
    port: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1 (no TLS, no auth), stopped afterwards."""
    handler = SmtpHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield SmtpServer(handler, controller.port)
    finally:
        handler.unstall()
        controller.stop()


@pytest.fixture
def fake_modem() -> Iterator[FakeModem]:
    modem = FakeModem()
    try:
        yield modem
    finally:
        modem.close()


def modem_factory(fake: FakeModem):
    """A GsmModem on the fake's pty with short timeouts (quick teardown)."""

    def build() -> GsmModem:
        return GsmModem(
            lambda: serial.serial_for_url(fake.port, 9600, timeout=0.05),
            command_timeout=0.5,
            sms_timeout=1.0,
            health_timeout=0.3,
        )

    return build


def write_options(db: Database, **values: dict[str, Any]) -> None:
    """Store option rows as the web UI does; keys like `notifications__smtp`."""
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            for key, value in values.items():
                name, section = key.split("__")
                cur.execute(
                    "INSERT INTO option (name, section, value) VALUES (%s, %s, %s) "
                    "ON CONFLICT (name, section) DO UPDATE SET value = EXCLUDED.value",
                    (name, section, json.dumps(value)),
                )
        conn.commit()
    finally:
        conn.close()


def subscriptions(**targets: list[str]) -> dict[str, dict[str, bool]]:
    events = (
        "alert_started",
        "alert_stopped",
        "power_outage_started",
        "power_outage_stopped",
    )
    return {
        t: {e: e in targets.get(t, []) for e in events}
        for t in ("call1", "call2", "sms1", "sms2", "email1", "email2")
    }


def outbox_rows(db: Database) -> list[dict[str, Any]]:
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT id, event_key, kind, target, channel, address, subject, body, "
                "status, attempts, next_attempt_at, last_error FROM notification_outbox "
                "ORDER BY id"
            )
            names = [c[0] for c in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        conn.close()


class Recorder(Actor):
    """Stands in for another actor (e.g. `alarm`): keeps every message."""

    def setup(self) -> None:
        self.messages: list[object] = self.options["store"]  # type: ignore[assignment]

    def handle(self, message: object) -> object:
        self.messages.append(message)
        return None


@dataclass
class Rig:
    ctx: Context
    clock: ManualClock
    db: Database
    smtp: SmtpServer
    modem: FakeModem
    events: list[UiEvent] = field(default_factory=list)
    alarm_messages: list[object] = field(default_factory=list)
    notifier_options: dict[str, Any] = field(default_factory=dict)

    def start_notifier(self, **options: Any) -> Any:
        merged = {**self.notifier_options, **options}
        return Notifier.start(self.ctx, name="notifier", **merged)

    def stop_notifier(self) -> None:
        ref = self.ctx.directory.lookup("notifier")
        if ref is not None:
            ref.stop(block=True, timeout=5)

    def enqueue(self, event_key: str, kind: str, context: dict[str, Any]) -> int:
        from arpi.db.storage import transact
        from arpi.notify import enqueue_notifications

        return transact(
            self.ctx.directory.address("storage"),
            lambda cur: enqueue_notifications(cur, event_key, kind, context),
            "test_enqueue",
            10.0,
        )

    def failures(self) -> list[UiEvent]:
        return [e for e in list(self.events) if e.name == "notification_failed"]


@pytest.fixture
def rig(db: Database, smtp_server: SmtpServer, fake_modem: FakeModem) -> Iterator[Rig]:
    """storage + gsm + alarm stand-in on a ManualClock; the test starts the notifier.

    Options: SMTP on the loopback server, GSM on, addresses and numbers set, no
    subscriptions (tests store their own), location "Villa Kert".
    """
    with build_rig(db, smtp_server, fake_modem) as handle:
        yield handle


@contextmanager
def build_rig(
    db: Database, smtp_server: SmtpServer, fake_modem: FakeModem
) -> Iterator[Rig]:
    """The `rig` fixture on any database (e.g. one on a private `pg_server`);
    stops every actor it or the test started when the block ends."""
    clock = ManualClock()
    ctx = replace(make_test_context(clock), db=db)
    rig = Rig(ctx, clock, db, smtp_server, fake_modem)
    ctx.bus.subscribe(UiEvent, rig.events.append)
    write_options(
        db,
        notifications__smtp={
            "enabled": True,
            "smtp_hostname": "127.0.0.1",
            "smtp_port": smtp_server.port,
            "smtp_username": None,
            "smtp_password": None,
            "email_address_1": "anna@example.org",
            "email_address_2": "bela@example.org",
        },
        notifications__gsm={
            "enabled": True,
            "pin_code": None,
            "phone_number_1": "+36301111111",
            "phone_number_2": "+36302222222",
        },
        notifications__subscriptions=subscriptions(),
        system__location={"name": "Villa Kert"},
    )
    rig.notifier_options = {"smtp_timeout": 2.0, "call_listen": 2.0}
    DatabaseWriter.start(ctx, name="storage")
    GsmActor.start(ctx, name="gsm", modem_factory=modem_factory(fake_modem))
    Recorder.start(ctx, name="alarm", store=rig.alarm_messages)
    try:
        yield rig
    finally:
        release_hangs()
        smtp_server.handler.unstall()
        fake_modem.set_mode("ok")
        for name in ("notifier", "gsm", "alarm", "storage"):
            ref = ctx.directory.lookup(name)
            if ref is not None:
                ref.stop(block=True, timeout=10)
        wait_for(
            lambda: (
                not any(
                    t.name.startswith("arpi-notifier-smtp")
                    for t in threading.enumerate()
                )
            ),
            what="smtp worker threads to end",
        )

"""The simulator's mail sink: an SMTP server on 127.0.0.1 that keeps what it gets.

Runs on the process's asyncio loop (aiosmtpd's protocol on `loop.create_server`),
accepts any sender, recipient and login, and keeps the last `keep` messages in
memory for `GET /api/simulator/mail`. It never relays anything anywhere.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from typing import Any

import structlog

__all__ = ["MailSink", "ReceivedMail"]

log = structlog.get_logger("arpi.sim")


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    """One message as the sink received it."""

    received_at: str
    mail_from: str
    rcpt_to: tuple[str, ...]
    subject: str
    body: str
    message_id: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "receivedAt": self.received_at,
            "from": self.mail_from,
            "to": list(self.rcpt_to),
            "subject": self.subject,
            "body": self.body,
            "messageId": self.message_id,
        }


class _Handler:
    def __init__(self, sink: MailSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self._sink._received(envelope)
        return "250 Message accepted for delivery"


def _accept_any_login(*_args: Any) -> Any:
    from aiosmtpd.smtp import AuthResult

    return AuthResult(success=True)


class MailSink:
    """Start with `await start()`, stop with `await stop()`; both on the loop.

    `port` is the bound port after start (0 asks the system for a free one).
    `messages()` may be called from any thread.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, keep: int = 500) -> None:
        self.host = host
        self.port = port
        self._messages: deque[ReceivedMail] = deque(maxlen=keep)
        self._server: asyncio.AbstractServer | None = None
        self.error: str | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        """Listen; on failure (aiosmtpd missing, port taken) keep `error` and log it."""
        try:
            from aiosmtpd.smtp import SMTP
        except ImportError:
            self.error = "aiosmtpd is not installed (pip install aiosmtpd)"
            log.warning("mail_sink_unavailable", problem=self.error)
            return
        # aiosmtpd logs every SMTP line (addresses, AUTH data) at info level.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        handler = _Handler(self)
        loop = asyncio.get_running_loop()

        def protocol() -> Any:
            return SMTP(
                handler,
                hostname="arpi-simulator",
                auth_require_tls=False,
                authenticator=_accept_any_login,
                loop=loop,
            )

        try:
            self._server = await loop.create_server(protocol, self.host, self.port)
        except OSError as exc:
            self.error = f"cannot listen on {self.host}:{self.port}: {exc.strerror}"
            log.warning("mail_sink_unavailable", problem=self.error)
            return
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("mail_sink_listening", host=self.host, port=self.port)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            try:
                await asyncio.wait_for(server.wait_closed(), 2.0)
            except TimeoutError:
                pass

    def _received(self, envelope: Any) -> None:
        raw = (
            envelope.content
            if isinstance(envelope.content, bytes)
            else (str(envelope.content).encode())
        )
        parsed = message_from_bytes(raw, policy=policy.default)
        body_part = (
            parsed.get_body(preferencelist=("plain",))
            if (parsed.is_multipart())
            else parsed
        )
        try:
            body = body_part.get_content() if body_part is not None else ""
        except (LookupError, ValueError):
            body = raw.decode("utf-8", "replace")
        mail = ReceivedMail(
            received_at=datetime.now(UTC).isoformat(timespec="seconds"),
            mail_from=str(envelope.mail_from or ""),
            rcpt_to=tuple(str(r) for r in envelope.rcpt_tos),
            subject=str(parsed.get("Subject", "")),
            body=str(body),
            message_id=parsed.get("Message-ID"),
        )
        self._messages.append(mail)
        log.info("mail_received", recipients=len(mail.rcpt_to), subject=mail.subject)

    def messages(self) -> list[ReceivedMail]:
        """Every kept message, oldest first."""
        return list(self._messages)

"""Sending one e-mail over SMTP: implicit TLS on 465, STARTTLS elsewhere.

Blocking; the Notifier runs it on its own e-mail worker thread, never on an actor
thread. Every network wait is bounded by `timeout` (smtplib's socket timeout).
Credentials never go over an unencrypted connection: a server that offers no
STARTTLS is refused, except on the loopback interface (tests, a local relay).
"""

from __future__ import annotations

import ipaddress
import smtplib
import socket
import ssl
import threading
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from arpi.notify.subscriptions import SmtpOptions

__all__ = [
    "Connections",
    "EmailError",
    "build_message",
    "message_id_for",
    "send_email",
    "sender_of",
]

DEFAULT_PORT = 587
IMPLICIT_TLS_PORT = 465


class EmailError(Exception):
    """The message was not accepted; the text says why (never holds the password)."""


class Connections:
    """The SMTP connections open right now, so that their owner can cut them off.

    The Notifier aborts them when its incarnation ends: a send still in progress
    then fails instead of finishing behind the back of the next incarnation,
    which will send that row again (a killed process behaves the same way).
    Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[smtplib.SMTP] = set()
        self._closed = False

    def add(self, client: smtplib.SMTP) -> None:
        with self._lock:
            self._open.add(client)
            closed = self._closed
        if closed:
            _shutdown(client)

    def discard(self, client: smtplib.SMTP) -> None:
        with self._lock:
            self._open.discard(client)

    def abort_all(self) -> None:
        """Shut down every open connection and any opened later; never raises."""
        with self._lock:
            self._closed = True
            clients = list(self._open)
        for client in clients:
            _shutdown(client)


def _shutdown(client: smtplib.SMTP) -> None:
    sock = getattr(client, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sender_of(smtp: SmtpOptions) -> str:
    """The From address: the SMTP user name when it is an address, else arpi@host."""
    if smtp.username and "@" in smtp.username:
        return smtp.username
    return f"arpi@{socket.gethostname() or 'localhost'}"


def message_id_for(row_id: int, created_at: datetime, sender: str) -> str:
    """A Message-ID that stays the same on every retry of one outbox row.

    A retry after a lost answer then reaches the inbox as the same message, which
    most mail clients show once.
    """
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<arpi.{row_id}.{int(created_at.timestamp())}@{domain}>"


def build_message(
    smtp: SmtpOptions,
    to: str,
    subject: str,
    body: str,
    *,
    date: datetime,
    message_id: str | None = None,
) -> EmailMessage:
    """A plain-text UTF-8 message with From, To, Subject, Date and Message-ID."""
    sender = sender_of(smtp)
    message = EmailMessage()
    message["From"] = f"arpi <{sender}>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id or make_msgid(
        domain=sender.rpartition("@")[2] or "localhost"
    )
    message.set_content(body)
    return message


def send_email(
    smtp: SmtpOptions,
    message: EmailMessage,
    *,
    timeout: float,
    connections: Connections | None = None,
) -> None:
    """Deliver `message` to the server of `smtp`; returns once it is accepted.

    Raises EmailError when SMTP is not configured, the connection, TLS or login
    fails, the server refuses the sender or the recipient, it stays silent for
    `timeout` seconds at any step, or `connections` is aborted meanwhile. Blocks;
    call from a worker thread.
    """
    if not smtp.hostname:
        raise EmailError("no SMTP server configured")
    host = smtp.hostname
    port = smtp.port or DEFAULT_PORT
    context = ssl.create_default_context()
    try:
        if port == IMPLICIT_TLS_PORT:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=timeout, context=context
            )
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        if connections is not None:
            connections.add(client)
        try:
            client.ehlo()
            if port != IMPLICIT_TLS_PORT:
                if client.has_extn("starttls"):
                    client.starttls(context=context)
                    client.ehlo()
                elif not _loopback(host):
                    raise EmailError(
                        f"{host}:{port} offers no STARTTLS; refusing to send in clear"
                    )
            if smtp.username and smtp.password:
                client.login(smtp.username, smtp.password)
            refused = client.send_message(message)
            if refused:
                raise EmailError(f"recipient refused: {_first_refusal(refused)}")
        finally:
            if connections is not None:
                connections.discard(client)
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
    except EmailError:
        raise
    except smtplib.SMTPRecipientsRefused as exc:
        raise EmailError(
            f"recipient refused: {_first_refusal(exc.recipients)}"
        ) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise EmailError(f"login refused ({exc.smtp_code})") from None
    except smtplib.SMTPResponseException as exc:
        text = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        raise EmailError(f"server refused: {exc.smtp_code} {text}") from None
    except TimeoutError:
        raise EmailError(f"{host}:{port} did not answer within {timeout:g} s") from None
    except ssl.SSLError as exc:
        raise EmailError(f"TLS with {host}:{port} failed: {exc.reason}") from None
    except smtplib.SMTPException as exc:
        if isinstance(exc.__context__, TimeoutError):
            raise EmailError(
                f"{host}:{port} did not answer within {timeout:g} s"
            ) from None
        raise EmailError(f"SMTP with {host}:{port} failed: {exc}") from None
    except OSError as exc:
        raise EmailError(
            f"cannot talk to {host}:{port}: {exc.strerror or exc}"
        ) from None


def _first_refusal(refused: dict) -> str:
    for address, (code, text) in refused.items():
        reason = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        return f"{address} ({code} {reason})"
    return "unknown"

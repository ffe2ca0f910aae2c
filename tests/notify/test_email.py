"""The SMTP sender against a real server on loopback: accept, refuse, stall, drop."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest

from arpi.notify.email import EmailError, build_message, message_id_for, send_email
from arpi.notify.subscriptions import SmtpOptions

AT = datetime(2026, 7, 1, 10, 30, tzinfo=UTC)


def options(port: int, **extra) -> SmtpOptions:
    return SmtpOptions(enabled=True, hostname="127.0.0.1", port=port, **extra)


def message(smtp: SmtpOptions, to: str = "anna@example.org"):
    return build_message(
        smtp,
        to,
        "[arpi] ALARM at Villa Kert",
        "Sensors: Előszoba ablak.",
        date=AT,
        message_id=message_id_for(5, AT, "alarm@example.org"),
    )


def test_accepted_message_has_proper_headers_and_utf8_body(smtp_server):
    smtp = options(smtp_server.port, username="alarm@example.org")

    send_email(smtp, message(smtp), timeout=5)

    [got] = smtp_server.handler.received("anna@example.org")
    assert got["From"] == "arpi <alarm@example.org>"
    assert got["To"] == "anna@example.org"
    assert got["Subject"] == "[arpi] ALARM at Villa Kert"
    assert parsedate_to_datetime(got["Date"]) == AT
    assert got["Message-ID"] == f"<arpi.5.{int(AT.timestamp())}@example.org>"
    assert "Előszoba ablak" in got.get_payload(decode=True).decode(
        got.get_content_charset()
    )


def test_refused_recipient_is_a_failure(smtp_server):
    smtp_server.handler.refuse.add("anna@example.org")
    smtp = options(smtp_server.port)

    with pytest.raises(EmailError, match="recipient refused"):
        send_email(smtp, message(smtp), timeout=5)


def test_dropped_connection_is_a_failure(smtp_server):
    smtp_server.handler.mode = "drop"
    smtp = options(smtp_server.port)

    with pytest.raises(EmailError):
        send_email(smtp, message(smtp), timeout=5)


def test_stalled_server_fails_within_the_timeout(smtp_server):
    smtp_server.handler.mode = "stall"
    smtp = options(smtp_server.port)

    with pytest.raises(EmailError, match="did not answer"):
        send_email(smtp, message(smtp), timeout=0.3)


def test_no_server_configured_and_closed_port_are_failures(smtp_server):
    with pytest.raises(EmailError, match="no SMTP server"):
        send_email(SmtpOptions(enabled=True), message(options(1)), timeout=1)
    closed = options(1)
    with pytest.raises(EmailError, match="cannot talk"):
        send_email(closed, message(closed), timeout=1)


def test_implicit_tls_port_speaks_tls_first(smtp_server):
    # The plain loopback server cannot complete a TLS handshake: the sender must
    # try TLS on 465 rather than fall back to clear text.
    from arpi.notify import email as email_module

    assert email_module.IMPLICIT_TLS_PORT == 465
    smtp = SmtpOptions(enabled=True, hostname="127.0.0.1", port=smtp_server.port)
    original = email_module.IMPLICIT_TLS_PORT
    email_module.IMPLICIT_TLS_PORT = smtp_server.port
    try:
        with pytest.raises(EmailError):
            send_email(smtp, message(smtp), timeout=2)
    finally:
        email_module.IMPLICIT_TLS_PORT = original
    assert smtp_server.handler.received() == []

"""HTTPS for the front: an `ssl.SSLContext` from a configured certificate and key."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

__all__ = ["TlsConfigError", "server_ssl_context", "ssl_context_from_settings"]


class TlsConfigError(ValueError):
    """The certificate or key cannot be used; the message names the setting."""


def _refuse_password() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key.
    raise TlsConfigError("tls_key: the key is encrypted; use an unencrypted key file")


def _check_readable(name: str, path: Path) -> None:
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except IsADirectoryError:
        raise TlsConfigError(f"{name}: {path} is a directory, not a file") from None
    except OSError as exc:
        raise TlsConfigError(
            f"{name}: cannot read {path}: {exc.strerror or exc}"
        ) from None


def server_ssl_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context (TLS 1.2 or newer) serving `cert` (PEM, may hold the chain)
    with `key` (PEM, unencrypted).

    Blocks briefly (file reads). Raises TlsConfigError naming `tls_cert` or
    `tls_key` when a file is missing or unreadable, is not PEM of the right kind,
    or when the key does not belong to the certificate.
    """
    cert, key = Path(cert), Path(key)
    _check_readable("tls_cert", cert)
    _check_readable("tls_key", key)

    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        probe.load_verify_locations(cafile=str(cert))
    except (ssl.SSLError, ValueError):
        raise TlsConfigError(
            f"tls_cert: {cert} does not contain a PEM certificate"
        ) from None

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key), password=_refuse_password)
    except TlsConfigError:
        raise
    except ssl.SSLError as exc:
        text = f"{exc.reason or ''} {exc}".upper()
        if "KEY_VALUES_MISMATCH" in text or "MISMATCH" in text:
            raise TlsConfigError(
                f"tls_key: {key} does not match the certificate in {cert}"
            ) from None
        raise TlsConfigError(
            f"tls_key: {key} does not contain a usable PEM private key"
        ) from None
    return context


def ssl_context_from_settings(settings: Any) -> ssl.SSLContext | None:
    """The server context for `settings.tls_cert` / `settings.tls_key`, or None
    when HTTPS is not configured. Raises TlsConfigError as `server_ssl_context`."""
    cert = getattr(settings, "tls_cert", None)
    key = getattr(settings, "tls_key", None)
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise TlsConfigError("tls_cert and tls_key must be given together")
    return server_ssl_context(cert, key)

"""Which browser origins may call the API and open a socket (CORS, W3)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit

__all__ = ["DEFAULT_ORIGINS", "OriginPolicy", "origin_of"]

# Reference section 0 (nginx cors.conf) plus DECISIONS W3 (any local port).
DEFAULT_ORIGINS: tuple[str, ...] = (
    "http://localhost:*",
    "https://localhost:*",
    "http://127.0.0.1:*",
    "https://127.0.0.1:*",
    "http://arpi.local",
    "https://arpi.local",
    "http://*.arpi.local",
    "https://*.arpi.local",
    "http://app.arpi-security.info",
    "https://app.arpi-security.info",
)


def origin_of(url: str | None) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin or URL, the default port filled in."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return parts.scheme, host.lower(), port


class OriginPolicy:
    """Patterns are ``scheme://host[:port]``; host may start with ``*.``, port ``*``.

    Without a port the pattern matches the scheme's default port only.
    """

    def __init__(self, patterns: Iterable[str] = DEFAULT_ORIGINS) -> None:
        self._patterns: list[tuple[str, str, int | None]] = []
        for text in patterns:
            scheme, sep, rest = text.partition("://")
            if not sep or scheme not in ("http", "https") or not rest:
                raise ValueError(f"CORS origin pattern {text!r} is not scheme://host")
            host, _, port = rest.rstrip("/").partition(":")
            if port == "*":
                port_value: int | None = None
            elif port:
                port_value = int(port)
            else:
                port_value = 443 if scheme == "https" else 80
            self._patterns.append((scheme, host.lower(), port_value))
        self._allows = lru_cache(maxsize=256)(self._match)

    def allows(self, origin: str | None, host: str | None = None) -> bool:
        """True for a listed origin, or the server's own (same-origin) address.

        `host` is the request's Host header; pass it to accept same-origin requests.
        """
        if not origin:
            return False
        if host and origin_of(origin) == origin_of(
            f"{origin.split(':', 1)[0]}://{host}"
        ):
            return True
        return self._allows(origin)

    def _match(self, origin: str) -> bool:
        parsed = origin_of(origin)
        if parsed is None:
            return False
        scheme, host, port = parsed
        for p_scheme, p_host, p_port in self._patterns:
            if p_scheme != scheme or (p_port is not None and p_port != port):
                continue
            if p_host.startswith("*."):
                if host.endswith(p_host[1:]) and len(host) > len(p_host) - 1:
                    return True
            elif p_host == host:
                return True
        return False

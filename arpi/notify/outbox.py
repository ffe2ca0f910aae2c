"""The durable notification outbox (table `notification_outbox`): queue, read, mark.

`enqueue_notifications` is called INSIDE the transaction of the event that causes
it (the alarm's `Transact` that opens or closes the alert row, the power change), so
the event and its messages commit together or not at all. It writes one row per
subscribed target, unique on (event_key, target): the same event queued twice, by a
retry, a restart or after a configuration reload, gives no second message.

The other functions are the Notifier's reads and its writes (run through the
`storage` actor). All of them run on the caller's thread and block on the database;
psycopg2 errors propagate.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import structlog

from arpi.db import sql, tables
from arpi.db.tables import notification_outbox as outbox
from arpi.notify.subscriptions import _PAIRS, EVENTS, NotificationConfig, parse_config
from arpi.notify.texts import render

__all__ = [
    "OutboxRow",
    "backoff_delay",
    "enqueue_notifications",
    "pending_rows",
    "record_failure",
    "record_sent",
    "record_skipped",
]

log = structlog.get_logger("arpi.notify")

MAX_EVENT_KEY = 200


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One queued message for one target."""

    id: int
    event_key: str
    kind: str
    target: str
    channel: str
    address: str
    subject: str | None
    body: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime


def _jsonable(value: Any) -> Any:
    """Context values as JSON: datetimes as ISO text, sensors as {id, name}."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "name"):  # a sensor (arpi.alarm.effects.NotifiedSensor)
        return {"id": getattr(value, "id", None), "name": value.name}
    return str(value)


def enqueue_notifications(
    cursor: Any,
    event_key: str,
    kind: str,
    context: Mapping[str, Any],
    *,
    tz: tzinfo | None = None,
) -> int:
    """Queue `kind` for every subscribed target, in the caller's transaction.

    `event_key` names the event once and for all (e.g. `alert_started:42`,
    `power_outage_started:2026-12-04T10:00:00+00:00`); `kind` is one of
    `subscriptions.EVENTS`; `context` describes the event for the texts
    (`texts.render`: `at`, `alert_id`, `alert_type`, `sensors`). Subscriptions,
    addresses and the location name are read with `cursor`, so they are those of
    the same snapshot. Returns how many rows were added (0 when the event was
    queued before or nobody is subscribed). Does not tell the Notifier: send it
    `NotificationsQueued()` after the commit.

    Raises ValueError naming the field for a bad `event_key`, `kind` or `context`.
    Blocks on the database.
    """
    if not isinstance(event_key, str) or not event_key.strip():
        raise ValueError("event_key: must be a non-empty string")
    if len(event_key) > MAX_EVENT_KEY:
        raise ValueError(f"event_key: at most {MAX_EVENT_KEY} characters")
    if kind not in EVENTS:
        raise ValueError(f"kind: must be one of {', '.join(EVENTS)}, got {kind!r}")
    if not isinstance(context, Mapping):
        # one error type for every bad argument
        raise ValueError("context: must be a mapping")

    config = _read_config(cursor)
    targets = config.targets_for(kind)
    if not targets:
        log.info("notification_not_subscribed", event_key=event_key, kind=kind)
        return 0
    texts = render(kind, context, config.location, tz)
    stored_context = json.dumps(_jsonable(dict(context)))
    at = context.get("at")
    timed = isinstance(at, datetime) and at.tzinfo is not None
    text = _insert_text(timed)

    added = 0
    for target in targets:
        body = texts.body if target.channel == "email" else texts.sms
        subject = texts.subject if target.channel == "email" else None
        params: list[Any] = [
            event_key,
            kind,
            target.name,
            target.channel,
            target.address,
            subject,
            body,
            stored_context,
        ]
        if timed:
            params += [at, at]
        added += sql.execute(cursor, text, params)
    log.info(
        "notifications_queued",
        event_key=event_key,
        kind=kind,
        targets=[t.name for t in targets],
        added=added,
    )
    return added


# The statements of `enqueue_notifications` are built once: it runs inside the
# alarm's alert transaction, on the storage thread, while the siren is being set.
_INSERT_TEXT: dict[bool, str] = {}


def _insert_text(timed: bool) -> str:
    text = _INSERT_TEXT.get(timed)
    if text is None:
        columns = [
            outbox.event_key,
            outbox.kind,
            outbox.target,
            outbox.channel,
            outbox.address,
            outbox.subject,
            outbox.body,
            outbox.context,
        ]
        if timed:
            columns += [outbox.created_at, outbox.next_attempt_at]
        query = (
            sql.Q.into(outbox)
            .columns(*columns)
            .insert(*[sql.param() for _ in columns])
            .on_conflict(outbox.event_key, outbox.target)
            .do_nothing()
        )
        text = sql.to_sql(query)
        _INSERT_TEXT[timed] = text
    return text


_OPTIONS_TEXT: list[str] = []
# The last options read and what they parsed to: the rows are still read in the
# caller's transaction every time (same snapshot as the event), only parsing them
# again is skipped while they are unchanged.
_PARSED: list[tuple[str, NotificationConfig]] = []


def _read_config(cursor: Any) -> NotificationConfig:
    """`subscriptions.load_config`, with its statement and last parse remembered."""
    if not _OPTIONS_TEXT:
        o = tables.option
        _OPTIONS_TEXT.append(
            sql.to_sql(
                sql.Q.from_(o)
                .select(o.name, o.section, o.value)
                .where(o.name.isin([sql.param(), sql.param()]))
            )
        )
    rows = sql.fetch_all(cursor, _OPTIONS_TEXT[0], ("notifications", "system"))
    found = {(row["name"], row["section"]): row["value"] for row in rows}
    options = {pair: found.get(pair) for pair in _PAIRS}
    key = json.dumps([options[pair] for pair in _PAIRS], sort_keys=True, default=str)
    cached = _PARSED[0] if _PARSED else None
    if cached is not None and cached[0] == key:
        return cached[1]
    config = parse_config(options)
    _PARSED[:] = [(key, config)]
    return config


_ROW_COLUMNS = (
    outbox.id,
    outbox.event_key,
    outbox.kind,
    outbox.target,
    outbox.channel,
    outbox.address,
    outbox.subject,
    outbox.body,
    outbox.attempts,
    outbox.next_attempt_at,
    outbox.created_at,
)


def pending_rows(cur: Any, *, limit: int = 500) -> list[OutboxRow]:
    """Every pending row, oldest first (at most `limit`)."""
    query = (
        sql.Q.from_(outbox)
        .select(*_ROW_COLUMNS)
        .where(outbox.status == sql.param())
        .orderby(outbox.id)
        .limit(limit)
    )
    return [OutboxRow(**row) for row in sql.fetch_all(cur, query, ("pending",))]


def record_sent(cur: Any, row_id: int, attempts: int, at: datetime) -> int:
    """Mark a pending row sent after its `attempts`-th try; returns rows changed."""
    query = (
        sql.Q.update(outbox)
        .set(outbox.status, sql.param("status"))
        .set(outbox.attempts, sql.param("attempts"))
        .set(outbox.sent_at, sql.param("at"))
        .set(outbox.last_error, None)
        .where(outbox.id == sql.param("id"))
        .where(outbox.status == sql.param("pending"))
    )
    return sql.execute(
        cur,
        query,
        {
            "status": "sent",
            "attempts": attempts,
            "at": at,
            "id": row_id,
            "pending": "pending",
        },
    )


def record_failure(
    cur: Any,
    row_id: int,
    attempts: int,
    error: str,
    next_attempt_at: datetime,
    *,
    give_up: bool,
) -> int:
    """Count a failed try: retry at `next_attempt_at`, or `failed` when `give_up`."""
    query = (
        sql.Q.update(outbox)
        .set(outbox.status, sql.param("status"))
        .set(outbox.attempts, sql.param("attempts"))
        .set(outbox.last_error, sql.param("error"))
        .set(outbox.next_attempt_at, sql.param("next"))
        .where(outbox.id == sql.param("id"))
        .where(outbox.status == sql.param("pending"))
    )
    return sql.execute(
        cur,
        query,
        {
            "status": "failed" if give_up else "pending",
            "attempts": attempts,
            "error": error[:500],
            "next": next_attempt_at,
            "id": row_id,
            "pending": "pending",
        },
    )


def record_skipped(cur: Any, row_ids: Iterable[int], reason: str) -> int:
    """Mark pending rows skipped (a call acknowledged by the other callee)."""
    ids = list(row_ids)
    if not ids:
        return 0
    query = (
        sql.Q.update(outbox)
        .set(outbox.status, sql.param())
        .set(outbox.last_error, sql.param())
        .where(outbox.id.isin([sql.param() for _ in ids]))
        .where(outbox.status == sql.param())
    )
    return sql.execute(cur, query, ["skipped", reason[:500], *ids, "pending"])


def backoff_delay(attempts: int, base: float, factor: float, maximum: float) -> float:
    """Seconds to wait after the `attempts`-th failed try (1, 2, ...).

    `base`, `base * factor`, `base * factor**2`, ... capped at `maximum`.
    """
    if attempts < 1:
        return 0.0
    return min(maximum, base * factor ** (attempts - 1))

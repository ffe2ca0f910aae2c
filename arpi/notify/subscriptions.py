"""Who is told what: the notification options as the web UI stores them, validated.

Options read here (reference-web-api 1.11): `notifications/smtp`,
`notifications/gsm`, `notifications/subscriptions` and `system/location`. A missing
row means the defaults (everything off). A value of the wrong type never raises: the
field counts as unset and `option_invalid` is logged naming the field, so a bad
option can silence one target but never the whole notifier.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog

from arpi.db import sql, tables
from arpi.drivers.sms import valid_number

__all__ = [
    "CALL_EVENTS",
    "EVENTS",
    "TARGETS",
    "GsmOptions",
    "NotificationConfig",
    "SmtpOptions",
    "Target",
    "load_config",
    "parse_config",
]

log = structlog.get_logger("arpi.notify")

Channel = Literal["email", "sms", "call"]

# Delivery order within one event (reference 7.1: e-mail, SMS, then calls).
TARGETS: tuple[str, ...] = ("email1", "email2", "sms1", "sms2", "call1", "call2")
EVENTS: tuple[str, ...] = (
    "alert_started",
    "alert_stopped",
    "power_outage_started",
    "power_outage_stopped",
)
# A call carries no words, only tones: it is placed for an alert that starts only.
CALL_EVENTS: frozenset[str] = frozenset({"alert_started"})


def channel_of(target: str) -> Channel:
    """`email1` -> `email`; raises ValueError for an unknown target."""
    if target not in TARGETS:
        raise ValueError(f"unknown notification target {target!r}")
    return target[:-1]  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Target:
    """One subscribed target of an event: `email1` and the address it goes to."""

    name: str
    channel: Channel
    address: str


@dataclass(frozen=True, slots=True)
class SmtpOptions:
    enabled: bool = False
    hostname: str | None = None
    port: int | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    addresses: tuple[str | None, str | None] = (None, None)

    @property
    def usable(self) -> bool:
        """Enabled and with a server to talk to."""
        return self.enabled and bool(self.hostname)


@dataclass(frozen=True, slots=True)
class GsmOptions:
    enabled: bool = False
    numbers: tuple[str | None, str | None] = (None, None)


@dataclass(frozen=True, slots=True)
class NotificationConfig:
    """The notification options at one moment; immutable, safe to share."""

    smtp: SmtpOptions = SmtpOptions()
    gsm: GsmOptions = GsmOptions()
    # target -> events it is subscribed to
    subscriptions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    location: str | None = None

    def address_of(self, target: str) -> str | None:
        """The e-mail address or phone number of `target`, None when unset."""
        channel = channel_of(target)
        slot = int(target[-1]) - 1
        if channel == "email":
            return self.smtp.addresses[slot]
        return self.gsm.numbers[slot]

    def enabled(self, channel: Channel) -> bool:
        return self.smtp.usable if channel == "email" else self.gsm.enabled

    def targets_for(self, kind: str) -> list[Target]:
        """The targets that get `kind`, in delivery order, one per address.

        A target counts when its channel is enabled, it has an address and it is
        subscribed to `kind`; calls only for `CALL_EVENTS`. Two targets with the
        same address on the same channel give one message, not two.
        """
        chosen: list[Target] = []
        seen: set[tuple[str, str]] = set()
        for name in TARGETS:
            channel = channel_of(name)
            if channel == "call" and kind not in CALL_EVENTS:
                continue
            if kind not in self.subscriptions.get(name, frozenset()):
                continue
            address = self.address_of(name)
            if address is None or not self.enabled(channel):
                continue
            if (channel, address) in seen:
                continue
            seen.add((channel, address))
            chosen.append(Target(name, channel, address))
        return chosen


def _value(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    return raw if isinstance(raw, dict) else {}


def _bool(where: str, value: dict[str, Any], key: str) -> bool:
    item = value.get(key, False)
    if isinstance(item, bool):
        return item
    if item is not None:
        log.warning("option_invalid", option=where, field=key, expected="boolean")
    return False


def _text(where: str, value: dict[str, Any], key: str) -> str | None:
    item = value.get(key)
    if item is None:
        return None
    if not isinstance(item, str):
        log.warning("option_invalid", option=where, field=key, expected="string")
        return None
    item = item.strip()
    return item or None


def _email(where: str, value: dict[str, Any], key: str) -> str | None:
    item = _text(where, value, key)
    if item is None:
        return None
    local, at, domain = item.rpartition("@")
    if not at or not local or "." not in domain or any(c in item for c in " \r\n<>,"):
        log.warning(
            "option_invalid", option=where, field=key, expected="e-mail address"
        )
        return None
    return item


def _phone(where: str, value: dict[str, Any], key: str) -> str | None:
    item = _text(where, value, key)
    if item is None:
        return None
    compact = "".join(ch for ch in item if ch not in " -/()")
    if not valid_number(compact):
        log.warning("option_invalid", option=where, field=key, expected="phone number")
        return None
    return compact


def parse_config(options: Mapping[tuple[str, str], Any]) -> NotificationConfig:
    """Build the config from raw option values keyed by (name, section).

    Values may be dicts or JSON text; never raises (see the module docstring).
    """
    smtp = _value(options.get(("notifications", "smtp")))
    where = "notifications/smtp"
    port = smtp.get("smtp_port")
    if port is not None and not (
        isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536
    ):
        log.warning("option_invalid", option=where, field="smtp_port", expected="port")
        port = None
    smtp_options = SmtpOptions(
        enabled=_bool(where, smtp, "enabled"),
        hostname=_text(where, smtp, "smtp_hostname"),
        port=port,
        username=_text(where, smtp, "smtp_username"),
        password=smtp.get("smtp_password")
        if isinstance(smtp.get("smtp_password"), str)
        else None,
        addresses=(
            _email(where, smtp, "email_address_1"),
            _email(where, smtp, "email_address_2"),
        ),
    )

    gsm = _value(options.get(("notifications", "gsm")))
    where = "notifications/gsm"
    gsm_options = GsmOptions(
        enabled=_bool(where, gsm, "enabled"),
        numbers=(
            _phone(where, gsm, "phone_number_1"),
            _phone(where, gsm, "phone_number_2"),
        ),
    )

    subs = _value(options.get(("notifications", "subscriptions")))
    where = "notifications/subscriptions"
    subscriptions: dict[str, frozenset[str]] = {}
    for target in TARGETS:
        events = _value(subs.get(target))
        subscriptions[target] = frozenset(
            event for event in EVENTS if _bool(f"{where}/{target}", events, event)
        )

    location = _text(
        "system/location", _value(options.get(("system", "location"))), "name"
    )
    return NotificationConfig(smtp_options, gsm_options, subscriptions, location)


_PAIRS = (
    ("notifications", "smtp"),
    ("notifications", "gsm"),
    ("notifications", "subscriptions"),
    ("system", "location"),
)


def load_config(cur: Any) -> NotificationConfig:
    """Read the notification options with `cur` (in the caller's transaction).

    Blocks on the database; psycopg2 errors propagate.
    """
    query = (
        sql.Q.from_(tables.option)
        .select(tables.option.name, tables.option.section, tables.option.value)
        .where(tables.option.name.isin([sql.param(), sql.param()]))
    )
    rows = sql.fetch_all(cur, query, ("notifications", "system"))
    found = {(row["name"], row["section"]): row["value"] for row in rows}
    return parse_config({pair: found.get(pair) for pair in _PAIRS})

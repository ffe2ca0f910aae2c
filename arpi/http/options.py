"""Configuration options (reference 1.11 and 2.10, DECISIONS F3, F4).

Twelve known (name, section) pairs, each with its defaults and a value schema that
rejects unknown keys. Reads fill in defaults; secrets leave the front as `******`;
a PUT merges into the stored value and keeps a secret that is missing or `******`.
"""

from __future__ import annotations

import json
from typing import Any

from pypika import Table

from arpi.http.entities import P, Q
from arpi.http.errors import ApiError
from arpi.http.schema import Field, Obj

__all__ = [
    "MASK",
    "OPTIONS",
    "READ_ONLY",
    "SECRETS",
    "masked",
    "merge_value",
    "option_schema",
    "read_option",
]

MASK = "******"

_S = Field("string", nullable=True, max_length=255)
_PW = Field("string", nullable=True, max_length=255)
_B = Field("boolean")
_PORT = Field("integer", nullable=True, minimum=1, maximum=65535)
# A host name or address: no spaces or control characters (they would reach SMTP
# and MQTT protocol lines).
_HOST = Field(
    "string", nullable=True, max_length=255, pattern=r"^[A-Za-z0-9.:\[\]_-]*$"
)
# An e-mail address on one line, without characters that end an SMTP command.
_EMAIL = Field(
    "string", nullable=True, max_length=254, pattern=r"^$|^[^\s<>@,;]+@[^\s<>@,;]+$"
)
# A phone number: digits with an optional leading +, spaces and dashes allowed.
_PHONE = Field("string", nullable=True, max_length=32, pattern=r"^$|^\+?[0-9 -]{3,31}$")
_NOTIFY = Obj(
    {
        k: _B
        for k in (
            "alert_started",
            "alert_stopped",
            "power_outage_started",
            "power_outage_stopped",
        )
    },
    extra="reject",
)
_SUB_DEFAULT = {
    k: False
    for k in (
        "alert_started",
        "alert_stopped",
        "power_outage_started",
        "power_outage_stopped",
    )
}
_MQTT = {
    "hostname": _HOST,
    "port": _PORT,
    "username": _S,
    "password": _PW,
    "tls_enabled": _B,
    "tls_insecure": _B,
}

# (name, section) -> (defaults, field schemas)
OPTIONS: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Field]]] = {
    ("syren", "timing"): (
        {"silent": False, "delay": 0, "duration": 0},
        {
            "silent": Field("boolean", nullable=True),
            "delay": Field("integer", minimum=0, maximum=3600),
            "duration": Field("integer", minimum=0, maximum=86400),
        },
    ),
    ("alert", "sensitivity"): (
        {"monitor_period": None, "monitor_threshold": None},
        {
            "monitor_period": Field("integer", nullable=True, minimum=1, maximum=3600),
            "monitor_threshold": Field(
                "integer", nullable=True, minimum=0, maximum=100
            ),
        },
    ),
    ("notifications", "smtp"): (
        {
            "enabled": False,
            "smtp_hostname": None,
            "smtp_port": None,
            "smtp_username": None,
            "smtp_password": None,
            "email_address_1": None,
            "email_address_2": None,
        },
        {
            "enabled": _B,
            "smtp_hostname": _HOST,
            "smtp_port": _PORT,
            "smtp_username": _S,
            "smtp_password": _PW,
            "email_address_1": _EMAIL,
            "email_address_2": _EMAIL,
        },
    ),
    ("notifications", "gsm"): (
        {
            "enabled": False,
            "pin_code": None,
            "phone_number_1": None,
            "phone_number_2": None,
        },
        {
            "enabled": _B,
            "pin_code": Field("string", nullable=True, max_length=16),
            "phone_number_1": _PHONE,
            "phone_number_2": _PHONE,
        },
    ),
    ("notifications", "subscriptions"): (
        {
            k: dict(_SUB_DEFAULT)
            for k in ("call1", "call2", "sms1", "sms2", "email1", "email2")
        },
        {k: _NOTIFY for k in ("call1", "call2", "sms1", "sms2", "email1", "email2")},
    ),
    ("network", "dyndns"): (
        {
            "username": None,
            "password": None,
            "hostname": None,
            "provider": None,
            "restrict_host": False,
            "certbot_email": None,
        },
        {
            "username": _S,
            "password": _PW,
            "hostname": _S,
            "provider": _S,
            "restrict_host": _B,
            "certbot_email": _S,
        },
    ),
    ("network", "access"): (
        {
            "service_enabled": True,
            "restrict_local_network": False,
            "password_authentication_enabled": True,
        },
        {
            "service_enabled": _B,
            "restrict_local_network": _B,
            "password_authentication_enabled": _B,
        },
    ),
    ("mqtt", "connection"): (
        {"enabled": True, "external": False},
        {"enabled": _B, "external": _B},
    ),
    ("mqtt", "internal_read"): (
        {
            "hostname": "arpi.local",
            "port": 8883,
            "username": "argus_reader",
            "password": None,
            "tls_enabled": True,
            "tls_insecure": True,
        },
        dict(_MQTT),
    ),
    ("mqtt", "external_publish"): (
        {
            "hostname": None,
            "port": 8883,
            "username": None,
            "password": None,
            "tls_enabled": True,
            "tls_insecure": True,
        },
        dict(_MQTT),
    ),
    ("system", "location"): (
        {
            k: None
            for k in (
                "name",
                "description",
                "latitude",
                "longitude",
                "country",
                "city",
                "state",
                "zip_code",
                "address",
                "contact_name",
                "contact_phone",
                "contact_email",
            )
        },
        {
            **{
                k: _S
                for k in (
                    "name",
                    "description",
                    "country",
                    "city",
                    "state",
                    "zip_code",
                    "address",
                    "contact_name",
                    "contact_phone",
                    "contact_email",
                )
            },
            "latitude": Field("scalar", nullable=True, max_length=32),
            "longitude": Field("scalar", nullable=True, max_length=32),
        },
    ),
}
SECRETS: dict[tuple[str, str], tuple[str, ...]] = {
    ("notifications", "smtp"): ("smtp_password",),
    ("notifications", "gsm"): ("pin_code",),
    ("network", "dyndns"): ("password",),
    ("mqtt", "internal_read"): ("password",),
    ("mqtt", "external_publish"): ("password",),
}
READ_ONLY = {("mqtt", "internal_read")}


def option_schema(pair: tuple[str, str]) -> Field:
    return Obj(OPTIONS[pair][1], extra="reject")


def any_option_schema() -> Field:
    """For OpenAPI: the union of every known key (a PUT's value object)."""
    props: dict[str, Field] = {}
    for _, fields in OPTIONS.values():
        for key, spec in fields.items():
            props.setdefault(key, spec)
    return Obj(props)


_T = Table("option")
_GET_SQL = str(Q.from_(_T).select(_T.value).where(_T.name == P).where(_T.section == P))
UPSERT_SQL = str(
    Q.into(_T)
    .columns(_T.name, _T.section, _T.value)
    .insert(P, P, P)
    .on_conflict(_T.name, _T.section)
    .do_update(_T.value)
)


def stored_value(cur: Any, name: str, section: str) -> dict[str, Any] | None:
    cur.execute(_GET_SQL, (name, section))
    row = cur.fetchone()
    if row is None:
        return None
    value = row[0]
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else None


def with_defaults(
    pair: tuple[str, str], stored: dict[str, Any] | None
) -> dict[str, Any]:
    defaults = OPTIONS[pair][0]
    value = json.loads(json.dumps(defaults))
    for key, item in (stored or {}).items():
        if key in value:
            if isinstance(value[key], dict) and isinstance(item, dict):
                value[key].update({k: v for k, v in item.items() if k in value[key]})
            else:
                value[key] = item
    return value


async def read_option(front: Any, name: str, section: str) -> dict[str, Any]:
    """The value of a known pair with defaults filled in (secrets in clear)."""
    pair = (name, section)
    try:
        stored = await front.reads.run(lambda cur: stored_value(cur, name, section))
    except Exception as exc:
        raise ApiError(503, "database not available") from exc
    return with_defaults(pair, stored)


def masked(pair: tuple[str, str], value: dict[str, Any]) -> dict[str, Any]:
    out = dict(value)
    for key in SECRETS.get(pair, ()):
        if out.get(key):
            out[key] = MASK
    return out


def merge_value(
    pair: tuple[str, str], current: dict[str, Any], update: dict[str, Any]
) -> dict[str, Any]:
    """`current` with `update` applied; secrets missing or `******` are kept."""
    merged = json.loads(json.dumps(current))
    secrets = SECRETS.get(pair, ())
    for key, item in update.items():
        if key in secrets and item == MASK:
            continue
        if isinstance(merged.get(key), dict) and isinstance(item, dict):
            merged[key].update(item)
        else:
            merged[key] = item
    return merged

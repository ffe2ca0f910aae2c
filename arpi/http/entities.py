"""Entity tables as the web UI sees them: columns, camelCase keys, SQL built once.

Every statement is built with pypika at import time with `%s` parameters, so a
request does no query building, and rows become JSON dicts by one `zip`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pypika import Order, Parameter, PostgreSQLQuery, Table

from arpi.http.errors import ApiError

__all__ = [
    "AREA",
    "ARM_NAME",
    "ARM_VALUE",
    "CARD",
    "KEYPAD",
    "KEYPAD_TYPE",
    "OUTPUT",
    "SENSOR",
    "SENSOR_TYPE",
    "USER",
    "ZONE",
    "Entity",
    "P",
    "Q",
    "camel",
    "changed_fields",
    "guard_disarmed",
    "local_time",
]

P = Parameter("%s")
Q = PostgreSQLQuery

ARM_VALUE = {
    "AWAY": "arm_away",
    "STAY": "arm_stay",
    "MIXED": "arm_mixed",
    "DISARM": "disarm",
}
ARM_NAME = {v: k for k, v in ARM_VALUE.items()}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def local_time(value: datetime | None) -> str | None:
    """`YYYY-MM-DD HH:MM:SS` in the process's local time zone (W1)."""
    if value is None:
        return None
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Entity:
    table_name: str
    columns: tuple[str, ...]
    order: tuple[str, ...] = ("id",)
    where_live: str | None = None  # a boolean column that hides rows, e.g. deleted
    convert: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    hidden: tuple[str, ...] = ()  # selected but not part of the JSON

    @property
    def table(self) -> Table:
        return Table(self.table_name)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(camel(c) for c in self.columns)

    def select(self) -> Any:
        t = self.table
        q = Q.from_(t).select(*[t.field(c) for c in self.columns + self.hidden])
        if self.where_live:
            q = q.where(t.field(self.where_live).isin([False]))
        return q

    def list_sql(self) -> str:
        q = self.select()
        for col in self.order:
            q = q.orderby(self.table.field(col), order=Order.asc)
        return str(q)

    def get_sql(self) -> str:
        return str(self.select().where(self.table.id == P))

    def to_json(self, row: Sequence[Any]) -> dict[str, Any]:
        # `hidden` columns follow the keys and are dropped here: not strict.
        out = dict(zip(self.keys, row, strict=False))
        for col, fn in self.convert.items():
            key = camel(col)
            out[key] = fn(out[key])
        return out

    def fetch_all(
        self, cur: Any, sql: str | None = None, args: Sequence[Any] = ()
    ) -> list[dict[str, Any]]:
        cur.execute(sql or self.list_sql(), args)
        keys = self.keys
        if not self.convert and not self.hidden:
            return [dict(zip(keys, row, strict=False)) for row in cur.fetchall()]
        return [self.to_json(row) for row in cur.fetchall()]

    def fetch_one(self, cur: Any, ident: int) -> dict[str, Any] | None:
        cur.execute(self.get_sql(), (ident,))
        row = cur.fetchone()
        return None if row is None else self.to_json(row)

    def insert(self, cur: Any, values: Mapping[str, Any]) -> dict[str, Any]:
        t = self.table
        cols = list(values)
        q = (
            Q.into(t)
            .columns(*cols)
            .insert(*[P] * len(cols))
            .returning(*[t.field(c) for c in self.columns + self.hidden])
        )
        cur.execute(str(q), [values[c] for c in cols])
        return self.to_json(cur.fetchone())

    def update(self, cur: Any, ident: int, values: Mapping[str, Any]) -> None:
        if not values:
            return
        t = self.table
        q = Q.update(t)
        for col in values:
            q = q.set(t.field(col), P)
        q = q.where(t.id == P)
        cur.execute(str(q), [*values.values(), ident])


SENSOR = Entity(
    "sensor",
    (
        "id",
        "name",
        "description",
        "channel",
        "channel_type",
        "sensor_contact_type",
        "sensor_eol_count",
        "alert",
        "error",
        "zone_id",
        "area_id",
        "type_id",
        "enabled",
        "silent_alert",
        "monitor_period",
        "monitor_threshold",
        "ui_order",
        "ui_hidden",
    ),
    order=("channel", "id"),
    where_live="deleted",
)
ZONE = Entity(
    "zone",
    (
        "id",
        "name",
        "description",
        "disarmed_delay",
        "away_alert_delay",
        "stay_alert_delay",
        "away_arm_delay",
        "stay_arm_delay",
        "ui_order",
    ),
    order=("ui_order", "id"),
    where_live="deleted",
)
AREA = Entity(
    "area",
    ("id", "name", "arm_state", "ui_order"),
    order=("name", "id"),
    where_live="deleted",
    convert={"arm_state": ARM_VALUE.__getitem__},
)
OUTPUT = Entity(
    "output",
    (
        "id",
        "name",
        "description",
        "channel",
        "state",
        "trigger_type",
        "area_id",
        "delay",
        "duration",
        "default_state",
        "enabled",
        "ui_order",
    ),
    order=("name", "id"),
)
KEYPAD = Entity("keypad", ("id", "type_id", "enabled"), where_live="deleted")
KEYPAD_TYPE = Entity("keypad_type", ("id", "name", "description"))
SENSOR_TYPE = Entity("sensor_type", ("id", "name", "description"))
USER = Entity(
    "user",
    (
        "id",
        "name",
        "email",
        "has_registration_code",
        "has_card",
        "registration_expiry",
        "role",
        "comment",
    ),
    order=("role", "name", "id"),
    convert={"registration_expiry": local_time},
)
CARD = Entity(
    "card", ("id", "user_id", "description", "enabled"), order=("description", "id")
)


def _user_select() -> Any:
    from pypika.terms import ExistsCriterion

    u, c = Table("user"), Table("card")
    has_card = ExistsCriterion(Q.from_(c).select(c.id).where(c.user_id == u.id))
    return Q.from_(u).select(
        u.id,
        u.name,
        u.email,
        u.registration_code.notnull(),
        has_card,
        u.registration_expiry,
        u.role,
        u.comment,
    )


USER_LIST_SQL = str(
    _user_select()
    .orderby(Table("user").role)
    .orderby(Table("user").name)
    .orderby(Table("user").id)
)
USER_GET_SQL = str(_user_select().where(Table("user").id == P))

_ARMED_SQL = str(
    Q.from_(Table("area"))
    .select(Table("area").id)
    .where(Table("area").deleted.isin([False]))
    .where(Table("area").arm_state != "DISARM")
    .limit(1)
)


def guard_disarmed(cur: Any) -> None:
    """Raise 409 when any area is armed (configuration changes need disarm, W6/F2).

    Locks nothing: the storage actor runs transactions one at a time.
    """
    cur.execute(_ARMED_SQL)
    if cur.fetchone() is not None:
        raise ApiError(409, "Configuration changes are not allowed while armed")


def changed_fields(
    current: Mapping[str, Any], wanted: Mapping[str, Any], mapping: Mapping[str, str]
) -> dict[str, Any]:
    """{column: new value} for the camelCase keys of `wanted` that differ."""
    out: dict[str, Any] = {}
    for key, column in mapping.items():
        if key in wanted and wanted[key] != current.get(key):
            out[column] = wanted[key]
    return out

"""Demo data sets for the simulator: `house`, `board2` and `board3`.

`load_demo(cur, name, ...)` writes one set into the database on the caller's
cursor (one transaction; the caller commits). Loading is idempotent: every row is
looked up by its name first and only missing rows are inserted, so loading twice,
or on every start, adds nothing; rows an installer changed since keep their
changes. Access codes and card numbers are stored as bcrypt hashes, like the API
does. The codes are listed in docs/simulator.md; they are demo secrets, never
logged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import bcrypt
import structlog

from arpi.db import sql, tables

__all__ = ["DEMOS", "DemoSet", "LoadReport", "demo_board", "load_demo"]

log = structlog.get_logger("arpi.sim")

# Sensor types (seed): 1 Motion, 2 Tamper, 3 Open, 4 Break.
MOTION, TAMPER, OPEN, BREAK = 1, 2, 3, 4


@dataclass(frozen=True)
class DemoSet:
    """One data set. Sensors and outputs name their zone and area by name."""

    name: str
    board: int
    description: str
    areas: tuple[str, ...]
    zones: tuple[Mapping[str, Any], ...]
    sensors: tuple[Mapping[str, Any], ...]
    users: tuple[Mapping[str, Any], ...] = ()
    outputs: tuple[Mapping[str, Any], ...] = ()
    options: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)


def _zone(
    name: str,
    description: str = "Default zone",
    *,
    disarmed: int | None = None,
    away: int | None = 0,
    stay: int | None = 0,
    away_arm: int | None = 0,
    stay_arm: int | None = 0,
) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "disarmed_delay": disarmed,
        "away_alert_delay": away,
        "stay_alert_delay": stay,
        "away_arm_delay": away_arm,
        "stay_arm_delay": stay_arm,
    }


def _sensor(
    channel: int,
    name: str,
    zone: str,
    area: str,
    type_id: int,
    *,
    channel_type: str = "normal",
    contact: str = "NC",
    eol: str = "single",
    silent: bool = False,
    description: str = "",
    reference: float | None = None,
) -> dict[str, Any]:
    return {
        "channel": channel,
        "name": name,
        "zone": zone,
        "area": area,
        "type_id": type_id,
        "channel_type": channel_type,
        "sensor_contact_type": contact,
        "sensor_eol_count": eol,
        "silent_alert": silent,
        "description": description or name,
        "reference_value": reference,
    }


HOUSE = DemoSet(
    name="house",
    board=3,
    description="A house with a garage: entry door, hall motion, windows, garage, "
    "a tamper line, two areas, three users and three outputs",
    areas=("House", "Garage"),
    zones=(
        _zone(
            "Entry",
            "Front door: entry and exit delay",
            away=20,
            stay=20,
            away_arm=30,
            stay_arm=30,
        ),
        _zone(
            "Interior follower",
            "Alerts when armed away; quiet when armed stay",
            away=20,
            stay=None,
            away_arm=30,
            stay_arm=None,
        ),
        _zone(
            "Perimeter",
            "Windows: instant alert",
            away=0,
            stay=0,
            away_arm=30,
            stay_arm=30,
        ),
        _zone(
            "Garage",
            "Garage door: short entry delay",
            away=10,
            stay=10,
            away_arm=30,
            stay_arm=30,
        ),
        _zone("Tamper", "24 hour sabotage line", disarmed=0, away=0, stay=0),
    ),
    sensors=(
        _sensor(0, "Front door", "Entry", "House", OPEN),
        _sensor(1, "Hall motion", "Interior follower", "House", MOTION),
        _sensor(2, "Kitchen window", "Perimeter", "House", OPEN, eol="double"),
        _sensor(3, "Bedroom window", "Perimeter", "House", OPEN),
        _sensor(4, "Living glass", "Perimeter", "House", BREAK, contact="NO"),
        _sensor(5, "Garage door", "Garage", "Garage", OPEN),
        _sensor(6, "Garage motion", "Perimeter", "Garage", MOTION),
        _sensor(7, "Box tamper", "Tamper", "House", TAMPER),
    ),
    users=(
        {
            "name": "Resident",
            "role": "user",
            "code": "1111",
            "card": "12345678",
            "email": "resident@example.com",
        },
        {
            "name": "Installer",
            "role": "admin",
            "code": "567890",
            "email": "installer@example.com",
        },
    ),
    outputs=(
        {
            "name": "Armed lamp",
            "channel": 1,
            "trigger_type": "system",
            "description": "On while the system is armed",
        },
        {
            "name": "Garage light",
            "channel": 2,
            "trigger_type": "area",
            "area": "Garage",
            "duration": 60,
            "description": "On for a minute when the garage alarms",
        },
        {
            "name": "Gate",
            "channel": 3,
            "trigger_type": "button",
            "duration": 2,
            "description": "A two-second gate opener pulse",
        },
    ),
    options={
        ("syren", "timing"): {"silent": False, "delay": 0, "duration": 120},
        ("notifications", "gsm"): {
            "enabled": True,
            "pin_code": None,
            "phone_number_1": "+36301234567",
            "phone_number_2": None,
        },
        ("notifications", "smtp"): {
            "enabled": True,
            "smtp_hostname": "127.0.0.1",
            "smtp_port": 2525,
            "smtp_username": "",
            "smtp_password": "",
            "email_address_1": "owner@example.com",
            "email_address_2": None,
        },
        ("notifications", "subscriptions"): {
            target: {
                event: target in ("sms1", "email1")
                for event in (
                    "alert_started",
                    "alert_stopped",
                    "power_outage_started",
                    "power_outage_stopped",
                )
            }
            for target in ("call1", "call2", "sms1", "sms2", "email1", "email2")
        },
        ("system", "location"): {"name": "Demo house", "description": None},
    },
)

_V3_ZONES = (
    _zone("No delay"),
    _zone("Tamper", disarmed=0, away=0, stay=0),
    _zone("Away/stay delayed", away=5, stay=5),
    _zone("Stay delayed", stay=5),
    _zone("Stay", stay=None),
)
_CHUCK = ({"name": "Chuck Norris", "role": "user", "code": "1111"},)

BOARD3 = DemoSet(
    name="board3",
    board=3,
    description="The reference's board 3 test set (test_with_v3)",
    areas=("House",),
    zones=_V3_ZONES,
    sensors=(
        _sensor(
            0,
            "Test room",
            "No delay",
            "House",
            MOTION,
            channel_type="channel_a",
            silent=True,
        ),
        _sensor(
            0,
            "Test room 0",
            "Away/stay delayed",
            "House",
            MOTION,
            channel_type="channel_b",
        ),
        _sensor(1, "Basic", "Stay", "House", OPEN, channel_type="basic", reference=0.7),
        _sensor(2, "Normal", "Stay delayed", "House", OPEN),
        _sensor(3, "Normal NO", "No delay", "House", OPEN, contact="NO"),
        _sensor(4, "Double EOL", "No delay", "House", OPEN, eol="double"),
        _sensor(5, "Tamper", "Tamper", "House", TAMPER),
    ),
    users=_CHUCK,
)

BOARD2 = DemoSet(
    name="board2",
    board=2,
    description="The reference's board 2 test set (test_with_v2)",
    areas=("House",),
    zones=(
        _zone("No delay"),
        _zone("Tamper", disarmed=0, away=0, stay=0),
        _zone("Away/stay delayed", away=10, stay=10),
        _zone("Stay delayed", stay=10),
        _zone("Stay", stay=None),
    ),
    sensors=(
        _sensor(
            0,
            "Test room",
            "No delay",
            "House",
            MOTION,
            channel_type="basic",
            reference=0.0,
            silent=True,
        ),
        _sensor(
            1,
            "Test room 0",
            "Away/stay delayed",
            "House",
            MOTION,
            channel_type="basic",
            reference=0.0,
        ),
        _sensor(
            2, "Tamper", "Tamper", "House", TAMPER, channel_type="basic", reference=0.0
        ),
    ),
    users=_CHUCK,
)

DEMOS: dict[str, DemoSet] = {d.name: d for d in (HOUSE, BOARD3, BOARD2)}


def demo_board(name: str) -> int:
    """The board (2 or 3) a demo set is made for. Raises ValueError naming it."""
    if name not in DEMOS:
        raise ValueError(f"--demo must be one of {', '.join(DEMOS)}, got {name!r}")
    return DEMOS[name].board


@dataclass
class LoadReport:
    """What a load inserted (all zero when everything was there already)."""

    inserted: dict[str, int] = field(default_factory=dict)

    def add(self, what: str) -> None:
        self.inserted[what] = self.inserted.get(what, 0) + 1

    @property
    def changed(self) -> bool:
        return any(self.inserted.values())


def _id_by_name(cur: Any, table: Any, name: str, *, live: bool = True) -> int | None:
    query = sql.Q.from_(table).select(table.id).where(table.name == sql.param())
    if live:
        query = query.where(table.deleted.isin([False]))
    return sql.fetch_value(cur, query.orderby(table.id).limit(1), (name,))


def _insert(cur: Any, table: Any, values: Mapping[str, Any]) -> int:
    columns = list(values)
    query = (
        sql.Q.into(table)
        .columns(*columns)
        .insert(*[sql.param() for _ in columns])
        .returning(table.id)
    )
    return int(sql.insert_returning(cur, query, list(values.values()))["id"])


def load_demo(
    cur: Any,
    name: str,
    *,
    bcrypt_rounds: int = 12,
    smtp_port: int | None = None,
    hasher: Callable[[str, int], str] | None = None,
) -> LoadReport:
    """Insert the missing rows of demo set `name`; returns what was inserted.

    `smtp_port`: the simulator's mail sink; written into `notifications/smtp`
    when that option is missing or still points at 127.0.0.1. Raises ValueError for
    an unknown name; psycopg2 errors propagate. Blocks (bcrypt, database): call it on
    a thread that may block.
    """
    if name not in DEMOS:
        raise ValueError(f"--demo must be one of {', '.join(DEMOS)}, got {name!r}")
    demo = DEMOS[name]
    hash_ = hasher or (
        lambda text, rounds: bcrypt.hashpw(
            text.encode(), bcrypt.gensalt(rounds)
        ).decode()
    )
    report = LoadReport()

    areas: dict[str, int] = {}
    for area in demo.areas:
        ident = _id_by_name(cur, tables.area, area)
        if ident is None:
            ident = _insert(cur, tables.area, {"name": area})
            report.add("areas")
        areas[area] = ident

    zones: dict[str, int] = {}
    for zone in demo.zones:
        ident = _id_by_name(cur, tables.zone, zone["name"])
        if ident is None:
            ident = _insert(cur, tables.zone, zone)
            report.add("zones")
        zones[zone["name"]] = ident

    for sensor in demo.sensors:
        if _id_by_name(cur, tables.sensor, sensor["name"]) is not None:
            continue
        values = {k: v for k, v in sensor.items() if k not in ("zone", "area")}
        values["zone_id"] = zones[sensor["zone"]]
        values["area_id"] = areas[sensor["area"]]
        _insert(cur, tables.sensor, values)
        report.add("sensors")

    u = tables.user
    for user in demo.users:
        found = sql.fetch_value(
            cur,
            sql.Q.from_(u).select(u.id).where(u.name == sql.param()).limit(1),
            (user["name"],),
        )
        if found is None:
            code = user["code"]
            found = _insert(
                cur,
                u,
                {
                    "name": user["name"],
                    "role": user["role"],
                    "email": user.get("email", ""),
                    "access_code": hash_(code, bcrypt_rounds),
                    "fourkey_code": hash_(code[:4], bcrypt_rounds),
                    "comment": "demo user (code in docs/simulator.md)",
                },
            )
            report.add("users")
            if user.get("card"):
                _insert(
                    cur,
                    tables.card,
                    {
                        "code": hash_(user["card"], bcrypt_rounds),
                        "user_id": found,
                        "description": f"demo card {user['card']}",
                    },
                )
                report.add("cards")

    o = tables.output
    for output in demo.outputs:
        taken = sql.fetch_value(
            cur,
            sql.Q.from_(o)
            .select(o.id)
            .where((o.name == sql.param()) | (o.channel == sql.param()))
            .limit(1),
            (output["name"], output["channel"]),
        )
        if taken is not None:
            continue
        values = {k: v for k, v in output.items() if k != "area"}
        if "area" in output:
            values["area_id"] = areas[output["area"]]
        _insert(cur, o, values)
        report.add("outputs")

    for (option_name, section), value in demo.options.items():
        _put_option(cur, option_name, section, value, smtp_port, report)
    if not demo.options and smtp_port is not None:
        _put_option(cur, "notifications", "smtp", None, smtp_port, report)
    log.info("demo_loaded", demo=name, inserted=report.inserted)
    return report


def _put_option(
    cur: Any,
    option_name: str,
    section: str,
    value: Mapping[str, Any] | None,
    smtp_port: int | None,
    report: LoadReport,
) -> None:
    t = tables.option
    current = sql.fetch_value(
        cur,
        sql.Q.from_(t)
        .select(t.value)
        .where(t.name == sql.param())
        .where(t.section == sql.param()),
        (option_name, section),
    )
    if isinstance(current, str):
        current = json.loads(current)
    smtp = (option_name, section) == ("notifications", "smtp")
    if current is None:
        if value is None:
            return
        stored = dict(value)
        if smtp and smtp_port is not None:
            stored["smtp_port"] = smtp_port
        _insert(
            cur,
            t,
            {"name": option_name, "section": section, "value": json.dumps(stored)},
        )
        report.add("options")
        return
    if (
        smtp
        and smtp_port is not None
        and isinstance(current, dict)
        and (
            current.get("smtp_hostname") in ("127.0.0.1", "localhost")
            and current.get("smtp_port") != smtp_port
        )
    ):
        # The sink listens on a new port each start; follow it while the option
        # still points at this machine.
        updated = {**current, "smtp_port": smtp_port}
        sql.execute(
            cur,
            sql.Q.update(t)
            .set(t.value, sql.param())
            .where(
                t.id.isin(
                    sql.Q.from_(t)
                    .select(t.id)
                    .where(t.name == sql.param())
                    .where(t.section == sql.param())
                )
            ),
            (json.dumps(updated), option_name, section),
        )

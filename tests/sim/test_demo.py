"""Demo data sets: loaded through the database, idempotent, lines idle for them."""

from __future__ import annotations

import json
from typing import Any

import bcrypt
import pytest

from arpi.sim.demo import DEMOS, demo_board, load_demo

COUNTED = ("area", "zone", "sensor", '"user"', "card", "output", "option")


def _counts(db: Any) -> dict[str, int]:
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            out = {}
            for table in COUNTED:
                cur.execute(f"SELECT count(*) FROM {table}")
                out[table] = cur.fetchone()[0]
            return out
    finally:
        conn.close()


def _load(db: Any, name: str, port: int | None = None) -> Any:
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            report = load_demo(cur, name, bcrypt_rounds=4, smtp_port=port)
        conn.commit()
        return report
    finally:
        conn.close()


def _option(db: Any, name: str, section: str) -> Any:
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT value FROM option WHERE name = %s AND section = %s",
                (name, section),
            )
            row = cur.fetchone()
            value = row[0] if row else None
            return json.loads(value) if isinstance(value, str) else value
    finally:
        conn.close()


@pytest.mark.parametrize("name", sorted(DEMOS))
def test_loading_twice_adds_nothing_the_second_time(db: Any, name: str) -> None:
    first = _load(db, name, port=2600)
    assert first.inserted["sensors"] == len(DEMOS[name].sensors)
    after_first = _counts(db)
    second = _load(db, name, port=2600)
    assert not second.changed
    assert _counts(db) == after_first


def test_house_has_users_with_known_codes_and_follows_the_mail_sink(db: Any) -> None:
    _load(db, "house", port=2601)
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute('SELECT name, role, access_code FROM "user" ORDER BY name')
            users = {name: (role, code) for name, role, code in cur.fetchall()}
            cur.execute("SELECT count(*) FROM area WHERE NOT deleted")
            areas = cur.fetchone()[0]
    finally:
        conn.close()
    assert users["Resident"][0] == "user"
    assert bcrypt.checkpw(b"1111", users["Resident"][1].encode())
    assert bcrypt.checkpw(b"567890", users["Installer"][1].encode())
    assert areas == 2
    assert _option(db, "notifications", "smtp")["smtp_port"] == 2601
    _load(db, "house", port=2602)  # the sink moved: the option follows it
    assert _option(db, "notifications", "smtp")["smtp_port"] == 2602


def test_unknown_names_are_refused(db: Any) -> None:
    with pytest.raises(ValueError, match="--demo"):
        _load(db, "castle")
    with pytest.raises(ValueError, match="--demo"):
        demo_board("castle")
    assert demo_board("board2") == 2

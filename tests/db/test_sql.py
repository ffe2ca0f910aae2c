"""pypika helpers: values travel as parameters, rows come back as dicts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pypika import Order, functions

from arpi.db import Database, sql
from arpi.db.tables import area, sensor_type, user


@pytest.fixture
def cur(db: Database) -> Iterator[Any]:
    conn = db.connect()
    try:
        with conn.cursor() as cursor:
            yield cursor
    finally:
        conn.rollback()
        conn.close()


def test_fetch_all_and_one_with_positional_parameters(cur: Any) -> None:
    query = (
        sql.Q.from_(sensor_type)
        .select(sensor_type.id, sensor_type.name)
        .where(sensor_type.id >= sql.param())
        .orderby(sensor_type.id, order=Order.asc)
    )

    assert sql.fetch_all(cur, query, (3,)) == [
        {"id": 3, "name": "Open"},
        {"id": 4, "name": "Break"},
    ]
    assert sql.fetch_one(cur, query, (4,)) == {"id": 4, "name": "Break"}
    assert sql.fetch_one(cur, query, (9,)) is None
    assert sql.fetch_value(cur, query, (2,)) == 2


def test_insert_returning_with_named_parameters(cur: Any) -> None:
    hostile = "Bob'); DROP TABLE area; --"
    query = (
        sql.Q.into(area)
        .columns(area.name)
        .insert(sql.param("name"))
        .returning(area.id, area.name, area.arm_state)
    )

    row = sql.insert_returning(cur, query, {"name": hostile[:32]})

    assert row["name"] == hostile[:32] and row["arm_state"] == "DISARM"
    assert sql.fetch_value(cur, sql.Q.from_(area).select(functions.Count(area.id))) == 2


def test_execute_counts_rows(cur: Any) -> None:
    query = (
        sql.Q.update(user).set(user.comment, sql.param()).where(user.id == sql.param())
    )

    assert sql.execute(cur, query, ("hello", 1)) == 1
    assert sql.execute(cur, query, ("hello", 2)) == 0


def test_insert_returning_without_a_row_is_an_error(cur: Any) -> None:
    query = (
        sql.Q.update(user)
        .set(user.comment, sql.param())
        .where(user.id == sql.param())
        .returning(user.id)
    )

    with pytest.raises(LookupError):
        sql.insert_returning(cur, query, ("x", 424242))


def test_values_written_into_the_sql_are_refused(cur: Any) -> None:
    query = sql.Q.from_(user).select(user.id).where(user.name == "Administrator")

    with pytest.raises(ValueError, match="use sql.param"):
        sql.fetch_all(cur, query)


def test_parameter_names_must_be_identifiers() -> None:
    with pytest.raises(ValueError, match="identifier"):
        sql.param("a)s; --")

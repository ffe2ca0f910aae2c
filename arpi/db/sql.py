"""Run pypika queries on a psycopg2 cursor with the values passed as parameters.

Build the statement with pypika, put `param()` (positional, `%s`) or `param("name")`
(named, `%(name)s`) where a value goes, and hand the values to the helper::

    from arpi.db import sql
    from arpi.db.tables import user

    query = sql.Q.from_(user).select(user.id, user.name).where(user.id == sql.param())
    row = sql.fetch_one(cur, query, (user_id,))        # {"id": ..., "name": ...} | None

    query = (
        sql.Q.into(user)
        .columns(user.name, user.role)
        .insert(sql.param("name"), sql.param("role"))
        .returning(user.id)
    )
    new_id = sql.insert_returning(cur, query, {"name": name, "role": "user"})["id"]

Values never go into the SQL text: a pypika query whose SQL contains a quoted string
literal (what pypika renders for a Python string compared or inserted directly) is
refused with ValueError. Because `%` marks a parameter, a literal `%` in SQL must be
written `%%`; put LIKE patterns in parameters instead.

Every helper runs on the caller's thread and blocks on the database; psycopg2 errors
propagate unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from pypika import Parameter, PostgreSQLQuery
from pypika.queries import QueryBuilder, Term

__all__ = [
    "Params",
    "Q",
    "execute",
    "fetch_all",
    "fetch_one",
    "fetch_value",
    "insert_returning",
    "param",
    "to_sql",
]

# The query builder to use: PostgreSQL quoting and RETURNING support.
Q = PostgreSQLQuery

Params: TypeAlias = Sequence[Any] | Mapping[str, Any] | None


def param(name: str | None = None) -> Parameter:
    """A placeholder for one value: `%s`, or `%(name)s` when `name` is given."""
    if name is None:
        return Parameter("%s")
    if not name.isidentifier():
        raise ValueError(f"parameter name must be an identifier, got {name!r}")
    return Parameter(f"%({name})s")


def to_sql(query: QueryBuilder | Term | str) -> str:
    """The SQL text of `query`; raises ValueError if a string value was inlined.

    A plain `str` is taken as hand-written SQL and returned unchanged (for the rare
    statement pypika cannot express); it must use placeholders all the same.
    """
    if isinstance(query, str):
        return query
    text = query.get_sql()
    if "'" in text:
        raise ValueError(
            "a value was written into the SQL text; use sql.param() and pass it "
            f"as a parameter: {text}"
        )
    return text


def execute(cur: Any, query: QueryBuilder | Term | str, params: Params = None) -> int:
    """Run a statement; returns the number of rows it affected."""
    cur.execute(to_sql(query), params)
    return cur.rowcount


def fetch_all(
    cur: Any, query: QueryBuilder | Term | str, params: Params = None
) -> list[dict[str, Any]]:
    """Run a query; returns every row as a dict keyed by column name."""
    cur.execute(to_sql(query), params)
    return _rows(cur, cur.fetchall())


def fetch_one(
    cur: Any, query: QueryBuilder | Term | str, params: Params = None
) -> dict[str, Any] | None:
    """Run a query; returns the first row as a dict, or None when there is none."""
    cur.execute(to_sql(query), params)
    row = cur.fetchone()
    return None if row is None else _rows(cur, [row])[0]


def fetch_value(
    cur: Any, query: QueryBuilder | Term | str, params: Params = None
) -> Any:
    """Run a query; returns the first column of the first row, or None."""
    cur.execute(to_sql(query), params)
    row = cur.fetchone()
    return None if row is None else row[0]


def insert_returning(
    cur: Any, query: QueryBuilder | Term | str, params: Params = None
) -> dict[str, Any]:
    """Run an INSERT/UPDATE ... RETURNING; returns the first returned row as a dict.

    Raises LookupError if the statement returned no row (e.g. an UPDATE that
    matched nothing).
    """
    row = fetch_one(cur, query, params)
    if row is None:
        raise LookupError("the statement returned no row")
    return row


def _rows(cur: Any, rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    if rows and isinstance(rows[0], Mapping):
        return [dict(row) for row in rows]
    names = [column[0] for column in cur.description]
    return [dict(zip(names, row, strict=True)) for row in rows]

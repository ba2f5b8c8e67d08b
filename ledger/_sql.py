"""Small SQL helpers that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ledger.scope import connection_of

__all__ = ["insert_ignore", "upsert"]


def _insert(session: Session, table: sa.Table) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"ledger backend {dialect!r} is not supported")


def _scoped(
    session: Session, table: sa.Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> tuple[Sequence[dict[str, Any]], list[str]]:
    """The rows and natural key of a connection-scoped table, with the session's connection
    in both (``ledger.scope``): Core statements bypass the ORM's scoping."""
    if "connection" not in table.c:
        return rows, list(keys)
    name = connection_of(session)
    scoped = [row if "connection" in row else {**row, "connection": name} for row in rows]
    return scoped, ["connection", *(key for key in keys if key != "connection")]


def insert_ignore(
    session: Session, table: sa.Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> None:
    """INSERT rows, silently skipping those whose ``keys`` already exist (race-free)."""
    if rows:
        rows, index = _scoped(session, table, rows, keys)
        session.execute(_insert(session, table).on_conflict_do_nothing(index_elements=index), rows)


def upsert(
    session: Session,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """INSERT rows, or UPDATE the ``update`` columns of those whose ``keys`` exist."""
    if not rows:
        return
    rows, index = _scoped(session, table, rows, keys)
    stmt = _insert(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=index, set_={name: stmt.excluded[name] for name in update}
    )
    session.execute(stmt, rows)

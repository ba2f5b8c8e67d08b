"""Connections scope the ledger: every row belongs to one connection (one Rackbeat account <->
one PowerOffice Go client), and a session sees and writes only its own connection's rows.

A session made by :func:`ledger.make_session_factory` carries its connection in
``session.info`` (``default`` unless told otherwise: the single-company path). Two listeners
on every :class:`~sqlalchemy.orm.Session` then keep it in its lane, so that the repository
functions need not repeat the filter in each of their queries:

- ORM SELECT, UPDATE and DELETE statements on a :class:`Scoped` model get
  ``WHERE <table>.connection = :connection`` (SQLAlchemy's ``with_loader_criteria``, also on
  the joined and aliased entities);
- a new ORM object is given the session's connection at flush.

What those listeners cannot see is written out by hand: Core statements on ``Table`` objects
(the claim statements in ``ledger.claims``, ``insert_ignore``/``upsert`` in ``ledger._sql``)
pass :func:`connection_of` themselves. A session made with ``connection=ALL`` is not scoped:
the fleet-wide views (the sweep over every connection, metrics, ``status`` of all) use it, and
read each row's ``connection`` column instead of writing through it.
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column, with_loader_criteria

__all__ = [
    "ALL",
    "CONNECTION_INFO",
    "CONNECTION_NAME_LENGTH",
    "DEFAULT_CONNECTION",
    "Scoped",
    "connection_of",
    "is_scoped",
    "scoped_connection",
]

DEFAULT_CONNECTION: Final = "default"
"""The connection the environment variables define (and every row before connections)."""

ALL: Final = "*"
"""``make_session_factory(engine, connection=ALL)``: a session that sees every connection."""

CONNECTION_INFO: Final = "rbsync_connection"
"""The key of a session's connection in ``Session.info``."""

CONNECTION_NAME_LENGTH: Final = 64


class Scoped:
    """Mixin of the models whose rows belong to one connection (the ``connection`` column)."""

    connection: Mapped[str] = mapped_column(
        sa.String(CONNECTION_NAME_LENGTH),
        default=DEFAULT_CONNECTION,
        server_default=DEFAULT_CONNECTION,
    )


def _named(executor: Session | sa.Connection) -> str:
    if isinstance(executor, Session):
        return str(executor.info.get(CONNECTION_INFO, DEFAULT_CONNECTION))
    return str(executor.get_execution_options().get(CONNECTION_INFO, DEFAULT_CONNECTION))


def connection_of(executor: Session | sa.Connection) -> str:
    """The connection a session (``Session.info``) or a Core connection (its execution option
    ``rbsync_connection``, see :func:`scoped_connection`) works for; an unscoped one writes
    as ``default``."""
    name = _named(executor)
    return DEFAULT_CONNECTION if name == ALL else name


def is_scoped(executor: Session | sa.Connection) -> bool:
    """Whether ``executor`` sees only one connection's rows."""
    return _named(executor) != ALL


def scoped_connection(connection: sa.Connection, name: str) -> sa.Connection:
    """``connection`` working for connection ``name``: the repository functions that take a Core
    connection (the claims, the remote links: the hot path) read it with
    :func:`connection_of` and filter by it themselves."""
    return connection.execution_options(**{CONNECTION_INFO: name})


@sa.event.listens_for(Session, "do_orm_execute")
def _only_this_connection(state: ORMExecuteState) -> None:
    name = state.session.info.get(CONNECTION_INFO, DEFAULT_CONNECTION)
    if name == ALL or not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the parent row was scoped already
    state.statement = state.statement.options(
        with_loader_criteria(
            Scoped,
            lambda cls: cls.connection == name,
            include_aliases=True,
        )
    )


@sa.event.listens_for(Session, "before_flush")
def _new_rows_belong_here(session: Session, _context: Any, _instances: Any) -> None:
    name = connection_of(session)
    for obj in session.new:
        if isinstance(obj, Scoped) and getattr(obj, "connection", None) is None:
            obj.connection = name

"""Engines and sessions for the ledger, tuned per backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledger.scope import CONNECTION_INFO, DEFAULT_CONNECTION

__all__ = ["SQLITE_BUSY_TIMEOUT_MS", "make_engine", "make_session_factory"]

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for another process's write lock before giving up."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``: WAL + busy timeout on SQLite; pre-ping and no server-side
    prepared statements on PostgreSQL.

    SQLite is shared by the CLI and worker processes in embedded mode, so it runs in WAL mode
    (readers never block the writer) and waits for locks instead of failing at once.
    """
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            **kwargs,
        )
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        sa.event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if parsed.get_driver_name() == "psycopg":
        # No server-side prepared statements: PostgreSQL would soon switch them to a generic
        # plan, chosen while the table was small (a sequential scan for `key IN (500 keys)`)
        # and kept as it grew -- the first poll of 100,000 products then scanned the whole
        # table per batch (measured: PostgreSQL's CPU per entity grew from 0.6 ms at 12,700
        # rows to 10 ms at 100,000). Each statement is planned for its own values instead;
        # this also suits a connection pooler in transaction mode.
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("prepare_threshold", None)
        kwargs["connect_args"] = connect_args
    return sa.create_engine(url, **kwargs)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin, so that the
    # BEGIN IMMEDIATE below takes the write lock up front (no deadlock on lock upgrade).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_on_begin(connection: sa.Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(
    engine: Engine, connection: str = DEFAULT_CONNECTION
) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit (rows are handed to task code), scoped to
    ``connection`` (``ledger.scope``; ``ALL``: unscoped, for the fleet-wide views)."""
    return sessionmaker(engine, expire_on_commit=False, info={CONNECTION_INFO: connection})

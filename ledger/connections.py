"""Stored connections: one Rackbeat account <-> one PowerOffice Go client per row.

Repository functions on a ``Session`` (the caller commits). The two credentials are encrypted
with a :class:`ledger.secrets.SecretBox` before they are written and only decrypted on request
(:func:`connection_credentials`); a :class:`StoredConnection` carries them encrypted and its
``repr`` leaves them out. Which connections a deployment serves (these rows, or the one
environment-defined ``default``) is decided in ``wiring.connections``.

:func:`purge_connection` deletes one connection's rows from every ledger table that has a
``connection`` column, children before parents.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger.models import Base, Connection
from ledger.secrets import SecretBox, UndecryptableError
from ledger.types import utcnow

__all__ = [
    "CONNECTION_COLUMN",
    "CONNECTION_STATES",
    "NAME_PATTERN",
    "ConnectionCredentials",
    "ConnectionExistsError",
    "StoredConnection",
    "add_connection",
    "connection_credentials",
    "get_connection",
    "list_connections",
    "purge_connection",
    "reencrypt_connections",
    "remove_connection",
    "set_connection_state",
    "validate_name",
]

CONNECTION_STATES = ("active", "paused", "broken")
"""active: synced; paused: stopped by an operator; broken: credentials or module refused."""

CONNECTION_COLUMN = "connection"
"""The column that names the connection a ledger row belongs to (in every table that has one)."""

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
"""Connection names: lower-case letters, digits, ``-`` and ``_``, at most 64 characters. They
appear in task arguments, lock and Redis keys, metrics labels and logs: nothing to quote."""


class ConnectionExistsError(ValueError):
    """A connection of that name is stored already."""


@dataclass(frozen=True)
class ConnectionCredentials:
    """A connection's two secrets in clear: keep them in memory, never log or store them."""

    rackbeat_token: str = field(repr=False)
    client_key: str = field(repr=False)


@dataclass(frozen=True)
class StoredConnection:
    """One ``connections`` row; the credentials stay encrypted (and out of ``repr``)."""

    name: str
    rackbeat_account_id: str | None
    options: dict[str, Any]
    state: str
    state_reason: str | None
    state_at: datetime | None
    created_at: datetime
    updated_at: datetime
    rackbeat_token_encrypted: str = field(repr=False)
    client_key_encrypted: str = field(repr=False)


def validate_name(name: str) -> str:
    """``name`` if it is a valid connection name, else ``ValueError`` saying what is allowed."""
    if not NAME_PATTERN.match(name):
        raise ValueError(
            f"connection name {name!r} is not allowed: use 1 to 64 lower-case letters, digits, "
            "'-' or '_', starting with a letter or digit"
        )
    return name


def _validate_state(state: str) -> str:
    if state not in CONNECTION_STATES:
        raise ValueError(f"unknown state {state!r}; expected one of {', '.join(CONNECTION_STATES)}")
    return state


def _stored(row: Connection) -> StoredConnection:
    return StoredConnection(
        name=row.name,
        rackbeat_account_id=row.rackbeat_account_id,
        options=dict(row.options or {}),
        state=row.state,
        state_reason=row.state_reason,
        state_at=row.state_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        rackbeat_token_encrypted=row.rackbeat_token_encrypted,
        client_key_encrypted=row.client_key_encrypted,
    )


def add_connection(
    session: Session,
    name: str,
    *,
    credentials: ConnectionCredentials,
    box: SecretBox,
    rackbeat_account_id: str | None = None,
    options: Mapping[str, Any] | None = None,
    replace: bool = False,
) -> StoredConnection:
    """Store a connection, its credentials encrypted with ``box``'s first key; state active.

    ``replace``: an existing row of that name gets the new credentials, account id and options
    and becomes active again (its ledger history stays); without it an existing row raises
    :class:`ConnectionExistsError`.
    """
    validate_name(name)
    now = utcnow()
    row = session.get(Connection, name)
    if row is not None and not replace:
        raise ConnectionExistsError(f"connection {name!r} exists already")
    if row is None:
        row = Connection(name=name, created_at=now)
        session.add(row)
    row.rackbeat_token_encrypted = box.encrypt(credentials.rackbeat_token)
    row.client_key_encrypted = box.encrypt(credentials.client_key)
    row.rackbeat_account_id = rackbeat_account_id
    row.options = dict(options or {})
    row.state = "active"
    row.state_reason = None
    row.state_at = now
    row.updated_at = now
    session.flush()
    return _stored(row)


def get_connection(session: Session, name: str) -> StoredConnection | None:
    """The stored connection ``name``, or None."""
    row = session.get(Connection, name)
    return None if row is None else _stored(row)


def list_connections(session: Session) -> list[StoredConnection]:
    """Every stored connection, by name."""
    rows = session.scalars(sa.select(Connection).order_by(Connection.name))
    return [_stored(row) for row in rows]


def connection_credentials(stored: StoredConnection, box: SecretBox) -> ConnectionCredentials:
    """The connection's credentials in clear.

    Raises :class:`ledger.secrets.UndecryptableError` naming the connection when ``box`` holds
    no key that opens them.
    """
    try:
        return ConnectionCredentials(
            rackbeat_token=box.decrypt(stored.rackbeat_token_encrypted),
            client_key=box.decrypt(stored.client_key_encrypted),
        )
    except UndecryptableError as exc:
        raise UndecryptableError(
            f"cannot decrypt connection {stored.name}'s credentials: {exc}"
        ) from None


def set_connection_state(session: Session, name: str, state: str, reason: str | None) -> bool:
    """Set ``name``'s state (and why, and since when); False when no such row is stored."""
    _validate_state(state)
    now = utcnow()
    result = session.execute(
        sa.update(Connection)
        .where(Connection.name == name)
        .values(state=state, state_reason=reason, state_at=now, updated_at=now)
    )
    return bool(getattr(result, "rowcount", 0))


def remove_connection(session: Session, name: str) -> bool:
    """Delete the stored connection ``name`` (its ledger rows stay); False when there is none."""
    result = session.execute(sa.delete(Connection).where(Connection.name == name))
    return bool(getattr(result, "rowcount", 0))


def purge_connection(
    session: Session, name: str, *, metadata: sa.MetaData | None = None
) -> dict[str, int]:
    """Delete ``name``'s rows from every table of ``metadata`` (the ledger's by default) that
    has a ``connection`` column, dependants first; the rows deleted per table.

    Generic on purpose: any table given a ``connection`` column is covered without a change
    here. The ``connections`` row itself is :func:`remove_connection`'s.
    """
    tables = (metadata or Base.metadata).sorted_tables
    deleted: dict[str, int] = {}
    for table in reversed(tables):
        column = table.columns.get(CONNECTION_COLUMN)
        if column is None:
            continue
        result = session.execute(sa.delete(table).where(column == name))
        deleted[table.name] = int(getattr(result, "rowcount", 0) or 0)
    return deleted


def reencrypt_connections(session: Session, box: SecretBox) -> tuple[int, int]:
    """Re-encrypt every stored connection's credentials with ``box``'s first key.

    All or nothing within the caller's transaction: the first row no key opens raises
    :class:`ledger.secrets.UndecryptableError` naming it. Returns (rows re-encrypted, rows
    already under the first key).
    """
    changed = current = 0
    for row in session.scalars(sa.select(Connection).order_by(Connection.name).with_for_update()):
        if box.is_current(row.rackbeat_token_encrypted) and box.is_current(
            row.client_key_encrypted
        ):
            current += 1
            continue
        try:
            row.rackbeat_token_encrypted = box.rotate(row.rackbeat_token_encrypted)
            row.client_key_encrypted = box.rotate(row.client_key_encrypted)
        except UndecryptableError as exc:
            raise UndecryptableError(
                f"cannot decrypt connection {row.name}'s credentials: {exc}"
            ) from None
        row.updated_at = utcnow()
        changed += 1
    session.flush()
    return changed, current


def connection_for_account(session: Session, account_id: str) -> str | None:
    """The name of the stored connection of Rackbeat account ``account_id``, or None."""
    return session.scalar(
        sa.select(Connection.name).where(Connection.rackbeat_account_id == account_id).limit(1)
    )

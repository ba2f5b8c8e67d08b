"""Stored connections (``ledger.connections``, ``ledger.secrets``) on SQLite and PostgreSQL:
credentials encrypted at rest, the key rotated, a connection's ledger rows purged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.orm import Session, sessionmaker

from ledger.connections import (
    ConnectionCredentials,
    ConnectionExistsError,
    add_connection,
    connection_credentials,
    get_connection,
    list_connections,
    purge_connection,
    reencrypt_connections,
    remove_connection,
    set_connection_state,
)
from ledger.models import Base
from ledger.secrets import SecretBox, SecretKeyError, UndecryptableError, generate_key

TOKEN = "rb-token-of-acme-0123456789"
CLIENT_KEY = "po-client-key-of-acme-abcdef"
OLD = generate_key()
NEW = generate_key()
CREDENTIALS = ConnectionCredentials(rackbeat_token=TOKEN, client_key=CLIENT_KEY)


def _raw(sessions: sessionmaker[Session], name: str) -> tuple[str, str]:
    with sessions() as session:
        row = session.execute(
            sa.text(
                "SELECT rackbeat_token_encrypted, client_key_encrypted FROM connections "
                "WHERE name = :name"
            ),
            {"name": name},
        ).one()
    return str(row[0]), str(row[1])


def _add(sessions: sessionmaker[Session], name: str, box: SecretBox, **kwargs: Any) -> None:
    with sessions() as session, session.begin():
        add_connection(session, name, credentials=CREDENTIALS, box=box, **kwargs)


def test_credentials_are_encrypted_at_rest_and_decrypt_back(
    sessions: sessionmaker[Session],
) -> None:
    box = SecretBox([OLD])
    _add(sessions, "acme", box, rackbeat_account_id="4711", options={"employee_map": {"3": 102}})
    token_column, key_column = _raw(sessions, "acme")
    for column, plain in ((token_column, TOKEN), (key_column, CLIENT_KEY)):
        assert plain not in column
        assert Fernet(OLD.encode()).decrypt(column.encode()).decode() == plain
    with sessions() as session:
        stored = get_connection(session, "acme")
    assert stored is not None
    assert (stored.state, stored.state_reason, stored.rackbeat_account_id) == (
        "active",
        None,
        "4711",
    )
    assert stored.options == {"employee_map": {"3": 102}}
    assert TOKEN not in repr(stored)
    assert "encrypted" not in repr(stored)
    credentials = connection_credentials(stored, box)
    assert (credentials.rackbeat_token, credentials.client_key) == (TOKEN, CLIENT_KEY)
    assert TOKEN not in repr(credentials)
    assert CLIENT_KEY not in repr(credentials)


def test_add_list_state_remove(sessions: sessionmaker[Session]) -> None:
    box = SecretBox([OLD])
    _add(sessions, "zeta", box)
    _add(sessions, "acme", box)
    with sessions() as session, pytest.raises(ConnectionExistsError):
        add_connection(session, "acme", credentials=CREDENTIALS, box=box)
    with sessions() as session, session.begin():
        assert set_connection_state(session, "acme", "broken", "401 from Rackbeat")
        assert not set_connection_state(session, "nobody", "paused", None)
        with pytest.raises(ValueError, match="unknown state 'sleeping'"):
            set_connection_state(session, "acme", "sleeping", None)
    with sessions() as session:
        rows = list_connections(session)
    assert [r.name for r in rows] == ["acme", "zeta"]
    assert (rows[0].state, rows[0].state_reason) == ("broken", "401 from Rackbeat")
    assert rows[0].state_at is not None
    # --replace: new credentials, active again.
    other = ConnectionCredentials(rackbeat_token="rb-new-token-999", client_key="po-new-key-999")
    with sessions() as session, session.begin():
        add_connection(session, "acme", credentials=other, box=box, replace=True)
    with sessions() as session:
        stored = get_connection(session, "acme")
    assert stored is not None
    assert (stored.state, stored.state_reason) == ("active", None)
    assert connection_credentials(stored, box).rackbeat_token == "rb-new-token-999"
    with sessions() as session, session.begin():
        assert remove_connection(session, "acme")
        assert not remove_connection(session, "acme")
    with sessions() as session:
        assert [r.name for r in list_connections(session)] == ["zeta"]


@pytest.mark.parametrize("name", ["", "Acme", "a b", "x" * 65, "-lead", "acme;drop"])
def test_names_are_plain(sessions: sessionmaker[Session], name: str) -> None:
    with sessions() as session, pytest.raises(ValueError, match="is not allowed"):
        add_connection(session, name, credentials=CREDENTIALS, box=SecretBox([OLD]))


def test_a_wrong_key_is_a_clear_error_naming_the_variable(sessions: sessionmaker[Session]) -> None:
    _add(sessions, "acme", SecretBox([OLD]))
    with sessions() as session:
        stored = get_connection(session, "acme")
    assert stored is not None
    with pytest.raises(UndecryptableError) as caught:
        connection_credentials(stored, SecretBox([NEW]))
    assert str(caught.value) == (
        "cannot decrypt connection acme's credentials: RBSYNC_SECRET_KEY does not hold the key "
        "they were encrypted with"
    )
    assert NEW not in str(caught.value)


def test_malformed_keys_are_named_by_position_never_shown() -> None:
    with pytest.raises(SecretKeyError, match=r"^RBSYNC_SECRET_KEY is not set$"):
        SecretBox.from_text(" , ")
    with pytest.raises(SecretKeyError) as caught:
        SecretBox.from_text(f"{NEW},not-a-key-at-all")
    assert str(caught.value).startswith("entry 2 of RBSYNC_SECRET_KEY is not a Fernet key")
    assert "not-a-key-at-all" not in str(caught.value)
    assert NEW not in repr(SecretBox([NEW]))


def test_rotation_reencrypts_every_row_with_the_first_key(sessions: sessionmaker[Session]) -> None:
    _add(sessions, "acme", SecretBox([OLD]))
    _add(sessions, "beta", SecretBox([OLD]))
    before = _raw(sessions, "acme")
    rotating = SecretBox([NEW, OLD])
    with sessions() as session:
        stored = get_connection(session, "acme")
    assert stored is not None
    # The old key, second in the list, still decrypts.
    assert connection_credentials(stored, rotating).rackbeat_token == TOKEN
    with sessions() as session, session.begin():
        assert reencrypt_connections(session, rotating) == (2, 0)
    after = _raw(sessions, "acme")
    assert after != before
    assert Fernet(NEW.encode()).decrypt(after[0].encode()).decode() == TOKEN
    # The old key can be dropped: the new one alone opens every row, the old one none.
    with sessions() as session:
        rows = list_connections(session)
    for row in rows:
        assert connection_credentials(row, SecretBox([NEW])).client_key == CLIENT_KEY
        with pytest.raises(UndecryptableError):
            connection_credentials(row, SecretBox([OLD]))
    with sessions() as session, session.begin():
        assert reencrypt_connections(session, rotating) == (0, 2)


def test_rotation_is_all_or_nothing(sessions: sessionmaker[Session]) -> None:
    _add(sessions, "acme", SecretBox([OLD]))
    stranger = generate_key()
    _add(sessions, "zulu", SecretBox([stranger]))
    before = _raw(sessions, "acme")
    with (
        sessions() as session,
        pytest.raises(UndecryptableError, match="connection zulu's"),
        session.begin(),
    ):
        reencrypt_connections(session, SecretBox([NEW, OLD]))
    assert _raw(sessions, "acme") == before


# --- purge ------------------------------------------------------------------------------------


def test_purge_deletes_one_connections_rows_children_first(ledger_url: str) -> None:
    # A metadata of its own: parents, children (a foreign key without ON DELETE), a table
    # without the column. Wrong order would violate the foreign key.
    metadata = sa.MetaData()
    parent = sa.Table(
        "tmp_parent",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("connection", sa.String(64), nullable=False),
    )
    child = sa.Table(
        "tmp_child",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("parent_id", sa.ForeignKey("tmp_parent.id"), nullable=False),
        sa.Column("connection", sa.String(64), nullable=False),
    )
    other = sa.Table("tmp_other", metadata, sa.Column("id", sa.Integer, primary_key=True))
    engine = sa.create_engine(ledger_url)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", lambda c, _r: c.execute("PRAGMA foreign_keys=ON"))
    metadata.create_all(engine)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(parent),
                [{"id": 1, "connection": "acme"}, {"id": 2, "connection": "beta"}],
            )
            conn.execute(
                sa.insert(child),
                [
                    {"id": 1, "parent_id": 1, "connection": "acme"},
                    {"id": 2, "parent_id": 1, "connection": "acme"},
                    {"id": 3, "parent_id": 2, "connection": "beta"},
                ],
            )
            conn.execute(sa.insert(other), [{"id": 1}])
        with Session(engine) as session, session.begin():
            deleted = purge_connection(session, "acme", metadata=metadata)
        assert deleted == {"tmp_child": 2, "tmp_parent": 1}
        with engine.connect() as conn:
            assert conn.execute(sa.select(child.c.connection)).scalars().all() == ["beta"]
            assert conn.execute(sa.select(parent.c.connection)).scalars().all() == ["beta"]
            assert conn.execute(sa.select(sa.func.count()).select_from(other)).scalar() == 1
    finally:
        metadata.drop_all(engine)
        engine.dispose()


def _dummy(column: sa.Column[Any], n: int) -> Any:
    kind = column.type
    if isinstance(kind, sa.types.TypeDecorator):
        kind = kind.impl_instance
    if isinstance(kind, sa.Enum):
        return kind.enums[0]
    python = kind.python_type
    if python is str:
        return f"k{n}"
    if python is int:
        return n
    if python is bool:
        return False
    if python is datetime:
        return datetime.now(UTC)
    if python in {dict, list}:
        return python()
    raise NotImplementedError(python)


def test_purge_covers_every_ledger_table_with_a_connection_column(
    sessions: sessionmaker[Session],
) -> None:
    """Once the ledger's tables carry ``connection``: one row per table for each of two
    connections (generated from the columns), then one connection purged."""
    tables = [t for t in Base.metadata.sorted_tables if "connection" in t.columns]
    if not tables:
        pytest.skip("no ledger table has a connection column yet")
    inserted: dict[tuple[str, str], Any] = {}
    with sessions() as session, session.begin():
        for n, table in enumerate(tables):
            for offset, name in enumerate(("acme", "beta")):
                row: dict[str, Any] = {}
                for column in table.columns:
                    if column.name == "connection":
                        row[column.name] = name
                    elif column.foreign_keys:
                        target = next(iter(column.foreign_keys)).column.table.name
                        row[column.name] = inserted[(target, name)]
                    elif (
                        (
                            column.primary_key
                            and column.autoincrement is not False
                            and (column.type.python_type is int)
                        )
                        or column.nullable
                        or column.default is not None
                    ):
                        continue
                    else:
                        row[column.name] = _dummy(column, 10 * n + offset)
                result = cast("sa.CursorResult[Any]", session.execute(sa.insert(table).values(row)))
                key = result.inserted_primary_key
                inserted[(table.name, name)] = key[0] if key else None
    with sessions() as session, session.begin():
        deleted = purge_connection(session, "acme")
    assert deleted == {t.name: 1 for t in tables}
    with sessions() as session:
        for table in tables:
            left = session.execute(sa.select(table.c.connection)).scalars().all()
            assert left == ["beta"], table.name

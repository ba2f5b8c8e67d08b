"""Ledger fixtures: every ledger test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from ledger import make_engine, make_session_factory, upgrade


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty ledger on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    upgrade(url)
    return url


@pytest.fixture
def sessions(ledger_url: str) -> Iterator[sessionmaker[Session]]:
    """A session factory on the migrated ledger."""
    engine = make_engine(ledger_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()

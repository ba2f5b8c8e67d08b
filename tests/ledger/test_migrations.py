from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ledger import Base, current_revision, head_revision, make_engine, upgrade


def test_upgrade_reaches_head_and_is_idempotent(ledger_url: str) -> None:
    assert current_revision(ledger_url) == head_revision()
    upgrade(ledger_url)
    assert current_revision(ledger_url) == head_revision()


def test_migrated_schema_matches_the_models(ledger_url: str) -> None:
    engine = make_engine(ledger_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_a_fresh_database_has_no_revision(tmp_path: object) -> None:
    assert current_revision(f"sqlite:///{tmp_path}/empty.sqlite3") is None

"""Alembic environment: runs the ledger's migrations on the URL given by ``ledger.migrate``."""

from __future__ import annotations

from alembic import context

from ledger.engine import make_engine
from ledger.models import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Run the migrations on a live connection (the only mode the ledger uses)."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


run_migrations_online()

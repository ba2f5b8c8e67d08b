"""Snapshot warnings: what the ledger changed in a snapshot to hold it.

A Rackbeat text may carry characters PostgreSQL cannot store (NUL, unpaired surrogates): the
poll removes them and says so here, per field. ``warnings`` could not hold this: a sync
replaces them with the mapping's, and this note must stay as long as the snapshot does.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ledger.types import JSONType

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add ``entity_links.snapshot_warnings`` (empty for the rows there)."""
    op.add_column(
        "entity_links",
        sa.Column("snapshot_warnings", JSONType, nullable=False, server_default=sa.text("'[]'")),
    )


def downgrade() -> None:
    """Drop ``entity_links.snapshot_warnings``."""
    with op.batch_alter_table("entity_links") as batch:
        batch.drop_column("snapshot_warnings")

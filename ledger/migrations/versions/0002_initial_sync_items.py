"""The initial sync's progress: one row per PowerOffice Go record copied to Rackbeat.

Also the R-INIT-2 link of a PowerOffice Go unit code to its Rackbeat unit number (kind ``unit``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ledger.types import UTCDateTime

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``initial_sync_items``."""
    op.create_table(
        "initial_sync_items",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("number", sa.String(191), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "source", name=op.f("pk_initial_sync_items")),
    )


def downgrade() -> None:
    """Drop ``initial_sync_items`` (the initial sync's progress goes with it)."""
    op.drop_table("initial_sync_items")

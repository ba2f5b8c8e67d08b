"""Probe answers: what a remote API was found to do, remembered across processes.

Embedded mode has no Redis; without this table every ``rbsync sync --once`` process probed each
Rackbeat endpoint's ``updated_at_from`` support again (one extra request per kind and run).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ledger.types import UTCDateTime

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``probe_answers``."""
    op.create_table(
        "probe_answers",
        sa.Column("key", sa.String(191), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_probe_answers")),
    )


def downgrade() -> None:
    """Drop ``probe_answers`` (the answers are probed again)."""
    op.drop_table("probe_answers")

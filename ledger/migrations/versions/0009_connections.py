"""Connections: the Rackbeat accounts <-> PowerOffice Go clients one deployment serves.

One row per stored connection, its two credentials encrypted (``ledger.secrets``). Without any
row the environment variables define the one connection, ``default``, as before.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ledger.types import JSONType, UTCDateTime

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``connections``."""
    op.create_table(
        "connections",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("rackbeat_token_encrypted", sa.Text(), nullable=False),
        sa.Column("client_key_encrypted", sa.Text(), nullable=False),
        sa.Column("rackbeat_account_id", sa.String(64), nullable=True),
        sa.Column("options", JSONType, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=True),
        sa.Column("state_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_connections")),
    )


def downgrade() -> None:
    """Drop ``connections`` (the stored credentials are lost)."""
    op.drop_table("connections")

"""The initial ledger: entity links, attempts, cursors, poll cycles, remote links.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ledger.types import JSONType, UTCDateTime

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create every table of the first ledger schema."""
    op.create_table(
        "entity_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("remote_id", sa.String(64), nullable=True),
        sa.Column("snapshot", JSONType, nullable=True),
        sa.Column("snapshot_hash", sa.String(64), nullable=True),
        sa.Column("source_updated_at", UTCDateTime(), nullable=True),
        sa.Column("snapshot_version", sa.Integer(), nullable=False),
        sa.Column("claimed_version", sa.Integer(), nullable=False),
        sa.Column("intent", sa.String(100), nullable=True),
        sa.Column("fingerprint", sa.String(80), nullable=True),
        sa.Column("written", JSONType, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("warnings", JSONType, nullable=False),
        sa.Column("details", JSONType, nullable=False),
        sa.Column("claim_token", sa.String(64), nullable=True),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("enqueued_at", UTCDateTime(), nullable=True),
        sa.Column("synced_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entity_links")),
        sa.UniqueConstraint("kind", "key", name=op.f("uq_entity_links_kind_key")),
    )
    op.create_index(
        op.f("ix_entity_links_kind_status"), "entity_links", ["kind", "status"], unique=False
    )
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(64), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["entity_links.id"],
            name=op.f("fk_attempts_link_id_entity_links"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempts")),
    )
    op.create_index(
        op.f("ix_attempts_link_id_started_at"), "attempts", ["link_id", "started_at"], unique=False
    )
    op.create_table(
        "cursors",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("position", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_cursors")),
    )
    op.create_table(
        "poll_cycles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("cursor_from", UTCDateTime(), nullable=True),
        sa.Column("cursor_to", UTCDateTime(), nullable=True),
        sa.Column("seen", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("enqueued", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poll_cycles")),
    )
    op.create_index(
        op.f("ix_poll_cycles_kind_started_at"), "poll_cycles", ["kind", "started_at"], unique=False
    )
    op.create_table(
        "remote_links",
        sa.Column("namespace", sa.String(32), nullable=False),
        sa.Column("code", sa.String(100), nullable=False),
        sa.Column("remote_id", sa.String(64), nullable=False),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("namespace", "code", name=op.f("pk_remote_links")),
    )
    op.create_table(
        "index_loads",
        sa.Column("namespace", sa.String(32), nullable=False),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("namespace", name=op.f("pk_index_loads")),
    )


def downgrade() -> None:
    """Drop every table (the ledger's history goes with them)."""
    op.drop_table("index_loads")
    op.drop_table("remote_links")
    op.drop_index(op.f("ix_poll_cycles_kind_started_at"), table_name="poll_cycles")
    op.drop_table("poll_cycles")
    op.drop_table("cursors")
    op.drop_index(op.f("ix_attempts_link_id_started_at"), table_name="attempts")
    op.drop_table("attempts")
    op.drop_index(op.f("ix_entity_links_kind_status"), table_name="entity_links")
    op.drop_table("entity_links")

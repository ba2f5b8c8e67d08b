"""Reconcile runs: what each reconciliation of the ledger with both APIs found.

``rbsync reconcile`` and its scheduled task (``rbsync.reconcile``) store one row per run; the
last one is shown by ``rbsync status``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ledger.types import JSONType, UTCDateTime

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``reconcile_runs``."""
    op.create_table(
        "reconcile_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("kinds", JSONType, nullable=False),
        sa.Column("repair", sa.Boolean(), nullable=False),
        sa.Column("overwrite_drift", sa.Boolean(), nullable=False),
        sa.Column("differences", sa.Integer(), nullable=False),
        sa.Column("report", JSONType, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconcile_runs")),
    )
    op.create_index(
        op.f("ix_reconcile_runs_started_at"), "reconcile_runs", ["started_at"], unique=False
    )


def downgrade() -> None:
    """Drop ``reconcile_runs`` (the history of reconciliations is lost)."""
    op.drop_index(op.f("ix_reconcile_runs_started_at"), table_name="reconcile_runs")
    op.drop_table("reconcile_runs")

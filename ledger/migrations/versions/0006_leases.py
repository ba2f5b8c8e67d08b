"""Leases: an in-flight claim ends unless renewed; a waiting row knows when it is due.

``lease_until`` replaces "a claim older than twice the task time limit is stale": a worker's
heartbeat renews its rows' leases every few seconds, so a row whose holder died is free again
within one lease (seconds), not ten minutes. ``due_at`` says when a waiting row's message
should run (its enqueue, or the end of its retry countdown); the sweep re-sends the message of
a row long past due (lost with a killed worker or a restarted broker).

``snapshot_at`` says when a snapshot was read: Rackbeat stamps ``updated_at`` in whole seconds,
so a poll may skip a held version only if it was read after that second was over (a record
changed twice within one second, the first version polled in between, kept its older content).

Rows in flight during the upgrade get a lease of ten minutes from now, the old rule's bound:
an old worker still running through the upgrade keeps its rows.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from ledger.types import UTCDateTime

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

UPGRADE_LEASE = timedelta(minutes=10)


def upgrade() -> None:
    """Add ``lease_until`` and ``due_at`` and the sweep's indexes; lease the in-flight rows."""
    with op.batch_alter_table("entity_links") as batch:
        batch.add_column(sa.Column("lease_until", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("due_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("snapshot_at", UTCDateTime(), nullable=True))
    op.create_index("ix_entity_links_status_lease_until", "entity_links", ["status", "lease_until"])
    op.create_index("ix_entity_links_status_due_at", "entity_links", ["status", "due_at"])
    op.create_index("ix_entity_links_claim_token", "entity_links", ["claim_token"])
    links = sa.table(
        "entity_links",
        sa.column("status", sa.String()),
        sa.column("lease_until", UTCDateTime()),
        sa.column("due_at", UTCDateTime()),
        sa.column("enqueued_at", UTCDateTime()),
    )
    op.execute(
        links.update()
        .where(links.c.status == "in_flight")
        .values(lease_until=datetime.now(UTC) + UPGRADE_LEASE)
    )
    op.execute(links.update().values(due_at=links.c.enqueued_at))


def downgrade() -> None:
    """Drop the indexes and columns."""
    op.drop_index("ix_entity_links_claim_token", table_name="entity_links")
    op.drop_index("ix_entity_links_status_due_at", table_name="entity_links")
    op.drop_index("ix_entity_links_status_lease_until", table_name="entity_links")
    with op.batch_alter_table("entity_links") as batch:
        batch.drop_column("snapshot_at")
        batch.drop_column("due_at")
        batch.drop_column("lease_until")

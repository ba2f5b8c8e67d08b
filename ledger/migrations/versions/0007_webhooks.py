"""Webhooks: the subscriptions rbsync registered, the deliveries it accepted, the connection.

- ``webhook_subscriptions``: one row per event name and URL registered with Rackbeat, with the
  SHA-256 digest of the token Rackbeat returned (the token itself is never stored).
- ``webhook_events``: the receiver's outbox. A delivery is stored (committed) before the
  receiver answers 2xx; its message goes to the broker after the commit and ``sent_at`` is set
  once it is out, so a broker that is down loses nothing (the sweep sends unsent rows).
- ``connection_state``: ``plugin.uninstalled`` marks the Rackbeat connection disconnected.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ledger.types import JSONType, UTCDateTime

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create the three tables."""
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rackbeat_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("url", sa.String(1000), nullable=False),
        sa.Column("token_digest", sa.String(64), nullable=False),
        sa.Column("registered_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
        sa.UniqueConstraint("rackbeat_id", name=op.f("uq_webhook_subscriptions_rackbeat_id")),
        sa.UniqueConstraint("event", "url", name=op.f("uq_webhook_subscriptions_event_url")),
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=True),
        sa.Column("key", sa.String(191), nullable=True),
        sa.Column("account_id", sa.String(64), nullable=True),
        sa.Column("detail", JSONType, nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
    )
    op.create_index(
        op.f("ix_webhook_events_action_sent_at"), "webhook_events", ["action", "sent_at"]
    )
    op.create_table(
        "connection_state",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("disconnected_at", UTCDateTime(), nullable=True),
        sa.Column("reason", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_connection_state")),
    )


def downgrade() -> None:
    """Drop the three tables (registered webhooks must then be registered again)."""
    op.drop_table("connection_state")
    op.drop_index(op.f("ix_webhook_events_action_sent_at"), table_name="webhook_events")
    op.drop_table("webhook_events")
    op.drop_table("webhook_subscriptions")

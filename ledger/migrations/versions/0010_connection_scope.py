"""Connection scope: every ledger row belongs to one connection.

Adds ``connection`` (``default`` for every existing row: the single company served so far) to
each table but ``probe_answers`` (keyed by a digest of the Rackbeat token already) and
``connections``, and makes it part of each natural key: two companies may hold the same item
numbers, customer numbers and cursors without touching each other's rows.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

_PLAIN = ("attempts", "webhook_events")
"""Tables that only gain the column."""

_PRIMARY = {
    "cursors": ["kind"],
    "remote_links": ["namespace", "code"],
    "index_loads": ["namespace"],
    "connection_state": ["name"],
    "initial_sync_items": ["kind", "source"],
}
"""Tables whose primary key gains the connection (in front)."""


def _column() -> sa.Column[str]:
    return sa.Column("connection", sa.String(64), server_default="default", nullable=False)


def upgrade() -> None:
    """Add the column, and put it in front of every natural key."""
    for table in _PLAIN:
        with op.batch_alter_table(table) as batch:
            batch.add_column(_column())
    for table, key in _PRIMARY.items():
        with op.batch_alter_table(table) as batch:
            batch.add_column(_column())
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", ["connection", *key])
    with op.batch_alter_table("entity_links") as batch:
        batch.add_column(_column())
        batch.drop_constraint("uq_entity_links_kind_key", type_="unique")
        batch.create_unique_constraint(
            "uq_entity_links_connection_kind_key", ["connection", "kind", "key"]
        )
        batch.drop_index("ix_entity_links_kind_status")
        batch.create_index(
            "ix_entity_links_connection_kind_status", ["connection", "kind", "status"]
        )
    with op.batch_alter_table("poll_cycles") as batch:
        batch.add_column(_column())
        batch.drop_index("ix_poll_cycles_kind_started_at")
        batch.create_index(
            "ix_poll_cycles_connection_kind_started_at", ["connection", "kind", "started_at"]
        )
    with op.batch_alter_table("reconcile_runs") as batch:
        batch.add_column(_column())
        batch.drop_index("ix_reconcile_runs_started_at")
        batch.create_index("ix_reconcile_runs_connection_started_at", ["connection", "started_at"])
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.add_column(_column())
        batch.drop_constraint("uq_webhook_subscriptions_event_url", type_="unique")
        batch.drop_constraint("uq_webhook_subscriptions_rackbeat_id", type_="unique")
        batch.create_unique_constraint(
            "uq_webhook_subscriptions_connection_event_url", ["connection", "event", "url"]
        )
        batch.create_unique_constraint(
            "uq_webhook_subscriptions_connection_rackbeat_id", ["connection", "rackbeat_id"]
        )


def downgrade() -> None:
    """Drop the column again; only possible while a single connection has rows (the natural
    keys would collide otherwise, and the downgrade fails rather than merge companies)."""
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.drop_constraint("uq_webhook_subscriptions_connection_rackbeat_id", type_="unique")
        batch.drop_constraint("uq_webhook_subscriptions_connection_event_url", type_="unique")
        batch.create_unique_constraint("uq_webhook_subscriptions_rackbeat_id", ["rackbeat_id"])
        batch.create_unique_constraint("uq_webhook_subscriptions_event_url", ["event", "url"])
        batch.drop_column("connection")
    with op.batch_alter_table("reconcile_runs") as batch:
        batch.drop_index("ix_reconcile_runs_connection_started_at")
        batch.create_index("ix_reconcile_runs_started_at", ["started_at"])
        batch.drop_column("connection")
    with op.batch_alter_table("poll_cycles") as batch:
        batch.drop_index("ix_poll_cycles_connection_kind_started_at")
        batch.create_index("ix_poll_cycles_kind_started_at", ["kind", "started_at"])
        batch.drop_column("connection")
    with op.batch_alter_table("entity_links") as batch:
        batch.drop_index("ix_entity_links_connection_kind_status")
        batch.create_index("ix_entity_links_kind_status", ["kind", "status"])
        batch.drop_constraint("uq_entity_links_connection_kind_key", type_="unique")
        batch.create_unique_constraint("uq_entity_links_kind_key", ["kind", "key"])
        batch.drop_column("connection")
    for table, key in _PRIMARY.items():
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", key)
            batch.drop_column("connection")
    for table in _PLAIN:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("connection")

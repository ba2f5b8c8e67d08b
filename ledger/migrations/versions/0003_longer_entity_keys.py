"""Entity keys up to 191 characters.

A Rackbeat product number is a PowerOffice Go product ``Code`` (up to 100 characters there);
64 was too short to link such a product on PostgreSQL. 191 keeps the (kind, key) unique index
within every supported database's index-size limits.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Widen ``entity_links.key`` to 191 characters."""
    # batch mode: a plain ALTER on PostgreSQL, a table copy on SQLite (which cannot ALTER a type)
    with op.batch_alter_table("entity_links") as batch:
        batch.alter_column("key", existing_type=sa.String(64), type_=sa.String(191))


def downgrade() -> None:
    """Back to 64 characters (fails where a longer key is stored, as it should)."""
    with op.batch_alter_table("entity_links") as batch:
        batch.alter_column("key", existing_type=sa.String(191), type_=sa.String(64))

"""One change cursor per kind: the Rackbeat ``updated_at`` up to which all is committed."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger._sql import upsert
from ledger.models import Cursor
from ledger.types import utcnow

__all__ = ["all_cursors", "get_cursor", "set_cursor"]


def get_cursor(session: Session, kind: str) -> datetime | None:
    """The cursor of ``kind`` (None before the first complete poll)."""
    return session.scalar(sa.select(Cursor.position).where(Cursor.kind == kind))


def set_cursor(
    session: Session, kind: str, position: datetime | None, *, now: datetime | None = None
) -> None:
    """Move the cursor of ``kind`` to ``position`` (the caller decides it is safe to)."""
    upsert(
        session,
        Cursor.__table__,  # type: ignore[arg-type]
        [{"kind": kind, "position": position, "updated_at": now or utcnow()}],
        ["kind"],
        ["position", "updated_at"],
    )


def all_cursors(session: Session) -> dict[str, datetime | None]:
    """Every kind's cursor, by kind."""
    rows = session.execute(sa.select(Cursor.kind, Cursor.position))
    return {row.kind: row.position for row in rows}

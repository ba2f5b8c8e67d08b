"""One row per poll cycle, with its counts."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger.errors import one_line
from ledger.models import PollCycle
from ledger.types import utcnow

__all__ = ["finish_poll_cycle", "last_poll_cycle", "last_poll_cycles", "start_poll_cycle"]


def start_poll_cycle(
    session: Session, kind: str, *, signpost: datetime, cursor_from: datetime | None
) -> int:
    """Open a poll-cycle row (``running``); return its id."""
    cycle = PollCycle(
        kind=kind,
        started_at=signpost,
        cursor_from=cursor_from,
        seen=0,
        changed=0,
        enqueued=0,
        status="running",
    )
    session.add(cycle)
    session.flush()
    return cycle.id


def finish_poll_cycle(
    session: Session,
    cycle_id: int,
    *,
    status: str,
    seen: int,
    changed: int,
    enqueued: int,
    cursor_to: datetime | None,
    error: str | None = None,
    now: datetime | None = None,
) -> None:
    """Close a poll-cycle row with its counts (``done`` or ``failed``).

    ``error`` is kept as one line without SQL (``ledger.errors.one_line``): ``rbsync status``
    prints it, and a database error's text carries its statement and the record's values.
    """
    session.execute(
        sa.update(PollCycle)
        .where(PollCycle.id == cycle_id)
        .values(
            status=status,
            seen=seen,
            changed=changed,
            enqueued=enqueued,
            cursor_to=cursor_to,
            error=None if error is None else one_line(error),
            finished_at=now or utcnow(),
        )
        .execution_options(synchronize_session=False)
    )


def last_poll_cycle(session: Session, kind: str | None = None) -> PollCycle | None:
    """The most recent poll cycle (of ``kind``, when given)."""
    stmt = sa.select(PollCycle).order_by(PollCycle.started_at.desc(), PollCycle.id.desc())
    if kind is not None:
        stmt = stmt.where(PollCycle.kind == kind)
    return session.scalars(stmt.limit(1)).first()


def last_poll_cycles(session: Session) -> dict[str, PollCycle]:
    """The most recent poll cycle of every kind that has one."""
    latest = (
        sa.select(PollCycle.kind, sa.func.max(PollCycle.id).label("id"))
        .group_by(PollCycle.kind)
        .subquery()
    )
    rows = session.scalars(sa.select(PollCycle).join(latest, PollCycle.id == latest.c.id))
    return {row.kind: row for row in rows}

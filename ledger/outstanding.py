"""What is not settled: the rows a one-shot run must drive, and the ones it must report.

A row is *settled* when it is ``synced`` or ``skipped``: nothing more will happen to it until its
Rackbeat record changes. Every other status is work left (``pending``, ``unknown``,
``in_flight``) or a problem for a person (``failed``, ``dead``); ``rbsync sync --once`` exits 0
only when no row of the kinds it ran is unsettled (``worker.inprocess``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger.models import Attempt, EntityLink, Status
from ledger.types import utcnow

__all__ = ["SETTLED_STATUSES", "Unsettled", "last_outcomes_since", "unsettled", "work_to_drive"]

SETTLED_STATUSES = frozenset({Status.SYNCED.value, Status.SKIPPED.value})


@dataclasses.dataclass(frozen=True)
class Unsettled:
    """One row that is not settled, as a report shows it."""

    kind: str
    key: str
    status: str
    error: str | None
    claimed_at: datetime | None


def work_to_drive(
    session: Session, kinds: Collection[str], *, now: datetime | None = None
) -> list[tuple[str, str]]:
    """(kind, key) of the rows of ``kinds`` that a run can drive now, in id order.

    ``pending`` and ``unknown`` rows, whether or not a message was ever sent for them (a run
    that stopped before sending leaves them so), and ``in_flight`` rows whose lease ran out
    (their holder is gone). Rows held by a live worker are not taken: they stay unsettled and
    are reported as such.
    """
    now = now or utcnow()
    stmt = (
        sa.select(EntityLink.kind, EntityLink.key)
        .where(
            EntityLink.kind.in_(list(kinds)),
            sa.or_(
                EntityLink.status.in_([Status.PENDING.value, Status.UNKNOWN.value]),
                sa.and_(
                    EntityLink.status == Status.IN_FLIGHT.value,
                    sa.or_(EntityLink.lease_until < now, EntityLink.lease_until.is_(None)),
                ),
            ),
        )
        .order_by(EntityLink.id)
    )
    return [(kind, key) for kind, key in session.execute(stmt)]


def unsettled(session: Session, kinds: Collection[str]) -> list[Unsettled]:
    """Every row of ``kinds`` that is neither synced nor skipped, by status, kind and key."""
    stmt = (
        sa.select(
            EntityLink.kind,
            EntityLink.key,
            EntityLink.status,
            EntityLink.last_error,
            EntityLink.claimed_at,
        )
        .where(
            EntityLink.kind.in_(list(kinds)),
            EntityLink.status.not_in(list(SETTLED_STATUSES)),
        )
        .order_by(EntityLink.status, EntityLink.kind, EntityLink.key)
    )
    return [Unsettled(*row) for row in session.execute(stmt)]


def last_outcomes_since(session: Session, since: datetime) -> dict[int, str | None]:
    """Link id -> the outcome of its latest attempt started at or after ``since`` (a run's)."""
    latest = (
        sa.select(sa.func.max(Attempt.id))
        .where(Attempt.started_at >= since)
        .group_by(Attempt.link_id)
        .scalar_subquery()
    )
    rows = session.execute(
        sa.select(Attempt.link_id, Attempt.outcome).where(Attempt.id.in_(latest))
    )
    return {int(link_id): outcome for link_id, outcome in rows}

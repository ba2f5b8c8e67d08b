"""The sweep's questions: which rows lost their holder or their message, and when is a row due.

A row needs a message on the broker until it settles. Three ways it can be left without one:

- **expired**: ``in_flight``, and its holder's lease ran out (the worker died, was killed by a
  time limit, or lost its broker connection and was terminated): its message may sit unacked
  with the dead worker for the broker's whole visibility timeout. The claim cleared ``due_at``;
  the sweep sends a new message at once and marks the row due now.
- **lost**: ``pending``/``unknown`` and past due (``due_at``: its enqueue, or the end of its
  retry countdown) by more than the caller's grace; or never sent at all (no ``due_at``) and
  untouched for as long. A retry countdown held in the memory of a worker that was killed ends
  this way.
- **before the broker started**: a waiting row sent before the broker's last start (a Redis
  restart without persistence empties every queue).

:func:`overdue_work` finds them (oldest first); :func:`mark_sent` records that a message went
out (after it did: a crash in between only makes the next sweep send it again, and a second
message for a row is harmless -- the claim and the content hash make it a no-op).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger.models import EntityLink, Status
from ledger.scope import DEFAULT_CONNECTION, connection_of
from ledger.types import UTCDateTime, utcnow

__all__ = [
    "Overdue",
    "mark_due",
    "mark_sent",
    "overdue_work",
    "unsent_work",
    "unswept_count",
    "unswept_counts_by_connection",
]

_WAITING = (Status.PENDING.value, Status.UNKNOWN.value)


@dataclasses.dataclass(frozen=True)
class Overdue:
    """One row the sweep sends again, and why (``expired``, ``lost``, ``broker_restarted``)."""

    id: int
    kind: str
    key: str
    why: str
    connection: str = DEFAULT_CONNECTION


def overdue_work(
    session: Session,
    *,
    lost_before: datetime,
    broker_started: datetime | None = None,
    now: datetime | None = None,
    limit: int = 10_000,
) -> list[Overdue]:
    """The rows to send again (see the module doc), oldest first, at most ``limit``.

    ``lost_before``: a waiting row due before this lost its message (and an expired row the
    sweep sent before this was not picked up: sent again). ``broker_started``: when the broker
    last started, if known.
    """
    now = now or utcnow()
    c = EntityLink
    expired = sa.and_(
        c.status == Status.IN_FLIGHT.value,
        sa.or_(c.lease_until < now, c.lease_until.is_(None)),
        sa.or_(c.due_at.is_(None), c.due_at < lost_before),
    )
    lost = sa.and_(
        c.status.in_(_WAITING),
        sa.or_(
            c.due_at < lost_before,
            sa.and_(c.due_at.is_(None), c.updated_at < lost_before),
        ),
    )
    restarted = (
        sa.and_(c.status.in_(_WAITING), c.enqueued_at < broker_started)
        if broker_started is not None
        else sa.false()
    )
    why = sa.case(
        (c.status == Status.IN_FLIGHT.value, sa.literal("expired")),
        (restarted, sa.literal("broker_restarted")),
        else_=sa.literal("lost"),
    )
    rows = session.execute(
        sa.select(c.id, c.kind, c.key, why, c.connection)
        .where(sa.or_(expired, lost, restarted))
        .order_by(c.id)
        .limit(limit)
    ).all()
    return [Overdue(int(row[0]), row[1], row[2], row[3], row[4]) for row in rows]


def unswept_count(session: Session, *, before: datetime) -> int:
    """Rows ``in_flight`` whose lease ran out before ``before`` and that no sweep has sent
    again (``due_at`` unset: a claim clears it, the sweep sets it): their holder is gone and
    nothing is bringing them back, so the sweep is not running (no beat, or no worker on the
    poll queue). ``status`` says so rather than count them as in progress."""
    c = EntityLink
    count = session.execute(
        sa.select(sa.func.count())
        .select_from(c)
        .where(
            c.status == Status.IN_FLIGHT.value,
            sa.or_(c.lease_until < before, c.lease_until.is_(None)),
            c.due_at.is_(None),
        )
    ).scalar_one()
    return int(count)


def unswept_counts_by_connection(session: Session, *, before: datetime) -> dict[str, int]:
    """:func:`unswept_count` per connection (those with none are absent): ``status``'s summary
    of every connection, from an unscoped session."""
    c = EntityLink
    rows = session.execute(
        sa.select(c.connection, sa.func.count())
        .where(
            c.status == Status.IN_FLIGHT.value,
            sa.or_(c.lease_until < before, c.lease_until.is_(None)),
            c.due_at.is_(None),
        )
        .group_by(c.connection)
    )
    return {str(connection): int(count) for connection, count in rows}


def unsent_work(session: Session, kind: str, *, limit: int = 10_000) -> list[Overdue]:
    """Waiting rows of ``kind`` whose new content was stored but never sent (the poll's
    outbox: a crash between its commit and its enqueue): the next poll of the kind sends them
    first, without waiting for the sweep's grace."""
    c = EntityLink
    rows = session.execute(
        sa.select(c.id, c.kind, c.key)
        .where(
            c.kind == kind,
            c.status.in_(_WAITING),
            c.enqueued_at.is_(None),
            c.due_at.is_(None),
        )
        .order_by(c.id)
        .limit(limit)
    ).all()
    return [Overdue(int(row[0]), row[1], row[2], "unsent") for row in rows]


def mark_sent(session: Session, ids: Iterable[int], *, now: datetime | None = None) -> None:
    """Record that a message for each row went out now (it is due now)."""
    now = now or utcnow()
    wanted = list(ids)
    for start in range(0, len(wanted), 500):
        session.execute(
            sa.update(EntityLink)
            .where(EntityLink.id.in_(wanted[start : start + 500]))
            .values(enqueued_at=now, due_at=now)
            .execution_options(synchronize_session=False)
        )


def mark_due(
    session: Session, kind: str, due: Mapping[str, datetime], *, now: datetime | None = None
) -> None:
    """Record that a message for each key (of ``kind``) went out now, to run at its time (a
    retry's countdown): until then, the sweep leaves the row alone."""
    if not due:
        return
    now = now or utcnow()
    links: sa.Table = EntityLink.__table__  # type: ignore[assignment]
    session.execute(
        sa.update(links)
        .where(
            links.c.connection == connection_of(session),
            links.c.kind == kind,
            links.c.key == sa.bindparam("p_key"),
        )
        .values(enqueued_at=now, due_at=sa.bindparam("p_due", type_=UTCDateTime())),
        [{"p_key": key, "p_due": at} for key, at in due.items()],
    )

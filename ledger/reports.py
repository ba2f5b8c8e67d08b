"""Read-side queries for the operator (CLI, status page) and the re-drive of failed rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger.models import (
    ACTIVE_STATUSES,
    REDRIVE_STATUSES,
    Attempt,
    Cursor,
    EntityLink,
    PollCycle,
    Status,
)
from ledger.types import utcnow

__all__ = [
    "PollProgress",
    "attempts_of",
    "counts_by_connection_and_status",
    "counts_by_kind_and_status",
    "failures",
    "last_done_polls",
    "links_of",
    "oldest_active_by_kind",
    "poll_progress",
    "reset_for_retry",
    "rows_for_retry",
    "search_links",
    "status_counts",
]

LIKE_ESCAPE = "\\"
"""The escape character of :func:`search_links`' LIKE pattern."""


def counts_by_kind_and_status(session: Session) -> dict[str, dict[str, int]]:
    """``{kind: {status: count}}`` over every entity link."""
    rows = session.execute(
        sa.select(EntityLink.kind, EntityLink.status, sa.func.count()).group_by(
            EntityLink.kind, EntityLink.status
        )
    )
    counts: dict[str, dict[str, int]] = {}
    for kind, status, count in rows:
        counts.setdefault(kind, {})[status] = count
    return counts


def counts_by_connection_and_status(session: Session) -> dict[str, dict[str, int]]:
    """``{connection: {status: count}}`` over every entity link the session sees (all
    connections' with an unscoped session: one GROUP BY for ``status``'s summary)."""
    rows = session.execute(
        sa.select(EntityLink.connection, EntityLink.status, sa.func.count()).group_by(
            EntityLink.connection, EntityLink.status
        )
    )
    counts: dict[str, dict[str, int]] = {}
    for connection, status, count in rows:
        counts.setdefault(str(connection), {})[str(status)] = int(count)
    return counts


def oldest_active_by_kind(session: Session) -> dict[str, datetime]:
    """Per kind, since when its oldest row with work left (``pending``, ``in_flight``,
    ``unknown``) has waited: when its current content was seen (``snapshot_at``; the row's
    creation when it has none). Retries do not reset it. Kinds with no such row are absent."""
    since = sa.func.min(sa.func.coalesce(EntityLink.snapshot_at, EntityLink.created_at))
    rows = session.execute(
        sa.select(EntityLink.kind, since)
        .where(EntityLink.status.in_([s.value for s in ACTIVE_STATUSES]))
        .group_by(EntityLink.kind)
    )
    return {kind: moment for kind, moment in rows if moment is not None}


def last_done_polls(
    session: Session, kinds: Collection[str]
) -> dict[str, tuple[datetime, datetime]]:
    """Per kind of ``kinds``, the latest completed poll's (start, end): every Rackbeat change
    before that start has been read. Kinds never polled to the end are absent.

    One query per kind down its ``(kind, started_at)`` index, newest first: ``poll_cycles``
    grows by a row per poll, and this is read at every metrics scrape."""
    found: dict[str, tuple[datetime, datetime]] = {}
    for kind in kinds:
        row = session.execute(
            sa.select(PollCycle.started_at, PollCycle.finished_at)
            .where(PollCycle.kind == kind, PollCycle.status == "done")
            .order_by(PollCycle.started_at.desc())
            .limit(1)
        ).first()
        if row is not None and row.finished_at is not None:
            found[kind] = (row.started_at, row.finished_at)
    return found


def status_counts(session: Session, *, kind: str | None = None) -> dict[str, int]:
    """``{status: count}`` over the rows of ``kind`` (every kind when None); absent statuses
    are left out. Says why a re-drive of that selection took nothing."""
    stmt = sa.select(EntityLink.status, sa.func.count()).group_by(EntityLink.status)
    if kind is not None:
        stmt = stmt.where(EntityLink.kind == kind)
    return {str(status): count for status, count in session.execute(stmt)}


def failures(
    session: Session,
    *,
    kind: str | None = None,
    statuses: Collection[str] = (Status.FAILED, Status.DEAD, Status.UNKNOWN),
    limit: int = 100,
    offset: int = 0,
) -> list[EntityLink]:
    """Rows in one of ``statuses`` (failed/dead/unknown by default), newest change first."""
    stmt = sa.select(EntityLink).where(EntityLink.status.in_([str(s) for s in statuses]))
    if kind is not None:
        stmt = stmt.where(EntityLink.kind == kind)
    stmt = stmt.order_by(EntityLink.updated_at.desc(), EntityLink.id.desc())
    return list(session.scalars(stmt.limit(limit).offset(offset)))


def _retry_filter(
    kind: str | None, key: str | None, keys: Sequence[str] | None = None
) -> list[sa.ColumnElement[bool]]:
    clauses: list[sa.ColumnElement[bool]] = [
        EntityLink.status.in_([s.value for s in REDRIVE_STATUSES])
    ]
    if kind is not None:
        clauses.append(EntityLink.kind == kind)
    if key is not None:
        clauses.append(EntityLink.key == key)
    if keys is not None:
        clauses.append(EntityLink.key.in_(list(keys)))
    return clauses


def rows_for_retry(
    session: Session, *, kind: str | None = None, key: str | None = None
) -> list[tuple[str, str]]:
    """(kind, key) of the failed/dead/unknown rows a re-drive would take."""
    rows = session.execute(
        sa.select(EntityLink.kind, EntityLink.key)
        .where(*_retry_filter(kind, key))
        .order_by(EntityLink.id)
    )
    return [(row.kind, row.key) for row in rows]


def reset_for_retry(
    session: Session,
    *,
    kind: str | None = None,
    key: str | None = None,
    keys: Sequence[str] | None = None,
    now: datetime | None = None,
) -> list[tuple[str, str]]:
    """Reset failed/dead/unknown rows to pending with a fresh budget; return (kind, key) each.

    ``kind``, ``key`` and ``keys`` (any of these keys) narrow the rows; none re-drives all.

    The intent and remote id stay, so an ``unknown`` create is still looked up first.
    """
    now = now or utcnow()
    rows = session.execute(
        sa.update(EntityLink)
        .where(*_retry_filter(kind, key, keys))
        .values(status=Status.PENDING, attempts=0, enqueued_at=now, due_at=now, updated_at=now)
        .returning(EntityLink.kind, EntityLink.key)
        .execution_options(synchronize_session=False)
    )
    return sorted((row.kind, row.key) for row in rows)


def attempts_of(session: Session, kind: str, key: str, *, limit: int = 50) -> list[Attempt]:
    """The attempt history of (kind, key), newest first."""
    return list(
        session.scalars(
            sa.select(Attempt)
            .join(EntityLink, Attempt.link_id == EntityLink.id)
            .where(EntityLink.kind == kind, EntityLink.key == key)
            .order_by(Attempt.started_at.desc(), Attempt.id.desc())
            .limit(limit)
        )
    )


def links_of(session: Session, pairs: Collection[tuple[str, str]]) -> list[EntityLink]:
    """The rows of the given (kind, key) pairs that exist, ordered by kind and key."""
    by_kind: dict[str, list[str]] = {}
    for kind, key in pairs:
        by_kind.setdefault(kind, []).append(key)
    rows: list[EntityLink] = []
    for kind, keys in sorted(by_kind.items()):
        for start in range(0, len(keys), 500):
            rows.extend(
                session.scalars(
                    sa.select(EntityLink).where(
                        EntityLink.kind == kind, EntityLink.key.in_(keys[start : start + 500])
                    )
                )
            )
    return sorted(rows, key=lambda row: (row.kind, row.key))


def search_links(
    session: Session,
    *,
    kind: str | None = None,
    key: str | None = None,
    statuses: Collection[str] = (),
    limit: int = 100,
) -> list[EntityLink]:
    """Rows for the operator's search (Flower's entity page): of ``kind`` (any when None),
    whose key contains ``key`` (case-insensitive; ``%`` and ``_`` are plain characters), in one
    of ``statuses`` (any when empty). A key equal to ``key`` comes first, then the newest change.
    """
    stmt = sa.select(EntityLink)
    order: list[sa.ColumnElement[Any]] = []
    if kind is not None:
        stmt = stmt.where(EntityLink.kind == kind)
    if key:
        pattern = key.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(EntityLink.key.ilike(f"%{pattern}%", escape=LIKE_ESCAPE))
        order.append(sa.case((EntityLink.key == key, 0), else_=1))
    if statuses:
        stmt = stmt.where(EntityLink.status.in_([str(s) for s in statuses]))
    order.extend([EntityLink.updated_at.desc(), EntityLink.id.desc()])
    return list(session.scalars(stmt.order_by(*order).limit(limit)))


def links_attempted_since(session: Session, since: datetime) -> list[EntityLink]:
    """The rows with an attempt started at or after ``since`` (a run's every entity, including
    those synced as another's dependency), ordered by kind and key."""
    attempted = sa.select(Attempt.link_id).where(Attempt.started_at >= since)
    return list(
        session.scalars(
            sa.select(EntityLink)
            .where(EntityLink.id.in_(attempted))
            .order_by(EntityLink.kind, EntityLink.key)
        )
    )


@dataclasses.dataclass(frozen=True)
class PollProgress:
    """How far one connection has read one kind: its cursor, and its latest completed poll."""

    connection: str
    kind: str
    position: datetime | None
    last_done_start: datetime | None
    last_done_end: datetime | None


def poll_progress(session: Session) -> list[PollProgress]:
    """Per connection and kind with a cursor: the cursor and the latest completed poll's start
    and end (the fleet-wide metrics take the worst connection per kind).

    One row per cursor; each poll is found down the ``(connection, kind, started_at)`` index."""
    done = sa.and_(
        PollCycle.connection == Cursor.connection,
        PollCycle.kind == Cursor.kind,
        PollCycle.status == "done",
    )
    started = sa.select(sa.func.max(PollCycle.started_at)).where(done).scalar_subquery()
    finished = sa.select(sa.func.max(PollCycle.finished_at)).where(done).scalar_subquery()
    rows = session.execute(
        sa.select(Cursor.connection, Cursor.kind, Cursor.position, started, finished)
    ).all()
    return [PollProgress(row[0], row[1], row[2], row[3], row[4]) for row in rows]

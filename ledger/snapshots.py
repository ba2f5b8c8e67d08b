"""Storing what a poll saw: one snapshot per entity, and which of them changed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger._sql import insert_ignore
from ledger.models import Attempt, EntityLink, Status
from ledger.types import utcnow

__all__ = [
    "VOLATILE_FIELDS",
    "SnapshotRecord",
    "content_hash",
    "drop_link",
    "ensure_link",
    "get_link",
    "held_versions",
    "mark_enqueued",
    "store_snapshots",
]

VOLATILE_FIELDS = frozenset({"updated_at", "self"})
"""Fields that change without the content changing; left out of the content hash."""


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """One record as a poll saw it: its key, its JSON, and its Rackbeat ``updated_at``."""

    key: str
    snapshot: Mapping[str, Any]
    updated_at: datetime | None


def content_hash(snapshot: Mapping[str, Any]) -> str:
    """A stable hash of the snapshot's content (volatile fields left out)."""
    content = {k: v for k, v in snapshot.items() if k not in VOLATILE_FIELDS}
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def store_snapshots(
    session: Session,
    kind: str,
    records: Iterable[SnapshotRecord],
    *,
    now: datetime | None = None,
) -> list[str]:
    """Store each record's snapshot; return the keys whose content is new or changed.

    A changed row gets the new snapshot, a bumped ``snapshot_version``, a fresh attempt budget
    and status ``pending`` (a row ``in_flight`` keeps its status: its holder sees the bumped
    version when it finishes and hands the row back to pending). Unchanged rows only get the
    newer ``updated_at``. The caller commits, *then* enqueues the returned keys, *then* marks
    them with :func:`mark_enqueued`: a crash in between leaves ``enqueued_at`` empty, and the
    next poll's sweep (``ledger.reports.stale_work``) enqueues them.
    """
    now = now or utcnow()
    by_key: dict[str, SnapshotRecord] = {}
    for record in records:
        by_key[record.key] = record  # the last one seen wins within a batch
    if not by_key:
        return []
    table = EntityLink.__table__
    insert_ignore(
        session,
        table,  # type: ignore[arg-type]
        [_new_row(kind, key, status=Status.PENDING, now=now, snapshot_version=0) for key in by_key],
        ["kind", "key"],
    )
    existing = session.execute(
        sa.select(
            EntityLink.id,
            EntityLink.key,
            EntityLink.status,
            EntityLink.snapshot_hash,
            EntityLink.snapshot_version,
            EntityLink.attempts,
            EntityLink.source_updated_at,
        )
        .where(EntityLink.kind == kind, EntityLink.key.in_(list(by_key)))
        .order_by(EntityLink.id)
        # Lock the rows until commit so that a claim cannot slip in between this read of the
        # status and the write below (SQLite's BEGIN IMMEDIATE already serialises writers).
        .with_for_update()
    ).all()
    changed: list[str] = []
    updates: list[dict[str, Any]] = []
    touches: list[dict[str, Any]] = []
    for link_id, key, status, old_hash, version, attempts, old_updated in existing:
        record = by_key[key]
        new_hash = content_hash(record.snapshot)
        if new_hash == old_hash:
            if record.updated_at is not None and record.updated_at != old_updated:
                touches.append({"id": link_id, "source_updated_at": record.updated_at})
            continue
        changed.append(key)
        in_flight = status == Status.IN_FLIGHT
        updates.append(
            {
                "id": link_id,
                "snapshot": dict(record.snapshot),
                "snapshot_hash": new_hash,
                "source_updated_at": record.updated_at,
                "snapshot_version": version + 1,
                "status": status if in_flight else Status.PENDING.value,
                "attempts": attempts if in_flight else 0,
                # The outbox flag: set by mark_enqueued only once the message is published.
                "enqueued_at": None,
                "updated_at": now,
            }
        )
    # Bulk UPDATE by primary key (executemany): the poll of a large catalogue stays cheap.
    if updates:
        session.execute(sa.update(EntityLink), updates)
    if touches:
        session.execute(sa.update(EntityLink), touches)
    return changed


def ensure_link(session: Session, kind: str, key: str, *, now: datetime | None = None) -> int:
    """Make sure a row exists for (kind, key) (pending, no snapshot yet); return its id."""
    now = now or utcnow()
    insert_ignore(
        session,
        EntityLink.__table__,  # type: ignore[arg-type]
        [_new_row(kind, key, status=Status.PENDING, now=now, snapshot_version=0)],
        ["kind", "key"],
    )
    link_id = session.scalar(
        sa.select(EntityLink.id).where(EntityLink.kind == kind, EntityLink.key == key)
    )
    assert link_id is not None
    return link_id


def drop_link(session: Session, link_id: int) -> bool:
    """Delete a row (and its attempts) that never held a snapshot or a remote id: what a
    manual sync of a key Rackbeat does not have left behind. False when the row is not such."""
    session.execute(
        sa.delete(Attempt)
        .where(Attempt.link_id == link_id)
        .where(
            sa.exists().where(
                EntityLink.id == link_id,
                EntityLink.snapshot.is_(None),
                EntityLink.remote_id.is_(None),
            )
        )
        .execution_options(synchronize_session=False)
    )
    result = session.execute(
        sa.delete(EntityLink)
        .where(
            EntityLink.id == link_id,
            EntityLink.snapshot.is_(None),
            EntityLink.remote_id.is_(None),
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def get_link(session: Session, kind: str, key: str) -> EntityLink | None:
    """The row of (kind, key), or None."""
    return session.scalar(
        sa.select(EntityLink).where(EntityLink.kind == kind, EntityLink.key == key)
    )


def _new_row(
    kind: str, key: str, *, status: Status, now: datetime, snapshot_version: int
) -> dict[str, Any]:
    return {
        "kind": kind,
        "key": key,
        "status": status.value,
        "snapshot_version": snapshot_version,
        "claimed_version": 0,
        "attempts": 0,
        "warnings": [],
        "details": {},
        "created_at": now,
        "updated_at": now,
    }


def mark_enqueued(
    session: Session, kind: str, keys: Iterable[str], *, now: datetime | None = None
) -> None:
    """Record that a sync message for each (kind, key) was published."""
    wanted = list(keys)
    now = now or utcnow()
    for start in range(0, len(wanted), 500):
        session.execute(
            sa.update(EntityLink)
            .where(EntityLink.kind == kind, EntityLink.key.in_(wanted[start : start + 500]))
            .values(enqueued_at=now)
            .execution_options(synchronize_session=False)
        )


def held_versions(session: Session, kind: str, since: datetime) -> dict[str, datetime]:
    """Key -> Rackbeat ``updated_at`` of the snapshots held for ``kind`` changed at or after
    ``since``: what a poll's overlap window would read again (the client skips those)."""
    rows = session.execute(
        sa.select(EntityLink.key, EntityLink.source_updated_at).where(
            EntityLink.kind == kind,
            EntityLink.snapshot.is_not(None),
            EntityLink.source_updated_at >= since,
        )
    )
    return {key: updated for key, updated in rows if updated is not None}

"""The initial sync's own progress: one row per PowerOffice Go record copied to Rackbeat.

``initial_sync_items`` holds, per (kind, source), where the copy of one PowerOffice Go record
(or of one unit code, or of the ``Poweroffice`` supplier group) stands:

- ``intent``: a Rackbeat create with ``number`` is about to be sent (written and committed
  *before* the POST), so that a run killed half-way looks the number up before it may create;
- ``created`` / ``linked``: the Rackbeat record ``number`` is ours (created by this sync) or was
  there already (same number / name) and is now linked. These rows are final: their number
  never changes again (R-INIT-2: a unit code keeps its Rackbeat unit for good);
- ``skipped`` / ``failed``: not copied, with the reason; a later run looks at them again.

Kinds: ``unit`` (source = PowerOffice Go unit code), ``product_group`` (source = PowerOffice
Go group id), ``product``, ``supplier``, ``customer`` (source = PowerOffice Go id) and
``supplier_group`` (source = the group's case-folded name).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from ledger._sql import insert_ignore
from ledger.models import Base, connection_key
from ledger.scope import Scoped
from ledger.types import UTCDateTime, utcnow

__all__ = [
    "FINAL_ITEM_STATUSES",
    "InitialItemStatus",
    "InitialSyncItem",
    "initial_item_counts",
    "initial_items",
    "record_initial_intent",
    "record_initial_outcome",
    "unit_links",
]

UNIT_KIND = "unit"


class InitialItemStatus(enum.StrEnum):
    """Where the copy of one record stands."""

    INTENT = "intent"
    CREATED = "created"
    LINKED = "linked"
    SKIPPED = "skipped"
    FAILED = "failed"


FINAL_ITEM_STATUSES = frozenset({InitialItemStatus.CREATED, InitialItemStatus.LINKED})
"""Rows that are done for good: their Rackbeat number never changes."""


class InitialSyncItem(Scoped, Base):
    """One PowerOffice Go record (or unit code, or supplier group) and its Rackbeat copy."""

    __tablename__ = "initial_sync_items"

    connection: Mapped[str] = connection_key()
    kind: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    number: Mapped[str | None] = mapped_column(sa.String(191))
    """The Rackbeat number (unit / group / product / supplier / customer number)."""
    status: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    """Why it was skipped or failed, or a warning about a copy that did happen."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def initial_items(
    session: Session, kind: str, sources: Iterable[str] | None = None
) -> dict[str, InitialSyncItem]:
    """The rows of ``kind`` by source (all of them, or those of ``sources``)."""
    stmt = sa.select(InitialSyncItem).where(InitialSyncItem.kind == kind)
    if sources is not None:
        wanted = list(dict.fromkeys(sources))
        if not wanted:
            return {}
        stmt = stmt.where(InitialSyncItem.source.in_(wanted))
    return {row.source: row for row in session.scalars(stmt)}


def _not_final() -> sa.ColumnElement[bool]:
    return InitialSyncItem.status.not_in([s.value for s in FINAL_ITEM_STATUSES])


def record_initial_intent(
    session: Session, kind: str, source: str, number: str | None, *, now: datetime | None = None
) -> bool:
    """Write that a create of ``number`` is about to be sent; False when the row is final."""
    return _write(session, kind, source, InitialItemStatus.INTENT, number=number, now=now)


def record_initial_outcome(
    session: Session,
    kind: str,
    source: str,
    status: InitialItemStatus,
    *,
    number: str | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Write the outcome of one record; False (nothing written) when the row is final already.

    A ``created`` / ``linked`` row is never changed again, so the Rackbeat number a unit code
    or a record got stays its number for good.
    """
    if status == InitialItemStatus.INTENT:
        raise ValueError("use record_initial_intent for an intent")
    return _write(session, kind, source, status, number=number, reason=reason, now=now)


def _write(
    session: Session,
    kind: str,
    source: str,
    status: InitialItemStatus,
    *,
    number: str | None,
    reason: str | None = None,
    now: datetime | None,
) -> bool:
    now = now or utcnow()
    insert_ignore(
        session,
        InitialSyncItem.__table__,  # type: ignore[arg-type]
        [
            {
                "kind": kind,
                "source": source,
                "number": number,
                "status": status.value,
                "reason": reason,
                "created_at": now,
                "updated_at": now,
            }
        ],
        ["kind", "source"],
    )
    values: dict[str, object] = {"status": status.value, "reason": reason, "updated_at": now}
    if number is not None:
        values["number"] = number
    result = session.execute(
        sa.update(InitialSyncItem)
        .where(
            InitialSyncItem.kind == kind,
            InitialSyncItem.source == source,
            _not_final(),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def unit_links(session: Session) -> dict[str, int]:
    """R-INIT-2: PowerOffice Go unit code -> Rackbeat unit number, for every linked unit."""
    rows = session.execute(
        sa.select(InitialSyncItem.source, InitialSyncItem.number).where(
            InitialSyncItem.kind == UNIT_KIND,
            InitialSyncItem.status.in_([s.value for s in FINAL_ITEM_STATUSES]),
            InitialSyncItem.number.is_not(None),
        )
    )
    return {code: int(number) for code, number in rows if number is not None}


def initial_item_counts(session: Session) -> dict[str, dict[str, int]]:
    """``{kind: {status: rows}}`` of the initial sync's progress."""
    rows = session.execute(
        sa.select(InitialSyncItem.kind, InitialSyncItem.status, sa.func.count()).group_by(
            InitialSyncItem.kind, InitialSyncItem.status
        )
    )
    counts: dict[str, dict[str, int]] = {}
    for kind, status, count in rows:
        counts.setdefault(kind, {})[status] = int(count)
    return counts

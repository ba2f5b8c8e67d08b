"""Reconciliation's ledger side: the rows it compares, the repairs it makes, the runs it keeps.

``tasks.reconcile`` compares the ledger with both APIs. Here: the light view of a kind's rows
it reads (:func:`reconcile_rows`), the two repairs that change what the ledger believes
(:func:`forget_remote_records`: a record PowerOffice Go lost is created again;
:func:`take_held_as_written`: a hand edit is overwritten), and the ``reconcile_runs`` rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger.errors import one_line
from ledger.models import EntityLink, ReconcileRun, RemoteLink, Status
from ledger.types import utcnow

__all__ = [
    "ReconcileRow",
    "finish_reconcile_run",
    "forget_remote_records",
    "last_reconcile_run",
    "reconcile_rows",
    "start_reconcile_run",
    "take_held_as_written",
]

_CHUNK = 500


@dataclasses.dataclass(frozen=True, slots=True)
class ReconcileRow:
    """What reconciliation reads of one ledger row."""

    key: str
    status: str
    remote_id: str | None
    source_updated_at: datetime | None
    written: Mapping[str, Any] | None


def reconcile_rows(
    session: Session, kind: str, *, with_written: bool = True
) -> dict[str, ReconcileRow]:
    """Every row of ``kind`` by key (``written`` only for synced rows, the drift check's, and
    only ``with_written``)."""
    c = EntityLink
    written: sa.ColumnElement[Any] = (
        sa.case((c.status == Status.SYNCED.value, c.written), else_=sa.null())
        if with_written
        else sa.null()
    )
    rows = session.execute(
        sa.select(c.key, c.status, c.remote_id, c.source_updated_at, written).where(c.kind == kind)
    )
    return {row[0]: ReconcileRow(row[0], row[1], row[2], row[3], row[4]) for row in rows}


def forget_remote_records(
    session: Session,
    kind: str,
    lost: Mapping[str, str],
    namespaces: Collection[str],
    *,
    now: datetime | None = None,
) -> list[str]:
    """PowerOffice Go no longer has these records (key -> the id the ledger knew): forget the
    ids (the row's and the bulk indexes' in ``namespaces``) and what was written, and put the
    rows back to ``pending``, so that their next sync looks up and creates. Only rows still
    ``synced`` with that id are touched (a worker may have moved on since the read); returns
    the keys reset."""
    now = now or utcnow()
    reset: list[str] = []
    for key, remote in lost.items():
        done = session.execute(
            sa.update(EntityLink)
            .where(
                EntityLink.kind == kind,
                EntityLink.key == key,
                EntityLink.status == Status.SYNCED.value,
                EntityLink.remote_id == remote,
            )
            .values(
                remote_id=None,
                intent=None,
                fingerprint=None,
                written=None,
                status=Status.PENDING.value,
                attempts=0,
                enqueued_at=now,
                due_at=now,
                updated_at=now,
            )
            .returning(EntityLink.key)
            .execution_options(synchronize_session=False)
        ).first()
        if done is not None:
            reset.append(key)
    ids = list(dict.fromkeys(lost.values()))
    for start in range(0, len(ids), _CHUNK):
        session.execute(
            sa.delete(RemoteLink).where(
                RemoteLink.namespace.in_(list(namespaces)),
                RemoteLink.remote_id.in_(ids[start : start + _CHUNK]),
            )
        )
    return reset


def take_held_as_written(
    session: Session,
    kind: str,
    held: Mapping[str, Mapping[str, Any]],
    *,
    now: datetime | None = None,
) -> list[str]:
    """Record what PowerOffice Go holds (key -> held view) as what was last written, and put
    the rows back to ``pending``: their next sync patches every field that differs from the
    mapping (the hand edits), as when a record is adopted. Only ``synced`` rows are touched;
    returns the keys reset."""
    now = now or utcnow()
    reset: list[str] = []
    for key, view in held.items():
        done = session.execute(
            sa.update(EntityLink)
            .where(
                EntityLink.kind == kind,
                EntityLink.key == key,
                EntityLink.status == Status.SYNCED.value,
            )
            .values(
                written=dict(view),
                fingerprint=None,
                status=Status.PENDING.value,
                attempts=0,
                enqueued_at=now,
                due_at=now,
                updated_at=now,
            )
            .returning(EntityLink.key)
            .execution_options(synchronize_session=False)
        ).first()
        if done is not None:
            reset.append(key)
    return reset


def start_reconcile_run(
    session: Session,
    *,
    kinds: Iterable[str],
    trigger: str,
    repair: bool,
    overwrite_drift: bool,
    now: datetime | None = None,
) -> int:
    """Open a ``reconcile_runs`` row (``running``); its id."""
    run = ReconcileRun(
        started_at=now or utcnow(),
        status="running",
        trigger=trigger,
        kinds=list(kinds),
        repair=repair,
        overwrite_drift=overwrite_drift,
        differences=0,
        report={},
    )
    session.add(run)
    session.flush()
    return run.id


def finish_reconcile_run(
    session: Session,
    run_id: int,
    *,
    differences: int,
    report: Mapping[str, Any],
    error: str | None = None,
    now: datetime | None = None,
) -> None:
    """Close a run: ``failed`` with ``error`` (one line, no SQL), else ``clean`` or
    ``differences``."""
    status = "failed" if error is not None else ("differences" if differences else "clean")
    session.execute(
        sa.update(ReconcileRun)
        .where(ReconcileRun.id == run_id)
        .values(
            status=status,
            differences=differences,
            report=dict(report),
            error=None if error is None else one_line(error),
            finished_at=now or utcnow(),
        )
        .execution_options(synchronize_session=False)
    )


def last_reconcile_run(session: Session) -> ReconcileRun | None:
    """The most recent reconciliation, or None."""
    return session.scalars(
        sa.select(ReconcileRun).order_by(ReconcileRun.id.desc()).limit(1)
    ).first()

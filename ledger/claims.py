"""Claiming an entity for one worker, recording intent, attempts and outcomes.

The claim is one conditional UPDATE: it succeeds only when the row is not ``in_flight``, or is
held by the same task id (a redelivered message after its worker died), or its claim is older
than ``stale_after`` (a holder that vanished without its message coming back). On PostgreSQL
the row lock serialises concurrent claims; on SQLite ``BEGIN IMMEDIATE`` does. So two workers
never hold the same row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger.models import Attempt, EntityLink, Status
from ledger.types import utcnow

__all__ = [
    "FINAL_STATUSES",
    "Finish",
    "claim",
    "claim_current_version",
    "end_attempt",
    "finish",
    "record_intent",
    "start_attempt",
]

FINAL_STATUSES = frozenset(
    {Status.SYNCED, Status.SKIPPED, Status.FAILED, Status.DEAD, Status.UNKNOWN, Status.PENDING}
)
"""Statuses a holder may leave a row in when it lets go."""

LINKS: sa.Table = EntityLink.__table__  # type: ignore[assignment]
ATTEMPTS: sa.Table = Attempt.__table__  # type: ignore[assignment]

_REOPEN_ON_NEW_CONTENT = frozenset({Status.SYNCED, Status.SKIPPED, Status.FAILED, Status.DEAD})


@dataclass(frozen=True, slots=True)
class Finish:
    """What ``finish`` did: the status written and whether newer content awaits a new task."""

    status: Status
    reopened: bool


def claim(
    session: Session,
    kind: str,
    key: str,
    token: str,
    *,
    stale_after: timedelta,
    now: datetime | None = None,
) -> EntityLink | None:
    """Take (kind, key) for ``token`` (a task id); the claimed row, or None when held.

    The row comes back as a detached ``EntityLink`` built from the UPDATE's RETURNING (a plain
    Core statement: this runs once per entity and per attempt, so it stays cheap).
    """
    now = now or utcnow()
    table = LINKS
    stmt = (
        sa.update(table)
        .where(
            table.c.kind == kind,
            table.c.key == key,
            sa.or_(
                table.c.status != Status.IN_FLIGHT,
                table.c.claim_token == token,
                table.c.claimed_at < now - stale_after,
            ),
        )
        .values(
            status=Status.IN_FLIGHT,
            claim_token=token,
            claimed_at=now,
            claimed_version=table.c.snapshot_version,
            attempts=table.c.attempts + 1,
            updated_at=now,
        )
        .returning(*table.c)
    )
    row = session.execute(stmt).one_or_none()
    return None if row is None else EntityLink(**row._asdict())


def claim_current_version(session: Session, link_id: int, token: str) -> None:
    """Mark the row's current snapshot as the one this claim works on.

    For a holder that stored the snapshot itself (a manual enqueue fetched it): that snapshot
    is not "new content that arrived while held".
    """
    session.execute(
        sa.update(EntityLink)
        .where(EntityLink.id == link_id, EntityLink.claim_token == token)
        .values(claimed_version=EntityLink.snapshot_version)
        .execution_options(synchronize_session=False)
    )


def record_intent(session: Session, link_id: int, token: str, intent: str) -> None:
    """Write the key a create is about to use, before the request is sent."""
    result = session.execute(
        sa.update(EntityLink)
        .where(EntityLink.id == link_id, EntityLink.claim_token == token)
        .values(intent=intent)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LookupError(f"entity link {link_id} is not held by {token!r}")


def finish(
    session: Session,
    link_id: int,
    token: str,
    status: Status,
    *,
    remote_id: str | None = None,
    fingerprint: str | None = None,
    written: Mapping[str, Any] | None = None,
    error: str | None = None,
    warnings: Sequence[Any] | None = None,
    details: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Finish | None:
    """Let go of a claimed row, writing its outcome; None when the claim was lost meanwhile.

    ``remote_id``/``fingerprint``/``written``/``warnings``/``details`` are written only when
    given. When the snapshot changed while the row was held and the outcome is final, the row
    goes back to ``pending`` (``reopened``): the caller enqueues it again after commit.
    """
    if status not in FINAL_STATUSES:
        raise ValueError(f"cannot finish with status {status!r}")
    now = now or utcnow()
    values: dict[str, Any] = {
        "claim_token": None,
        "last_error": error,
        "updated_at": now,
    }
    if remote_id is not None:
        values["remote_id"] = remote_id
    if fingerprint is not None:
        values["fingerprint"] = fingerprint
    if written is not None:
        values["written"] = dict(written)
    if warnings is not None:
        values["warnings"] = list(warnings)
    if details is not None:
        values["details"] = dict(details)
    if status == Status.SYNCED:
        values["synced_at"] = now
    reopen = status in _REOPEN_ON_NEW_CONTENT
    values["status"] = (
        sa.case(
            (EntityLink.snapshot_version != EntityLink.claimed_version, Status.PENDING.value),
            else_=sa.literal(status.value),
        )
        if reopen
        else status.value
    )
    if reopen:
        values["attempts"] = sa.case(
            (EntityLink.snapshot_version != EntityLink.claimed_version, 0),
            else_=EntityLink.attempts,
        )
    row = session.execute(
        sa.update(EntityLink)
        .where(
            EntityLink.id == link_id,
            EntityLink.claim_token == token,
            EntityLink.status == Status.IN_FLIGHT,
        )
        .values(**values)
        .returning(EntityLink.status)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if row is None:
        return None
    written_status = Status(row[0])
    return Finish(status=written_status, reopened=reopen and written_status != status)


def start_attempt(
    session: Session, link_id: int, task_id: str | None, *, now: datetime | None = None
) -> int:
    """Open an attempt row; return its id."""
    table = ATTEMPTS
    attempt_id = session.execute(
        sa.insert(table)
        .values(link_id=link_id, task_id=task_id, started_at=now or utcnow())
        .returning(table.c.id)
    ).scalar_one()
    return int(attempt_id)


def end_attempt(
    session: Session,
    attempt_id: int,
    outcome: str,
    *,
    http_status: int | None = None,
    error: str | None = None,
    now: datetime | None = None,
) -> None:
    """Close an attempt row with its outcome."""
    session.execute(
        sa.update(Attempt)
        .where(Attempt.id == attempt_id)
        .values(
            finished_at=now or utcnow(),
            outcome=outcome,
            http_status=http_status,
            error=error,
        )
        .execution_options(synchronize_session=False)
    )

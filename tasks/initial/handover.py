"""What the initial sync leaves for the ongoing sync: the links, recorded with the outcome.

A copied or linked product, supplier or customer gets the ledger row the pipeline itself would
leave after syncing it (``entity_links`` synced, with the snapshot, fingerprint and payload of
its mapping; an attempt row ``linked``; the ``remote_links`` the pipeline reads), in the same
transaction as its ``initial_sync_items`` outcome. So the next poll finds nothing new, and a
later change in Rackbeat is PATCHed to the same PowerOffice Go id, never created again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from ledger import (
    InitialItemStatus,
    SnapshotRecord,
    Status,
    claim,
    end_attempt,
    finish,
    get_link,
    put_remote_id,
    record_initial_outcome,
    start_attempt,
    store_snapshots,
)
from mapping import MappedRecord, RecordRejected
from tasks.initial.engine import ITEM_STATUS, Engine, ItemOutcome
from tasks.initial.report import SKIPPED
from tasks.pipeline import Outcome

__all__ = ["RemoteLinks", "link_record", "mapped_or_reason", "record_dependency"]

RemoteLinks = Sequence[tuple[str, str, str]]
"""``remote_links`` rows to write: (namespace, code, PowerOffice Go id)."""


def mapped_or_reason(call: Callable[[], MappedRecord]) -> MappedRecord | str:
    """The mapping of a Rackbeat record, or why it does not map (a note, not a failure)."""
    try:
        return call()
    except RecordRejected as exc:
        return str(exc)


def record_dependency(
    engine: Engine,
    kind: str,
    source: str,
    number: str,
    outcome: str,
    *,
    remote_links: RemoteLinks = (),
) -> ItemOutcome:
    """Record a dependency's created / linked outcome (a dry run records nothing)."""
    if not engine.dry_run:
        with engine.runtime.sessions.begin() as session:
            record_initial_outcome(session, kind, source, ITEM_STATUS[outcome], number=number)
            for namespace, code, remote in remote_links:
                put_remote_id(session, namespace, code, remote)
    return ItemOutcome(outcome, number=number, recorded=True)


def link_record(
    engine: Engine,
    kind: str,
    source: str,
    snapshot: SnapshotRecord,
    *,
    mapped: MappedRecord | str | None,
    outcome: str,
    warning: str | None = None,
    remote_links: RemoteLinks = (),
) -> ItemOutcome:
    """The Rackbeat record is ours or linked: write the progress row and the ongoing sync's
    link (entity link, attempt row, remote links) in one transaction.

    ``source`` is the PowerOffice Go id: the entity link's ``remote_id``. ``mapped`` is the
    mapping of the Rackbeat record (its fingerprint makes the next poll send nothing), or
    why it could not be mapped.
    """
    key = snapshot.key
    remote_id = source
    notes = [warning] if warning else []
    if isinstance(mapped, str):
        notes.append(f"it does not map back for the ongoing sync: {mapped}")
        mapped = None
    with engine.runtime.sessions.begin() as session:
        row = get_link(session, kind, key)
        if row is not None and row.remote_id not in (None, remote_id):
            conflict = (
                f"Rackbeat {kind} {key} is already linked to PowerOffice Go id "
                f"{row.remote_id}, not {remote_id}; left as it is"
            )
            record_initial_outcome(
                session, kind, source, InitialItemStatus.SKIPPED, number=key, reason=conflict
            )
            return ItemOutcome(SKIPPED, number=key, reason=conflict, recorded=True)
        linked_before = row is not None and row.remote_id is not None
        if not linked_before and not _write_link(
            engine, session, kind, snapshot, remote_id, mapped=mapped
        ):
            notes.append("its ledger row is held by a running sync task; not linked")
        for namespace, code, remote in remote_links:
            put_remote_id(session, namespace, code, remote)
        reason = "; ".join(notes) or None
        record_initial_outcome(
            session, kind, source, ITEM_STATUS[outcome], number=key, reason=reason
        )
    return ItemOutcome(outcome, number=key, reason=reason, recorded=True)


def _write_link(
    engine: Engine,
    session: Session,
    kind: str,
    snapshot: SnapshotRecord,
    remote_id: str,
    *,
    mapped: MappedRecord | None,
) -> bool:
    """The entity link exactly as the pipeline leaves a synced row; False when held."""
    store_snapshots(session, kind, [snapshot])
    held = claim(session, kind, snapshot.key, engine.token, lease=engine.runtime.lease)
    if held is None:
        return False
    attempt = start_attempt(session, held.id, engine.token)
    finish(
        session,
        held.id,
        engine.token,
        Status.SYNCED,
        remote_id=remote_id,
        fingerprint=mapped.fingerprint if mapped is not None else None,
        written=mapped.body() if mapped is not None else None,
        warnings=[w.to_json() for w in mapped.warnings] if mapped is not None else [],
        details=dict(mapped.manual) if mapped is not None else None,
    )
    end_attempt(session, attempt, Outcome.LINKED)
    return True

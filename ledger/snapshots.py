"""Storing what a poll saw: one snapshot per entity, and which of them changed.

A record the ledger cannot hold as it is never blocks the others (docs/pipeline.md, "Poison
records"): characters PostgreSQL cannot store are cleaned out of its snapshot (and named in
``snapshot_warnings``), a key longer than the column is kept under a shortened key and the row
is ``failed``, and :func:`store_snapshots_isolated` turns any other record the database refuses
into a ``failed`` row of its own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger._sql import insert_ignore
from ledger.errors import describe_error, is_transient
from ledger.models import KEY_LENGTH, Attempt, EntityLink, Status
from ledger.types import utcnow

__all__ = [
    "SHORT_KEY_PREFIX",
    "VOLATILE_FIELDS",
    "SnapshotRecord",
    "StoreReport",
    "clean_snapshot",
    "content_hash",
    "drop_link",
    "ensure_link",
    "get_link",
    "held_versions",
    "key_problem",
    "ledger_key",
    "mark_enqueued",
    "store_snapshots",
    "store_snapshots_isolated",
]

log = logging.getLogger(__name__)

VOLATILE_FIELDS = frozenset({"updated_at", "self"})
"""Fields that change without the content changing; left out of the content hash."""

SHORT_KEY_PREFIX = 150
"""How much of an over-long key its shortened form keeps (then ``…`` and 16 hex digits)."""

# What PostgreSQL cannot hold: NUL in text and in JSONB ("\u0000 cannot be converted to text"),
# and unpaired UTF-16 surrogates (a JSON "\ud800" decodes to one; it is not valid UTF-8, so
# neither SQLite nor PostgreSQL can be sent it).
_NUL = "\x00"
_SURROGATES = re.compile("[\ud800-\udfff]")
NUL_CHARACTER = "nul_character"
UNPAIRED_SURROGATE = "unpaired_surrogate"


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """One record as a poll saw it: its key, its JSON, and its Rackbeat ``updated_at``.

    ``refusal``, when set, is why the record can never sync as it is (its caller knows, e.g.
    an item number longer than any PowerOffice Go code): it is stored as a ``failed`` row with
    that reason and not returned for enqueueing.
    """

    key: str
    snapshot: Mapping[str, Any]
    updated_at: datetime | None
    refusal: str | None = None


@dataclass
class StoreReport:
    """What :func:`store_snapshots_isolated` did with one batch."""

    changed: list[str] = field(default_factory=list)
    """Keys whose content is new or changed: the caller enqueues these after the commit."""
    failed: list[tuple[str, str]] = field(default_factory=list)
    """(key, reason) of the records stored as ``failed`` rows (not to be enqueued)."""
    unstored: list[tuple[str, str]] = field(default_factory=list)
    """(Rackbeat key, reason) of the records not even a ``failed`` row could be written for."""
    cleaned: list[tuple[str, list[str]]] = field(default_factory=list)
    """(key, fields) of the changed records stored with characters removed."""

    def add(self, other: StoreReport) -> None:
        self.changed += other.changed
        self.failed += other.failed
        self.unstored += other.unstored
        self.cleaned += other.cleaned


def content_hash(snapshot: Mapping[str, Any]) -> str:
    """A stable hash of the snapshot's content (volatile fields left out)."""
    content = {k: v for k, v in snapshot.items() if k not in VOLATILE_FIELDS}
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def _unholdable(text: str) -> list[str]:
    codes = []
    if _NUL in text:
        codes.append(NUL_CHARACTER)
    if not text.isascii() and _SURROGATES.search(text):
        codes.append(UNPAIRED_SURROGATE)
    return codes


def _holdable(text: str) -> str:
    return _SURROGATES.sub("\ufffd", text.replace(_NUL, ""))


def clean_snapshot(snapshot: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The snapshot without the characters the ledger's databases cannot hold, and one warning
    per field cleaned (``{"code": "nul_character", "field": "lines[0].name", "message"}``).

    Cleaned, not refused: a NUL is invisible, so the text without it is what a Rackbeat user
    sees; refusing would stop a record over a character nobody typed on purpose, and keeping it
    is impossible (PostgreSQL text and JSONB refuse it). An unpaired surrogate is not a
    character at all; it becomes U+FFFD. ``mapping/`` applies PowerOffice Go's own rules to
    what is left.
    """
    found: dict[str, list[str]] = {}

    def clean(value: Any, path: str) -> Any:
        if isinstance(value, str):
            codes = _unholdable(value)
            if not codes:
                return value
            found.setdefault(path or "(value)", []).extend(codes)
            return _holdable(value)
        if isinstance(value, Mapping):
            result = {}
            for name, item in value.items():
                inner = f"{path}.{name}" if path else str(name)
                result[clean(name, inner) if isinstance(name, str) else name] = clean(item, inner)
            return result
        if isinstance(value, list | tuple):
            return [clean(item, f"{path}[{i}]") for i, item in enumerate(value)]
        return value

    cleaned = clean(snapshot, "")
    warnings = [
        {"code": code, "field": name, "message": _CLEANED[code].format(field=_holdable(name))}
        for name, codes in found.items()
        for code in dict.fromkeys(codes)
    ]
    return cleaned, warnings


_CLEANED = {
    NUL_CHARACTER: (
        "{field} held NUL characters (\\u0000), which the ledger cannot store: removed"
    ),
    UNPAIRED_SURROGATE: (
        "{field} held unpaired surrogates (not Unicode characters): replaced by U+FFFD"
    ),
}


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot be a ledger key as it is (None when it can)."""
    if len(key) > KEY_LENGTH:
        return f"key is {len(key)} characters; the ledger holds keys of at most {KEY_LENGTH}"
    if _unholdable(key):
        return "key holds characters the ledger cannot store (NUL or unpaired surrogates)"
    return None


def ledger_key(key: str) -> str:
    """The key the ledger keeps a record under: ``key`` itself, or for one it cannot hold
    (:func:`key_problem`) its first 150 characters (cleaned), ``…`` and a hash of the whole
    key: it fits the column, stays unique, and reads as the record it stands for."""
    if key_problem(key) is None:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{_holdable(key)[:SHORT_KEY_PREFIX]}…{digest}"


@dataclass(frozen=True, slots=True)
class _Prepared:
    key: str
    record: SnapshotRecord
    refusal: str | None


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
    sweep (``ledger.sweep``) sends them.

    Characters the ledger cannot hold are cleaned out of the snapshot (:func:`clean_snapshot`,
    named in ``snapshot_warnings``). A record with a ``refusal`` or a key the ledger cannot hold
    (:func:`ledger_key`) is stored as a ``failed`` row with the reason and not returned. Any
    other error fails the whole call: the poll uses :func:`store_snapshots_isolated`.
    """
    return _store(session, kind, _latest(records), now or utcnow()).changed


def store_snapshots_isolated(
    session: Session,
    kind: str,
    records: Iterable[SnapshotRecord],
    *,
    now: datetime | None = None,
) -> StoreReport:
    """:func:`store_snapshots` for a poll's batch, where one record the database refuses
    must not stop the others (nor, by failing every poll, the whole kind).

    The batch is tried at once inside a savepoint; when it fails, record by record, each in a
    savepoint of its own. A record that fails alone becomes a ``failed`` row with the error in
    one line (no SQL, no parameters); when even that row cannot be written, it is reported in
    ``unstored``. Errors of the database itself (a lost connection, a deadlock: see
    :func:`ledger.errors.is_transient`) are raised as before, and so is the first error when
    not one record of a batch of several could be stored or marked: that is no poison record
    but a broken ledger, and moving the cursor past the batch would lose it.
    """
    now = now or utcnow()
    batch = _latest(records)
    try:
        with session.begin_nested():
            return _store(session, kind, batch, now)
    except _RECORD_ERRORS as exc:
        if is_transient(exc) or len(batch) == 0:
            raise
        first = exc
        log.info(
            "%s: a batch of %d failed to store (%s); storing one by one",
            kind,
            len(batch),
            describe_error(exc),
        )
    report = StoreReport()
    for record in batch:
        try:
            with session.begin_nested():
                report.add(_store(session, kind, [record], now))
            continue
        except _RECORD_ERRORS as exc:
            if is_transient(exc):
                raise
            reason = f"could not be stored in the ledger: {describe_error(exc)}"
        try:
            with session.begin_nested():
                report.failed.append((_mark_failed(session, kind, record.key, reason, now), reason))
        except _RECORD_ERRORS as exc:
            if is_transient(exc):
                raise
            report.unstored.append(
                (record.key, f"{reason}; nor could it be marked failed: {describe_error(exc)}")
            )
    if len(batch) > 1 and len(report.unstored) == len(batch):
        raise first
    return report


_RECORD_ERRORS = (sa.exc.SQLAlchemyError, ValueError, TypeError, LookupError)
"""What storing one record may raise on account of that record: its database refusal, or a
value the code cannot handle. Anything else (a time limit, a bug elsewhere) is not caught."""


def _latest(records: Iterable[SnapshotRecord]) -> list[SnapshotRecord]:
    by_key: dict[str, SnapshotRecord] = {}
    for record in records:
        by_key[record.key] = record  # the last one seen wins within a batch
    return list(by_key.values())


def _store(
    session: Session, kind: str, records: list[SnapshotRecord], now: datetime
) -> StoreReport:
    report = StoreReport()
    by_key: dict[str, _Prepared] = {}
    for record in records:
        key = ledger_key(record.key)
        by_key[key] = _Prepared(key, record, record.refusal or key_problem(record.key))
    if not by_key:
        return report
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
    updates: list[dict[str, Any]] = []
    refusals: list[dict[str, Any]] = []
    touches: list[dict[str, Any]] = []
    for link_id, key, status, old_hash, version, attempts, old_updated in existing:
        prepared = by_key[key]
        record = prepared.record
        # The hash is of Rackbeat's content as read, so that a later edit removing only a NUL
        # is a change too (it clears the warning); the row holds the cleaned copy.
        new_hash = content_hash(record.snapshot)
        if new_hash == old_hash:
            if record.updated_at is not None and record.updated_at != old_updated:
                touches.append(
                    {"id": link_id, "source_updated_at": record.updated_at, "snapshot_at": now}
                )
            continue
        snapshot, warnings = clean_snapshot(record.snapshot)
        row = {
            "id": link_id,
            "snapshot": snapshot,
            "snapshot_hash": new_hash,
            "snapshot_warnings": warnings,
            "source_updated_at": record.updated_at,
            "snapshot_version": version + 1,
            # The outbox flag: set by mark_enqueued only once the message is published.
            "enqueued_at": None,
            "due_at": None,
            "snapshot_at": now,
            "updated_at": now,
        }
        if prepared.refusal is not None:
            # It can never sync as it is: failed at once, with the reason, and not enqueued.
            refusals.append({**row, "status": Status.FAILED.value, "last_error": prepared.refusal})
            report.failed.append((key, prepared.refusal))
            continue
        in_flight = status == Status.IN_FLIGHT
        row["status"] = status if in_flight else Status.PENDING.value
        row["attempts"] = attempts if in_flight else 0
        updates.append(row)
        report.changed.append(key)
        if warnings:
            report.cleaned.append((key, list(dict.fromkeys(w["field"] for w in warnings))))
    # Bulk UPDATE by primary key (executemany): the poll of a large catalogue stays cheap.
    for rows in (updates, refusals, touches):
        if rows:
            session.execute(sa.update(EntityLink), rows)
    return report


def _mark_failed(session: Session, kind: str, key: str, reason: str, now: datetime) -> str:
    """Make (kind, key)'s row ``failed`` with ``reason``; return the key it is kept under.

    Its content hash is cleared, so the record's next read (a change in Rackbeat, a retry's
    fetch) is stored anew whatever its content; the snapshot held so far, if any, stays.
    """
    key = ledger_key(key)
    insert_ignore(
        session,
        EntityLink.__table__,  # type: ignore[arg-type]
        [_new_row(kind, key, status=Status.FAILED, now=now, snapshot_version=0)],
        ["kind", "key"],
    )
    session.execute(
        sa.update(EntityLink)
        .where(EntityLink.kind == kind, EntityLink.key == key)
        .values(
            status=Status.FAILED.value,
            last_error=reason,
            snapshot_hash=None,
            enqueued_at=None,
            due_at=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return key


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
        "snapshot_warnings": [],
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
            .values(enqueued_at=now, due_at=now)
            .execution_options(synchronize_session=False)
        )


STAMP_RESOLUTION = timedelta(seconds=1)
"""Rackbeat's ``updated_at`` has whole seconds."""


def held_versions(session: Session, kind: str, since: datetime) -> dict[str, datetime]:
    """Key -> Rackbeat ``updated_at`` of the snapshots held for ``kind`` changed at or after
    ``since``: what a poll's overlap window would read again (the client skips those).

    Only versions read after their ``updated_at`` second was over count: Rackbeat stamps whole
    seconds, so a record read within the second it changed may change again in that second
    under the same stamp; skipping it would keep the older content until its next change.
    """
    rows = session.execute(
        sa.select(EntityLink.key, EntityLink.source_updated_at, EntityLink.snapshot_at).where(
            EntityLink.kind == kind,
            EntityLink.snapshot.is_not(None),
            EntityLink.source_updated_at >= since,
        )
    )
    return {
        key: updated
        for key, updated, read in rows
        if updated is not None and read is not None and read >= updated + STAMP_RESOLUTION
    }

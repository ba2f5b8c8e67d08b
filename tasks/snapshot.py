"""Turning a Rackbeat record into the ledger's snapshot, and fetching current ones on demand.

A poll stores what changed since its cursor. A person who asks for one entity by hand (``rbsync
enqueue``, ``rbsync retry``, Flower's Retry) expects Rackbeat's *current* record to be pushed,
not the copy the last poll stored: :func:`fetch_snapshots` reads it (one GET per key) and
:func:`store_fetched` stores it, which puts a row whose content changed back to ``pending``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from clients import RetriableError
from kinds import registry
from ledger import SnapshotRecord, store_snapshots
from wiring.runtime import Runtime

__all__ = [
    "Fetched",
    "fetch_snapshot",
    "fetch_snapshots",
    "refresh_snapshots",
    "snapshot_of",
    "store_fetched",
]

log = logging.getLogger(__name__)


def snapshot_of(record: BaseModel) -> SnapshotRecord:
    """The ledger's snapshot of a typed Rackbeat record: its key, JSON and ``updated_at``.

    The JSON keeps the model's field names (not aliases), so that the mapping's ``parse_*``
    reads it back to the same model.
    """
    data: dict[str, Any] = record.model_dump(mode="json", exclude_none=True)
    number = data.get("number")
    if number is None:
        raise ValueError(f"a Rackbeat {type(record).__name__} without a number: {data!r:.200}")
    updated = getattr(record, "updated_at", None)
    if isinstance(updated, datetime) and updated.tzinfo is None:
        updated = updated.replace(tzinfo=UTC)
    return SnapshotRecord(
        key=str(number),
        snapshot=data,
        updated_at=updated if isinstance(updated, datetime) else None,
    )


def fetch_snapshot(runtime: Runtime, kind: str, key: str) -> SnapshotRecord | None:
    """Fetch one record from Rackbeat (a manual enqueue of an unknown key); None if absent."""
    record = runtime.rackbeat.find(registry.get(kind).rackbeat, key)
    return snapshot_of(record) if record is not None else None


@dataclasses.dataclass(frozen=True)
class Fetched:
    """Rackbeat's current records of some keys of one kind."""

    kind: str
    records: list[SnapshotRecord]
    missing: list[str]
    """The keys Rackbeat does not have (answered 404)."""


def fetch_snapshots(runtime: Runtime, kind: str, keys: Sequence[str]) -> Fetched:
    """Rackbeat's current record of each key (one GET each); client errors propagate."""
    records: list[SnapshotRecord] = []
    missing: list[str] = []
    for key in keys:
        fetched = fetch_snapshot(runtime, kind, key)
        if fetched is None:
            missing.append(key)
        else:
            records.append(fetched)
    return Fetched(kind, records, missing)


def store_fetched(runtime: Runtime, fetched: Fetched) -> list[str]:
    """Store the fetched records (committed); the keys whose content changed."""
    if not fetched.records:
        return []
    with runtime.sessions.begin() as session:
        return store_snapshots(session, fetched.kind, fetched.records)


def refresh_snapshots(runtime: Runtime, kind: str, keys: Sequence[str]) -> Fetched | None:
    """Fetch and store the current records of ``keys`` before they are re-driven.

    Best effort: when Rackbeat cannot be reached the stored snapshots are used (the next poll
    brings any change), and None is returned.
    """
    try:
        fetched = fetch_snapshots(runtime, kind, keys)
    except RetriableError as exc:
        log.warning("%s: Rackbeat unreachable, re-driving the stored copies (%s)", kind, exc)
        return None
    store_fetched(runtime, fetched)
    return fetched

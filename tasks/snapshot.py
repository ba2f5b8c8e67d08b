"""Turning a Rackbeat record into the ledger's snapshot (and fetching one on demand)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from ledger import SnapshotRecord
from tasks.runtime import Runtime

__all__ = ["fetch_snapshot", "snapshot_of"]


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
    record = runtime.rackbeat.find(kind, key)  # type: ignore[arg-type]
    return snapshot_of(record) if record is not None else None

"""Turning a Rackbeat record into the ledger's snapshot, and fetching current ones on demand.

A poll stores what changed since its cursor. A person who asks for one entity by hand (``rbsync
enqueue``, ``rbsync retry``, Flower's Retry and Resync) expects Rackbeat's *current* record to be
pushed, not the copy the last poll stored: :func:`fetch_snapshots` reads it (one GET per key) and
:func:`store_fetched` stores it, which puts a row whose content changed back to ``pending``.
:func:`fetch_current` does both for a manual push (``rbsync enqueue``, Flower's Resync), refusing
keys Rackbeat does not have before anything is stored.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from clients import RetriableError
from clients.models.poweroffice import ProductPost
from kinds import registry
from ledger import KEY_LENGTH, SnapshotRecord, store_snapshots
from wiring.runtime import Runtime

__all__ = [
    "Fetched",
    "NotInRackbeatKeysError",
    "fetch_current",
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
        refusal=_refusal(number),
    )


def _code_length() -> int:
    """The longest PowerOffice Go product code (``ProductPost.code``'s ``max_length``)."""
    metadata = ProductPost.model_fields["code"].metadata
    return min(int(m.max_length) for m in metadata if getattr(m, "max_length", None))


PRODUCT_CODE_LENGTH = _code_length()


def _refusal(number: Any) -> str | None:
    """Why a record keyed by ``number`` can never sync, when its key does not fit the ledger.

    An item number (products, BOMs) is a PowerOffice Go product code: one longer than the
    ledger's key column is longer than any code too, so no change but a shorter number in
    Rackbeat can make it sync (the ledger keeps the row under a shortened key, ``failed``).
    A shorter one that is still too long for a code fails in the mapping (R-PROD-2).
    """
    if not isinstance(number, str) or len(number) <= KEY_LENGTH:
        return None
    return (
        f"item number is {len(number)} characters; PowerOffice Go product codes allow at most "
        f"{PRODUCT_CODE_LENGTH} and the ledger at most {KEY_LENGTH}: shorten it in Rackbeat"
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


class NotInRackbeatKeysError(LookupError):
    """Keys a manual push named that Rackbeat does not have (answered 404); nothing was stored.

    ``str()`` reads ``not in Rackbeat: customer 5004, 5005``.
    """

    def __init__(self, kind: str, keys: Sequence[str]) -> None:
        super().__init__(kind, list(keys))
        self.kind, self.keys = kind, list(keys)

    def __str__(self) -> str:
        return f"not in Rackbeat: {self.kind} {', '.join(self.keys)}"


def fetch_current(runtime: Runtime, kind: str, keys: Sequence[str]) -> Fetched:
    """Fetch Rackbeat's current records of ``keys`` and store them (committed), for a manual
    push (``rbsync enqueue``, Flower's Resync): one GET per key.

    Raises :class:`NotInRackbeatKeysError` naming every key Rackbeat does not have, before
    anything is stored; client errors (``clients.ClientError``) propagate.
    """
    fetched = fetch_snapshots(runtime, kind, keys)
    if fetched.missing:
        raise NotInRackbeatKeysError(kind, fetched.missing)
    store_fetched(runtime, fetched)
    return fetched

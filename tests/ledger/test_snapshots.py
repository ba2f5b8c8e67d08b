from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledger import (
    EntityLink,
    SnapshotRecord,
    Status,
    claim,
    content_hash,
    ensure_link,
    get_link,
    mark_enqueued,
    store_snapshots,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def rec(key: str, name: str, minute: int = 0) -> SnapshotRecord:
    updated = T0 + timedelta(minutes=minute)
    return SnapshotRecord(
        key=key,
        snapshot={"number": key, "name": name, "updated_at": updated.isoformat()},
        updated_at=updated,
    )


def test_new_records_are_stored_pending_and_reported(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        changed = store_snapshots(s, "product", [rec("A", "a"), rec("B", "b")], now=T0)
    assert changed == ["A", "B"]
    with sessions() as s:
        link = get_link(s, "product", "A")
        assert link is not None
        assert link.status == Status.PENDING
        assert link.snapshot == {"number": "A", "name": "a", "updated_at": T0.isoformat()}
        assert link.snapshot_version == 1
        assert link.source_updated_at == T0
        assert link.enqueued_at is None  # the outbox flag: set once the message is out


def test_mark_enqueued_sets_the_outbox_flag(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        store_snapshots(s, "product", [rec("A", "a"), rec("B", "b")], now=T0)
        mark_enqueued(s, "product", ["A"], now=T0)
    with sessions() as s:
        a, b = get_link(s, "product", "A"), get_link(s, "product", "B")
        assert a is not None
        assert b is not None
        assert (a.enqueued_at, b.enqueued_at) == (T0, None)


def test_unchanged_content_is_not_reported_but_updated_at_moves(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as s:
        store_snapshots(s, "product", [rec("A", "a")], now=T0)
    with sessions.begin() as s:
        assert store_snapshots(s, "product", [rec("A", "a", minute=5)], now=T0) == []
    with sessions() as s:
        link = get_link(s, "product", "A")
        assert link is not None
        assert link.snapshot_version == 1
        assert link.source_updated_at == T0 + timedelta(minutes=5)


def test_changed_content_reopens_a_synced_row(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        store_snapshots(s, "customer", [rec("1", "old")], now=T0)
        s.execute(sa.update(EntityLink).values(status=Status.SYNCED, attempts=3))
    with sessions.begin() as s:
        assert store_snapshots(s, "customer", [rec("1", "new", 1)], now=T0) == ["1"]
    with sessions() as s:
        link = get_link(s, "customer", "1")
        assert link is not None
        assert (link.status, link.snapshot_version, link.attempts) == (Status.PENDING, 2, 0)
        assert link.snapshot is not None
        assert link.snapshot["name"] == "new"


def test_changed_content_leaves_an_in_flight_row_to_its_holder(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as s:
        store_snapshots(s, "product", [rec("A", "a")], now=T0)
    with sessions.begin() as s:
        assert claim(s, "product", "A", "task-1", lease=timedelta(minutes=5)) is not None
    with sessions.begin() as s:
        assert store_snapshots(s, "product", [rec("A", "a2", 1)], now=T0) == ["A"]
    with sessions() as s:
        link = get_link(s, "product", "A")
        assert link is not None
        assert (link.status, link.claim_token, link.snapshot_version, link.claimed_version) == (
            Status.IN_FLIGHT,
            "task-1",
            2,
            1,
        )


def test_last_duplicate_in_a_batch_wins(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        assert store_snapshots(s, "product", [rec("A", "first"), rec("A", "second")]) == ["A"]
    with sessions() as s:
        link = get_link(s, "product", "A")
        assert link is not None
        assert link.snapshot is not None
        assert link.snapshot["name"] == "second"


def test_a_product_number_as_long_as_a_poweroffice_code_is_a_key(
    sessions: sessionmaker[Session],
) -> None:
    number = "KABEL/" + "X" * 94  # 100 characters: PowerOffice Go's longest product Code
    with sessions.begin() as s:
        ensure_link(s, "product", number)
    with sessions() as s:
        link = get_link(s, "product", number)
        assert link is not None
        assert link.key == number


def test_ensure_link_creates_once(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        first = ensure_link(s, "invoice", "77")
        second = ensure_link(s, "invoice", "77")
    assert first == second
    with sessions() as s:
        link = get_link(s, "invoice", "77")
        assert link is not None
        assert (link.status, link.snapshot, link.snapshot_version) == (Status.PENDING, None, 0)


def test_content_hash_ignores_volatile_fields_and_key_order() -> None:
    assert content_hash({"a": 1, "b": 2, "updated_at": "x"}) == content_hash(
        {"b": 2, "a": 1, "updated_at": "y", "self": "z"}
    )
    assert content_hash({"a": 1}) != content_hash({"a": 2})

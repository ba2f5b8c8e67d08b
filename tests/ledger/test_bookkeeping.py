from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from ledger import (
    EntityLink,
    SnapshotRecord,
    Status,
    all_cursors,
    claim,
    counts_by_kind_and_status,
    failures,
    finish,
    finish_poll_cycle,
    forget_remote_id,
    get_cursor,
    get_link,
    index_is_fresh,
    last_poll_cycle,
    last_poll_cycles,
    load_index,
    mark_due,
    mark_enqueued,
    mark_sent,
    overdue_work,
    put_remote_id,
    remote_id,
    remote_ids,
    renew_leases,
    reset_for_retry,
    rows_for_retry,
    search_links,
    set_cursor,
    start_poll_cycle,
    store_snapshots,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_cursors_round_trip_as_aware_utc(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        assert get_cursor(s, "product") is None
        set_cursor(s, "product", T0)
        set_cursor(s, "customer", T0 - timedelta(days=1))
    with sessions.begin() as s:
        set_cursor(s, "product", T0 + timedelta(seconds=1))
    with sessions() as s:
        assert get_cursor(s, "product") == T0 + timedelta(seconds=1)
        assert all_cursors(s) == {
            "product": T0 + timedelta(seconds=1),
            "customer": T0 - timedelta(days=1),
        }


def test_poll_cycles_record_counts(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        first = start_poll_cycle(s, "product", signpost=T0, cursor_from=None)
        finish_poll_cycle(
            s, first, status="done", seen=3, changed=2, enqueued=2, cursor_to=T0, now=T0
        )
        second = start_poll_cycle(s, "product", signpost=T0 + timedelta(minutes=5), cursor_from=T0)
        other = start_poll_cycle(s, "invoice", signpost=T0, cursor_from=None)
        finish_poll_cycle(
            s, other, status="failed", seen=0, changed=0, enqueued=0, cursor_to=None, error="503"
        )
    with sessions() as s:
        latest = last_poll_cycle(s, "product")
        assert latest is not None
        assert (latest.id, latest.status, latest.cursor_from) == (second, "running", T0)
        by_kind = last_poll_cycles(s)
        assert sorted(by_kind) == ["invoice", "product"]
        assert (by_kind["invoice"].status, by_kind["invoice"].error) == ("failed", "503")
        first_row = s.get(type(latest), first)
        assert first_row is not None
        assert (first_row.seen, first_row.changed, first_row.enqueued) == (3, 2, 2)


def test_remote_links_and_index_freshness(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        assert not index_is_fresh(s, "product", max_age=timedelta(minutes=5), now=T0)
        assert load_index(s, "product", {"A": "1", "B": "2"}, now=T0) == 2
        put_remote_id(s, "product", "C", "3")
    with sessions.begin() as s:
        assert load_index(s, "product", {"A": "10"}, now=T0 + timedelta(minutes=1)) == 1
        forget_remote_id(s, "product", "B")
    with sessions() as s:
        assert remote_id(s, "product", "A") == "10"
        assert remote_ids(s, "product", ["A", "B", "C", "D"]) == {"A": "10", "C": "3"}
        assert remote_ids(s, "product_group", ["A"]) == {}
        assert index_is_fresh(
            s, "product", max_age=timedelta(minutes=5), now=T0 + timedelta(minutes=3)
        )
        assert not index_is_fresh(
            s, "product", max_age=timedelta(minutes=5), now=T0 + timedelta(minutes=7)
        )


def _seed_statuses(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        store_snapshots(
            s,
            "product",
            [SnapshotRecord(k, {"n": k}, T0) for k in ("ok", "bad", "gone", "maybe", "new")],
            now=T0,
        )
        store_snapshots(s, "supplier", [SnapshotRecord("9", {"n": 9}, T0)], now=T0)
    outcomes = {
        "ok": Status.SYNCED,
        "bad": Status.FAILED,
        "gone": Status.DEAD,
        "maybe": Status.UNKNOWN,
    }
    for key, status in outcomes.items():
        with sessions.begin() as s:
            row = claim(s, "product", key, "t", lease=timedelta(minutes=5))
            assert row is not None
            finish(s, row.id, "t", status, error=None if status == Status.SYNCED else "why")
    with sessions.begin() as s:
        row = claim(s, "supplier", "9", "t", lease=timedelta(minutes=5))
        assert row is not None
        finish(s, row.id, "t", Status.SKIPPED, error="no VAT number")


def test_counts_failures_and_retry(sessions: sessionmaker[Session]) -> None:
    _seed_statuses(sessions)
    with sessions() as s:
        assert counts_by_kind_and_status(s) == {
            "product": {"synced": 1, "failed": 1, "dead": 1, "unknown": 1, "pending": 1},
            "supplier": {"skipped": 1},
        }
        assert sorted(link.key for link in failures(s)) == ["bad", "gone", "maybe"]
        assert [link.key for link in failures(s, statuses=["dead"])] == ["gone"]
        assert failures(s, kind="supplier") == []
        assert [link.key for link in failures(s, kind="supplier", statuses=["skipped"])] == ["9"]
        assert rows_for_retry(s) == [("product", "bad"), ("product", "gone"), ("product", "maybe")]
        assert rows_for_retry(s, key="bad") == [("product", "bad")]
    with sessions.begin() as s:
        assert reset_for_retry(s, kind="product", key="gone", now=T0) == [("product", "gone")]
        assert reset_for_retry(s) == [("product", "bad"), ("product", "maybe")]
    with sessions() as s:
        gone = get_link(s, "product", "gone")
        assert gone is not None
        assert (gone.status, gone.attempts, gone.enqueued_at) == (Status.PENDING, 0, T0)
        assert rows_for_retry(s) == []


def test_the_sweep_finds_expired_leases_lost_messages_and_messages_lost_with_the_broker(
    sessions: sessionmaker[Session],
) -> None:
    lease = timedelta(seconds=30)
    with sessions.begin() as s:
        store_snapshots(
            s,
            "product",
            [SnapshotRecord(k, {"n": k}, T0) for k in ("due", "late", "held", "dead", "never")],
            now=T0,
        )
        mark_enqueued(s, "product", ["due", "late", "held", "dead"], now=T0)
        # "due" waits for a retry countdown that ends in 10 minutes.
        mark_due(s, "product", {"due": T0 + timedelta(minutes=10)}, now=T0)
        assert claim(s, "product", "held", "live", lease=lease, now=T0) is not None
        assert claim(s, "product", "dead", "gone", lease=lease, now=T0) is not None
    one_minute = T0 + timedelta(minutes=1)
    with sessions.begin() as s:
        # The live holder's heartbeat renewed its lease; the dead one's ran out.
        assert renew_leases(s, ["live"], lease=lease, now=one_minute) == 1

    def found(now: datetime, *, grace: timedelta, started: datetime | None = None) -> set[Any]:
        with sessions() as s:
            rows = overdue_work(s, lost_before=now - grace, broker_started=started, now=now)
        return {(row.key, row.why) for row in rows}

    # A busy queue: only the expired lease is sent at once; the rest may still be queued.
    assert found(one_minute, grace=timedelta(minutes=10)) == {("dead", "expired")}
    # An idle queue: rows past due by the grace lost their message; "due" is not due yet.
    assert found(one_minute, grace=lease) == {
        ("dead", "expired"),
        ("late", "lost"),
        ("never", "lost"),
    }
    # The broker restarted after the rows were sent: every waiting row sent before is lost.
    assert found(one_minute, grace=timedelta(minutes=10), started=T0 + timedelta(seconds=1)) == {
        ("dead", "expired"),
        ("due", "broker_restarted"),
        ("late", "broker_restarted"),
    }
    with sessions.begin() as s:
        ids = [row.id for row in overdue_work(s, lost_before=one_minute - lease, now=one_minute)]
        mark_sent(s, ids, now=one_minute)
    # Sent again: not again until that message is overdue in turn.
    assert found(one_minute + timedelta(seconds=10), grace=lease) == set()
    with sessions.begin() as s:
        renew_leases(s, ["live"], lease=lease, now=one_minute + timedelta(minutes=2))
    assert found(one_minute + timedelta(minutes=2), grace=lease) == {
        ("dead", "expired"),
        ("late", "lost"),
        ("never", "lost"),
    }
    # The claim of a new message clears what was due, and takes the expired row over.
    with sessions.begin() as s:
        taken = claim(s, "product", "dead", "new", lease=lease, now=one_minute)
        assert taken is not None
        assert taken.due_at is None
        assert claim(s, "product", "held", "thief", lease=lease, now=one_minute) is None


def test_search_links_by_part_of_the_key_kind_and_status(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        for kind, key, status, minutes in [
            ("customer", "5004", Status.FAILED, 1),
            ("customer", "15004", Status.SYNCED, 3),
            ("customer", "50041", Status.FAILED, 2),
            ("product", "5004", Status.SYNCED, 4),
            ("product", "AB/100", Status.DEAD, 5),
            ("product", "ab_1%", Status.PENDING, 6),
            ("product", "abx1y", Status.PENDING, 7),
        ]:
            s.add(
                EntityLink(
                    kind=kind,
                    key=key,
                    status=status,
                    updated_at=T0 + timedelta(minutes=minutes),
                    created_at=T0,
                )
            )

    def keys(**query: Any) -> list[tuple[str, str]]:
        with sessions() as s:
            return [(link.kind, link.key) for link in search_links(s, **query)]

    # The exact key first, then the newest change.
    assert keys(key="5004") == [
        ("product", "5004"),
        ("customer", "5004"),
        ("customer", "15004"),
        ("customer", "50041"),
    ]
    assert keys(kind="customer", key="5004", statuses=["failed"]) == [
        ("customer", "5004"),
        ("customer", "50041"),
    ]
    assert keys(kind="customer", key="5004", limit=1) == [("customer", "5004")]
    # Case-insensitive; % and _ are characters, not wildcards.
    assert keys(key="ab/1") == [("product", "AB/100")]
    assert keys(key="_1%") == [("product", "ab_1%")]
    assert keys(key="b_") == [("product", "ab_1%")]
    assert keys(statuses=["dead", "pending"]) == [
        ("product", "abx1y"),
        ("product", "ab_1%"),
        ("product", "AB/100"),
    ]
    assert keys(kind="supplier") == []

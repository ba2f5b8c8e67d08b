from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
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
    put_remote_id,
    remote_id,
    remote_ids,
    reset_for_retry,
    rows_for_retry,
    set_cursor,
    stale_work,
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
            row = claim(s, "product", key, "t", stale_after=timedelta(minutes=5))
            assert row is not None
            finish(s, row.id, "t", status, error=None if status == Status.SYNCED else "why")
    with sessions.begin() as s:
        row = claim(s, "supplier", "9", "t", stale_after=timedelta(minutes=5))
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


def test_stale_work_finds_lost_messages_and_dead_holders(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        store_snapshots(
            s,
            "product",
            [SnapshotRecord(k, {"n": k}, T0) for k in ("fresh", "old", "held")],
            now=T0,
        )
        s.execute(
            sa.update(EntityLink)
            .where(EntityLink.key == "fresh")
            .values(enqueued_at=T0 + timedelta(minutes=9))
        )
        held = claim(s, "product", "held", "t", stale_after=timedelta(minutes=5), now=T0)
        assert held is not None
    later = T0 + timedelta(minutes=10)
    with sessions.begin() as s:
        found = stale_work(
            s,
            pending_older_than=timedelta(minutes=5),
            claim_older_than=timedelta(minutes=30),
            now=later,
        )
        assert found == [("product", "old")]
    with sessions.begin() as s:
        # marked re-enqueued: not found again at once
        assert (
            stale_work(
                s,
                pending_older_than=timedelta(minutes=5),
                claim_older_than=timedelta(minutes=30),
                now=later,
            )
            == []
        )
    with sessions.begin() as s:
        much_later = T0 + timedelta(hours=1)
        assert sorted(
            stale_work(
                s,
                pending_older_than=timedelta(minutes=5),
                claim_older_than=timedelta(minutes=30),
                now=much_later,
            )
        ) == [("product", "fresh"), ("product", "held"), ("product", "old")]

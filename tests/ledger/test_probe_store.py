"""The ledger-backed filter-probe store (embedded mode): answers outlive the process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledger import LedgerProbeStore, ProbeAnswer, make_engine, make_session_factory


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_an_answer_is_kept_for_another_store_on_the_same_ledger(
    sessions: sessionmaker[Session], ledger_url: str
) -> None:
    store = LedgerProbeStore(sessions, "bucket-a")
    assert store.get("products") is None
    store.put("products", True, 3600)
    store.put("customers", False, 3600)

    # Another process: its own engine on the same ledger.
    engine = make_engine(ledger_url)
    try:
        other = LedgerProbeStore(make_session_factory(engine), "bucket-a")
        assert other.get("products") is True
        assert other.get("customers") is False
        assert other.get("lots") is None
        # Another credential (another Rackbeat account) has answers of its own.
        assert LedgerProbeStore(make_session_factory(engine), "bucket-b").get("products") is None
    finally:
        engine.dispose()


def test_a_new_answer_replaces_the_old_one(sessions: sessionmaker[Session]) -> None:
    store = LedgerProbeStore(sessions, "bucket-a")
    store.put("products", True, 3600)
    store.put("products", False, 3600)
    assert store.get("products") is False
    with sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(ProbeAnswer)) == 1


def test_an_answer_expires(sessions: sessionmaker[Session]) -> None:
    clock = Clock()
    store = LedgerProbeStore(sessions, "bucket-a", clock=clock)
    store.put("products", True, 60)
    clock.now += timedelta(seconds=59)
    assert store.get("products") is True
    clock.now += timedelta(seconds=1)
    assert store.get("products") is None
    store.put("products", False, 60)  # probed again: the fresh answer counts
    assert store.get("products") is False


def test_a_ledger_failure_is_a_miss_never_a_wrong_answer(
    sessions: sessionmaker[Session],
) -> None:
    store = LedgerProbeStore(sessions, "bucket-a")
    store.put("products", True, 3600)
    with sessions.begin() as session:
        session.execute(sa.text("DROP TABLE probe_answers"))

    assert store.get("products") is None
    store.put("products", False, 3600)  # swallowed: the next poll probes again
    assert store.get("products") is None

"""What the ledger cannot hold as it is (issue 13, item 2), on SQLite and PostgreSQL: text it
cannot store is cleaned and named, a key too long for the column is shortened and the row
failed, and the isolated store keeps one refused record from stopping its batch -- but not a
broken ledger from losing a whole one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

import ledger.snapshots
from ledger import (
    KEY_LENGTH,
    SnapshotRecord,
    clean_snapshot,
    get_link,
    ledger_key,
    store_snapshots,
    store_snapshots_isolated,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def rec(key: str, snapshot: dict[str, Any] | None = None) -> SnapshotRecord:
    return SnapshotRecord(key=key, snapshot=snapshot or {"number": key, "name": key}, updated_at=T0)


def test_clean_snapshot_names_every_field_it_cleans() -> None:
    snapshot = {
        "number": "A",
        "name": "Bolt\u0000 M8",
        "group": {"name": "Hard\u0000ware"},
        "lines": [{"text": "ok"}, {"text": "bad \ud800 half"}],
        "price": 1.5,
    }
    cleaned, warnings = clean_snapshot(snapshot)
    assert cleaned == {
        "number": "A",
        "name": "Bolt M8",
        "group": {"name": "Hardware"},
        "lines": [{"text": "ok"}, {"text": "bad \ufffd half"}],
        "price": 1.5,
    }
    assert [(w["code"], w["field"]) for w in warnings] == [
        ("nul_character", "name"),
        ("nul_character", "group.name"),
        ("unpaired_surrogate", "lines[1].text"),
    ]
    assert "removed" in warnings[0]["message"]
    assert clean_snapshot({"name": "fine ÆØÅ 😀"}) == ({"name": "fine ÆØÅ 😀"}, [])


def test_ledger_key_fits_stays_unique_and_recognisable() -> None:
    assert ledger_key("AB-100") == "AB-100"
    assert ledger_key("X" * KEY_LENGTH) == "X" * KEY_LENGTH
    first, second = "X" * 300, "X" * 299 + "Y"
    assert len(ledger_key(first)) <= KEY_LENGTH
    assert ledger_key(first).startswith("X" * 150 + "…")
    assert ledger_key(first) != ledger_key(second)
    assert ledger_key(first) == ledger_key(first)
    assert "\x00" not in ledger_key("NUL\x00KEY")
    assert ledger_key("NUL\x00KEY") != "NULKEY"


def test_text_the_database_cannot_hold_is_stored_cleaned(
    sessions: sessionmaker[Session],
) -> None:
    snapshot = {"number": "A", "name": "Bolt\u0000", "lines": [{"text": "\udfff"}]}
    with sessions.begin() as s:
        assert store_snapshots(s, "product", [rec("A", snapshot)], now=T0) == ["A"]
    with sessions() as s:
        link = get_link(s, "product", "A")
    assert link is not None
    assert link.snapshot == {"number": "A", "name": "Bolt", "lines": [{"text": "\ufffd"}]}
    assert [w["field"] for w in link.snapshot_warnings] == ["name", "lines[0].text"]
    # The same content read again is no change; a fix in Rackbeat is one, and clears the note.
    with sessions.begin() as s:
        assert store_snapshots(s, "product", [rec("A", snapshot)], now=T0) == []
        assert store_snapshots(s, "product", [rec("A", {"number": "A", "name": "Bolt"})]) == ["A"]
    with sessions() as s:
        link = get_link(s, "product", "A")
    assert link is not None
    assert link.snapshot_warnings == []


def test_a_key_too_long_for_the_column_is_a_failed_row_under_a_short_key(
    sessions: sessionmaker[Session],
) -> None:
    long_key = "7" * 300
    with sessions.begin() as s:
        report = store_snapshots_isolated(s, "product", [rec(long_key), rec("B")], now=T0)
    assert report.changed == ["B"]
    assert report.failed == [
        (ledger_key(long_key), "key is 300 characters; the ledger holds keys of at most 191")
    ]
    with sessions() as s:
        link = get_link(s, "product", ledger_key(long_key))
    assert link is not None
    assert link.status == "failed"
    assert link.snapshot is not None
    assert link.snapshot["number"] == long_key


def test_a_broken_ledger_fails_the_batch_instead_of_losing_it(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every record refused, and every failed row too: no poison record, a broken ledger. The
    # batch must fail (the poll keeps its cursor and retries), not vanish as "unstored".
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise sa.exc.ProgrammingError("INSERT", {}, Exception('column "x" does not exist'))

    monkeypatch.setattr(ledger.snapshots, "insert_ignore", refuse)
    with sessions.begin() as s, pytest.raises(sa.exc.ProgrammingError):
        store_snapshots_isolated(s, "product", [rec("A"), rec("B")], now=T0)


def test_an_error_of_the_database_itself_is_raised_not_blamed_on_a_record(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ledger.snapshots.content_hash

    def connection_lost_at_b(snapshot: Any) -> str:
        if snapshot["number"] == "B":
            raise sa.exc.OperationalError("UPDATE", {}, Exception("server closed the connection"))
        return real(snapshot)

    monkeypatch.setattr(ledger.snapshots, "content_hash", connection_lost_at_b)
    with sessions.begin() as s, pytest.raises(sa.exc.OperationalError):
        store_snapshots_isolated(s, "product", [rec("A"), rec("B"), rec("C")], now=T0)

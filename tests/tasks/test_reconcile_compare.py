"""The comparison of ``rbsync reconcile`` without I/O: what counts as drift, missed, duplicate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kinds import registry
from ledger import ReconcileRow
from tasks.reconcile import Remote, compare, drifted

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def test_drift_is_what_poweroffice_holds_of_the_fields_rbsync_wrote() -> None:
    written = {"Name": "Bolt", "SalesPrice": 10, "MailAddress": {"City": "Oslo"}}
    held = {"name": "Bolt", "salesPrice": 10.0, "mailAddress": {"city": "Oslo", "Extra": 1},
            "Comment": "a field rbsync never writes"}  # fmt: skip
    assert drifted(written, held) == (written, [])
    view, fields = drifted(written, {"Name": "Bolt", "MailAddress": {"City": "Bergen"}})
    assert fields == ["MailAddress", "SalesPrice"]
    assert view == {"Name": "Bolt", "SalesPrice": None, "MailAddress": {"City": "Bergen"}}
    assert drifted({"Active": True}, {"Active": 1})[1] == ["Active"]


def test_missing_duplicates_and_missed_changes_of_one_kind() -> None:
    kind = registry.get("product")
    rows = {
        "A": ReconcileRow("A", "synced", "1", T0, {"Code": "A", "Name": "a"}),
        "B": ReconcileRow("B", "synced", "2", T0, {"Code": "B", "Name": "b"}),
        "C": ReconcileRow("C", "failed", None, T0, None),
    }
    remote = Remote.of(
        [{"Id": 1, "Code": "A", "Name": "a"}, {"Id": 3, "Code": "a", "Name": "copy"}], "Code"
    )
    scanned = [
        ("A", T0),  # the ledger's version
        ("B", T0 + timedelta(minutes=1)),  # newer, behind the horizon: missed
        ("C", T0 + timedelta(hours=2)),  # newer, after the horizon: the next poll's
        ("D", T0),  # no row: missed
    ]
    report, views = compare(
        kind, rows, remote, scanned, horizon=T0 + timedelta(hours=1), owns=lambda ref: True
    )
    assert report.missing == [{"key": "B", "remote_id": "2"}]
    assert report.duplicates == [{"reference": "a", "ids": ["1", "3"]}]
    assert [(m["key"], m["in_ledger"]) for m in report.missed] == [("B", True), ("D", False)]
    assert report.not_yet_polled == 1
    assert report.drift == []
    assert views == {}
    assert report.differences == 4
    before_any_poll, _ = compare(kind, rows, remote, scanned, horizon=None, owns=lambda r: False)
    assert (before_any_poll.missed, before_any_poll.not_yet_polled) == ([], 3)
    assert before_any_poll.duplicates == []

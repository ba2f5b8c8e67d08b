"""Poison records (issue 13, item 2): one record the ledger cannot store or key never blocks
the poll of its kind. It becomes one ``failed`` row with a reason (or, when even that cannot
be written, a logged and counted loss); every other record is stored and enqueued, the poll
cycle is ``done`` and the cursor moves. A poll that does fail on a database error stores a
one-line reason without the SQL statement or its parameters.

Every test runs on SQLite (embedded) and on PostgreSQL with Redis (production): PostgreSQL is
where a NUL character and an over-long key fail (JSONB, ``varchar(191)``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from ledger import EntityLink, get_cursor, get_link, last_poll_cycle, upgrade
from ledger.models import KEY_LENGTH
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from tasks.pipeline import sync_entity
from tasks.poll import PollReport, poll_kind
from wiring.runtime import Runtime, build_runtime
from wiring.settings import Settings

LONG_NUMBER = "LONG-" + "7" * 295
"""A 300-character item number: longer than the ledger's key column and PowerOffice Go's Code."""


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def runtime(backend: str, settings: Settings, request: pytest.FixtureRequest) -> Iterator[Runtime]:
    """The pipeline on an embedded SQLite ledger, or in production mode (PostgreSQL, Redis);
    overrides ``tests/tasks/conftest.py``'s, so the ``pipeline`` fixture runs on both."""
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_url")
        upgrade(url)
        settings = settings.model_copy(
            update={"database_url": url, "redis_url": request.getfixturevalue("redis_url")}
        )
    runtime = build_runtime(settings)
    try:
        yield runtime
    finally:
        runtime.close()


def _add_product(rackbeat: RackbeatEmulatorHandle, number: str, name: str) -> None:
    with rackbeat.client() as client:
        response = client.post(
            "products", json={"number": number, "name": name, "group": 1010, "sales_price": 99}
        )
    assert response.status_code == 201, response.text


def _products(runtime: Runtime) -> dict[str, EntityLink]:
    with runtime.sessions() as session:
        rows = session.scalars(sa.select(EntityLink).where(EntityLink.kind == "product"))
        return {row.key: row for row in rows}


def _execute(runtime: Runtime, *statements: str) -> None:
    with runtime.sessions.begin() as session:
        for statement in statements:
            session.execute(sa.text(statement))


def _refuse_snapshot_writes(runtime: Runtime, backend: str, condition: dict[str, str]) -> None:
    """A trigger that makes the database refuse the rows matching ``condition``: a real
    per-record store failure, as a NUL or an over-long key was on PostgreSQL."""
    ((column, value),) = condition.items()
    if backend == "sqlite":
        test = (
            f"json_extract(NEW.snapshot, '$.name') = '{value}'"
            if column == "name"
            else f"NEW.key = '{value}'"
        )
        _execute(
            runtime,
            f"CREATE TRIGGER refuse_update BEFORE UPDATE ON entity_links WHEN {test} "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END",
            f"CREATE TRIGGER refuse_insert BEFORE INSERT ON entity_links WHEN {test} "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END",
        )
        return
    test = f"NEW.snapshot->>'name' = '{value}'" if column == "name" else f"NEW.key = '{value}'"
    _execute(
        runtime,
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'refused by the test trigger'; END $$",
        "CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON entity_links FOR EACH ROW "
        f"WHEN ({test}) EXECUTE FUNCTION refuse()",
    )


def _drop_refusal(runtime: Runtime, backend: str) -> None:
    if backend == "sqlite":
        _execute(runtime, "DROP TRIGGER refuse_update", "DROP TRIGGER refuse_insert")
    else:
        _execute(runtime, "DROP TRIGGER refuse ON entity_links", "DROP FUNCTION refuse()")


def _done(runtime: Runtime, report: PollReport) -> None:
    """The poll cycle ended ``done`` and the cursor is where the report says."""
    with runtime.sessions() as session:
        cycle = last_poll_cycle(session, "product")
        cursor = get_cursor(session, "product")
    assert cycle is not None
    assert (cycle.status, cycle.error) == ("done", None)
    assert cursor is not None
    assert cursor == report.cursor_to == cycle.cursor_to


def test_a_nul_character_is_cleaned_and_an_overlong_item_number_fails_alone(
    runtime: Runtime,
    pipeline: Any,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    _add_product(rackbeat_emulator, "NUL-1", "Widget\u0000 deluxe")
    _add_product(rackbeat_emulator, LONG_NUMBER, "A product with a long number")

    (report,) = pipeline.poll("product")

    assert (report.seen, report.changed, report.failed, report.unstored) == (52, 51, 1, 0)
    _done(runtime, report)
    rows = _products(runtime)
    assert len(rows) == 52
    assert all(row.snapshot is not None for row in rows.values())
    # NUL: cleaned out of the snapshot, said on the row, and the record goes on to sync.
    nul = rows["NUL-1"]
    assert nul.snapshot is not None
    assert nul.snapshot["name"] == "Widget deluxe"
    assert nul.status == "pending"
    assert [(w["code"], w["field"]) for w in nul.snapshot_warnings] == [("nul_character", "name")]
    # The over-long number: a key that fits, unique and recognisable; the full number kept in
    # the snapshot; failed with a reason naming the field; never enqueued.
    (long_key,) = [key for key in rows if key.startswith("LONG-")]
    long_row = rows[long_key]
    assert len(long_key) <= KEY_LENGTH
    assert long_key.startswith(LONG_NUMBER[:150])
    assert long_key != LONG_NUMBER
    assert long_row.snapshot is not None
    assert long_row.snapshot["number"] == LONG_NUMBER
    assert long_row.status == "failed"
    assert long_row.last_error is not None
    assert long_row.last_error.startswith("item number is 300 characters; PowerOffice Go")
    queued = {key for _, key, _ in pipeline.queue}
    assert "NUL-1" in queued
    assert long_key not in queued
    assert len(queued) == 51

    pipeline.drain()

    rows = _products(runtime)
    assert rows["NUL-1"].status == "synced"
    assert rows[long_key].status == "failed"
    assert sum(row.status == "synced" for row in rows.values()) == 51
    created = {p["Code"]: p["Name"] for p in poweroffice_emulator.state()["resources"]["Products"]}
    assert created["NUL-1"] == "Widget deluxe"
    # The next poll reads both again (the overlap): nothing changed, nothing sent, still failed.
    (again,) = pipeline.poll("product")
    assert (again.changed, again.enqueued, again.failed) == (0, 0, 0)
    _done(runtime, again)
    assert _products(runtime)[long_key].status == "failed"
    # A sync that names the full number (a manual enqueue, an invoice line) says why, too.
    named = sync_entity(runtime, "product", LONG_NUMBER, "by-hand")
    assert (named.status, named.outcome, named.key) == ("failed", "failed", long_key)
    assert named.error == long_row.last_error


def test_a_record_the_database_refuses_fails_alone(
    runtime: Runtime, pipeline: Any, backend: str, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    pipeline.poll("product")
    pipeline.queue.clear()
    rackbeat_emulator.touch("products", "10003", name="poison")
    rackbeat_emulator.touch("products", "10004", name="fine")
    _refuse_snapshot_writes(runtime, backend, {"name": "poison"})

    (report,) = pipeline.poll("product")

    assert (report.changed, report.failed, report.unstored) == (1, 1, 0)
    _done(runtime, report)
    assert [key for _, key, _ in pipeline.queue] == ["10004"]
    rows = _products(runtime)
    assert rows["10004"].snapshot is not None
    assert rows["10004"].snapshot["name"] == "fine"
    poisoned = rows["10003"]
    assert poisoned.status == "failed"
    assert poisoned.last_error is not None
    assert "refused by the test trigger" in poisoned.last_error
    assert "[SQL" not in poisoned.last_error
    assert "\n" not in poisoned.last_error

    # Fixed in Rackbeat: the next poll stores it and sends it.
    _drop_refusal(runtime, backend)
    rackbeat_emulator.touch("products", "10003", name="cured")
    pipeline.queue.clear()
    (cured,) = pipeline.poll("product")
    assert (cured.changed, cured.failed) == (1, 0)
    with runtime.sessions() as session:
        link = get_link(session, "product", "10003")
    assert link is not None
    assert link.status == "pending"
    assert link.snapshot is not None
    assert link.snapshot["name"] == "cured"


def test_a_record_that_cannot_even_be_marked_is_logged_and_counted(
    runtime: Runtime,
    pipeline: Any,
    backend: str,
    rackbeat_emulator: RackbeatEmulatorHandle,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _refuse_snapshot_writes(runtime, backend, {"key": "10005"})

    with caplog.at_level(logging.WARNING, logger="tasks.poll"):
        (report,) = pipeline.poll("product")

    assert (report.seen, report.changed, report.failed, report.unstored) == (50, 49, 0, 1)
    _done(runtime, report)
    assert "10005" not in _products(runtime)
    assert len(_products(runtime)) == 49
    lost = [r.getMessage() for r in caplog.records if "10005" in r.getMessage()]
    assert lost
    assert "refused by the test trigger" in lost[0]
    assert "[SQL" not in lost[0]


def test_any_other_error_storing_one_record_fails_that_record_alone(
    runtime: Runtime, pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ledger.snapshots

    real = ledger.snapshots.content_hash

    def broken_for_one(snapshot: Any) -> str:
        if snapshot.get("number") == "10007":
            raise TypeError("cannot hash this record")
        return real(snapshot)

    monkeypatch.setattr(ledger.snapshots, "content_hash", broken_for_one)

    (report,) = pipeline.poll("product")

    assert (report.changed, report.failed, report.unstored) == (49, 1, 0)
    _done(runtime, report)
    rows = _products(runtime)
    assert len(rows) == 50
    assert rows["10007"].status == "failed"
    assert rows["10007"].last_error is not None
    assert "TypeError: cannot hash this record" in rows["10007"].last_error
    assert "10007" not in {key for _, key, _ in pipeline.queue}


def test_a_poll_failing_on_a_database_error_stores_one_line_without_sql(
    runtime: Runtime, backend: str
) -> None:
    if backend == "sqlite":
        _execute(
            runtime,
            "CREATE TRIGGER refuse_cursor BEFORE INSERT ON cursors "
            "BEGIN SELECT RAISE(ABORT, 'cursor writes refused'); END",
        )
    else:
        _execute(
            runtime,
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'cursor writes refused'; END $$",
            "CREATE TRIGGER refuse BEFORE INSERT ON cursors FOR EACH ROW EXECUTE FUNCTION refuse()",
        )

    with pytest.raises(sa.exc.DBAPIError):
        poll_kind(runtime, "product", lambda kind, keys: len(keys))

    with runtime.sessions() as session:
        cycle = last_poll_cycle(session, "product")
    assert cycle is not None
    assert cycle.status == "failed"
    assert cycle.error is not None
    assert "cursor writes refused" in cycle.error
    for leak in ("[SQL", "[parameters", "INSERT INTO", "sqlalche.me", "\n"):
        assert leak not in cycle.error, cycle.error

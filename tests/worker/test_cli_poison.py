"""Poison records through the operator's commands (issue 13, item 2), embedded (SQLite) and in
production mode (PostgreSQL, Redis): `sync --once` polls past them, `failures` lists them with
their reasons, and `status` never prints a database error's SQL or parameters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from cli_helpers import Cli, emulator_env

from clients import set_testing
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle

LONG_NUMBER = "LONG-" + "7" * 295
SQL_LEAKS = ("[SQL", "[parameters", "INSERT INTO", "sqlalche.me")


@pytest.fixture(autouse=True)
def _no_client_waits() -> Iterator[None]:
    set_testing(True)
    try:
        yield
    finally:
        set_testing(False)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def ledger_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'ledger.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def cli(
    backend: str,
    ledger_url: str,
    request: pytest.FixtureRequest,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    tmp_path: Path,
) -> Cli:
    """The CLI on a migrated ledger: embedded, or production (PostgreSQL ledger, Redis broker)."""
    rackbeat_emulator.configure(rate_limit_enabled=False)
    poweroffice_emulator.configure(rate_limit_enabled=False)
    env = emulator_env(rackbeat_emulator, poweroffice_emulator, tmp_path / "data")
    if backend == "postgresql":
        redis_url = str(request.getfixturevalue("redis_url"))
        env.update(
            RBSYNC_DATABASE_URL=ledger_url, RBSYNC_BROKER_URL=redis_url, RBSYNC_REDIS_URL=redis_url
        )
    cli = Cli(env, tmp_path)
    migrated = cli("db", "upgrade")
    assert migrated.exit_code == 0, migrated.stderr
    return cli


def _execute(url: str, *statements: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def _add_product(rackbeat: RackbeatEmulatorHandle, number: str, name: str) -> None:
    with rackbeat.client() as client:
        response = client.post(
            "products", json={"number": number, "name": name, "group": 1010, "sales_price": 99}
        )
    assert response.status_code == 201, response.text


def test_poison_records_are_failures_and_the_rest_syncs(
    cli: Cli,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    _add_product(rackbeat_emulator, "NUL-1", "Widget\u0000 deluxe")
    _add_product(rackbeat_emulator, LONG_NUMBER, "A product with a long number")

    run = cli("sync", "--once", "--kind", "product")

    assert run.exit_code == 1, run.stdout + run.stderr  # one row needs a human
    assert "poll product: seen 52, changed 51, enqueued 51, failed 1" in run.stdout
    assert "product    synced          51" in run.stdout
    failures = cli("failures", "--json").json()
    assert [row["status"] for row in failures] == ["failed"]
    assert failures[0]["key"].startswith(LONG_NUMBER[:150] + "…")
    assert failures[0]["reason"].startswith(
        "item number is 300 characters; PowerOffice Go product codes allow at most 100"
    )
    synced = {
        row["key"]: row
        for row in cli("failures", "--status", "synced", "--limit", "100", "--json").json()
    }
    assert [(w["code"], w["field"]) for w in synced["NUL-1"]["warnings"]] == [
        ("nul_character", "name")
    ]
    table = cli("failures", "--status", "synced", "--kind", "product", "--limit", "100").stdout
    assert "warning: name held NUL characters" in table
    status = cli("status", "--json").json()["kinds"]["product"]
    assert status["last_poll"]["status"] == "done"
    assert status["cursor"] is not None
    assert (status["counts"]["synced"], status["counts"]["failed"]) == (51, 1)
    names = {p["Code"]: p["Name"] for p in poweroffice_emulator.state()["resources"]["Products"]}
    assert names["NUL-1"] == "Widget deluxe"


def test_status_after_a_poll_failed_on_a_database_error_shows_no_sql(
    cli: Cli, backend: str, ledger_url: str
) -> None:
    if backend == "sqlite":
        _execute(
            ledger_url,
            "CREATE TRIGGER refuse_cursor BEFORE INSERT ON cursors "
            "BEGIN SELECT RAISE(ABORT, 'cursor writes refused'); END",
        )
    else:
        _execute(
            ledger_url,
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'cursor writes refused'; END $$",
            "CREATE TRIGGER refuse BEFORE INSERT ON cursors FOR EACH ROW EXECUTE FUNCTION refuse()",
        )

    run = cli("sync", "--once", "--kind", "product")

    assert run.exit_code == 1
    assert "cursor writes refused" in run.stderr
    status = cli("status")
    assert status.exit_code == 1  # the last poll of product failed: its changes are not read
    assert "the last poll of product failed" in status.stdout.splitlines()[-1]
    assert "failed: " in status.stdout
    assert "cursor writes refused" in status.stdout
    data = cli("status", "--json").json()["kinds"]["product"]["last_poll"]
    assert data["status"] == "failed"
    assert "cursor writes refused" in data["error"]
    for text in (run.stdout + run.stderr, status.stdout, data["error"]):
        for leak in SQL_LEAKS:
            assert leak not in text, text


def test_status_shows_an_error_stored_with_its_sql_without_it(cli: Cli, ledger_url: str) -> None:
    # What a poll stored before the error was kept to one line: the statement, a batch of
    # parameters (record content) and a link, on several lines.
    stored = (
        "DataError: (psycopg.errors.StringDataRightTruncation) value too long for type "
        "character varying(191)\n[SQL: INSERT INTO entity_links (kind, key) VALUES "
        "(%(kind)s::VARCHAR, %(key)s::VARCHAR)]\n[parameters: [{'kind': 'product', "
        "'key': 'secret-ish record content'}]]\n(Background on this error at: "
        "https://sqlalche.me/e/20/9h9h)"
    )
    engine = sa.create_engine(ledger_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO poll_cycles (kind, started_at, seen, changed, enqueued, status,"
                    " error) VALUES ('product', :at, 0, 0, 0, 'failed', :error)"
                ),
                {"at": datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None), "error": stored},
            )
    finally:
        engine.dispose()

    for outcome in (cli("status"), cli("status", "--json")):
        assert outcome.exit_code == 1  # a failed last poll needs an operator
        assert "value too long for type" in outcome.stdout
        for leak in (*SQL_LEAKS, "secret-ish"):
            assert leak not in outcome.stdout, outcome.stdout


def test_a_database_error_in_a_command_is_one_line_without_sql() -> None:
    from worker.commands._common import describe_error

    error = sa.exc.IntegrityError(
        "INSERT INTO entity_links (key) VALUES (%(key)s)",
        {"key": "record content"},
        Exception("duplicate key value violates unique constraint\nDETAIL: Key (key)=(A)"),
    )
    assert describe_error(error) == (
        "ledger database error: IntegrityError (Exception): duplicate key value violates "
        "unique constraint"
    )

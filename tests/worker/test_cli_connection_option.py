"""``--connection NAME`` on the commands that work on entities, with two stored connections.

Both connections hold the emulators' credentials (the emulator knows one client key); what
tells them apart is their name, and so their ledger rows. The environment's ``default`` is
switched off (``RACKBEAT_API_TOKEN`` empty), so that exactly ``a`` and ``b`` exist. Ledger rows
are put directly through sessions scoped to each connection.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cli_helpers import Cli, emulator_env, one_line_error, settings_of

from clients import set_testing
from ledger import ALL, EntityLink, make_session_factory
from ledger.connections import ConnectionCredentials, add_connection, set_connection_state
from ledger.secrets import SecretBox, generate_key
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from wiring.runtime import build_runtime

KEY = generate_key()

AMBIGUOUS = "this deployment serves 2 connections (a, b); pass --connection NAME to say which"


@pytest.fixture(autouse=True)
def _no_client_waits() -> Iterator[None]:
    set_testing(True)
    try:
        yield
    finally:
        set_testing(False)


def _store(cli: Cli, ledger_url: str | None = None) -> None:
    """Connections ``a`` and ``b`` (the emulators' credentials) stored in ``cli``'s ledger."""
    settings = settings_of(cli)
    if ledger_url is not None:
        settings = settings.model_copy(update={"database_url": ledger_url})
    runtime = build_runtime(settings)  # embedded: migrates the SQLite file
    box = SecretBox.from_text(KEY)
    credentials = ConnectionCredentials(
        rackbeat_token=cli.env["EMULATOR_RACKBEAT_TOKEN"],
        client_key=cli.env["POWEROFFICE_CLIENT_KEY"],
    )
    try:
        with make_session_factory(runtime.engine, ALL).begin() as session:
            for name in ("a", "b"):
                add_connection(session, name, credentials=credentials, box=box)
    finally:
        runtime.close()


@pytest.fixture
def cli(
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    tmp_path: Path,
) -> Cli:
    rackbeat_emulator.configure(rate_limit_enabled=False)
    poweroffice_emulator.configure(rate_limit_enabled=False)
    cli = Cli(emulator_env(rackbeat_emulator, poweroffice_emulator, tmp_path / "data"), tmp_path)
    cli.env["EMULATOR_RACKBEAT_TOKEN"] = rackbeat_emulator.token
    _store(cli)
    cli.env["RBSYNC_SECRET_KEY"] = KEY
    cli.env["RACKBEAT_API_TOKEN"] = ""  # no environment-defined `default`: a and b only
    return cli


def _engine(cli: Cli) -> sa.Engine:
    url = cli.env.get("RBSYNC_DATABASE_URL") or settings_of(cli).ledger_url
    return sa.create_engine(url)


def _put(cli: Cli, connection: str, rows: list[tuple[str, str, str]]) -> None:
    """Ledger rows (kind, key, status) of ``connection``, through a session scoped to it."""
    engine = _engine(cli)
    try:
        with make_session_factory(engine, connection).begin() as session:
            for kind, key, status in rows:
                session.add(
                    EntityLink(
                        kind=kind,
                        key=key,
                        status=status,
                        attempts=1,
                        last_error=f"{connection}'s {status} reason",
                    )
                )
    finally:
        engine.dispose()


def _where(cli: Cli, kind: str, key: str) -> dict[str, str]:
    """Each connection's status of (kind, key), read with plain SQL."""
    engine = _engine(cli)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT connection, status FROM entity_links WHERE kind = :kind AND key = :key"
                ),
                {"kind": kind, "key": key},
            )
            return {str(row.connection): str(row.status) for row in rows}
    finally:
        engine.dispose()


def _pause(cli: Cli, name: str, reason: str, state: str = "paused") -> None:
    engine = _engine(cli)
    try:
        with make_session_factory(engine, ALL).begin() as session:
            assert set_connection_state(session, name, state, reason)
    finally:
        engine.dispose()


@pytest.fixture
def two(cli: Cli) -> Cli:
    """a: 2 synced, 1 failed product; b: 1 pending customer, 1 dead product, and paused."""
    _put(cli, "a", [("product", "A1", "synced"), ("product", "A2", "synced")])
    _put(cli, "a", [("product", "AB/100", "failed")])
    _put(cli, "b", [("customer", "10001", "pending"), ("product", "AB/100", "dead")])
    _pause(cli, "b", "month-end freeze")
    return cli


# --- status -----------------------------------------------------------------------------------


def test_status_without_connection_summarises_each_connection(two: Cli) -> None:
    data = two("status", "--json")
    assert data.exit_code == 1, data.stderr  # failed and dead rows need an operator
    assert data.json()["attention"] == [
        "a: 1 failed or dead rows (`rbsync failures`)",
        "b: 1 failed or dead rows (`rbsync failures`)",
    ]
    rows = {row["name"]: row for row in data.json()["connections"]}
    assert sorted(rows) == ["a", "b"]
    assert rows["a"]["state"] == "active"
    assert rows["a"]["reason"] is None
    assert {s: n for s, n in rows["a"]["counts"].items() if n} == {"synced": 2, "failed": 1}
    assert rows["a"]["total"] == 3
    assert (rows["b"]["state"], rows["b"]["reason"]) == ("paused", "month-end freeze")
    assert {s: n for s, n in rows["b"]["counts"].items() if n} == {"pending": 1, "dead": 1}
    assert rows["b"]["total"] == 2

    table = two("status")
    assert table.exit_code == 1, table.stderr
    lines = table.stdout.splitlines()
    [line_a] = [line for line in lines if line.startswith("│ a ")]
    [line_b] = [line for line in lines if line.startswith("│ b ")]
    cells_a = [cell.strip() for cell in line_a.strip("│").split("│")]
    cells_b = [cell.strip() for cell in line_b.strip("│").split("│")]
    # connection, state, reason, pending, in_flight, synced, skipped, unknown, failed, dead, total
    assert cells_a == ["a", "active", "", "0", "0", "2", "0", "0", "1", "0", "3"]
    assert cells_b == ["b", "paused", "month-end freeze", "1", "0", "0", "0", "0", "0", "1", "2"]
    assert "Failed or dead rows in a, b: `rbsync failures` lists them." in table.stdout
    assert "`rbsync status --connection NAME`" in table.stdout
    assert lines[-1].startswith("Needs attention (exit code 1): a: 1 failed or dead rows")


def test_status_exits_0_when_all_is_settled_or_paused_and_1_for_a_broken_connection(
    cli: Cli,
) -> None:
    _put(cli, "a", [("product", "A1", "synced"), ("customer", "10001", "pending")])
    _put(cli, "b", [("product", "A1", "skipped")])
    _pause(cli, "b", "month-end freeze")
    calm = cli("status", "--json")
    assert calm.exit_code == 0, calm.stdout  # pending is in progress, paused is on purpose
    assert calm.json()["attention"] == []
    assert cli("status", "--connection", "b").exit_code == 0

    _pause(cli, "b", "PowerOffice Go refused the client key (401)", state="broken")
    broken = cli("status")
    assert broken.exit_code == 1, broken.stdout
    assert broken.stdout.splitlines()[-1] == (
        "Needs attention (exit code 1): connection b is broken: PowerOffice Go refused the "
        "client key (401)."
    )
    one = cli("status", "--connection", "b", "--json")
    assert one.exit_code == 1
    assert one.json()["attention"] == [
        "connection b is broken: PowerOffice Go refused the client key (401)"
    ]
    assert cli("status", "--connection", "a").exit_code == 0  # the other one is fine


def test_status_with_connection_shows_only_its_rows(two: Cli) -> None:
    data = two("status", "--connection", "a", "--json")
    assert data.exit_code == 1, data.stderr  # its failed row
    body = data.json()
    assert body["attention"] == ["1 failed or dead rows (`rbsync failures`)"]
    assert body["connection"] == {"name": "a", "state": "active", "reason": None, "stored": True}
    assert list(body["kinds"]) == ["product"]
    counts = {s: n for s, n in body["kinds"]["product"]["counts"].items() if n}
    assert counts == {"synced": 2, "failed": 1}

    paused = two("status", "--connection", "b")
    assert paused.exit_code == 1, paused.stderr  # a paused connection is still shown (dead row)
    assert "Connection: b (paused: month-end freeze)" in paused.stdout
    assert "│ customer " in paused.stdout
    assert "│ all " in paused.stdout


def test_status_of_an_unknown_connection_lists_the_known_ones(two: Cli) -> None:
    outcome = two("status", "--connection", "zzz")
    assert outcome.exit_code == 2
    assert one_line_error(outcome) == "rbsync: no connection named 'zzz'; known connections: a, b"


# --- failures ---------------------------------------------------------------------------------


def test_failures_without_connection_lists_every_connection_with_a_column(two: Cli) -> None:
    entries = two("failures", "--json")
    assert entries.exit_code == 0, entries.stderr
    found = {(e["connection"], e["kind"], e["key"], e["status"]) for e in entries.json()}
    assert found == {("a", "product", "AB/100", "failed"), ("b", "product", "AB/100", "dead")}
    steps = {e["connection"]: e["next_step"] for e in entries.json()}
    assert "`rbsync retry product AB/100 --connection a`" in steps["a"]
    assert "`rbsync retry product AB/100 --connection b`" in steps["b"]

    table = two("failures", "--history")
    assert table.exit_code == 0, table.stderr
    assert "connection" in table.stdout
    assert "│ a          │ product │ AB/100 │ failed" in table.stdout
    assert "│ b          │ product │ AB/100 │ dead" in table.stdout
    assert "`rbsync retry --connection NAME`" in table.stdout


def test_failures_with_connection_lists_only_its_rows(two: Cli) -> None:
    entries = two("failures", "--connection", "b", "--json")
    assert entries.exit_code == 0, entries.stderr
    assert [(e["connection"], e["kind"], e["key"], e["status"]) for e in entries.json()] == [
        ("b", "product", "AB/100", "dead")
    ]
    assert entries.json()[0]["reason"] == "b's dead reason"
    table = two("failures", "--connection", "a")
    assert "a's failed reason" in table.stdout
    assert "b's dead reason" not in table.stdout
    assert "│ connection" not in table.stdout  # one connection: no column


# --- retry ------------------------------------------------------------------------------------


def test_retry_takes_only_the_named_connections_rows(two: Cli) -> None:
    dry = two("retry", "--all", "--dry-run", "--json", "--connection", "b")
    assert dry.exit_code == 0, dry.stderr
    assert dry.json() == [["product", "AB/100"]]

    ambiguous = two("retry", "--all")
    assert ambiguous.exit_code == 2
    assert one_line_error(ambiguous) == f"rbsync: {AMBIGUOUS}"

    done = two("retry", "product", "AB/100", "--now", "--json", "--connection", "a")
    assert done.exit_code == 0, done.stderr
    assert [(r["key"], r["status"]) for r in done.json()] == [("AB/100", "synced")]
    # a's row was re-driven; b's dead row of the same key is untouched.
    assert _where(two, "product", "AB/100") == {"a": "synced", "b": "dead"}


def test_retry_through_the_broker_sends_the_connection(two: Cli) -> None:
    sent = two("retry", "--all", "--json", "--connection", "a")
    assert sent.exit_code == 0, sent.stderr
    assert sent.json() == {"requeued": [["product", "AB/100"]]}
    assert _where(two, "product", "AB/100") == {"a": "pending", "b": "dead"}
    queue = Path(two.env["RBSYNC_DATA_DIR"]) / "broker" / "queue"
    headers = [json.loads(path.read_text())["headers"] for path in queue.glob("*.msg")]
    assert [(h["argsrepr"], h["kwargsrepr"]) for h in headers] == [
        ("['product', 'AB/100']", "{'connection': 'a'}")
    ]


# --- enqueue ----------------------------------------------------------------------------------


def test_enqueue_stores_and_syncs_under_the_named_connection(cli: Cli) -> None:
    outcome = cli("enqueue", "product", "10002", "--now", "--json", "--connection", "b")
    assert outcome.exit_code == 0, outcome.stderr
    assert [(r["key"], r["status"]) for r in outcome.json()] == [("10002", "synced")]
    assert _where(cli, "product", "10002") == {"b": "synced"}

    ambiguous = cli("enqueue", "product", "10002")
    assert ambiguous.exit_code == 2
    assert one_line_error(ambiguous) == f"rbsync: {AMBIGUOUS}"
    unknown = cli("enqueue", "product", "10002", "--connection", "c")
    assert unknown.exit_code == 2
    assert one_line_error(unknown) == "rbsync: no connection named 'c'; known connections: a, b"


@pytest.mark.postgres
@pytest.mark.redis
def test_enqueue_sends_tasks_naming_the_connection(
    cli: Cli, postgres_url: str, redis_url: str
) -> None:
    import redis

    env = {"RBSYNC_DATABASE_URL": postgres_url, "RBSYNC_BROKER_URL": redis_url}
    assert cli("db", "upgrade", **env).exit_code == 0
    _store(cli, postgres_url)
    cli.env.update(env)
    sent = cli("enqueue", "supplier", "20001", "20003", "--connection", "a")
    assert sent.exit_code == 0, sent.stderr
    assert sent.stdout.strip() == "Enqueued 2 supplier sync task(s) on Redis."
    client = redis.Redis.from_url(redis_url)
    try:
        bodies = [json.loads(m) for m in client.lrange("rbsync", 0, -1)]
    finally:
        client.close()
    assert sorted((b["headers"]["argsrepr"], b["headers"]["kwargsrepr"]) for b in bodies) == [
        ("['supplier', '20001']", "{'connection': 'a'}"),
        ("['supplier', '20003']", "{'connection': 'a'}"),
    ]
    assert _where(cli, "supplier", "20001") == {"a": "pending"}
    summary = {r["name"]: r for r in cli("status", "--json").json()["connections"]}
    assert summary["a"]["counts"]["pending"] == 2
    assert summary["b"]["total"] == 0


# --- sync --once, reconcile, initial-sync -----------------------------------------------------


def test_sync_once_runs_for_the_named_connection_and_refuses_a_paused_one(cli: Cli) -> None:
    run = cli("sync", "--once", "--kind", "supplier", "--connection", "a")
    assert run.exit_code == 0, run.stdout + run.stderr
    statuses = _where(cli, "supplier", "20001")
    assert statuses == {"a": "synced"}

    _pause(cli, "b", "moving offices")
    paused = cli("sync", "--once", "--connection", "b")
    assert paused.exit_code == 2
    assert one_line_error(paused) == (
        "rbsync: connection b is paused (moving offices): nothing was synced; "
        "`rbsync connections resume b` makes it active again"
    )
    assert _where(cli, "supplier", "20003") == {"a": "synced"}  # b polled nothing


@pytest.mark.parametrize(
    "command",
    [
        ("sync", "--once"),
        ("reconcile",),
        ("initial-sync", "--dry-run"),
        ("enqueue", "product", "AB/100", "--now"),
        ("retry", "product"),
    ],
)
def test_every_entity_command_asks_which_connection(cli: Cli, command: tuple[str, ...]) -> None:
    outcome = cli(*command)
    assert outcome.exit_code == 2
    assert one_line_error(outcome) == f"rbsync: {AMBIGUOUS}"


def test_reconcile_and_initial_sync_take_the_connection(cli: Cli) -> None:
    assert cli("sync", "--once", "--kind", "supplier", "--connection", "a").exit_code == 0
    mine = cli("reconcile", "--kind", "supplier", "--json", "--connection", "a")
    assert mine.exit_code == 0, mine.stdout + mine.stderr
    report = mine.json()["kinds"]["supplier"]
    assert (report["read"]["ledger"], report["not_yet_polled"]) == (5, 0)
    # b shares a's accounts but has synced nothing: its ledger is empty, its kinds unpolled.
    other = cli("reconcile", "--kind", "supplier", "--json", "--connection", "b")
    assert other.exit_code == 0, other.stdout + other.stderr
    report = other.json()["kinds"]["supplier"]
    assert (report["read"]["ledger"], report["not_yet_polled"]) == (0, 5)
    dry = cli("initial-sync", "--dry-run", "--kinds", "units", "--connection", "a")
    assert dry.exit_code == 0, dry.stdout + dry.stderr
    assert "initial sync (dry run: nothing was written)" in dry.stdout

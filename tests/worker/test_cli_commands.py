"""Every operator command driven against the emulators over HTTP, with an embedded ledger."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Cli, emulator_env, kinds_in, one_line_error, settings_of

from clients import set_testing
from ledger import get_link
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from wiring.runtime import build_runtime

WORKER_WAIT_SECONDS = 60.0


@pytest.fixture(autouse=True)
def _no_client_waits() -> Iterator[None]:
    set_testing(True)
    try:
        yield
    finally:
        set_testing(False)


@pytest.fixture
def cli(
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    tmp_path: Path,
) -> Cli:
    rackbeat_emulator.configure(rate_limit_enabled=False)
    poweroffice_emulator.configure(rate_limit_enabled=False)
    return Cli(emulator_env(rackbeat_emulator, poweroffice_emulator, tmp_path / "data"), tmp_path)


def _po_codes(poweroffice: PowerOfficeEmulatorHandle, resource: str, field: str) -> list[Any]:
    return [r[field] for r in poweroffice.state()["resources"][resource]]


def _checks(outcome: Any) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in outcome.json()}


# --- check ------------------------------------------------------------------------------------


def test_check_passes_against_the_emulators(cli: Cli) -> None:
    outcome = cli("check", "--json")
    assert outcome.exit_code == 0, outcome.stdout
    checks = _checks(outcome)
    assert {name: c["ok"] for name, c in checks.items()} == {
        "Rackbeat": True,
        "PowerOffice Go": True,
        "Ledger": True,
        "Broker": True,
    }
    assert checks["Rackbeat"]["detail"] == (
        "account Lagerhuset AS (id 4711), token of Kari Nordmann"
    )
    assert checks["PowerOffice Go"]["detail"].endswith("privileges granted, none missing")
    assert checks["Broker"]["detail"] == "no server needed"


def test_check_names_the_likely_cause_of_each_failure(
    cli: Cli, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    refused = _checks(
        cli(
            "check",
            "--json",
            RACKBEAT_API_TOKEN="not-the-token",
            POWEROFFICE_SUBSCRIPTION_KEY="not-the-subscription",
        )
    )
    assert refused["Rackbeat"]["detail"].startswith(
        "Rackbeat refused the credentials: check RACKBEAT_API_TOKEN"
    )
    assert refused["PowerOffice Go"]["detail"].startswith(
        "PowerOffice Go refused the credentials: check POWEROFFICE_SUBSCRIPTION_KEY"
    )
    keys = _checks(cli("check", "--json", POWEROFFICE_CLIENT_KEY="not-the-client-key"))
    assert keys["PowerOffice Go"]["detail"].startswith(
        "PowerOffice Go refused the credentials: check POWEROFFICE_APPLICATION_KEY and "
        "POWEROFFICE_CLIENT_KEY"
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    down = _checks(
        cli(
            "check",
            "--json",
            RACKBEAT_BASE_URL=f"http://127.0.0.1:{closed}/api/",
            POWEROFFICE_BASE_URL=f"{poweroffice_emulator.url}/Wrong/v2",
        )
    )
    assert down["Rackbeat"]["detail"].startswith(
        "cannot connect to Rackbeat: is RACKBEAT_BASE_URL right and the service up?"
    )
    assert down["PowerOffice Go"]["detail"].startswith(
        "PowerOffice Go has no such endpoint: is POWEROFFICE_BASE_URL the API's base URL?"
    )
    unset = cli("check", RACKBEAT_API_TOKEN="", POWEROFFICE_CLIENT_KEY="")
    assert unset.exit_code == 2
    assert "not configured: RACKBEAT_API_TOKEN unset" in unset.stdout
    assert "not configured: POWEROFFICE_CLIENT_KEY unset" in unset.stdout


def test_check_blames_the_token_url_when_only_the_token_endpoint_is_unreachable(
    cli: Cli, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    checks = _checks(
        cli(
            "check",
            "--json",
            POWEROFFICE_TOKEN_URL=f"http://127.0.0.1:{closed}/Demo/OAuth/Token",
        )
    )
    detail = checks["PowerOffice Go"]["detail"]
    assert detail.startswith(
        "cannot connect to PowerOffice Go: is POWEROFFICE_TOKEN_URL right and the service up?"
    ), detail
    assert "POWEROFFICE_BASE_URL" not in detail
    # A token URL that answers, but is not the token endpoint.
    wrong = _checks(
        cli("check", "--json", POWEROFFICE_TOKEN_URL=f"{poweroffice_emulator.url}/Wrong/Token")
    )
    assert wrong["PowerOffice Go"]["detail"].startswith(
        "PowerOffice Go refused the credentials: check POWEROFFICE_TOKEN_URL (no token endpoint "
        "there?)"
    ), wrong["PowerOffice Go"]["detail"]
    # And the other way round: a token fetched, then the API itself unreachable.
    api_down = _checks(
        cli("check", "--json", POWEROFFICE_BASE_URL=f"http://127.0.0.1:{closed}/Demo/v2")
    )
    detail = api_down["PowerOffice Go"]["detail"]
    assert detail.startswith(
        "cannot connect to PowerOffice Go: is POWEROFFICE_BASE_URL right and the service up?"
    ), detail
    assert poweroffice_emulator.counters()["events"]["token_requests"] == 1


def test_check_explains_server_errors_rate_limits_and_refusals(
    cli: Cli,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    rackbeat_emulator.set_faults([{"route": "GET /api/self", "error_rate": 1.0, "status": 503}])
    poweroffice_emulator.set_faults(
        [{"route": "GET /v2/ClientIntegrationInformation", "burst_429": 10}]
    )
    checks = _checks(cli("check", "--json"))
    assert checks["Rackbeat"]["detail"].startswith(
        "Rackbeat is failing (server error); try again later (GET /api/self -> 503"
    )
    assert checks["PowerOffice Go"]["detail"].startswith(
        "PowerOffice Go rate limit reached: other processes use this budget; try again shortly"
    )
    poweroffice_emulator.set_faults(
        [{"route": "GET /v2/ClientIntegrationInformation", "error_rate": 1.0, "status": 403}]
    )
    forbidden = _checks(cli("check", "--json"))["PowerOffice Go"]["detail"]
    assert forbidden.startswith(
        "PowerOffice Go forbids this call: the integration lacks a privilege or access"
    )


# --- enqueue ----------------------------------------------------------------------------------


def test_enqueue_now_syncs_here_and_prints_the_outcome(
    cli: Cli, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    outcome = cli("enqueue", "product", "AB/100", "10002", "--now", "--json")
    assert outcome.exit_code == 0, outcome.stdout
    results = outcome.json()
    assert [(r["kind"], r["key"], r["outcome"], r["status"]) for r in results] == [
        ("product", "AB/100", "created", "synced"),
        ("product", "10002", "created", "synced"),
    ]
    assert sorted(_po_codes(poweroffice_emulator, "Products", "Code")) == ["10002", "AB/100"]
    again = cli("enqueue", "product", "AB/100", "--now", "--json")
    assert [r["outcome"] for r in again.json()] == ["unchanged"]


def test_enqueue_sends_to_the_workers_on_the_embedded_broker(
    cli: Cli, poweroffice_emulator: PowerOfficeEmulatorHandle, tmp_path: Path
) -> None:
    # A worker of this machine (same data directory) consumes the queue and takes them.
    with _worker(cli):
        outcome = cli("enqueue", "product", "AB/100", "10002")
        assert outcome.exit_code == 0, outcome.stderr
        assert outcome.stdout.strip() == "Enqueued 2 product sync task(s) on the embedded broker."
        assert "No worker" not in outcome.stderr
        _wait_until(lambda: len(_po_codes(poweroffice_emulator, "Products", "Code")) == 2)
    assert sorted(_po_codes(poweroffice_emulator, "Products", "Code")) == ["10002", "AB/100"]


def test_enqueue_without_a_worker_on_the_embedded_broker_syncs_here(
    cli: Cli, poweroffice_emulator: PowerOfficeEmulatorHandle, tmp_path: Path
) -> None:
    outcome = cli("enqueue", "product", "AB/100", "--json")
    assert outcome.exit_code == 0, outcome.stderr
    assert "No worker consumes the embedded broker's queue: syncing here instead." in (
        outcome.stderr
    )
    assert [(r["key"], r["outcome"], r["status"]) for r in outcome.json()] == [
        ("AB/100", "created", "synced")
    ]
    assert _po_codes(poweroffice_emulator, "Products", "Code") == ["AB/100"]
    queue = Path(cli.env["RBSYNC_DATA_DIR"]) / "broker" / "queue"
    assert list(queue.glob("*.msg")) == []  # nothing left waiting for a worker nobody started


def test_enqueue_pushes_the_record_as_rackbeat_has_it_now(
    cli: Cli,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    assert cli("enqueue", "product", "10001", "--now").exit_code == 0
    # The price changes in Rackbeat; no poll runs before the operator's enqueue.
    rackbeat_emulator.touch("products", "10001", sales_price=777.5)
    outcome = cli("enqueue", "product", "10001", "--now", "--json")
    assert outcome.exit_code == 0, outcome.stderr
    assert [r["outcome"] for r in outcome.json()] == ["updated"]
    (product,) = poweroffice_emulator.state()["resources"]["Products"]
    assert product["UnitPrice"] == 777.5  # R-PROD-8


def test_enqueue_of_a_key_rackbeat_does_not_have_stores_and_sends_nothing(
    cli: Cli, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    for extra in ((), ("--now",)):
        outcome = cli("enqueue", "product", "10001", "NOPE-999", *extra)
        assert outcome.exit_code == 2
        assert one_line_error(outcome) == (
            "rbsync: not in Rackbeat: product NOPE-999; nothing was enqueued"
        )
    runtime = build_runtime(_settings(cli))
    try:
        with runtime.sessions() as session:
            assert get_link(session, "product", "NOPE-999") is None
            assert get_link(session, "product", "10001") is None  # all or nothing
    finally:
        runtime.close()
    queue = Path(cli.env["RBSYNC_DATA_DIR"]) / "broker" / "queue"
    assert list(queue.glob("*.msg")) == []
    assert poweroffice_emulator.counters()["total_requests"] == 0


def _wait_until(done: Any) -> None:
    deadline = time.monotonic() + WORKER_WAIT_SECONDS
    while not done():
        assert time.monotonic() < deadline, "the worker did not finish in time"
        time.sleep(0.1)


@contextmanager
def _worker(cli: Cli) -> Iterator[None]:
    """A Celery worker of this machine on the embedded broker, consuming the sync queue."""
    from worker.app import DEFAULT_QUEUE, create_app
    from worker.inprocess import in_process_worker

    app = create_app(_settings(cli))
    try:
        with in_process_worker(app, DEFAULT_QUEUE, concurrency=2, remote_control=True):
            yield
    finally:
        from wiring.runtime import set_runtime

        set_runtime(app, None)


def _settings(cli: Cli) -> Any:
    return settings_of(cli)


# --- sync, status, failures, retry --------------------------------------------------------------


def test_status_after_a_sync_shows_counts_cursors_and_polls(
    cli: Cli, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    empty = cli("status")
    assert empty.exit_code == 0
    assert "The ledger is empty: no poll has run yet" in empty.stdout
    assert cli("sync", "--once").exit_code == 0
    outcome = cli("status", "--json")
    assert outcome.exit_code == 0
    data = outcome.json()
    assert data["mode"] == "embedded"
    kinds = data["kinds"]
    assert list(kinds) == ["product", "bom", "customer", "invoice", "supplier"]
    products = len(rackbeat_emulator.state()["products"])
    assert kinds["product"]["counts"]["synced"] == products
    assert kinds["product"]["total"] == products
    for kind, info in kinds.items():
        assert info["cursor"] is not None, kind
        assert info["last_poll"]["status"] == "done", kind
        assert info["counts"]["pending"] == info["counts"]["in_flight"] == 0, kind
    assert kinds["supplier"]["counts"]["skipped"] == 1
    table = cli("status")
    assert f"│ product  │       0 │         0 │ {products:>6} │" in table.stdout


def test_status_counts_apart_in_flight_rows_whose_worker_died_and_no_sweep_sent_again(
    cli: Cli,
) -> None:
    from datetime import timedelta

    from ledger import claim, mark_sent, store_snapshots, utcnow
    from ledger.snapshots import SnapshotRecord

    assert cli("sync", "--once").exit_code == 0
    runtime = build_runtime(_settings(cli))
    long_ago = utcnow() - timedelta(minutes=10)
    try:
        with runtime.sessions.begin() as s:
            store_snapshots(s, "product", [SnapshotRecord("held-by-the-dead", {"n": 1}, long_ago)])
            store_snapshots(
                s, "product", [SnapshotRecord("held-by-the-living", {"n": 1}, long_ago)]
            )
            # A worker that died ten minutes ago; one whose lease runs now.
            assert claim(
                s, "product", "held-by-the-dead", "dead", lease=timedelta(seconds=20), now=long_ago
            )
            assert claim(s, "product", "held-by-the-living", "live", lease=timedelta(seconds=20))
        data = cli("status", "--json").json()
        assert data["unswept"] == 1
        assert data["kinds"]["product"]["counts"]["in_flight"] == 2
        table = cli("status").stdout
        assert "1 in_flight rows are not in progress" in table
        assert "check that beat and a worker run" in table
        # The sweep sends it again: it waits for a worker, nothing to report.
        with runtime.sessions.begin() as s:
            link = get_link(s, "product", "held-by-the-dead")
            assert link is not None
            mark_sent(s, [link.id])
        assert cli("status", "--json").json()["unswept"] == 0
        assert "not in progress" not in cli("status").stdout
    finally:
        runtime.close()


def test_failures_show_reasons_and_retry_redrives_them(
    cli: Cli,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    rackbeat_emulator.touch("customers", 10001, address_country="Atlantis")
    failed = cli("enqueue", "customer", "10001", "10002", "--now", "--json")
    assert failed.exit_code == 1
    assert [(r["key"], r["status"]) for r in failed.json()] == [
        ("10001", "failed"),
        ("10002", "synced"),
    ]
    rows = cli("failures", "--json").json()
    assert kinds_in(rows) == {("customer", "10001")}
    assert rows[0]["status"] == "failed"
    assert rows[0]["reason"] == (
        "customer 10001: field 'address_country': 'Atlantis' is neither an ISO 3166-1 code "
        "nor a known country name"
    )
    assert cli("failures", "--kind", "product", "--json").json() == []
    assert kinds_in(cli("failures", "--status", "synced", "--json").json()) == {
        ("customer", "10002")
    }
    table = cli("failures", "--history")
    assert "customer │ 10001 │ failed" in table.stdout
    assert "'Atlantis' is neither" in table.stdout

    assert cli("retry", "--all", "--dry-run", "--json").json() == [["customer", "10001"]]
    rackbeat_emulator.touch("customers", 10001, address_country="NO")
    # The poll has not seen the fix yet: the retry maps the stored snapshot and fails again.
    still = cli("retry", "customer", "10001", "--now", "--json")
    assert still.exit_code == 1
    assert [r["status"] for r in still.json()] == ["failed"]
    assert cli("sync", "--once").exit_code == 0
    assert cli("failures", "--json").json() == []
    names = _po_codes(poweroffice_emulator, "Customers", "ExternalImportReference")
    assert sorted(names)[:2] == ["rackbeat-customer-10001", "rackbeat-customer-10002"]
    nothing = cli("retry", "customer")
    assert nothing.exit_code == 0
    assert nothing.stdout.startswith(
        "nothing to retry: no failed, dead or unknown row of customer (its "
    )
    assert "synced); retry re-drives only failed, dead and unknown rows" in nothing.stdout


def test_retry_through_the_broker_resets_rows_and_enqueues_them(
    cli: Cli, rackbeat_emulator: RackbeatEmulatorHandle, tmp_path: Path
) -> None:
    rackbeat_emulator.touch("customers", 10001, address_country="Atlantis")
    assert cli("enqueue", "customer", "10001", "--now").exit_code == 1
    outcome = cli("retry", "customer", "10001", "--json")
    assert outcome.exit_code == 0
    assert outcome.json() == {"requeued": [["customer", "10001"]]}
    runtime = build_runtime(_settings(cli))
    try:
        with runtime.sessions() as session:
            link = get_link(session, "customer", "10001")
            assert link is not None
            assert (link.status, link.attempts) == ("pending", 0)
    finally:
        runtime.close()
    queue = Path(cli.env["RBSYNC_DATA_DIR"]) / "broker" / "queue"
    messages = [json.loads(p.read_text()) for p in queue.glob("*.msg")]
    assert [(m["headers"]["task"], m["headers"]["argsrepr"]) for m in messages] == [
        ("rbsync.sync", "['customer', '10001']")
    ]


def test_failures_and_status_refuse_an_unknown_kind(cli: Cli) -> None:
    outcome = cli("failures", "--kind", "order")
    assert outcome.exit_code == 2
    assert one_line_error(outcome) == (
        "rbsync: unknown kind 'order'; expected one of product, bom, customer, invoice, supplier"
    )


# --- production mode: PostgreSQL ledger, Redis broker -------------------------------------------


@pytest.mark.postgres
@pytest.mark.redis
def test_a_database_password_of_any_characters_works_and_never_shows(
    cli: Cli, postgres_url: str
) -> None:
    # The test server trusts every connection, so the password is not checked there; what this
    # shows is that a password with @ / : % leaves the URL intact (pasted raw it would not) and
    # that no output or debug log carries it, raw or quoted.
    password = "p@ss/w:rd%"
    env = {"RBSYNC_DATABASE_URL": postgres_url, "RBSYNC_DATABASE_PASSWORD": password}
    migrated = cli("--log-level", "debug", "db", "upgrade", **env)
    assert migrated.exit_code == 0, migrated.stderr
    status = cli.run_process("--log-level", "debug", "status", **env)
    assert status.exit_code == 0, status.stderr
    assert "postgres:***@127.0.0.1" in status.stdout
    shown = cli.run_process("config", **env)
    for outcome in (migrated, status, shown):
        text = outcome.stdout + outcome.stderr
        assert password not in text
        assert "p%40ss" not in text


def test_production_mode_check_migrate_enqueue_status(
    cli: Cli, postgres_url: str, redis_url: str
) -> None:
    import redis

    env = {"RBSYNC_DATABASE_URL": postgres_url, "RBSYNC_BROKER_URL": redis_url}
    before = _checks(cli("check", "--json", **env))
    assert before["Ledger"]["ok"] is False
    assert before["Ledger"]["detail"].endswith("run `rbsync db upgrade`")
    assert before["Broker"] == {
        "name": "Broker",
        "target": redis_url,
        "ok": True,
        "detail": "accepts connections",
    }
    assert cli("db", "upgrade", **env).exit_code == 0
    after = cli("check", "--json", **env)
    assert after.exit_code == 0
    assert _checks(after)["Ledger"]["detail"].startswith("schema at the newest revision")
    sent = cli("enqueue", "supplier", "20001", "20003", **env)
    assert sent.stdout.strip() == "Enqueued 2 supplier sync task(s) on Redis."
    # No worker runs in this test: said plainly, and the messages wait in Redis for one.
    assert "No worker answered: the tasks wait in the queue until one starts" in sent.stderr
    client = redis.Redis.from_url(redis_url)
    try:
        bodies = [json.loads(m) for m in client.lrange("rbsync", 0, -1)]
    finally:
        client.close()
    assert sorted(b["headers"]["argsrepr"] for b in bodies) == [
        "['supplier', '20001']",
        "['supplier', '20003']",
    ]
    status = cli("status", "--json", **env).json()
    assert status["mode"] == "production"
    # enqueue stored Rackbeat's current records before sending: the ledger knows them.
    assert status["kinds"]["supplier"]["counts"]["pending"] == 2


def test_reconcile_repair_sends_to_the_workers_when_one_consumes_the_queue(
    cli: Cli, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    assert cli("enqueue", "product", "AB/100", "10002", "--now").exit_code == 0
    (product,) = [
        p for p in poweroffice_emulator.state()["resources"]["Products"] if p["Code"] == "AB/100"
    ]
    with poweroffice_emulator.client() as po:
        po.delete(f"Products/{product['Id']}").raise_for_status()
    with _worker(cli):
        outcome = cli("reconcile", "--kind", "product", "--repair", "--json")
        assert outcome.exit_code == 1, outcome.stderr
        body = outcome.json()
        assert (body["sent"], body["synced_here"]) == ("workers", [])
        assert body["kinds"]["product"]["repaired"] == {"recreated": 1}
        _wait_until(lambda: "AB/100" in _po_codes(poweroffice_emulator, "Products", "Code"))
    missed = cli("reconcile", "--kind", "product", "--json").json()["kinds"]["product"]
    # The two products enqueued by hand are the Rackbeat catalogue's only ledger rows: the rest
    # were never polled (no cursor), so they are not missed, only not yet polled.
    assert missed["counts"] == {"missing": 0, "duplicates": 0, "drift": 0, "missed": 0, "stuck": 0}
    assert missed["not_yet_polled"] == missed["read"]["rackbeat"] - 2

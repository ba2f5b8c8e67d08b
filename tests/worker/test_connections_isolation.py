"""Two connections on one deployment: the same item and customer numbers in two Rackbeat
accounts, each synced to its own PowerOffice Go client through one subscription key; neither
ever touches the other's PowerOffice Go records or ledger rows, and one whose client key is
refused is marked broken while the other goes on syncing.

Real pieces throughout: both emulators over HTTP (several accounts and clients), an in-process
Celery worker running the tasks (``rbsync sync --once``'s), the connection's credentials stored
encrypted and resolved by the workers, SQLite and PostgreSQL ledgers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from clients import set_testing
from ledger import ALL, make_engine, make_session_factory, upgrade
from ledger.connections import ConnectionCredentials, add_connection
from ledger.secrets import generate_key
from sandbox.testing import SEEDED_SYNC, PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from tasks.dispatch import due_connections
from wiring.connections import connection_infos, secret_box
from wiring.settings import Settings
from worker.inprocess import run_once

KEY = generate_key()


@pytest.fixture(autouse=True)
def _no_client_waits() -> Iterator[None]:
    set_testing(True)
    try:
        yield
    finally:
        set_testing(False)


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(
    request: pytest.FixtureRequest,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    tmp_path: Path,
) -> Settings:
    rackbeat_emulator.configure(rate_limit_enabled=False)
    poweroffice_emulator.configure(rate_limit_enabled=False)
    database = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    built = Settings(
        _env_file=None,  # type: ignore[call-arg]
        rackbeat_base_url=rackbeat_emulator.base_url,
        rackbeat_api_token=rackbeat_emulator.token,
        poweroffice_base_url=poweroffice_emulator.base_url,
        poweroffice_token_url=poweroffice_emulator.token_url,
        poweroffice_application_key=poweroffice_emulator.application_key,
        poweroffice_client_key=poweroffice_emulator.client_key,
        poweroffice_subscription_key=poweroffice_emulator.subscription_key,
        data_dir=tmp_path,
        database_url=database,
        secret_key=KEY,
        rackbeat_requests_per_second=1000,
        poweroffice_requests_per_second=1000,
    )
    upgrade(built.ledger_url)
    return built


def _store(settings: Settings, name: str, token: str, client_key: str, account: int) -> None:
    engine = make_engine(settings.ledger_url)
    try:
        with make_session_factory(engine, ALL).begin() as session:
            add_connection(
                session,
                name,
                credentials=ConnectionCredentials(rackbeat_token=token, client_key=client_key),
                box=secret_box(settings),
                rackbeat_account_id=str(account),
            )
    finally:
        engine.dispose()


def _ledger_rows(settings: Settings) -> list[dict[str, Any]]:
    engine = make_engine(settings.ledger_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT connection, kind, key, status, remote_id FROM entity_links")
            )
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


def _products(handle: Any) -> dict[str, str]:
    """Code -> Id of the PowerOffice Go products ``handle`` (a client) holds."""
    return {p["Code"]: str(p["Id"]) for p in handle.state()["resources"]["Products"]}


def test_two_connections_with_the_same_numbers_never_touch_each_other(
    settings: Settings,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    # A second company: the same generated Rackbeat data (same item and customer numbers).
    other = rackbeat_emulator.add_account("token-of-company-b")
    other_client = poweroffice_emulator.add_client("client-key-of-company-b")
    _store(settings, "b", other.token, other_client.client_key, other.account_id)

    first = run_once(settings, timeout=240)  # the environment's default connection
    second = run_once(settings, timeout=240, connection="b")
    for report in (first, second):
        assert (report.ok, report.errors, report.timed_out) == (True, [], False)
        assert report.counts() == SEEDED_SYNC

    ours, theirs = _products(poweroffice_emulator), _products(other_client)
    assert len(ours) == len(theirs) == 52
    assert set(ours) == set(theirs)  # the same item numbers...
    assert not set(ours.values()) & set(theirs.values())  # ...as two companies' records

    rows = _ledger_rows(settings)
    by_connection = Counter(row["connection"] for row in rows)
    assert by_connection["default"] == by_connection["b"] == len(rows) / 2
    for connection, products in (("default", ours), ("b", theirs)):
        linked = {
            row["key"]: row["remote_id"]
            for row in rows
            if row["connection"] == connection and row["kind"] in ("product", "bom")
        }
        assert linked == products  # each row points at its own company's record

    # A change in company b's Rackbeat reaches b's PowerOffice Go only.
    number = next(iter(sorted(theirs)))
    other.touch("products", number, name="Renamed in company b")
    poweroffice_emulator.reset_counters()
    other_client.reset_counters()
    again = run_once(settings, timeout=240)
    assert (again.ok, again.entities) == (True, {})
    assert poweroffice_emulator.counters()["requests"] == {}
    changed = run_once(settings, timeout=240, connection="b")
    assert changed.ok
    assert [(kind, key) for kind, key in changed.entities] == [("product", number)]
    names = {p["Code"]: p["Name"] for p in other_client.state()["resources"]["Products"]}
    assert names[number] == "Renamed in company b"
    ours_now = {p["Code"]: p["Name"] for p in poweroffice_emulator.state()["resources"]["Products"]}
    assert ours_now[number] != "Renamed in company b"


def test_a_refused_client_key_breaks_its_connection_and_the_other_keeps_syncing(
    settings: Settings,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    other = rackbeat_emulator.add_account("token-of-company-c")
    refused = poweroffice_emulator.add_client("client-key-of-company-c", refused=True)
    _store(settings, "c", other.token, refused.client_key, other.account_id)

    broken = run_once(settings, timeout=240, connection="c")
    assert not broken.ok
    assert refused.state()["resources"]["Products"] == []
    infos = {info.name: info for info in connection_infos(settings, _sessions(settings))}
    assert infos["c"].state == "broken"
    assert "invalid_client" in (infos["c"].state_reason or "")
    assert client_key_absent(infos["c"].state_reason or "", refused.client_key)
    # Beat's tick leaves it out until an operator resumes it; default is still due.
    active = [name for name, info in infos.items() if info.state == "active"]
    now = _now()
    assert due_connections(active, period=5.0, start=now - timedelta(seconds=5), end=now) == [
        "default"
    ]

    # The environment's connection syncs as if nothing happened.
    fine = run_once(settings, timeout=240)
    assert (fine.ok, fine.errors) == (True, [])
    assert fine.counts() == SEEDED_SYNC
    assert len(_products(poweroffice_emulator)) == 52


def client_key_absent(text: str, key: str) -> bool:
    return key not in text


def _sessions(settings: Settings) -> Any:
    return make_session_factory(make_engine(settings.ledger_url), ALL)


def _now() -> Any:
    from ledger import utcnow

    return utcnow()

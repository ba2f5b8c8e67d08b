"""``rbsync connections``: against the two emulators, with SQLite and PostgreSQL ledgers.

Credentials are verified before they are stored, stored encrypted (read back with plain SQL),
never printed or logged, and survive a rotation of RBSYNC_SECRET_KEY."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cli_helpers import INFRA_VARS, Cli, Outcome, emulator_env, one_line_error
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from clients import set_testing
from ledger.secrets import generate_key
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from worker.cli import build_app
from worker.logs import reset_logging

KEY = generate_key()


@pytest.fixture(autouse=True)
def _no_client_waits() -> Iterator[None]:
    set_testing(True)
    try:
        yield
    finally:
        set_testing(False)


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The ledger URL the commands use (SQLite: embedded mode's file)."""
    if request.param == "sqlite":
        return f"sqlite:///{(tmp_path / 'data' / 'ledger.sqlite3').resolve()}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def cli(
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    tmp_path: Path,
    ledger: str,
) -> Cli:
    rackbeat_emulator.configure(rate_limit_enabled=False)
    poweroffice_emulator.configure(rate_limit_enabled=False)
    env = emulator_env(rackbeat_emulator, poweroffice_emulator, tmp_path / "data")
    env.update(
        RBSYNC_SECRET_KEY=KEY,
        ACME_RB_TOKEN=rackbeat_emulator.token,
        ACME_CLIENT_KEY=poweroffice_emulator.client_key,
    )
    cli = Cli(env, tmp_path)
    if not ledger.startswith("sqlite"):
        cli.env["RBSYNC_DATABASE_URL"] = ledger
        assert cli("db", "upgrade").exit_code == 0
    return cli


def _secrets(cli: Cli) -> list[str]:
    return [cli.env["ACME_RB_TOKEN"], cli.env["ACME_CLIENT_KEY"], KEY]


def _assert_no_secret(cli: Cli, *outcomes: Outcome, extra: tuple[str, ...] = ()) -> None:
    for outcome in outcomes:
        for secret in (*_secrets(cli), *extra):
            assert secret not in outcome.stdout + outcome.stderr


def _rows(ledger: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(ledger)
    try:
        with engine.connect() as conn:
            result = conn.execute(sa.text("SELECT * FROM connections ORDER BY name"))
            return [dict(row._mapping) for row in result]
    finally:
        engine.dispose()


def _add(cli: Cli, name: str = "acme", *args: str, **env: str) -> Outcome:
    return cli(
        "connections",
        "add",
        name,
        "--rackbeat-token-env",
        "ACME_RB_TOKEN",
        "--client-key-env",
        "ACME_CLIENT_KEY",
        *args,
        **env,
    )


def _listed(cli: Cli, **env: str) -> dict[str, dict[str, Any]]:
    outcome = cli("connections", "list", "--json", **env)
    assert outcome.exit_code == 0, outcome.stderr
    _assert_no_secret(cli, outcome)
    return {row["name"]: row for row in outcome.json()}


def test_add_verifies_then_stores_encrypted(
    cli: Cli, ledger: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        added = _add(
            cli,
            "acme",
            "--employee-map",
            '{"3": 102}',
            "--supplier-contact-group",
            "Leverandører",
            "--json",
            RBSYNC_LOG_LEVEL="debug",
        )
    assert added.exit_code == 0, added.stderr
    summary = added.json()
    assert summary["rackbeat_account_id"] == "4711"  # from GET self
    assert summary["options"] == {
        "employee_map": {"3": 102},
        "supplier_contact_group_name": "Leverandører",
    }
    assert [c["ok"] for c in summary["checks"]] == [True, True]
    _assert_no_secret(cli, added)
    assert any("GET" in record.getMessage() for record in caplog.records)  # requests logged
    for record in caplog.records:
        for secret in _secrets(cli):
            assert secret not in record.getMessage()
    (row,) = _rows(ledger)
    token, client_key = cli.env["ACME_RB_TOKEN"], cli.env["ACME_CLIENT_KEY"]
    assert token not in row["rackbeat_token_encrypted"]
    assert client_key not in row["client_key_encrypted"]
    fernet = Fernet(KEY.encode())
    assert fernet.decrypt(row["rackbeat_token_encrypted"].encode()).decode() == token
    assert fernet.decrypt(row["client_key_encrypted"].encode()).decode() == client_key
    assert (row["state"], row["rackbeat_account_id"]) == ("active", "4711")

    listed = _listed(cli)
    assert sorted(listed) == ["acme", "default"]  # RACKBEAT_API_TOKEN is set: the env's too
    assert {k: listed["acme"][k] for k in ("state", "source", "credentials")} == {
        "state": "active",
        "source": "stored",
        "credentials": "readable",
    }
    assert listed["default"]["source"] == "environment"
    table = cli("connections", "list")
    assert table.exit_code == 0
    assert "acme" in table.stdout
    assert "4711" in table.stdout
    _assert_no_secret(cli, table)

    again = _add(cli)
    assert one_line_error(again) == (
        "rbsync: connection acme exists already (--replace to give it new credentials)"
    )


def test_check_pause_resume_remove(cli: Cli, ledger: str) -> None:
    assert _add(cli).exit_code == 0
    checked = cli("connections", "check", "acme", "--json")
    assert checked.exit_code == 0, checked.stdout
    assert [(c["connection"], c["name"], c["ok"]) for c in checked.json()] == [
        ("acme", "Rackbeat", True),
        ("acme", "PowerOffice Go", True),
    ]
    every = cli("connections", "check")
    assert every.exit_code == 0, every.stdout
    assert "default" in every.stdout
    _assert_no_secret(cli, checked, every)

    paused = cli("connections", "pause", "acme", "--reason", "month-end freeze")
    assert paused.stdout.strip() == "connection acme paused"
    assert (_listed(cli)["acme"]["state"], _listed(cli)["acme"]["reason"]) == (
        "paused",
        "month-end freeze",
    )
    resumed = cli("connections", "resume", "acme")
    assert resumed.stdout.strip() == "connection acme active (was paused: month-end freeze)"
    assert _listed(cli)["acme"]["state"] == "active"

    refused = cli("connections", "pause", "default")
    assert one_line_error(refused).startswith(
        "rbsync: connection default is defined by the environment"
    )
    unknown = cli("connections", "resume", "gamma")
    assert one_line_error(unknown) == (
        "rbsync: no connection named 'gamma'; known connections: acme, default"
    )
    assert one_line_error(cli("connections", "check", "gamma")) == (
        "rbsync: no connection named 'gamma'; known connections: acme, default"
    )

    removed = cli("connections", "remove", "acme")
    assert removed.exit_code == 0, removed.stderr
    assert "connection acme removed" in removed.stdout
    assert "ledger history is kept" in removed.stdout
    assert _rows(ledger) == []
    assert sorted(_listed(cli)) == ["default"]


def test_remove_purge_asks_for_yes(cli: Cli, ledger: str) -> None:
    assert _add(cli).exit_code == 0
    unconfirmed = cli("connections", "remove", "acme", "--purge")
    assert one_line_error(unconfirmed) == (
        "rbsync: --purge deletes connection acme's ledger history for good: add --yes"
    )
    assert len(_rows(ledger)) == 1
    purged = cli("connections", "remove", "acme", "--purge", "--yes")
    assert purged.exit_code == 0, purged.stderr
    assert "connection acme removed" in purged.stdout
    assert "connection acme: " in purged.stdout
    assert "ledger rows deleted" in purged.stdout
    assert _rows(ledger) == []


def test_add_refuses_bad_credentials_and_stores_nothing(
    cli: Cli, ledger: str, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    bad_token = _add(cli, ACME_RB_TOKEN="not-the-rackbeat-token")
    assert bad_token.exit_code == 2
    assert one_line_error(bad_token).startswith(
        "rbsync: connection acme not stored: Rackbeat: Rackbeat refused the credentials: check "
        "connection acme's Rackbeat API token"
    )
    bad_key = _add(cli, ACME_CLIENT_KEY="not-the-client-key")
    assert one_line_error(bad_key).startswith(
        "rbsync: connection acme not stored: PowerOffice Go: PowerOffice Go refused the "
        "credentials: check POWEROFFICE_APPLICATION_KEY and connection acme's PowerOffice Go "
        "client key"
    )
    _assert_no_secret(
        cli, bad_token, bad_key, extra=("not-the-rackbeat-token", "not-the-client-key")
    )
    assert _rows(ledger) == []
    unset = _add(cli, ACME_RB_TOKEN="")
    assert one_line_error(unset) == (
        "rbsync: ACME_RB_TOKEN (named by --rackbeat-token-env) is not set or empty"
    )
    assert one_line_error(cli("connections", "add", "Acme Corp")).startswith(
        "rbsync: connection name 'Acme Corp' is not allowed"
    )
    bad_map = _add(cli, "acme", "--employee-map", '{"3": "one-o-two"}')
    assert one_line_error(bad_map) == (
        'rbsync: --employee map: expected an object of employee numbers such as {"3": 102}'
    )
    assert _rows(ledger) == []


def test_secrets_can_come_on_stdin(cli: Cli, ledger: str) -> None:
    env: dict[str, str | None] = dict.fromkeys(INFRA_VARS)
    env.update(cli.env)
    secrets = f"{cli.env['ACME_RB_TOKEN']}\n{cli.env['ACME_CLIENT_KEY']}\n"
    try:
        result = CliRunner().invoke(
            build_app(), ["connections", "add", "acme"], input=secrets, env=env
        )
    finally:
        reset_logging()
    assert result.exit_code == 0, result.stderr
    for secret in _secrets(cli):
        assert secret not in result.stdout + result.stderr
    assert [row["name"] for row in _rows(ledger)] == ["acme"]
    try:
        empty = CliRunner().invoke(build_app(), ["connections", "add", "beta"], input="", env=env)
    finally:
        reset_logging()
    assert empty.exit_code == 2
    assert empty.stderr.strip() == (
        "rbsync: no Rackbeat API token given: name the variable that holds it with "
        "--rackbeat-token-env, type it when asked, or give it on standard input"
    )


def test_the_secret_key_missing_or_wrong(
    cli: Cli, ledger: str, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    before = rackbeat_emulator.counters()["events"]
    missing = _add(cli, RBSYNC_SECRET_KEY="")
    assert one_line_error(missing) == (
        "rbsync: RBSYNC_SECRET_KEY is not set: it is needed for storing connection acme's "
        "credentials (make one with `rbsync connections generate-key`)"
    )
    assert rackbeat_emulator.counters()["events"] == before  # refused before any request
    malformed = cli("connections", "list", RBSYNC_SECRET_KEY=f"{KEY},tooshort")
    assert one_line_error(malformed).startswith(
        "rbsync: bad settings: RBSYNC_SECRET_KEY: entry 2 of RBSYNC_SECRET_KEY is not a Fernet key"
    )
    assert "tooshort" not in malformed.stderr

    assert _add(cli).exit_code == 0
    other = generate_key()
    wrong = cli("connections", "check", "acme", "--json", RBSYNC_SECRET_KEY=other)
    assert wrong.exit_code == 2
    assert [c["detail"] for c in wrong.json()] == [
        "cannot decrypt connection acme's credentials: RBSYNC_SECRET_KEY does not hold the key "
        "they were encrypted with"
    ]
    listed = _listed(cli, RBSYNC_SECRET_KEY=other)
    assert listed["acme"]["credentials"] == (
        "unreadable: RBSYNC_SECRET_KEY does not hold their key"
    )
    _assert_no_secret(cli, wrong, extra=(other,))
    assert _listed(cli, RBSYNC_SECRET_KEY="")["acme"]["credentials"] == (
        "unreadable: RBSYNC_SECRET_KEY is not set"
    )


def test_rotate_key(cli: Cli, ledger: str) -> None:
    assert _add(cli).exit_code == 0
    old_row = _rows(ledger)[0]
    new = generate_key()
    both = f"{new},{KEY}"
    # The old key second in the list still decrypts.
    assert cli("connections", "check", "acme", RBSYNC_SECRET_KEY=both).exit_code == 0
    assert _listed(cli, RBSYNC_SECRET_KEY=both)["acme"]["credentials"] == (
        "readable (not under the first key: run rotate-key)"
    )
    rotated = cli("connections", "rotate-key", "--json", RBSYNC_SECRET_KEY=both)
    assert rotated.exit_code == 0, rotated.stderr
    assert rotated.json() == {"reencrypted": 1, "already_current": 0, "keys": 2}
    _assert_no_secret(cli, rotated, extra=(new,))
    new_row = _rows(ledger)[0]
    assert new_row["rackbeat_token_encrypted"] != old_row["rackbeat_token_encrypted"]
    token = Fernet(new.encode()).decrypt(new_row["rackbeat_token_encrypted"].encode()).decode()
    assert token == cli.env["ACME_RB_TOKEN"]
    # The old key can go.
    assert cli("connections", "check", "acme", RBSYNC_SECRET_KEY=new).exit_code == 0
    assert _listed(cli, RBSYNC_SECRET_KEY=new)["acme"]["credentials"] == "readable"
    assert cli("connections", "check", "acme", RBSYNC_SECRET_KEY=KEY).exit_code == 2
    again = cli("connections", "rotate-key", RBSYNC_SECRET_KEY=new)
    assert again.stdout.strip() == (
        "0 connection(s) re-encrypted with the first key of RBSYNC_SECRET_KEY, 1 already were"
    )
    stale = cli("connections", "rotate-key", RBSYNC_SECRET_KEY=generate_key())
    assert one_line_error(stale) == (
        "rbsync: cannot decrypt connection acme's credentials: RBSYNC_SECRET_KEY does not hold "
        "the key they were encrypted with; nothing was re-encrypted"
    )


def test_generate_key(cli: Cli) -> None:
    outcome = cli("connections", "generate-key")
    assert outcome.exit_code == 0
    key = outcome.stdout.strip()
    assert len(key) == 44
    assert Fernet(key.encode()).decrypt(Fernet(key.encode()).encrypt(b"x")) == b"x"
    assert cli("connections", "generate-key").stdout.strip() != key

"""``rbsync sync --once`` through an outage, as cron would run it: real processes, the embedded
default (SQLite ledger, filesystem broker), the emulators over HTTP.

The exit code is the ledger's verdict. A run during which PowerOffice Go refuses every write
exits 1 and names the rows it left pending (never ``dead``: an outage is not the record's
fault); the next run, with PowerOffice Go back, settles every row in one go and duplicates
nothing. Refused credentials or an unreachable API at the start: one line, exit 2, no row.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger import counts_by_kind_and_status, make_engine, make_session_factory
from sandbox.testing import (
    SEEDED_CREATES,
    SEEDED_SYNC,
    PowerOfficeEmulatorHandle,
    RackbeatEmulatorHandle,
)

RBSYNC = str(Path(sys.executable).with_name("rbsync"))
WRITES_DOWN = [
    {"route": "POST /v2/*", "error_rate": 1.0, "status": 503},
    {"route": "PATCH /v2/*", "error_rate": 1.0, "status": 503},
]

pytestmark = [pytest.mark.slow]


def _env(rb: RackbeatEmulatorHandle, po: PowerOfficeEmulatorHandle, data: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "RACKBEAT_BASE_URL": rb.base_url,
        "RACKBEAT_API_TOKEN": rb.token,
        "POWEROFFICE_BASE_URL": po.base_url,
        "POWEROFFICE_TOKEN_URL": po.token_url,
        "POWEROFFICE_APPLICATION_KEY": po.application_key,
        "POWEROFFICE_CLIENT_KEY": po.client_key,
        "POWEROFFICE_SUBSCRIPTION_KEY": po.subscription_key,
        "RBSYNC_DATA_DIR": str(data),
        "RBSYNC_RACKBEAT_REQUESTS_PER_SECOND": "1000",
        "RBSYNC_POWEROFFICE_REQUESTS_PER_SECOND": "1000",
    }
    for name in ("RBSYNC_BROKER_URL", "RBSYNC_DATABASE_URL", "RBSYNC_REDIS_URL"):
        env.pop(name, None)
    return env


def _sync_once(env: dict[str, str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [RBSYNC, "sync", "--once"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done, time.monotonic() - started


def _ledger_counts(data: Path) -> dict[str, dict[str, int]]:
    engine = make_engine(f"sqlite:///{data / 'ledger.sqlite3'}")
    try:
        with make_session_factory(engine)() as session:
            return counts_by_kind_and_status(session)
    finally:
        engine.dispose()


def test_an_outage_leaves_rows_pending_and_named_then_one_run_settles_everything(
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    tmp_path: Path,
) -> None:
    rackbeat_emulator.configure(rate_limit_enabled=False)
    poweroffice_emulator.configure(rate_limit_enabled=False)
    env = _env(rackbeat_emulator, poweroffice_emulator, tmp_path / "data")
    poweroffice_emulator.set_faults(WRITES_DOWN)  # reads answer; every write gets a 503

    first, first_seconds = _sync_once(env, tmp_path)

    rules = poweroffice_emulator.admin.get("faults").json()
    assert sum(rule["injected"] for rule in rules) > 0, "the outage was not injected"
    poweroffice_emulator.clear_faults()
    assert first.returncode == 1, first.stdout + first.stderr
    lines = first.stdout.splitlines()
    after_outage = _ledger_counts(tmp_path / "data")
    left = {
        kind: sum(n for status, n in statuses.items() if status not in ("synced", "skipped"))
        for kind, statuses in after_outage.items()
    }
    total_left = sum(left.values())
    assert total_left == 69  # every entity but the supplier skipped for its missing VAT number
    assert not any("dead" in statuses or "failed" in statuses for statuses in after_outage.values())
    assert f"not settled: {total_left} row(s) in the ledger" in lines
    named = {line.split(":")[0].strip() for line in lines if re.match(r"^  \w+ \S", line)}
    assert "product 10001" in named  # the rows are named, with their reason
    assert any(line.startswith("pending ") for line in lines)
    assert poweroffice_emulator.state()["resources"]["Products"] == []

    second, second_seconds = _sync_once(env, tmp_path)

    assert second.returncode == 0, second.stdout + second.stderr
    assert _ledger_counts(tmp_path / "data") == SEEDED_SYNC
    assert "not settled" not in second.stdout
    resources = poweroffice_emulator.state()["resources"]
    assert {name: len(resources[name]) for name in SEEDED_CREATES} == SEEDED_CREATES
    codes = [p["Code"] for p in resources["Products"]]
    assert len(codes) == len(set(codes))
    for name in ("Customers", "Suppliers", "SalesOrders"):
        references = [r.get("ExternalImportReference") for r in resources[name]]
        assert len(references) == len(set(references)), f"a duplicate in {name}"
    print(f"\noutage run: {first_seconds:.1f} s (exit 1), recovery run: {second_seconds:.1f} s")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"RACKBEAT_API_TOKEN": "not-the-token-5d1e"},
            "rbsync: Rackbeat: Rackbeat refused the credentials",
        ),
        (
            {"POWEROFFICE_CLIENT_KEY": "0b7e0000-0000-4000-8000-000000000000"},
            "rbsync: PowerOffice Go: PowerOffice Go refused the credentials",
        ),
        ({"RACKBEAT_BASE_URL": "http://127.0.0.1:{port}/api/"}, "rbsync: Rackbeat: cannot connect"),
    ],
)
def test_refused_credentials_or_an_unreachable_api_at_the_start_is_one_line_exit_2(
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    tmp_path: Path,
    change: dict[str, str],
    expected: str,
) -> None:
    env = _env(rackbeat_emulator, poweroffice_emulator, tmp_path / "data")
    env.update({k: v.format(port=_closed_port()) for k, v in change.items()})
    done, _seconds = _sync_once(env, tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(expected), done.stderr
    assert done.stderr.rstrip().endswith("nothing was synced")
    for secret in change.values():
        if "token" in secret or "0000" in secret:
            assert secret not in done.stderr
    assert not (tmp_path / "data" / "ledger.sqlite3").exists() or not _ledger_counts(
        tmp_path / "data"
    )
    assert poweroffice_emulator.counters()["writes"] == {}

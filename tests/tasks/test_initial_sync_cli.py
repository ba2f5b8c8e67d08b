"""``rbsync initial-sync``: its output and exit codes, and a run killed with SIGKILL, resumed.

The command runs in this process (Typer's runner) or, for the kill, in a child process that
talks to the emulators of this test session over loopback and writes the same SQLite ledger
the resumed run reads afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from ledger import EntityLink, InitialSyncItem
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from tasks.initial import run_initial_sync
from wiring.runtime import Runtime
from wiring.settings import Settings
from worker.commands import initial_sync_cmd

KILL_AFTER_PRODUCTS = 30
"""The child is killed once Rackbeat has this many of its products."""
CHILD_RACKBEAT_RATE = 40.0
"""Requests/s the child may send Rackbeat: slow enough to be killed half-way."""
WAIT_LIMIT_SECONDS = 60.0
POLL_SECONDS = 0.02

_CHILD = """
import typer
from worker.commands import initial_sync_cmd

app = typer.Typer()
app.callback()(lambda: None)
initial_sync_cmd.register(app)
app()
"""


def _environment(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment ``rbsync`` reads, pointing at the emulators and ``settings.data_dir``."""
    secrets = {
        "RACKBEAT_API_TOKEN": settings.rackbeat_api_token,
        "POWEROFFICE_APPLICATION_KEY": settings.poweroffice_application_key,
        "POWEROFFICE_CLIENT_KEY": settings.poweroffice_client_key,
        "POWEROFFICE_SUBSCRIPTION_KEY": settings.poweroffice_subscription_key,
    }
    env = {name: value.get_secret_value() for name, value in secrets.items() if value}
    env.update(
        RACKBEAT_BASE_URL=settings.rackbeat_base_url,
        POWEROFFICE_BASE_URL=settings.poweroffice_base_url,
        POWEROFFICE_TOKEN_URL=settings.poweroffice_token_url,
        RBSYNC_DATA_DIR=str(settings.data_dir),
        RBSYNC_RACKBEAT_REQUESTS_PER_SECOND=str(settings.rackbeat_requests_per_second),
        RBSYNC_POWEROFFICE_REQUESTS_PER_SECOND=str(settings.poweroffice_requests_per_second),
    )
    env.update(extra)
    return env


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)
    initial_sync_cmd.register(app)
    return app


@pytest.fixture
def seeded(
    rackbeat_emulator: RackbeatEmulatorHandle, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    poweroffice_emulator.reset(seed=1, scale=1)
    rackbeat_emulator.reset(empty=True)


def test_the_dry_run_prints_every_record_and_the_summary(
    settings: Settings, seeded: None, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    result = CliRunner().invoke(
        _cli(),
        ["initial-sync", "--dry-run", "--kinds", "suppliers"],
        env=_environment(settings),
    )

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "would create supplier_groups Poweroffice"
    assert lines[1].startswith("would create suppliers 20001 ")
    assert lines[1].endswith(" -> Rackbeat 20001")
    assert sum(line.startswith("would create suppliers ") for line in lines) == 10
    assert "initial sync (dry run: nothing was written)" in result.stdout
    assert rackbeat_emulator.counters()["writes"] == {}


def test_the_run_prints_the_summary_and_exits_0(
    settings: Settings, seeded: None, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    result = CliRunner().invoke(
        _cli(), ["initial-sync", "-k", "customers"], env=_environment(settings)
    )

    assert result.exit_code == 0, result.output
    [row] = [line for line in result.stdout.splitlines() if "customers" in line]
    assert [cell.strip() for cell in row.split("│")[1:-1]] == [
        "customers",
        "50",
        "0",
        "0",
        "0",
        "0",
    ]
    assert rackbeat_emulator.counters()["writes"]["customers"]["created"] == 50


def test_a_failed_record_makes_the_exit_code_1(
    settings: Settings,
    seeded: None,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    with poweroffice_emulator.client() as po:
        group = po.post("ProductGroups", json={"Code": "TOOLS", "Name": "Tools"}).json()
        po.post("Products", json={"Code": "T-1", "Name": "Spade", "ProductGroupId": group["Id"]})

    result = CliRunner().invoke(
        _cli(), ["initial-sync", "--kinds", "products"], env=_environment(settings)
    )

    assert result.exit_code == 1, result.output
    assert "failed products T-1 Spade: product group TOOLS: " in result.stdout


def test_an_unknown_kind_is_one_line_and_exit_code_2(settings: Settings) -> None:
    result = CliRunner().invoke(
        _cli(), ["initial-sync", "--kinds", "orders"], env=_environment(settings)
    )

    assert result.exit_code == 2
    # One line (the prefix is the shared CLI error handler's), no traceback.
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("rbsync")
    assert result.stderr.endswith(
        ": unknown kind 'orders'; expected some of units, products, suppliers, customers\n"
    )


def _created_products(rackbeat: RackbeatEmulatorHandle) -> int:
    writes = rackbeat.counters()["writes"]
    return int(writes.get("products", {}).get("created", 0))


def test_a_run_killed_with_sigkill_resumes_and_creates_nothing_twice(
    settings: Settings,
    seeded: None,
    runtime: Runtime,
    rackbeat_emulator: RackbeatEmulatorHandle,
    tmp_path: Path,
) -> None:
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("RBSYNC_", "RACKBEAT_", "POWEROFFICE_"))
        },
        **_environment(settings, RBSYNC_RACKBEAT_REQUESTS_PER_SECOND=str(CHILD_RACKBEAT_RATE)),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, "initial-sync", "--kinds", "products"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + WAIT_LIMIT_SECONDS
        while _created_products(rackbeat_emulator) < KILL_AFTER_PRODUCTS:
            assert child.poll() is None, "the child ended before it could be killed"
            assert time.monotonic() < deadline, "the child never got half-way"
            time.sleep(POLL_SECONDS)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=WAIT_LIMIT_SECONDS) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=WAIT_LIMIT_SECONDS)
    before = _created_products(rackbeat_emulator)
    assert KILL_AFTER_PRODUCTS <= before < 100

    report = run_initial_sync(runtime, kinds=["products"])

    summary = report.summary["products"]
    assert report.ok
    assert summary.created + summary.already == 100
    assert summary.linked == 0
    assert _created_products(rackbeat_emulator) == 100
    assert rackbeat_emulator.counters()["duplicates_refused"] == 0
    with runtime.sessions() as session:
        statuses = session.scalars(
            sa.select(InitialSyncItem.status).where(InitialSyncItem.kind == "product")
        ).all()
        links = session.scalar(
            sa.select(sa.func.count()).select_from(EntityLink).where(EntityLink.kind == "product")
        )
    assert sorted(set(statuses)) == ["created"]
    assert (len(statuses), links) == (100, 100)

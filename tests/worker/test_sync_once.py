"""``rbsync sync --once`` on the embedded default: SQLite ledger, filesystem broker, a real
Celery worker in the process, the emulators over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sandbox.testing import SEEDED_SYNC, PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from wiring.settings import Settings
from worker.inprocess import run_once

RBSYNC = str(Path(sys.executable).parent / "rbsync")


def _env(rb: RackbeatEmulatorHandle, po: PowerOfficeEmulatorHandle, tmp: Path) -> dict[str, str]:
    return {
        "RACKBEAT_BASE_URL": rb.base_url,
        "RACKBEAT_API_TOKEN": rb.token,
        "POWEROFFICE_BASE_URL": po.base_url,
        "POWEROFFICE_TOKEN_URL": po.token_url,
        "POWEROFFICE_APPLICATION_KEY": po.application_key,
        "POWEROFFICE_CLIENT_KEY": po.client_key,
        "POWEROFFICE_SUBSCRIPTION_KEY": po.subscription_key,
        "RBSYNC_DATA_DIR": str(tmp),
        "RBSYNC_RACKBEAT_REQUESTS_PER_SECOND": "1000",
        "RBSYNC_POWEROFFICE_REQUESTS_PER_SECOND": "1000",
    }


def _settings(rb: RackbeatEmulatorHandle, po: PowerOfficeEmulatorHandle, tmp: Path) -> Settings:
    env = _env(rb, po, tmp)
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        rackbeat_base_url=env["RACKBEAT_BASE_URL"],
        rackbeat_api_token=env["RACKBEAT_API_TOKEN"],
        poweroffice_base_url=env["POWEROFFICE_BASE_URL"],
        poweroffice_token_url=env["POWEROFFICE_TOKEN_URL"],
        poweroffice_application_key=env["POWEROFFICE_APPLICATION_KEY"],
        poweroffice_client_key=env["POWEROFFICE_CLIENT_KEY"],
        poweroffice_subscription_key=env["POWEROFFICE_SUBSCRIPTION_KEY"],
        data_dir=tmp,
        rackbeat_requests_per_second=1000,
        poweroffice_requests_per_second=1000,
    )


def test_run_once_syncs_everything_then_an_unchanged_run_sends_nothing(
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    tmp_path: Path,
) -> None:
    rackbeat_emulator.configure(rate_limit_enabled=False)
    poweroffice_emulator.configure(rate_limit_enabled=False)
    settings = _settings(rackbeat_emulator, poweroffice_emulator, tmp_path)
    first = run_once(settings, timeout=240)
    assert (first.ok, first.errors, first.timed_out) == (True, [], False)
    assert first.counts() == SEEDED_SYNC
    assert sorted(first.polls) == ["bom", "customer", "invoice", "product", "supplier"]
    products = poweroffice_emulator.state()["resources"]["Products"]
    assert len(products) == len({p["Code"] for p in products}) == 52
    poweroffice_emulator.reset_counters()
    second = run_once(settings, timeout=240)
    assert (second.ok, second.entities, second.errors) == (True, {}, [])
    assert poweroffice_emulator.counters()["requests"] == {}


def test_cli_prints_a_summary_and_exits_1_when_something_failed(
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    tmp_path: Path,
) -> None:
    rackbeat_emulator.configure(rate_limit_enabled=False)
    poweroffice_emulator.configure(rate_limit_enabled=False)
    rackbeat_emulator.touch("customers", 10003, address_country="Atlantis")
    env = {**os.environ, **_env(rackbeat_emulator, poweroffice_emulator, tmp_path)}
    for name in ("RBSYNC_BROKER_URL", "RBSYNC_DATABASE_URL", "RBSYNC_REDIS_URL"):
        env.pop(name, None)
    done = subprocess.run(
        [RBSYNC, "sync", "--once", "--kind", "customer"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert "poll customer: seen 8, changed 8, enqueued 8" in lines
    assert "customer   failed           1" in lines
    assert "customer   synced           7" in lines
    assert "not settled: 1 row(s) in the ledger" in lines
    assert any(line.startswith("failed 1: needs a human") for line in lines)
    failure = next(line for line in lines if line.startswith("  customer 10003: "))
    assert "address_country" in failure
    assert "Atlantis" in failure
    assert poweroffice_emulator.counters()["writes"]["Customers"]["created"] == 7


def test_run_once_in_production_mode_uses_a_private_queue(
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    postgres_url: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    import redis

    from ledger import upgrade

    rackbeat_emulator.configure(rate_limit_enabled=False)
    poweroffice_emulator.configure(rate_limit_enabled=False)
    upgrade(postgres_url)
    settings = _settings(rackbeat_emulator, poweroffice_emulator, tmp_path).model_copy(
        update={"broker_url": redis_url, "redis_url": redis_url, "database_url": postgres_url}
    )
    report = run_once(settings, kinds=["customer", "supplier"], timeout=240)
    assert (report.ok, report.errors) == (True, [])
    assert report.counts() == {"customer": {"synced": 8}, "supplier": {"skipped": 1, "synced": 4}}
    # Nothing was left on (or sent to) the shared queue a production fleet consumes.
    client = redis.Redis.from_url(redis_url)
    assert client.llen("rbsync") == 0
    assert [k for k in client.keys("rbsync.once.*") if client.type(k) == b"list"] == []

"""The Procfile, run by honcho against Redis, PostgreSQL and both emulators: a sync completes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from worker.flower.testing import free_port, running_process, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
PROCFILE = ROOT / "Procfile"
BIN = Path(sys.executable).parent
SYNC_WAIT_SECONDS = 120.0
POLL_INTERVAL_SECONDS = "3"


def _procfile() -> dict[str, str]:
    processes = {}
    for line in PROCFILE.read_text(encoding="utf-8").splitlines():
        name, colon, command = line.partition(":")
        if colon and not line.startswith("#"):
            processes[name] = command.strip()
    return processes


def test_the_procfile_has_worker_poller_beat_web_flower_metrics_and_the_sandbox() -> None:
    processes = _procfile()
    assert list(processes) == ["worker", "poller", "beat", "web", "flower", "metrics", "sandbox"]
    # The poller consumes every queue but the bulk lane, so a first push's syncs never hold up
    # polls, beat's tick, webhook deliveries or another company's single change.
    assert processes["poller"].startswith("celery -A worker.app worker ")
    assert "--queues=rbsync,rbsync.poll,rbsync.webhook " in processes["poller"]
    assert "--task-events" in processes["poller"]
    assert processes["web"] == "rbsync webhooks serve --host=0.0.0.0 --port=${PORT:-8000}"
    assert processes["worker"].startswith("celery -A worker.app worker ")
    assert "--task-events" in processes["worker"]
    assert "exec celery -A worker.app beat " in processes["beat"]
    assert processes["flower"] == "rbsync flower"
    assert processes["metrics"] == "rbsync metrics serve"
    assert processes["sandbox"] == "rbsync sandbox"


def procfile_env(
    tmp_path: Path, postgres_url: str, redis_url: str, rackbeat: Any, poweroffice: Any
) -> dict[str, str]:
    """The environment of the Procfile's processes in production mode against both
    emulators (the only PATH entries: this venv's and the system's)."""
    return {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "RBSYNC_DATABASE_URL": postgres_url,
        "RBSYNC_BROKER_URL": redis_url,
        "RBSYNC_REDIS_URL": redis_url,
        "RBSYNC_DATA_DIR": str(tmp_path / "data"),
        "RBSYNC_POLL_INTERVAL_SECONDS": POLL_INTERVAL_SECONDS,
        "RBSYNC_WORKER_CONCURRENCY": "2",
        "RACKBEAT_BASE_URL": rackbeat.base_url,
        "RACKBEAT_API_TOKEN": rackbeat.token,
        "POWEROFFICE_BASE_URL": poweroffice.base_url,
        "POWEROFFICE_TOKEN_URL": poweroffice.token_url,
        "POWEROFFICE_APPLICATION_KEY": poweroffice.application_key,
        "POWEROFFICE_CLIENT_KEY": poweroffice.client_key,
        "POWEROFFICE_SUBSCRIPTION_KEY": poweroffice.subscription_key,
    }


def products_synced(rackbeat: Any, poweroffice: Any) -> bool:
    wanted = {str(product["number"]) for product in rackbeat.state()["products"]}
    have = {str(p.get("Code")) for p in poweroffice.state()["resources"]["Products"]}
    return bool(wanted) and wanted <= have


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_honcho_runs_the_procfile_and_beat_driven_polls_sync_the_products(
    tmp_path: Path,
    postgres_url: str,
    redis_url: str,
    rackbeat_emulator: Any,
    poweroffice_emulator: Any,
) -> None:
    rackbeat_emulator.reset(seed=1, scale=5)
    flower_port = free_port()
    env = procfile_env(tmp_path, postgres_url, redis_url, rackbeat_emulator, poweroffice_emulator)
    env |= {
        "RBSYNC_FLOWER_BASIC_AUTH": "ops:procfile-pw",
        "RBSYNC_FLOWER_PORT": str(flower_port),
    }
    # The release step first, as a platform would run it.
    migrate = subprocess.run(
        [str(BIN / "rbsync"), "db", "upgrade"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("", encoding="utf-8")
    honcho = [
        str(BIN / "honcho"), "--procfile", str(PROCFILE), "--app-root", str(ROOT),
        "--env", str(empty_env_file), "start", "worker", "beat", "flower",
    ]  # fmt: skip
    log_path = tmp_path / "honcho.log"
    with running_process(honcho, env=env, log_path=log_path, cwd=tmp_path) as process:
        wait_for_port(flower_port, process, timeout=60)
        deadline = time.monotonic() + SYNC_WAIT_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            if products_synced(rackbeat_emulator, poweroffice_emulator):
                break
            time.sleep(1.0)
        still_running = process.poll() is None
    log = log_path.read_text(encoding="utf-8", errors="replace")
    assert still_running, log[-3000:]
    assert products_synced(rackbeat_emulator, poweroffice_emulator), log[-3000:]
    assert [f"{name}.1 started" in log for name in ("worker", "beat", "flower")] == [True] * 3
    # The products came by the scheduled route: beat -> rbsync.dispatch -> rbsync.poll -> sync.
    assert "Scheduler: Sending due task poll (rbsync.dispatch)" in log
    secrets = [env[name] for name in env if name.endswith(("_KEY", "_TOKEN", "_BASIC_AUTH"))]
    assert [secret for secret in secrets if secret in log] == []

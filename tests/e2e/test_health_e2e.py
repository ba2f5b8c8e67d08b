"""``rbsync health`` and ``RBSYNC_LOG_FORMAT=json`` against the Procfile's real processes
(worker, beat, webhook receiver under honcho, Redis, PostgreSQL, both emulators): healthy while
they run, each check failing once they are gone, and every log line of the worker and beat a
JSON object with the entity's fields and no secret."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from test_procfile import BIN, PROCFILE, ROOT, procfile_env, products_synced

from worker.flower.testing import free_port, running_process, wait_for_port

SYNC_WAIT_SECONDS = 120.0
HONCHO_LINE = re.compile(r"^\d\d:\d\d:\d\d (?P<process>[\w.]+)\s+\| (?P<text>.*)$")
CELERY_TEXT_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d [\d:,]+: (INFO|WARNING|ERROR)/")


def _rbsync(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "rbsync"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _lines_of(log: str, process: str) -> list[str]:
    found = []
    for raw in log.splitlines():
        match = HONCHO_LINE.match(raw)
        if match and match["process"] == process and match["text"].strip():
            found.append(match["text"])
    return found


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_health_of_the_procfile_processes_and_their_json_logs(
    tmp_path: Path,
    postgres_url: str,
    redis_url: str,
    rackbeat_emulator: Any,
    poweroffice_emulator: Any,
) -> None:
    rackbeat_emulator.reset(seed=1, scale=5)
    web_port = free_port()
    env = procfile_env(tmp_path, postgres_url, redis_url, rackbeat_emulator, poweroffice_emulator)
    env |= {
        "PORT": str(web_port),
        "RBSYNC_SWEEP_INTERVAL_SECONDS": "2",
        "RBSYNC_LOG_FORMAT": "json",
    }
    assert _rbsync(env, tmp_path, "db", "upgrade").returncode == 0
    # Before anything runs: no worker answers, beat never ticked, no receiver listens.
    down = _rbsync(env, tmp_path, "health", "worker", "beat", "receiver", "--timeout", "1")
    assert down.returncode == 1, down.stdout + down.stderr
    assert "worker: FAILED" in down.stdout
    assert "beat: FAILED (beat never ticked" in down.stdout
    assert "receiver: FAILED" in down.stdout

    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("", encoding="utf-8")
    honcho = [
        str(BIN / "honcho"),
        "--procfile",
        str(PROCFILE),
        "--app-root",
        str(ROOT),
        "--env",
        str(empty_env_file),
        "start",
        "web",
        "worker",
        "poller",
        "beat",
    ]  # fmt: skip  (honcho gives PORT to the first, +100 to each next)
    log_path = tmp_path / "honcho.log"
    url = f"http://127.0.0.1:{web_port}/healthz"
    with running_process(honcho, env=env, log_path=log_path, cwd=tmp_path) as process:
        wait_for_port(web_port, process, timeout=60)
        deadline = time.monotonic() + SYNC_WAIT_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            if products_synced(rackbeat_emulator, poweroffice_emulator):
                break
            time.sleep(1.0)
        synced = products_synced(rackbeat_emulator, poweroffice_emulator)
        up = _rbsync(env, tmp_path, "health", "worker", "beat", "receiver", "--url", url, "--json")
        # The poller (compose's healthcheck): asked by name for its three queues, and refused
        # when asked for every queue (it never takes the bulk lane).
        poller_args = ("health", "worker", "--node=poller@%h", "--json")
        three = "--queues=rbsync,rbsync.poll,rbsync.webhook"
        poller_up = _rbsync(env, tmp_path, *poller_args, three)
        poller_all = _rbsync(env, tmp_path, *poller_args)
        still_running = process.poll() is None
    log = log_path.read_text(encoding="utf-8", errors="replace")
    assert still_running, log[-3000:]
    assert synced, log[-3000:]
    assert up.returncode == 0, up.stdout + up.stderr
    verdicts = {check["name"]: check for check in json.loads(up.stdout)}
    assert all(check["ok"] for check in verdicts.values()), verdicts
    assert verdicts["worker"]["detail"].endswith(
        "consumes rbsync, rbsync.bulk, rbsync.poll, rbsync.webhook"
    )
    assert verdicts["receiver"]["detail"] == f"{url} answered 200"
    assert poller_up.returncode == 0, poller_up.stdout + poller_up.stderr
    [poller] = json.loads(poller_up.stdout)
    assert poller["detail"].startswith("poller@")
    assert poller["detail"].endswith("consumes rbsync, rbsync.poll, rbsync.webhook")
    assert poller_all.returncode == 1, poller_all.stdout + poller_all.stderr
    [refused] = json.loads(poller_all.stdout)
    assert refused["detail"].endswith("does not consume rbsync.bulk"), refused

    # The processes are gone: each check fails, within its timeout.
    time.sleep(1.5)
    gone = _rbsync(
        env, tmp_path, "health", "worker", "beat", "receiver",
        "--url", url, "--timeout", "1", "--max-age", "1",
    )  # fmt: skip
    assert gone.returncode == 1, gone.stdout + gone.stderr
    assert "worker: FAILED (celery@" in gone.stdout
    assert "beat: FAILED (last tick" in gone.stdout
    assert "receiver: FAILED" in gone.stdout

    # JSON logs: Celery's worker and beat logged through rbsync's handler, one object a line.
    # Syncs run on the worker or the poller (it takes the express lane too): both log them.
    worker_lines = _lines_of(log, "worker.1") + _lines_of(log, "poller.1")
    beat_lines = _lines_of(log, "beat.1")
    assert not [line for line in worker_lines + beat_lines if CELERY_TEXT_LINE.match(line)]
    objects = [json.loads(line) for line in worker_lines + beat_lines if line.startswith("{")]
    assert any("Sending due task poll (rbsync.dispatch)" in o["message"] for o in objects)
    created = [o for o in objects if o.get("outcome") == "created" and o.get("kind") == "product"]
    assert created, worker_lines[-20:]
    first = created[0]
    assert {"ts", "level", "logger", "message", "key", "attempt", "status", "task_id"} <= set(first)
    assert first["attempt"] >= 1
    assert first["status"] == "synced"
    assert first["message"] == f"product {first['key']}: created"
    secrets = [env[name] for name in env if name.endswith(("_KEY", "_TOKEN"))]
    assert [secret for secret in secrets if secret in log] == []

"""``rbsync sandbox`` as an operator runs it: a real process serving both emulators."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from queue import Empty, Queue

import httpx
import pytest

RBSYNC = Path(sys.executable).with_name("rbsync")
START_TIMEOUT_SECONDS = 60.0


def _lines(process: subprocess.Popen[str]) -> Queue[str]:
    queue: Queue[str] = Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            queue.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return queue


@contextmanager
def _sandbox(*flags: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    """``rbsync sandbox`` on free ports with ``flags``; its process and printed environment."""
    process = subprocess.Popen(
        [str(RBSYNC), "sandbox", "--rackbeat-port", "0", "--poweroffice-port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines = _lines(process)
    env: dict[str, str] = {}
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                line = lines.get(timeout=0.5)
            except Empty:
                if process.poll() is not None:
                    assert process.stderr is not None
                    pytest.fail(f"rbsync sandbox exited: {process.stderr.read()}")
                if time.monotonic() > deadline:
                    pytest.fail("rbsync sandbox printed nothing in time")
                continue
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                env[name] = value
            if line.startswith("# Ctrl-C"):
                break
        yield process, env
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def sandbox_process() -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    with _sandbox(
        "--scale", "1", "--no-rate-limits",
        "--poweroffice-fault", '{"route": "GET /v2/PaymentTerms", "burst_429": 1}',
    ) as running:  # fmt: skip
        yield running


def test_rbsync_sandbox_serves_both_emulators_and_prints_the_environment(
    sandbox_process: tuple[subprocess.Popen[str], dict[str, str]],
) -> None:
    process, env = sandbox_process
    assert set(env) == {
        "RACKBEAT_BASE_URL",
        "RACKBEAT_API_TOKEN",
        "POWEROFFICE_BASE_URL",
        "POWEROFFICE_TOKEN_URL",
        "POWEROFFICE_APPLICATION_KEY",
        "POWEROFFICE_CLIENT_KEY",
        "POWEROFFICE_SUBSCRIPTION_KEY",
    }
    key = {"Ocp-Apim-Subscription-Key": env["POWEROFFICE_SUBSCRIPTION_KEY"]}
    token = httpx.post(
        env["POWEROFFICE_TOKEN_URL"],
        data={"grant_type": "client_credentials"},
        auth=(env["POWEROFFICE_APPLICATION_KEY"], env["POWEROFFICE_CLIENT_KEY"]),
        headers=key,
        timeout=10,
    ).json()["access_token"]
    headers = {**key, "Authorization": f"Bearer {token}"}
    terms_url = f"{env['POWEROFFICE_BASE_URL']}/PaymentTerms"
    assert httpx.get(terms_url, headers=headers, timeout=10).status_code == 429
    assert httpx.get(terms_url, headers=headers, timeout=10).status_code == 200
    products = httpx.get(
        f"{env['RACKBEAT_BASE_URL']}products",
        headers={"Authorization": f"Bearer {env['RACKBEAT_API_TOKEN']}"},
        timeout=10,
    )
    assert products.status_code == 206  # Rackbeat answers lists with 206 Partial Content
    assert products.json()["products"]
    assert process.poll() is None


def test_rbsync_sandbox_refuses_a_bad_fault_rule() -> None:
    result = subprocess.run(
        [str(RBSYNC), "sandbox", "--poweroffice-fault", '{"eror_rate": 1}'],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--poweroffice-fault" in result.stderr
    assert "not a fault rule" in result.stderr


INFRA_VARS = ("RBSYNC_DATABASE_URL", "RBSYNC_BROKER_URL", "RBSYNC_REDIS_URL", "RBSYNC_DATA_DIR")


def _rbsync(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RBSYNC), *args],
        env={**{k: v for k, v in os.environ.items() if k not in INFRA_VARS}, **env},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.slow
def test_with_bad_records_the_sandbox_serves_the_demos_bad_records(tmp_path: Path) -> None:
    """The operator's way to try `rbsync failures`: the demo's bad records, over HTTP."""
    from sandbox.rackbeat.data import generate

    bad = {
        str(c["number"]): c["address_country"]
        for c in generate(seed=1, scale=1, include_bad=True).customers
        if c["company_name"].startswith("Feil Land")
    }
    assert sorted(bad.values()) == ["Atlantis", "XX"]
    with _sandbox("--scale", "1", "--no-rate-limits", "--with-bad-records") as (_, printed):
        env = {**printed, "RBSYNC_DATA_DIR": str(tmp_path / "data")}
        synced = _rbsync(env, "sync", "--once")
        assert synced.returncode == 1, synced.stdout + synced.stderr  # some did not sync
        listed = _rbsync(env, "failures", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["key"]: row for row in json.loads(listed.stdout)}
    assert set(rows) == set(bad)
    for key, country in bad.items():
        assert (rows[key]["kind"], rows[key]["status"]) == ("customer", "failed")
        assert f"'{country}'" in rows[key]["reason"]


def test_without_the_flag_the_sandbox_has_no_bad_records(
    sandbox_process: tuple[subprocess.Popen[str], dict[str, str]],
) -> None:
    _process, env = sandbox_process
    customers = httpx.get(
        f"{env['RACKBEAT_BASE_URL']}customers",
        params={"limit": 100},
        headers={"Authorization": f"Bearer {env['RACKBEAT_API_TOKEN']}"},
        timeout=10,
    ).json()["customers"]
    assert customers
    assert not [c for c in customers if c["company_name"].startswith("Feil Land")]

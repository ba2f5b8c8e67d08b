"""``rbsync sandbox`` as an operator runs it: a real process serving both emulators."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
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


@pytest.fixture
def sandbox_process() -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    process = subprocess.Popen(
        [
            str(RBSYNC), "sandbox", "--rackbeat-port", "0", "--poweroffice-port", "0",
            "--scale", "1", "--no-rate-limits",
            "--poweroffice-fault", '{"route": "GET /v2/PaymentTerms", "burst_429": 1}',
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    lines = _lines(process)
    env: dict[str, str] = {}
    try:
        while True:
            try:
                line = lines.get(timeout=START_TIMEOUT_SECONDS)
            except Empty:
                pytest.fail("rbsync sandbox printed nothing in time")
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

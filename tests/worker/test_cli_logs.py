"""No secret in any output: real ``rbsync`` processes at ``--log-level debug``, grepped."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_helpers import Cli, emulator_env

from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle

UNMASKED_BEARER = re.compile(r"Bearer (?!\*{10})\S+")


@pytest.mark.slow
def test_debug_logs_of_real_processes_hold_no_secret(
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    tmp_path: Path,
) -> None:
    rackbeat_emulator.configure(rate_limit_enabled=False)
    poweroffice_emulator.configure(rate_limit_enabled=False)
    env = emulator_env(rackbeat_emulator, poweroffice_emulator, tmp_path / "data")
    cli = Cli(env, tmp_path)
    outputs = []
    synced = cli.run_process("--log-level", "debug", "sync", "--once")
    assert synced.exit_code == 0, synced.stderr[-2000:]
    assert "HTTP Request: POST" in synced.stderr  # debug logging really was on
    outputs.append(synced)
    outputs.append(cli.run_process("--log-level", "debug", "enqueue", "customer", "10001", "--now"))
    outputs.append(cli.run_process("--log-level", "debug", "check"))
    # Refused credentials make both APIs answer with error bodies, which end up in messages.
    refused = cli.run_process(
        "--log-level", "debug", "check", POWEROFFICE_CLIENT_KEY="wrong-client-key-123"
    )
    assert refused.exit_code == 2
    outputs.append(refused)
    tokens = list(poweroffice_emulator.backend._tokens)  # every access token it issued
    assert tokens, "the processes fetched no access token"
    secrets = [
        rackbeat_emulator.token,
        poweroffice_emulator.application_key,
        poweroffice_emulator.client_key,
        poweroffice_emulator.subscription_key,
        "wrong-client-key-123",
        *tokens,
    ]
    for outcome in outputs:
        text = outcome.stdout + outcome.stderr
        for secret in secrets:
            assert secret not in text
        assert not UNMASKED_BEARER.search(text)


@pytest.mark.slow
def test_json_logs_of_a_real_sync_are_one_object_a_line_with_no_secret(
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    tmp_path: Path,
) -> None:
    rackbeat_emulator.configure(rate_limit_enabled=False)
    poweroffice_emulator.configure(rate_limit_enabled=False)
    env = emulator_env(rackbeat_emulator, poweroffice_emulator, tmp_path / "data")
    cli = Cli(env, tmp_path)
    synced = cli.run_process("--log-level", "debug", "sync", "--once", RBSYNC_LOG_FORMAT="json")
    assert synced.exit_code == 0, synced.stderr[-2000:]
    lines = [json.loads(line) for line in synced.stderr.splitlines() if line.strip()]
    assert any(line["message"].startswith("HTTP Request: POST") for line in lines)
    outcomes = [line for line in lines if line["logger"] == "tasks.outcome"]
    assert {line["kind"] for line in outcomes} >= {"product", "customer", "supplier"}
    created = next(line for line in outcomes if line["outcome"] == "created")
    assert created["message"] == f"{created['kind']} {created['key']}: created"
    assert created["attempt"] >= 1
    assert created["status"] == "synced"
    assert created["remote_id"]
    tokens = list(poweroffice_emulator.backend._tokens)
    secrets = [
        rackbeat_emulator.token,
        poweroffice_emulator.application_key,
        poweroffice_emulator.client_key,
        poweroffice_emulator.subscription_key,
        *tokens,
    ]
    assert [secret for secret in secrets if secret in synced.stderr] == []
    assert not UNMASKED_BEARER.search(synced.stderr)

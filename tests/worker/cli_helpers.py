"""Helpers of the CLI tests: the environment that points rbsync at the emulators, runners."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from worker.cli import build_app
from worker.logs import reset_logging

RBSYNC = str(Path(sys.executable).with_name("rbsync"))
SUBPROCESS_TIMEOUT_SECONDS = 240

INFRA_VARS = (
    "RBSYNC_DATABASE_URL",
    "RBSYNC_BROKER_URL",
    "RBSYNC_REDIS_URL",
    "RBSYNC_DATA_DIR",
    "RBSYNC_LOG_LEVEL",
)


def emulator_env(
    rackbeat: RackbeatEmulatorHandle, poweroffice: PowerOfficeEmulatorHandle, data_dir: Path
) -> dict[str, str]:
    """Every URL and credential pointing at the two emulators; embedded mode in ``data_dir``."""
    return {
        "RACKBEAT_BASE_URL": rackbeat.base_url,
        "RACKBEAT_API_TOKEN": rackbeat.token,
        "POWEROFFICE_BASE_URL": poweroffice.demo_base_url,
        "POWEROFFICE_TOKEN_URL": poweroffice.demo_token_url,
        "POWEROFFICE_APPLICATION_KEY": poweroffice.application_key,
        "POWEROFFICE_CLIENT_KEY": poweroffice.client_key,
        "POWEROFFICE_SUBSCRIPTION_KEY": poweroffice.subscription_key,
        "RBSYNC_DATA_DIR": str(data_dir),
        "RBSYNC_RACKBEAT_REQUESTS_PER_SECOND": "1000",
        "RBSYNC_POWEROFFICE_REQUESTS_PER_SECOND": "1000",
    }


@dataclass
class Outcome:
    """What one CLI invocation did."""

    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


class Cli:
    """Runs ``rbsync`` in this process (fast) or as a real process (``run_process``)."""

    def __init__(self, env: Mapping[str, str], cwd: Path) -> None:
        self.env = dict(env)
        self.cwd = cwd
        self._runner = CliRunner()

    def __call__(self, *args: str, **extra_env: str) -> Outcome:
        env: dict[str, str | None] = dict.fromkeys(INFRA_VARS)
        env.update(self.env)
        env.update(extra_env)
        try:
            result = self._runner.invoke(build_app(), list(args), env=env, catch_exceptions=False)
        finally:
            reset_logging()
        return Outcome(result.exit_code, result.stdout, result.stderr)

    def run_process(
        self, *args: str, timeout: float = SUBPROCESS_TIMEOUT_SECONDS, **extra_env: str
    ) -> Outcome:
        env = {k: v for k, v in os.environ.items() if k not in INFRA_VARS}
        env.update(self.env)
        env.update(extra_env)
        done = subprocess.run(
            [RBSYNC, *args],
            cwd=self.cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Outcome(done.returncode, done.stdout, done.stderr)


def settings_of(cli: Cli) -> Any:
    """The Settings of ``cli``'s environment (embedded mode), to read its ledger in a test."""
    from wiring.settings import load_settings

    values = {
        "rackbeat_base_url": cli.env["RACKBEAT_BASE_URL"],
        "rackbeat_api_token": cli.env["RACKBEAT_API_TOKEN"],
        "poweroffice_base_url": cli.env["POWEROFFICE_BASE_URL"],
        "poweroffice_token_url": cli.env["POWEROFFICE_TOKEN_URL"],
        "poweroffice_application_key": cli.env["POWEROFFICE_APPLICATION_KEY"],
        "poweroffice_client_key": cli.env["POWEROFFICE_CLIENT_KEY"],
        "poweroffice_subscription_key": cli.env["POWEROFFICE_SUBSCRIPTION_KEY"],
        "data_dir": Path(cli.env["RBSYNC_DATA_DIR"]),
        "database_url": None,
        "broker_url": None,
        "redis_url": None,
    }
    return load_settings(_env_file=None, **values)


def one_line_error(outcome: Outcome) -> str:
    """The single stderr line of a failed command (asserts there is exactly one, no traceback)."""
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert "Traceback" not in outcome.stderr, outcome.stderr
    assert len(lines) == 1, outcome.stderr
    return lines[0]


def kinds_in(rows: Sequence[Mapping[str, Any]]) -> set[tuple[str, str]]:
    return {(str(r["kind"]), str(r["key"])) for r in rows}

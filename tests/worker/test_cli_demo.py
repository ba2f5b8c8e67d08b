"""``rbsync demo`` as a real process: exit 0, what landed, what not, and the second poll."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import Cli

HINT_HEADING = "Look around the demo's ledger:"


def hint_commands(output: str) -> list[str]:
    """The shell commands the demo's closing hint prints (indented lines under its heading)."""
    tail = output.split(HINT_HEADING, 1)[1].splitlines()[1:]
    commands = []
    for line in tail:
        if not line.startswith("  "):
            break
        commands.append(line.strip())
    return commands


def user_path() -> str:
    """PATH without the venv: the user's, as ``./scripts/demo`` (which never activates the venv)
    leaves it."""
    venv_bin = str(Path(sys.executable).parent)
    parts = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin]
    return os.pathsep.join(parts) or os.defpath


def run_as_printed(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``command`` through a shell, as the user would paste it after the demo."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RBSYNC_")}
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = user_path()
    return subprocess.run(
        ["/bin/sh", "-c", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_demo_syncs_shows_and_sends_only_the_changes(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    cli = Cli({}, tmp_path)
    # A look at the demo's ledger before any demo ran leaves rbsync's own files there; the demo
    # takes such a directory over.
    assert cli("status", RBSYNC_DATA_DIR=str(data)).exit_code == 0
    assert sorted(p.name for p in data.iterdir()) == ["ledger.sqlite3"]
    outcome = cli.run_process(
        "demo",
        "--scale",
        "20",
        "--no-rate-limits",
        "--data-dir",
        str(data),
        timeout=180,
        PATH=user_path(),
    )
    assert outcome.exit_code == 0, outcome.stdout[-3000:] + outcome.stderr[-3000:]
    out = outcome.stdout
    assert "Products: 22 in PowerOffice Go (first 3)" in out  # 20 products + 2 BOMs
    assert "│ supplier │ 20002 │ skipped │ no VAT number" in out
    assert "'Atlantis' is neither an ISO 3166-1 code nor a known country name" in out
    assert "set by hand (PowerOffice Go v2 has no field): payment days" in out
    second = out.split("PowerOffice Go requests of the second poll", 1)[1].split("Timing")[0]
    requests = dict(re.findall(r"│ (\S+ \S+)\s+│\s+(\d+) │", second))
    assert requests == {
        "PATCH /v2/Customers/{id}": "1",
        "PATCH /v2/Products/{id}": "2",
        "POST /OAuth/Token": "1",
    }
    assert "Only the changed records were sent: 3 PATCH, 0 creates. Demo complete." in out
    assert "Traceback" not in outcome.stderr
    # The ledger stays for a look afterwards; a second run wipes and starts over.
    assert (data / "ledger.sqlite3").exists()
    status = cli.run_process("status", "--json", RBSYNC_DATA_DIR=str(data))
    assert status.json()["kinds"]["product"]["counts"]["synced"] == 20
    # The closing hint works as printed: from where the demo ran and from anywhere else, with
    # a PATH that does not hold the venv.
    commands = hint_commands(out)
    assert len(commands) == 2, out[-1500:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for cwd in (tmp_path, elsewhere):
        status_run, failures_run = (run_as_printed(command, cwd) for command in commands)
        # The demo's bad records (on purpose) are failed rows: status says they need a look.
        assert status_run.returncode == 1, status_run.stderr
        assert "synced" in status_run.stdout
        assert status_run.stdout.splitlines()[-1] == (
            "Needs attention (exit code 1): 2 failed or dead rows (`rbsync failures`)."
        )
        assert failures_run.returncode == 0, failures_run.stderr
        assert "no VAT number" in failures_run.stdout


def test_demo_refuses_a_data_dir_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    outcome = Cli({}, tmp_path)("demo", "--data-dir", str(tmp_path))
    assert outcome.exit_code == 2
    assert outcome.stderr.strip() == (
        f"rbsync: --data-dir {tmp_path} is not empty and was not made by the demo; pick another"
    )
    assert (tmp_path / "mine.txt").read_text() == "keep me"

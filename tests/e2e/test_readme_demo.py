"""The README's first command on a fresh machine: a clean clone, a fresh venv, ``./scripts/demo``.

The command is read from the README itself (the first line of its first code block), so the
README cannot drift from what is tested. The clone is of the committed HEAD; the virtual
environment is created from scratch by the script (pip installs from the package index, which
takes a few minutes). Only Python 3.11+ is assumed: no PostgreSQL, no Redis, no credentials.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SETUP_TIMEOUT_SECONDS = 1500
INFRA_VARS = ("RBSYNC_DATABASE_URL", "RBSYNC_BROKER_URL", "RBSYNC_REDIS_URL", "RBSYNC_DATA_DIR")


def readme_commands() -> list[str]:
    """The commands of the README's first code block, in order (comments stripped)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```(?:bash|sh)?\n(.*?)```", text, flags=re.S)
    assert match is not None, "the README has no code block"
    lines = [line.split("#", 1)[0].strip() for line in match.group(1).splitlines()]
    return [line for line in lines if line]


def test_the_readme_starts_with_the_demo_and_the_test_suite() -> None:
    assert readme_commands() == ["./scripts/demo", "./scripts/test"]


@pytest.mark.slow
@pytest.mark.timeout(SETUP_TIMEOUT_SECONDS + 60)
def test_the_first_command_works_from_a_clean_clone(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.fail("git is needed to clone the repository")
    clone = tmp_path / "rbsync"
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(clone)],
        check=True,
        timeout=120,
    )
    assert not (clone / ".venv").exists()
    command = readme_commands()[0]
    env = {k: v for k, v in os.environ.items() if k not in INFRA_VARS}
    env.pop("VIRTUAL_ENV", None)
    # The repository's own venv must not leak into the fresh one.
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(REPO))
    )
    done = subprocess.run(
        shlex.split(command),
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=SETUP_TIMEOUT_SECONDS,
        check=False,
    )
    output = done.stdout
    print(output[-4000:])  # the timing lines, for whoever reads the test log
    assert done.returncode == 0, output[-4000:] + done.stderr[-4000:]
    assert (clone / ".venv" / "bin" / "rbsync").exists()
    assert "Traceback" not in done.stderr
    for expected in (
        "1. First sync: poll every kind, sync the records in batches",
        "What landed in PowerOffice Go",
        "Products: 52 in PowerOffice Go (first 3)",
        "Skipped or refused, and why",
        "Needs a human",
        "2. A user changes a few records in Rackbeat; the next poll sends only those",
        "Records updated: customer 10001, product 10001, product 10002",
        "Only the changed records were sent: 3 PATCH, 0 creates. Demo complete.",
    ):
        assert expected in output, expected
    assert re.search(r"total\s+\d+\.\d s", output)
    assert (clone / "var" / "demo" / "ledger.sqlite3").exists()
    # The closing hint works as printed, in the same shell (the venv is not on its PATH).
    hint = output.split("Look around the demo's ledger:", 1)[1].splitlines()[1:3]
    for line in hint:
        assert line.startswith("  RBSYNC_DATA_DIR="), hint
        looked = subprocess.run(
            ["/bin/sh", "-c", line.strip()],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if " status" in line:
            # The demo's bad records (on purpose) are failed rows: status says they need a
            # look, and exits 1 for them.
            assert looked.returncode == 1, line + looked.stderr
            assert looked.stdout.splitlines()[-1].startswith("Needs attention (exit code 1): ")
        else:
            assert looked.returncode == 0, line + looked.stderr
        assert "synced" in looked.stdout or "no VAT number" in looked.stdout, looked.stdout


def test_the_readme_documents_every_setting() -> None:
    from wiring.settings import Settings

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        alias = getattr(field.validation_alias, "choices", [None])[0]
        env = alias if isinstance(alias, str) else f"RBSYNC_{name.upper()}"
        assert f"`{env}`" in readme, env

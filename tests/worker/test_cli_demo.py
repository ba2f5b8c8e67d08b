"""``rbsync demo`` as a real process: exit 0, what landed, what not, and the second poll."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cli_helpers import Cli


@pytest.mark.slow
def test_demo_syncs_shows_and_sends_only_the_changes(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    cli = Cli({}, tmp_path)
    # A look at the demo's ledger before any demo ran leaves rbsync's own files there; the demo
    # takes such a directory over.
    assert cli("status", RBSYNC_DATA_DIR=str(data)).exit_code == 0
    assert sorted(p.name for p in data.iterdir()) == ["ledger.sqlite3"]
    outcome = cli.run_process(
        "demo", "--scale", "20", "--no-rate-limits", "--data-dir", str(data), timeout=180
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


def test_demo_refuses_a_data_dir_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    outcome = Cli({}, tmp_path)("demo", "--data-dir", str(tmp_path))
    assert outcome.exit_code == 2
    assert outcome.stderr.strip() == (
        f"rbsync: --data-dir {tmp_path} is not empty and was not made by the demo; pick another"
    )
    assert (tmp_path / "mine.txt").read_text() == "keep me"

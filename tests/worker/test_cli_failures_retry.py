"""``failures`` and ``retry`` tell the operator what each status needs: ``retry`` only for the
failed, dead and unknown rows it re-drives, what would change a skipped one, and why a retry
took nothing (against the emulators over HTTP, embedded ledger)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import Cli, emulator_env

from clients import set_testing
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle

NOT_TAKEN = "retry re-drives only failed, dead and unknown rows"


@pytest.fixture(autouse=True)
def _no_client_waits() -> Iterator[None]:
    set_testing(True)
    try:
        yield
    finally:
        set_testing(False)


@pytest.fixture
def synced(
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    tmp_path: Path,
) -> Cli:
    """The default dataset synced once: supplier 20002 (no VAT number) skipped, the rest synced."""
    rackbeat_emulator.configure(rate_limit_enabled=False)
    poweroffice_emulator.configure(rate_limit_enabled=False)
    cli = Cli(emulator_env(rackbeat_emulator, poweroffice_emulator, tmp_path / "data"), tmp_path)
    assert cli("sync", "--once").exit_code == 0
    return cli


def test_skipped_rows_say_what_would_change_them_and_do_not_suggest_retry(synced: Cli) -> None:
    table = synced("failures", "--status", "skipped")
    assert table.exit_code == 0
    assert "supplier │ 20002 │ skipped" in table.stdout
    assert "no VAT number" in table.stdout
    assert "set its VAT number in Rackbeat" in table.stdout
    assert "Re-drive" not in table.stdout
    assert "`rbsync retry` does not take skipped rows" in table.stdout
    [row] = synced("failures", "--status", "skipped", "--json").json()
    assert (row["kind"], row["key"], row["reason"]) == ("supplier", "20002", "no VAT number")
    assert row["next_step"] == (
        "set its VAT number in Rackbeat: the next poll sees the change and syncs it"
    )


def test_failed_rows_still_suggest_retry(
    synced: Cli, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    rackbeat_emulator.touch("customers", 10001, address_country="Atlantis")
    assert synced("sync", "--once").exit_code == 1
    table = synced("failures", "--status", "failed", "--status", "skipped")
    assert "customer │ 10001 │ failed" in table.stdout
    assert "supplier │ 20002 │ skipped" in table.stdout
    assert "Re-drive the failed, dead and unknown rows with `rbsync retry`" in table.stdout
    [failed] = synced("failures", "--json").json()
    assert failed["next_step"] == (
        "fix the record in Rackbeat or what the reason names elsewhere (a setting, "
        "PowerOffice Go), then `rbsync retry customer 10001`"
    )


def test_a_retry_that_takes_nothing_says_why(synced: Cli) -> None:
    one = synced("retry", "supplier", "20002")
    assert one.exit_code == 0
    assert one.stdout.strip() == (
        f"nothing to retry: supplier 20002 is skipped (no VAT number); {NOT_TAKEN}. "
        "To sync it: set its VAT number in Rackbeat: the next poll sees the change and syncs it"
    )
    kind = synced("retry", "supplier")
    assert kind.exit_code == 0
    assert kind.stdout.strip() == (
        "nothing to retry: no failed, dead or unknown row of supplier (its 5 rows: 1 skipped, "
        f"4 synced); {NOT_TAKEN}. `rbsync failures --status skipped --kind supplier` says what "
        "would change the skipped ones"
    )
    every = synced("retry", "--all", "--dry-run")
    assert every.exit_code == 0
    assert "0 row(s) would be retried: no failed, dead or unknown row of any kind" in every.stdout
    assert NOT_TAKEN in every.stdout
    missing = synced("retry", "supplier", "99999")
    assert missing.exit_code == 0
    assert missing.stdout.strip() == (
        "nothing to retry: supplier 99999 is not in the ledger (no poll has seen it); "
        "`rbsync enqueue supplier 99999` fetches and syncs it"
    )
    as_json = synced("retry", "supplier", "--json").json()
    assert as_json["requeued"] == []
    assert as_json["statuses"] == {"skipped": 1, "synced": 4}
    assert NOT_TAKEN in as_json["why"]

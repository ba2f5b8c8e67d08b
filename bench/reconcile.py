"""Reconciliation benchmark: ``rbsync reconcile --kind product`` over N products (100,000).

Prints (never asserts) the requests it made to each API and its time; the targets for 100,000
products are <= 10 PowerOffice Go requests and <= 110 Rackbeat requests.

Both emulators run in a child process (rate limits off). The PowerOffice Go emulator is seeded
straight into its state with one product per Rackbeat product (``Code``, ``Name``), and the
ledger (embedded SQLite in a temporary directory) with a ``synced`` row per product whose
``written`` is exactly that, so the run compares every record and finds no difference -- or,
with ``--differences N``, N of each: products deleted, edited and duplicated in PowerOffice Go,
and Rackbeat changes behind the cursor. Seeding is not measured; the counters are reset first.

    .venv/bin/python bench/reconcile.py [--products 100000] [--differences 0]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

START_TIMEOUT_SECONDS = 600


def _serve(products: int, differences: int, queue: Any, stop: Any) -> None:
    """Child: both emulators, PowerOffice Go seeded with Rackbeat's products; report to parent."""
    from sandbox.poweroffice import PowerOfficeConfig
    from sandbox.poweroffice import create_app as poweroffice_app
    from sandbox.rackbeat import RackbeatConfig
    from sandbox.rackbeat import create_app as rackbeat_app
    from sandbox.server import serve_in_thread

    rackbeat = rackbeat_app(RackbeatConfig(seed=1, scale=products, rate_limit_enabled=False))
    poweroffice = poweroffice_app(PowerOfficeConfig(rate_limit_enabled=False))
    emulator, backend = rackbeat.state.emulator, poweroffice.state.sandbox
    backend.reset(seed=None, scale=None, empty=True)
    rows: list[tuple[str, int, str, int]] = []
    with emulator.state._lock:
        items = [(r["number"], r) for r in emulator.state.collections["products"].values()]
    with backend.lock:
        for number, record in items:
            created = backend.state.create(
                "Products", {"Code": number, "Name": record["name"]}, by_integration=False
            )
            rows.append((str(number), int(created["Id"]), record["name"], record["updated_at"]))
        # The differences: deleted, edited by hand, a second record with one Code.
        for _, ident, _, _ in rows[:differences]:
            backend.state.delete("Products", ident)
        for _, ident, _, _ in rows[differences : 2 * differences]:
            backend.state.patch(
                "Products", ident, [{"op": "replace", "path": "/Name", "value": "by hand"}]
            )
        for _, ident, _, _ in rows[2 * differences : 3 * differences]:
            backend.state.duplicate("Products", ident)
        token, _ = backend.issue_token()
    servers = [serve_in_thread(rackbeat), serve_in_thread(poweroffice)]
    queue.put(
        {
            "rackbeat": f"{servers[0].url}/api/",
            "rackbeat_token": emulator.knobs.token,
            "rackbeat_admin": f"{servers[0].url}/_sandbox/",
            "poweroffice": f"{servers[1].url}/v2",
            "poweroffice_token_url": f"{servers[1].url}/OAuth/Token",
            "poweroffice_admin": f"{servers[1].url}/_sandbox/",
            "keys": {
                "application_key": backend.config.application_key,
                "client_key": backend.config.client_key,
                "subscription_key": backend.config.subscription_key,
            },
            "rows": rows,
        }
    )
    del token
    stop.wait(3600)
    for server in servers:
        server.stop()


def _seed_ledger(settings: Any, rows: list[tuple[str, int, str, int]], differences: int) -> None:
    from ledger import EntityLink, set_cursor, upgrade

    upgrade(settings.ledger_url)
    engine = sa.create_engine(settings.ledger_url)
    now = datetime.now(UTC)
    table: sa.Table = EntityLink.__table__  # type: ignore[assignment]
    batch: list[dict[str, Any]] = []
    behind = set(range(3 * differences, 4 * differences))
    with engine.begin() as conn:
        for n, (code, ident, name, updated) in enumerate(rows):
            stamp = datetime.fromtimestamp(updated, UTC)
            if n in behind:
                stamp -= timedelta(days=1)  # Rackbeat has a newer version: a missed change
            batch.append(
                {
                    "kind": "product",
                    "key": code,
                    "status": "synced",
                    "remote_id": str(ident),
                    "source_updated_at": stamp,
                    "written": {"Code": code, "Name": name},
                    "fingerprint": "bench",
                    "snapshot_version": 1,
                    "claimed_version": 1,
                    "snapshot_warnings": [],
                    "warnings": [],
                    "details": {},
                    "attempts": 1,
                    "created_at": now,
                    "updated_at": now,
                    "synced_at": now,
                }
            )
            if len(batch) == 5000:
                conn.execute(sa.insert(table), batch)
                batch = []
        if batch:
            conn.execute(sa.insert(table), batch)
    engine.dispose()
    from sqlalchemy.orm import Session

    engine = sa.create_engine(settings.ledger_url)
    with Session(engine) as session, session.begin():
        set_cursor(session, "product", now)
    engine.dispose()


def _requests(admin: str) -> dict[str, int]:
    counters = httpx.get(f"{admin}counters", timeout=60).json()
    return {k: v for k, v in counters["requests"].items() if v}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--differences", type=int, default=0, help="of each kind of difference")
    args = parser.parse_args(argv)

    from tasks.reconcile import reconcile
    from wiring.runtime import build_runtime
    from wiring.settings import Settings

    context = multiprocessing.get_context("spawn")
    queue, stop = context.Queue(), context.Event()
    child = context.Process(target=_serve, args=(args.products, args.differences, queue, stop))
    t = time.monotonic()
    child.start()
    try:
        info = queue.get(timeout=START_TIMEOUT_SECONDS)
        print(f"emulators seeded with {args.products} products in {time.monotonic() - t:.1f} s")
        workdir = Path(tempfile.mkdtemp(prefix="rbsync-bench-reconcile-"))
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=workdir,
            rackbeat_base_url=info["rackbeat"],
            rackbeat_api_token=info["rackbeat_token"],
            poweroffice_base_url=info["poweroffice"],
            poweroffice_token_url=info["poweroffice_token_url"],
            poweroffice_application_key=info["keys"]["application_key"],
            poweroffice_client_key=info["keys"]["client_key"],
            poweroffice_subscription_key=info["keys"]["subscription_key"],
            rackbeat_requests_per_second=100_000,
            poweroffice_requests_per_second=100_000,
        )
        t = time.monotonic()
        _seed_ledger(settings, info["rows"], args.differences)
        print(f"ledger seeded with {len(info['rows'])} synced rows in {time.monotonic() - t:.1f} s")
        for admin in (info["rackbeat_admin"], info["poweroffice_admin"]):
            httpx.post(f"{admin}counters/reset", timeout=60).raise_for_status()
        runtime = build_runtime(settings)
        try:
            t = time.monotonic()
            result = reconcile(runtime, ["product"])
            elapsed = time.monotonic() - t
        finally:
            runtime.close()
        poweroffice = _requests(info["poweroffice_admin"])
        rackbeat = _requests(info["rackbeat_admin"])
        report = result.kinds[0]
        print(f"reconcile of {args.products} products: {elapsed:.1f} s")
        print(
            f"  PowerOffice Go requests: {sum(poweroffice.values())} (target <= 10) {poweroffice}"
        )
        print(f"  Rackbeat requests: {sum(rackbeat.values())} (target <= 110) {rackbeat}")
        print(
            f"  read: PowerOffice Go {report.poweroffice}, Rackbeat {report.rackbeat}, "
            f"ledger {report.ledger}; found: "
            + ", ".join(
                f"{c} {len(report.entries(c))}"
                for c in ("missing", "duplicates", "drift", "missed", "stuck")
            )
        )
    finally:
        stop.set()
        child.join(30)
        if child.is_alive():
            child.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())

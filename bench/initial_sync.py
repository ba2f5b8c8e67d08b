"""Initial sync throughput: records/s against both emulators, and the time the real limits imply.

Run: ``.venv/bin/python bench/initial_sync.py [--scale 5]``. Both emulators run in this process
(threads, loopback), their rate limits off; PowerOffice Go is seeded with ``scale`` (x100
products, x50 customers, x10 suppliers), Rackbeat starts empty; the ledger is a fresh SQLite
file. Prints figures only; nothing here asserts on time.

Against the real APIs the Rackbeat limit decides (480 requests/minute per token; rbsync runs at
``RBSYNC_RACKBEAT_REQUESTS_PER_SECOND`` = 8 x 0.97), so the script also prints the Rackbeat
requests per record and the time that budget implies.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from clients import set_testing
from sandbox.poweroffice import PowerOfficeConfig
from sandbox.poweroffice import create_app as poweroffice_app
from sandbox.rackbeat.app import RackbeatConfig
from sandbox.rackbeat.app import create_app as rackbeat_app
from sandbox.server import serve_in_thread
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from tasks.initial import run_initial_sync
from wiring.clients import RATE_HEADROOM
from wiring.runtime import build_runtime
from wiring.settings import Settings

PRODUCTION_RACKBEAT_RATE = 8.0 * RATE_HEADROOM


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, default=5, help="PowerOffice Go data size")
    args = parser.parse_args()
    set_testing(True)
    po_app = poweroffice_app(PowerOfficeConfig())
    rb_app = rackbeat_app(RackbeatConfig(empty=True))
    with serve_in_thread(po_app) as po_server, serve_in_thread(rb_app) as rb_server:
        po = PowerOfficeEmulatorHandle(po_server, po_app.state.sandbox)
        rb = RackbeatEmulatorHandle(rb_server, rb_app.state.emulator)
        po.configure(rate_limit_enabled=False)
        rb.configure(rate_limit_enabled=False)
        summary = po.reset(seed=1, scale=args.scale)["records"]
        rb.reset_counters()
        with tempfile.TemporaryDirectory() as data_dir:
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                rackbeat_base_url=rb.base_url,
                rackbeat_api_token=rb.token,
                poweroffice_base_url=po.base_url,
                poweroffice_token_url=po.token_url,
                poweroffice_application_key=po.application_key,
                poweroffice_client_key=po.client_key,
                poweroffice_subscription_key=po.subscription_key,
                data_dir=Path(data_dir),
                rackbeat_requests_per_second=100_000.0,
                poweroffice_requests_per_second=100_000.0,
            )
            runtime = build_runtime(settings)
            try:
                started = time.perf_counter()
                report = run_initial_sync(runtime)
                elapsed = time.perf_counter() - started
            finally:
                runtime.close()
        counters = rb.counters()
        po.close()
        rb.close()
    records = sum(s.total for s in report.summary.values())
    requests = int(counters["total_requests"])
    print(
        f"PowerOffice Go scale {args.scale}: {summary['Products']} products, "
        f"{summary['Suppliers']} suppliers, {summary['Customers']} customers"
    )
    for kind, counts in report.summary.items():
        print(f"  {kind:<16} created {counts.created:>6}  failed {counts.failed}")
    print(f"{records} records in {elapsed:.1f} s: {records / elapsed:.0f} records/s (limits off)")
    print(f"Rackbeat requests: {requests} ({requests / records:.2f} per record)")
    print(
        f"at Rackbeat's limit ({PRODUCTION_RACKBEAT_RATE:.2f} requests/s): "
        f"{requests / PRODUCTION_RACKBEAT_RATE / 60:.1f} min for this data set"
    )


if __name__ == "__main__":
    main()

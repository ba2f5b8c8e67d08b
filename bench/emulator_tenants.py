"""What many accounts (Rackbeat) and client companies (PowerOffice Go) cost the emulators.
Prints figures only.

Both emulators are served in this process (``serve_in_thread``), rate limits off. For each it
times, over the admin surface: adding ``--idle`` empty tenants one by one, adding ``--small``
tenants with a little data, adding one tenant with about ``--large`` entities; and a simple GET
of the default tenant before and after (keep-alive ``httpx`` client, ``--requests`` each), so
that the per-request cost of many idle tenants shows.

    .venv/bin/python bench/emulator_tenants.py [--idle 1000] [--small 20] [--large 20000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import httpx

from sandbox.poweroffice import PowerOfficeConfig
from sandbox.poweroffice import create_app as create_poweroffice_app
from sandbox.rackbeat import RackbeatConfig
from sandbox.rackbeat import create_app as create_rackbeat_app
from sandbox.server import serve_in_thread

PO_ENTITIES_PER_SCALE = 160
"""PowerOffice Go's generator makes 100 products, 50 customers and 10 suppliers per scale."""
RB_ENTITIES_PER_PRODUCT = 1.4
"""Rackbeat's generator makes per product about 0.1 customer, 0.1 order, 0.125 invoice, ..."""


def _rate(client: httpx.Client, path: str, requests: int) -> float:
    for _ in range(50):  # warm up the connection and the caches
        client.get(path).raise_for_status()
    start = time.perf_counter()
    for _ in range(requests):
        client.get(path).raise_for_status()
    return requests / (time.perf_counter() - start)


def _timed(label: str, action: Callable[[], None]) -> float:
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    print(f"  {label}: {seconds * 1000:.0f} ms")
    return seconds


def _bench(
    name: str,
    admin: httpx.Client,
    api: httpx.Client,
    paths: tuple[str, str],
    large_body: dict[str, object],
    args: argparse.Namespace,
) -> None:
    """``paths``: the GET timed on the API and the admin collection of tenants."""
    path, tenants = paths

    def add(i: int, body: dict[str, object]) -> None:
        key = "token" if tenants == "accounts" else "client_key"
        admin.post(tenants, json={key: f"bench-tenant-{i}", **body}).raise_for_status()

    def add_idle() -> None:
        for i in range(args.idle):
            add(i, {"empty": True})

    def add_small() -> None:
        for i in range(args.small):
            add(args.idle + i, {"scale": 1})

    print(f"{name}:")
    before = _rate(api, path, args.requests)
    print(f"  GET {path}, default tenant alone: {before:,.0f} req/s")
    seconds = _timed(f"add {args.idle} idle tenants", add_idle)
    print(f"    = {seconds / args.idle * 1000:.2f} ms per tenant (admin round trip included)")
    _timed(f"add {args.small} small tenants", add_small)
    _timed("add one large tenant", lambda: add(args.idle + args.small, large_body))
    after = _rate(api, path, args.requests)
    print(f"  GET {path}, with every tenant present: {after:,.0f} req/s")
    print(f"  tenants listed: {len(admin.get(tenants).json())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--small", type=int, default=20)
    parser.add_argument("--large", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()

    rackbeat = serve_in_thread(create_rackbeat_app(RackbeatConfig(rate_limit_enabled=False)))
    try:
        with (
            httpx.Client(base_url=f"{rackbeat.url}/_sandbox/", timeout=300) as admin,
            httpx.Client(
                base_url=f"{rackbeat.url}/api/",
                headers={"Authorization": "Bearer rackbeat-sandbox-token"},
            ) as api,
        ):
            large = {"scale": round(args.large / RB_ENTITIES_PER_PRODUCT)}
            _bench("Rackbeat", admin, api, ("units", "accounts"), large, args)
    finally:
        rackbeat.stop()

    app = create_poweroffice_app(PowerOfficeConfig(rate_limit_enabled=False))
    poweroffice = serve_in_thread(app)
    backend = app.state.sandbox
    try:
        token, _ = backend.issue_token()
        headers = {
            "Ocp-Apim-Subscription-Key": backend.config.subscription_key,
            "Authorization": f"Bearer {token}",
        }
        with (
            httpx.Client(base_url=f"{poweroffice.url}/_sandbox/", timeout=300) as admin,
            httpx.Client(base_url=f"{poweroffice.url}/v2/", headers=headers) as api,
        ):
            large = {"scale": max(1, round(args.large / PO_ENTITIES_PER_SCALE))}
            _bench("PowerOffice Go", admin, api, ("VatCodes", "clients"), large, args)
    finally:
        poweroffice.stop()


if __name__ == "__main__":
    main()

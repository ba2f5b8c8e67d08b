"""How many simple GETs per second each emulator serves on this machine (limits and faults off).

Each emulator runs in its own process (uvicorn, httptools, uvloop, as in the tests); the load
comes from a separate process: ``wrk`` (installed from Debian when missing and allowed), else
several httpx client processes with keep-alive. The figure is printed, never asserted.

    .venv/bin/python bench/emulators.py                      # every emulator, 10 s each
    .venv/bin/python bench/emulators.py --emulator poweroffice --duration 5 --tool httpx

Add an emulator by adding a :class:`Target` to :data:`TARGETS` (module-level functions only:
the server process is spawned).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

START_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Target:
    """One emulator: how to build its app and which GET to hammer."""

    name: str
    make_app: Callable[[], Any]
    prepare: Callable[[str, Any], tuple[str, dict[str, str]]]
    """``(server url, app state) -> (full URL of the GET, headers)``, run in the server process."""


# --- PowerOffice Go --------------------------------------------------------------------------
def _poweroffice_app() -> Any:
    from sandbox.poweroffice import PowerOfficeConfig, create_app

    return create_app(PowerOfficeConfig(scale=1, rate_limit_enabled=False))


def _poweroffice_prepare(url: str, app: Any) -> tuple[str, dict[str, str]]:
    backend = app.state.sandbox
    token, _ = backend.issue_token()
    with backend.lock:
        product_id = next(iter(backend.state.tables["Products"].current_items()))[0]
    headers = {
        "Ocp-Apim-Subscription-Key": backend.config.subscription_key,
        "Authorization": f"Bearer {token}",
    }
    return f"{url}/v2/Products/{product_id}", headers


# --- Rackbeat --------------------------------------------------------------------------------
def _rackbeat_app() -> Any:
    from sandbox.rackbeat import RackbeatConfig, create_app

    return create_app(RackbeatConfig(scale=100_000, rate_limit_enabled=False))


def _rackbeat_prepare(url: str, app: Any) -> tuple[str, dict[str, str]]:
    emulator = app.state.emulator
    return f"{url}/api/products/10500", {"Authorization": f"Bearer {emulator.knobs.token}"}


TARGETS: dict[str, Target] = {
    "poweroffice": Target("poweroffice", _poweroffice_app, _poweroffice_prepare),
    "rackbeat": Target("rackbeat", _rackbeat_app, _rackbeat_prepare),
}


# --- the server process ----------------------------------------------------------------------
def _serve(name: str, queue: Any, stop: EventType) -> None:
    from sandbox.server import serve_in_thread

    target = TARGETS[name]
    app = target.make_app()
    server = serve_in_thread(app)
    try:
        queue.put(target.prepare(server.url, app))
        stop.wait(3600)
    finally:
        server.stop()


# --- load generators -------------------------------------------------------------------------
def _ensure_wrk(install: bool) -> str | None:
    found = shutil.which("wrk")
    if found or not install or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("installing wrk from Debian (apt-get install wrk) ...", flush=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "wrk"],
        check=False,
        capture_output=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        timeout=600,
    )
    return shutil.which("wrk")


def _run_wrk(
    wrk: str, url: str, headers: dict[str, str], duration: int, connections: int, threads: int
) -> tuple[float, int]:
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=duration + 60
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return rate, int(errors.group(1)) if errors else 0


def _httpx_worker(url: str, headers: dict[str, str], duration: float, results: Any) -> None:
    counts: Counter[int] = Counter()
    with httpx.Client(headers=headers, timeout=30) as client:
        end = time.monotonic() + duration
        while time.monotonic() < end:
            counts[client.get(url).status_code] += 1
    results.put(dict(counts))


def _run_httpx(url: str, headers: dict[str, str], duration: int, clients: int) -> tuple[float, int]:
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    workers = [
        ctx.Process(target=_httpx_worker, args=(url, headers, duration, results))
        for _ in range(clients)
    ]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    totals: Counter[int] = Counter()
    for _ in workers:
        totals.update(results.get(timeout=duration + 120))
    elapsed = time.monotonic() - started
    for worker in workers:
        worker.join(30)
    ok = sum(n for status, n in totals.items() if 200 <= status < 300)
    # Process start-up is inside ``elapsed``: the figure errs low, never high.
    return ok / elapsed, sum(totals.values()) - ok


def bench(name: str, args: argparse.Namespace) -> None:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    stop = ctx.Event()
    server = ctx.Process(target=_serve, args=(name, queue, stop), daemon=True)
    server.start()
    try:
        url, headers = queue.get(timeout=START_TIMEOUT_SECONDS)
        check = httpx.get(url, headers=headers, timeout=10)
        check.raise_for_status()
        path = url.split("/", 3)[3]
        wrk = _ensure_wrk(args.install_wrk) if args.tool in ("auto", "wrk") else None
        if args.tool == "wrk" and wrk is None:
            raise SystemExit("wrk is not installed (apt-get install wrk)")
        if wrk:
            rate, errors = _run_wrk(
                wrk, url, headers, args.duration, args.connections, args.threads
            )
            how = f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s"
        else:
            rate, errors = _run_httpx(url, headers, args.duration, args.clients)
            how = f"{args.clients} httpx keep-alive client processes, {args.duration}s"
        print(
            f"{name}: GET /{path}: {rate:,.0f} requests/second "
            f"({how}; non-2xx: {errors}; {os.cpu_count()} CPUs)",
            flush=True,
        )
    finally:
        stop.set()
        server.join(30)
        if server.is_alive():
            server.kill()
            server.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emulator", choices=[*TARGETS, "all"], default="all")
    parser.add_argument("--duration", type=int, default=10, help="seconds per emulator")
    parser.add_argument("--tool", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--clients", type=int, default=4, help="httpx client processes")
    parser.add_argument(
        "--no-install-wrk",
        dest="install_wrk",
        action="store_false",
        help="never apt-get install wrk; fall back to httpx",
    )
    args = parser.parse_args()
    for name in TARGETS if args.emulator == "all" else [args.emulator]:
        bench(name, args)


if __name__ == "__main__":
    main()

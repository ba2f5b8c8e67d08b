"""Webhook latency: from a change in Rackbeat to the write in PowerOffice Go.

A real worker process (prefork, 2), the real receiver (``rbsync webhooks serve``), Redis,
PostgreSQL and both emulators (``rbsync sandbox``, rate limits on: Rackbeat 480/min,
PowerOffice Go 10 req/s, and rbsync's own budgets at their defaults). The receiver is registered
with the Rackbeat emulator (``rbsync webhooks register``), which delivers its own changes. Each
change renames one product (``/_sandbox/touch``); its latency runs from just before that call
until the ledger records the name written to PowerOffice Go (probed every 20 ms).

Prints (never asserts) p50 / p95 / max for

(a) an idle fleet: the seeded catalogue synced, then changes one at a time;
(b) a fleet busy with a first push of about 2,000 entities under the 10 req/s budget: changes
    to already synced products while the push runs;

next to the poll-only latency with the default interval (300 s): a change waits for the next
beat tick (uniform over the interval) plus one poll-and-sync, measured here as "poll then
write" on the idle fleet.

Usage (services running as in DEVELOPERS.md)::

    .venv/bin/python bench/webhook_latency.py [--changes 30] [--busy-scale 1430]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import (  # the bench helpers, next to this file
    CELERY,
    KINDS,
    OPEN,
    RBSYNC,
    infrastructure,
    log,
    process,
    wait_for,
)

PROBE_SECONDS = 0.02
DEFAULT_POLL_INTERVAL = 300.0


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"n={len(ordered)} p50 {statistics.median(ordered):.2f} s, p95 {p95:.2f} s, "
        f"max {ordered[-1]:.2f} s"
    )


class Fleet:
    """One deployment: private PostgreSQL and Redis, a worker, the receiver."""

    def __init__(self, workdir: Path, sandbox_env: dict[str, str], stack: ExitStack) -> None:
        env_infra, self.engine, self.sender = stack.enter_context(infrastructure(False, workdir))
        self.env = {
            **os.environ,
            **sandbox_env,
            **env_infra,
            "RBSYNC_DATA_DIR": str(workdir / "data"),
            "RBSYNC_LOG_LEVEL": "warning",
        }
        subprocess.run([RBSYNC, "db", "upgrade"], env=self.env, check=True, capture_output=True)
        self.port = _free_port()
        worker = [
            CELERY, "-A", "worker.app", "worker", "--pool=prefork", "--concurrency=2",
            "--loglevel=WARNING", "--without-mingle", "--without-gossip",
            f"--hostname=wh-{workdir.name}@localhost",
        ]  # fmt: skip
        stack.enter_context(process(worker, self.env, workdir / "worker.log"))
        receiver = [RBSYNC, "webhooks", "serve", "--port", str(self.port)]
        stack.enter_context(process(receiver, self.env, workdir / "receiver.log"))
        wait_for("the receiver", self._receiver_up, 60)
        self.rb_base = sandbox_env["RACKBEAT_BASE_URL"]

    def _receiver_up(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).is_success
        except httpx.TransportError:
            return False

    def register(self) -> None:
        url = f"http://127.0.0.1:{self.port}/webhooks/rackbeat"
        done = subprocess.run(
            [RBSYNC, "webhooks", "register", "--url", url],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"register failed: {done.stderr or done.stdout}")

    def unregister(self) -> None:
        subprocess.run(
            [RBSYNC, "webhooks", "unregister"], env=self.env, check=True, capture_output=True
        )

    def query(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).all()

    def poll(self, *kinds: str) -> None:
        for kind in kinds or KINDS:
            self.sender.send_task("rbsync.poll", args=[kind], queue="rbsync.poll")

    def open_rows(self) -> int:
        statuses = ", ".join(f"'{s}'" for s in OPEN)
        return int(
            self.query(f"SELECT count(*) FROM entity_links WHERE status IN ({statuses})")[0][0]
        )

    def polls_done(self) -> int:
        return int(self.query("SELECT count(*) FROM poll_cycles WHERE status = 'done'")[0][0])

    def written_name(self, key: str) -> str | None:
        rows = self.query(
            "SELECT written FROM entity_links WHERE kind = 'product' AND key = :key", key=key
        )
        written = rows[0][0] if rows else None
        if isinstance(written, str):
            written = json.loads(written)
        return written.get("Name") if isinstance(written, dict) else None

    def synced_products(self) -> list[str]:
        rows = self.query(
            "SELECT key FROM entity_links WHERE kind = 'product' AND status = 'synced' ORDER BY key"
        )
        return [str(r[0]) for r in rows]

    def change(self, key: str, name: str, then: Callable[[], None] | None = None) -> float:
        """Rename product ``key`` in Rackbeat; seconds until PowerOffice Go has the name."""
        t0 = time.monotonic()
        root = self.rb_base.split("/api/", maxsplit=1)[0]
        httpx.post(
            f"{root}/_sandbox/touch/products/{quote(key, safe='')}", json={"name": name}, timeout=30
        ).raise_for_status()
        if then is not None:
            then()
        while self.written_name(key) != name:
            if time.monotonic() - t0 > 900:
                raise SystemExit(f"product {key} was not written within 900 s")
            time.sleep(PROBE_SECONDS)
        return time.monotonic() - t0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def sandbox(workdir: Path, scale: int) -> Iterator[dict[str, str]]:
    """Both emulators in their own process, rate limits on (the real 480/min and 10 req/s)."""
    log_path = workdir / "sandbox.log"
    command = [
        RBSYNC, "sandbox", "--rackbeat-port", "0", "--poweroffice-port", "0",
        "--scale", str(scale),
    ]  # fmt: skip
    with process(command, dict(os.environ), log_path):
        text = wait_for(
            "the emulators",
            lambda: log_path.read_text() if "Ctrl-C" in log_path.read_text() else None,
            600,
        )
        yield dict(re.findall(r"^export (\w+)=(.*)$", text, re.MULTILINE))


def idle(args: argparse.Namespace, workdir: Path) -> None:
    with sandbox(workdir, 50) as sandbox_env, ExitStack() as stack:
        fleet = Fleet(workdir, sandbox_env, stack)
        fleet.poll()
        wait_for(
            "the seeded catalogue",
            lambda: fleet.polls_done() >= len(KINDS) and not fleet.open_rows(),
            600,
            0.5,
        )
        fleet.register()
        keys = fleet.synced_products()
        latencies = []
        for i in range(args.changes):
            key = keys[i % len(keys)]
            latencies.append(fleet.change(key, f"Idle change {i}"))
            time.sleep(0.2)
        log(f"(a) idle fleet, webhook: {percentiles(latencies)}")
        fleet.unregister()
        # Poll-only: the change, then at once the beat tick's poll of products.
        polled = []
        for i in range(args.poll_changes):
            key = keys[(i + 7) % len(keys)]
            polled.append(
                fleet.change(key, f"Polled change {i}", then=lambda: fleet.poll("product"))
            )
            time.sleep(1.2)  # the next change in a later second than the cursor
        p_mean = statistics.mean(polled)
        log(f"    poll then write (measured): {percentiles(polled)}")
        interval = DEFAULT_POLL_INTERVAL
        log(
            f"    poll-only with the default {interval:g} s interval (wait uniform over the "
            f"interval + poll then write): p50 {interval * 0.5 + p_mean:.1f} s, "
            f"p95 {interval * 0.95 + p_mean:.1f} s, max {interval + max(polled):.1f} s"
        )


def busy(args: argparse.Namespace, workdir: Path) -> None:
    with sandbox(workdir, args.busy_scale) as sandbox_env, ExitStack() as stack:
        fleet = Fleet(workdir, sandbox_env, stack)
        fleet.register()
        t0 = time.monotonic()
        fleet.poll()
        wait_for("100 synced products", lambda: len(fleet.synced_products()) >= 100, 900, 0.5)
        log(f"(b) first push under way: 100 products synced after {time.monotonic() - t0:.0f} s")
        keys = fleet.synced_products()
        latencies = []
        for i in range(args.changes):
            latencies.append(fleet.change(keys[i * 3 % len(keys)], f"Busy change {i}"))
            time.sleep(0.5)
        remaining = fleet.open_rows()
        total = int(fleet.query("SELECT count(*) FROM entity_links")[0][0])
        log(f"(b) busy fleet, webhook: {percentiles(latencies)}")
        log(
            f"    while the first push ran: {total} rows in the ledger, {remaining} still open "
            f"after {time.monotonic() - t0:.0f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--poll-changes", type=int, default=5)
    parser.add_argument(
        "--busy-scale", type=int, default=1430, help="products (~1.4 entities each)"
    )
    parser.add_argument("--only", choices=("idle", "busy"), default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="rbsync-webhook-bench-"))
    log(f"workdir {workdir} (logs)")
    if args.only in (None, "idle"):
        (workdir / "idle").mkdir()
        idle(args, workdir / "idle")
    if args.only in (None, "busy"):
        (workdir / "busy").mkdir()
        busy(args, workdir / "busy")


if __name__ == "__main__":
    main()

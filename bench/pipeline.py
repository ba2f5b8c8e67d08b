"""Pipeline benchmark: a real worker process, Redis, PostgreSQL and both emulators.

Prints (never asserts):

1. PowerOffice Go requests per created/updated entity on a full push (target <= 1.02);
2. Rackbeat and PowerOffice Go requests of a poll with no changes (target 1 per kind and 0);
3. entities/s end to end, emulator limits off (target >= 300/s on a 2-core machine): from the
   moment the polls are sent until the ledger shows every row settled;
4. with ``--rss-products N``: peak RSS of the worker (largest process, and the whole process
   tree) while it syncs N products (target <= 250 MB at 100,000).

Usage (from the checkout, services running as in DEVELOPERS.md)::

    .venv/bin/python bench/pipeline.py --scale 2000
    .venv/bin/python bench/pipeline.py --scale 0 --rss-products 100000

The emulators run in their own process (``rbsync sandbox``); the Redis database and the
PostgreSQL database are private to the run and removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis
import sqlalchemy as sa

from kinds import registry

BIN = Path(sys.executable).parent
CELERY = str(BIN / "celery")
RBSYNC = str(BIN / "rbsync")
KINDS = tuple(registry.names())
OPEN = ("pending", "in_flight", "unknown")
PG_SERVER = os.environ.get(
    "RBSYNC_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_SERVER = os.environ.get("RBSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")


@contextmanager
def infrastructure(embedded: bool, workdir: Path) -> Iterator[tuple[dict[str, str], Any, Any]]:
    """(environment, ledger engine, Celery app to send with) of production or embedded mode."""
    from celery import Celery

    if embedded:
        from wiring.settings import Settings
        from worker.app import create_app

        settings = Settings(_env_file=None, data_dir=workdir / "data")  # type: ignore[call-arg]
        engine = sa.create_engine(settings.ledger_url)
        yield {}, engine, create_app(settings)
        engine.dispose()
        return
    with redis_db() as redis_url, postgres_db() as database_url:
        engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
        sender = Celery("bench", broker=redis_url)
        sender.conf.task_default_queue = "rbsync"
        env = {
            "RBSYNC_BROKER_URL": redis_url,
            "RBSYNC_REDIS_URL": redis_url,
            "RBSYNC_DATABASE_URL": database_url,
        }
        yield env, engine, sender
        engine.dispose()


def stamp(value: datetime | str) -> datetime:
    """A ledger timestamp as an aware UTC datetime (SQLite hands back text)."""
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def log(text: str) -> None:
    print(text, flush=True)


@contextmanager
def redis_db() -> Iterator[str]:
    """A Redis logical database claimed like the tests claim theirs (lock key in db 0)."""
    lock = redis.Redis.from_url(f"{REDIS_SERVER}/0")
    token = uuid.uuid4().hex
    for number in range(15, 0, -1):
        if lock.set(f"rbsync:test:db:{number}", token, nx=True, ex=7200):
            break
    else:
        raise SystemExit("no free Redis database")
    url = f"{REDIS_SERVER}/{number}"
    redis.Redis.from_url(url).flushdb()
    try:
        yield url
    finally:
        redis.Redis.from_url(url).flushdb()
        if lock.get(f"rbsync:test:db:{number}") == token.encode():
            lock.delete(f"rbsync:test:db:{number}")


@contextmanager
def postgres_db() -> Iterator[str]:
    name = f"rbsync_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def process(
    command: list[str], env: dict[str, str], log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("ab") as out:
        proc = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def wait_for(what: str, probe: Callable[[], Any], seconds: float, step: float = 0.2) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(step)
    raise SystemExit(f"timed out after {seconds:g} s waiting for {what}")


def rss_of_tree(root: int) -> tuple[int, int]:
    """(largest process RSS, total RSS) in bytes of ``root`` and its descendants."""
    sizes = []
    for pid in tree(root):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        if match:
            sizes.append(int(match.group(1)) * 1024)
    return (max(sizes, default=0), sum(sizes))


def cpu_seconds(pids: set[int]) -> float:
    """user + system CPU seconds of ``pids`` so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def tree(root: int) -> set[int]:
    """``root`` and its descendants."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found = {root}
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grew = True
    return found


def by_name(*names: str) -> set[int]:
    """Processes whose command name is one of ``names`` (PostgreSQL, Redis servers)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                comm = Path(f"/proc/{entry}/comm").read_text().strip()
            except OSError:
                continue
            if comm.startswith(names):
                found.add(int(entry))
    return found


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.largest = 0
        self.total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            largest, total = rss_of_tree(self.pid)
            self.largest = max(self.largest, largest)
            self.total = max(self.total, total)
            self._stop.wait(0.25)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir

    def start_sandbox(self, scale: int) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
        log_path = self.workdir / "sandbox.log"
        cm = process(
            [RBSYNC, "sandbox", "--rackbeat-port", "0", "--poweroffice-port", "0",
             "--scale", str(scale), "--no-rate-limits"],
            dict(os.environ),
            log_path,
        )  # fmt: skip
        proc = cm.__enter__()
        self._sandbox_cm = cm
        self.sandbox_pid = proc.pid
        text = wait_for(
            "the emulators",
            lambda: (t := log_path.read_text()) if "Ctrl-C" in log_path.read_text() else None,
            600,
        )
        env = dict(re.findall(r"^export (\w+)=(.*)$", text, re.MULTILINE))
        return proc, env

    def stop_sandbox(self) -> None:
        self._sandbox_cm.__exit__(None, None, None)


def admin(base: str, path: str, method: str = "GET") -> Any:
    root = base.split("/api/", maxsplit=1)[0].split("/Demo/", maxsplit=1)[0]
    response = httpx.request(method, f"{root}/_sandbox/{path}", timeout=60)
    response.raise_for_status()
    return response.json()


def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="rbsync-bench-"))
    log(f"workdir {workdir} (logs)")
    bench = Bench(args, workdir)
    scale = args.rss_products if args.rss_products else args.scale
    kinds = ("product",) if args.rss_products else KINDS
    t = time.monotonic()
    _, sandbox_env = bench.start_sandbox(scale)
    log(f"emulators up with scale {scale} in {time.monotonic() - t:.1f} s")
    try:
        with infrastructure(args.embedded, workdir) as (infra_env, engine, sender):
            env = {
                **os.environ,
                **sandbox_env,
                **infra_env,
                "RBSYNC_DATA_DIR": str(workdir / "data"),
                "RBSYNC_RACKBEAT_REQUESTS_PER_SECOND": "100000",
                "RBSYNC_POWEROFFICE_REQUESTS_PER_SECOND": "100000",
            }
            for name in ("RBSYNC_BROKER_URL", "RBSYNC_REDIS_URL", "RBSYNC_DATABASE_URL"):
                if name not in infra_env:
                    env.pop(name, None)
            subprocess.run([RBSYNC, "db", "upgrade"], env=env, check=True, capture_output=True)

            def send_polls() -> None:
                for kind in kinds:
                    sender.send_task("rbsync.poll", args=[kind], queue="rbsync.poll")

            def query(sql: str) -> Any:
                with engine.connect() as conn:
                    return conn.execute(sa.text(sql)).all()

            def cycles_done() -> int:
                return int(query("SELECT count(*) FROM poll_cycles WHERE status = 'done'")[0][0])

            timeline: list[tuple[float, int]] = []
            kinds_sql = ", ".join(f"'{kind}'" for kind in kinds)
            open_sql = ", ".join(f"'{status}'" for status in OPEN)

            def settled_rows() -> int | None:
                # Only the rows not yet settled, through the (kind, status) index, and the
                # whole table once at the end: on 100,000 rows, updated several times each, a
                # count(*) per probe scanned every dead version of every row (a GROUP BY probe
                # every 0.2 s once cost PostgreSQL more CPU than the pipeline itself).
                unsettled = int(
                    query(
                        "SELECT count(*) FROM entity_links WHERE kind IN "
                        f"({kinds_sql}) AND status IN ({open_sql})"
                    )[0][0]
                )
                timeline.append((time.monotonic(), unsettled))
                if unsettled or cycles_done() < len(kinds):
                    return None
                total = int(query("SELECT count(*) FROM entity_links")[0][0])
                return total or None

            worker_cmd = [
                CELERY, "-A", "worker.app", "worker", f"--pool={args.pool}",
                f"--concurrency={args.concurrency}", "--loglevel=WARNING",
                "--without-mingle", "--without-gossip", "--hostname=bench@localhost",
            ]  # fmt: skip
            if args.profile:
                # One solo-pool process under cProfile, timed by CPU (not wall) time: where the
                # worker's CPU goes.
                worker_cmd = [
                    sys.executable, str(Path(__file__).with_name("cpu_profile.py")), args.profile,
                    CELERY,
                    *[a for a in worker_cmd[1:] if not a.startswith(("--pool", "--concurrency"))],
                    "--pool=solo",
                ]  # fmt: skip
            with process(worker_cmd, env, workdir / "worker.log") as worker:
                time.sleep(3)  # boot (not measured)
                po_base = sandbox_env["POWEROFFICE_BASE_URL"]
                rb_base = sandbox_env["RACKBEAT_BASE_URL"]
                admin(po_base, "counters/reset", "POST")
                admin(rb_base, "counters/reset", "POST")
                groups = {
                    "worker": lambda: tree(worker.pid),
                    "(of which the worker's main process)": lambda: {worker.pid},
                    "emulators": lambda: tree(bench.sandbox_pid),
                    "postgres+redis": lambda: by_name("postgres", "redis-server"),
                }
                cpu0 = {name: cpu_seconds(pids()) for name, pids in groups.items()}
                with RssSampler(worker.pid) as rss:
                    t0 = time.monotonic()
                    sent_at = datetime.now(UTC)
                    send_polls()
                    # The time is the last row's own timestamp: the probe may be unhurried.
                    total = wait_for("the full push to settle", settled_rows, args.timeout, 1.0)
                    # Until the last row settled (its own timestamp), not until this loop saw it.
                    last = stamp(query("SELECT max(updated_at) FROM entity_links")[0][0])
                    elapsed = (last - sent_at).total_seconds()
                statuses = dict(query("SELECT status, count(*) FROM entity_links GROUP BY status"))
                po = admin(po_base, "counters")
                po_requests = sum(
                    n for route, n in po["requests"].items() if "/OAuth/" not in route
                )
                written = statuses.get("synced", 0)
                log(f"worker: --pool={args.pool} --concurrency={args.concurrency}")
                log(f"full push: {total} entities ({statuses}) in {elapsed:.1f} s "
                    f"= {total / elapsed:.0f} entities/s end to end")  # fmt: skip
                log(f"PowerOffice Go requests: {po_requests} for {written} created/updated "
                    f"entities = {po_requests / max(1, written):.3f} per entity")  # fmt: skip
                log(f"  by route: {po['requests']}")
                log("rows not yet settled over time (s: rows): " + ", ".join(
                    f"{at - t0:.1f}: {n}" for at, n in timeline[:: max(1, len(timeline) // 12)]
                ))  # fmt: skip
                polls = query(
                    "SELECT kind, seen, started_at, finished_at FROM poll_cycles ORDER BY id"
                )
                log("polls (seconds from the first poll's start): " + ", ".join(
                    f"{kind} {seen} records {(stamp(a) - stamp(polls[0][2])).total_seconds():.1f}-"
                    f"{(stamp(b) - stamp(polls[0][2])).total_seconds():.1f}"
                    for kind, seen, a, b in polls
                ))  # fmt: skip
                cpu = {name: cpu_seconds(pids()) - cpu0[name] for name, pids in groups.items()}
                log(
                    "CPU seconds during the push (2 cores = 2 s per s): "
                    + ", ".join(
                        f"{n} {v:.1f} ({v / total * 1000:.1f} ms/entity)" for n, v in cpu.items()
                    )
                )
                log(f"peak worker RSS: largest process {rss.largest / 2**20:.0f} MB, "
                    f"whole tree {rss.total / 2**20:.0f} MB")  # fmt: skip
                if not args.rss_products:
                    admin(po_base, "counters/reset", "POST")
                    admin(rb_base, "counters/reset", "POST")
                    done = cycles_done()
                    send_polls()
                    wait_for("the no-change polls", lambda: cycles_done() == done + len(kinds), 300)
                    time.sleep(1)
                    rb = admin(rb_base, "counters")["requests"]
                    po = admin(po_base, "counters")["requests"]
                    log(f"poll with no changes: Rackbeat {sum(rb.values())} requests "
                        f"({rb}), PowerOffice Go {sum(po.values())} requests ({po})")  # fmt: skip
    finally:
        bench.stop_sandbox()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scale", type=int, default=2000, help="Rackbeat products (the rest follows)"
    )
    parser.add_argument(
        "--rss-products", type=int, default=0, help="products-only run for peak RSS"
    )
    parser.add_argument("--pool", default="prefork", help="worker pool (prefork, threads)")
    parser.add_argument(
        "--concurrency", type=int, default=2, help="worker processes (the Procfile's default)"
    )
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--profile", default="", help="cProfile a solo worker into this file")
    parser.add_argument(
        "--embedded", action="store_true", help="filesystem broker + SQLite instead of Redis + PG"
    )
    run(parser.parse_args())


if __name__ == "__main__":
    main()

"""Many connections on one deployment: fairness under a big first push, and the cost of idling.

Production mode throughout, as ``bench/chaos.py`` runs it: a private ``redis-server`` (broker,
locks, limiters), a private PostgreSQL database (migrated with ``rbsync db upgrade``), both
emulators in one ``rbsync sandbox`` process with their real rate limits (PowerOffice Go: 10
requests/s per subscription key, shared by every client company; Rackbeat: 480/min per token),
and the Procfile's own ``worker`` and ``beat`` command lines. The connections are stored ones
(``ledger.connections.add_connection``, credentials encrypted with a fresh
``RBSYNC_SECRET_KEY``); the environment defines no ``default`` connection. Each connection is
one Rackbeat account and one PowerOffice Go client company, added to the running emulators over
their admin routes (``POST /_sandbox/accounts``, ``POST /_sandbox/clients``).

Two parts (the first argument):

``fair`` (default)
    20 connections, poll interval ``--poll-interval`` (5 s). 19 "small" ones (Rackbeat scale 1:
    one product and a few BOMs, customers, suppliers and invoices each) are synced first and
    left to settle. Then a "big" one is added, its Rackbeat account at ``--big-scale`` (14,000
    products: about 20,000 entities) and its client company empty: a first push of creates.
    Once the push is under way (``--warmup`` seconds after its first synced row) a measurement
    window of ``--window`` seconds starts, in which each small connection renames its product
    (the admin ``touch``) every ``--change-every`` seconds, the 19 staggered evenly. A watcher
    reads each small client's PowerOffice Go state (``GET /_sandbox/state?client=``: admin, not
    counted or limited) every ``--watch-every`` seconds; a change's latency is from just before
    its touch to the product's ``LastChangedDateTimeOffset`` in PowerOffice Go (the emulator's
    clock is the wall clock) on the first observation holding that change or a later one (a
    later one: counted as "superseded", its latency an upper bound). After the window the
    watcher waits up to ``--drain`` seconds for the last changes; one never delivered counts as
    infinitely late. Printed: the gateway-wide PowerOffice Go request rate over the window
    (``counters/window``; target >= 9.5 req/s), its 429s (target 0), the small connections'
    change -> PowerOffice Go latency p50/p95/max (target p95 <= 5 s + the poll interval), the big
    push's share of the requests, and requests per connection.

``idle``
    ``--idle-connections`` (1,000) connections with empty Rackbeat accounts and empty client
    companies, the default dispatch tick (5 s) and a poll interval of ``--idle-poll-interval``
    (120 s). After one poll interval of warm-up, one poll interval is measured: Rackbeat and
    PowerOffice Go requests (``counters/window``), CPU seconds of the worker (its whole process
    tree) and of beat, and the polls that ran (``poll_cycles`` started in the interval), per
    interval and per connection. No target: the figures are the point.

Usage (from the checkout; PostgreSQL on 127.0.0.1:5432 as in DEVELOPERS.md, ``redis-server``
on the PATH)::

    .venv/bin/python bench/fairness.py                 # part 1, ~9 min
    .venv/bin/python bench/fairness.py idle            # part 2, ~6 min
    .venv/bin/python bench/fairness.py fair --env SOME_RBSYNC_SETTING=value

The processes inherit this environment (any ``RBSYNC_*`` setting passes through) with
``--env`` on top; the private servers' URLs, the sandbox's credentials, ``RBSYNC_SECRET_KEY``,
the poll interval and ``RBSYNC_DATA_DIR`` are the harness's. Logs stay in the printed work
directory. Everything started is stopped, and the database dropped, also on Ctrl-C or an error.
Exit status 1 when a target of ``fair`` is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import httpx
import redis
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos import BIN, RBSYNC, PrivateRedis, Proc, Processes, procfile, sandbox_env, until
from pipeline import cpu_seconds, log, postgres_db, tree

from ledger import ALL, make_engine, make_session_factory
from ledger.connections import ConnectionCredentials, add_connection
from ledger.secrets import SecretBox, generate_key

__all__ = ["main", "percentile"]

RATE_TARGET = 9.5
"""PowerOffice Go requests/s over the window, gateway-wide (the budget is 10, rbsync runs at
97 % of it)."""
SMALL = 19
OPEN = ("pending", "in_flight", "unknown")


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1) of ``values`` (inf allowed)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def seconds(value: float) -> str:
    return "never" if math.isinf(value) else "-" if math.isnan(value) else f"{value:.2f} s"


# --- the deployment under test ---------------------------------------------------------------
@dataclass
class Connection:
    """One stored connection and its two tenants."""

    name: str
    account_id: str
    token: str
    client_key: str


@dataclass
class Deployment:
    """The emulators, the private servers and rbsync's processes."""

    workdir: Path
    processes: Processes
    env: dict[str, str]
    engine: sa.Engine
    redis_url: str
    rackbeat_root: str
    poweroffice_root: str
    sandbox: Proc
    box: SecretBox
    admin: httpx.Client
    workers: list[Proc] = field(default_factory=list)
    beat: Proc | None = None

    # --- emulators ---
    def call(self, root: str, path: str, method: str = "GET", **kwargs: Any) -> Any:
        response = self.admin.request(method, f"{root}/_sandbox/{path}", **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def add_tenants(self, name: str, account: dict[str, Any]) -> Connection:
        """A Rackbeat account (``account``: the body of ``POST /_sandbox/accounts``) and an
        empty PowerOffice Go client company, stored as connection ``name``."""
        summary = self.call(
            self.rackbeat_root, "accounts", "POST", json={"token": f"bench-token-{name}", **account}
        )
        client = self.call(
            self.poweroffice_root,
            "clients",
            "POST",
            json={"client_key": f"bench-client-{name}", "empty": True},
        )
        return Connection(
            name, str(summary["account_id"]), str(summary["token"]), str(client["client_key"])
        )

    def store(self, connections: list[Connection]) -> None:
        with make_session_factory(self.engine, ALL).begin() as session:
            for c in connections:
                add_connection(
                    session,
                    c.name,
                    credentials=ConnectionCredentials(
                        rackbeat_token=c.token, client_key=c.client_key
                    ),
                    box=self.box,
                    rackbeat_account_id=c.account_id,
                )

    def window(self, root: str, since: int, until_: int) -> dict[str, Any]:
        answer: dict[str, Any] = self.call(
            root, "counters/window", params={"since": since, "until": until_}
        )
        return answer

    # --- processes ---
    def start_worker(self, concurrency: int) -> Proc:
        index = len(self.workers)
        command = f"exec {procfile()['worker']} --hostname=fairness-{index}@%h"
        env = {**self.env, "RBSYNC_WORKER_CONCURRENCY": str(concurrency)}
        proc = self.processes.start(f"worker-{index}", ["sh", "-c", command], env, self.workdir)
        self.workers.append(proc)
        return proc

    def start_poller(self, concurrency: int) -> Proc:
        """The Procfile's ``poller``: polls, the tick and webhooks only."""
        command = f"exec {procfile()['poller']} --hostname=fairness-poller@%h"
        env = {**self.env, "RBSYNC_POLLER_CONCURRENCY": str(concurrency)}
        proc = self.processes.start("poller", ["sh", "-c", command], env, self.workdir)
        self.workers.append(proc)
        return proc

    def start_beat(self) -> Proc:
        self.beat = self.processes.start(
            "beat", ["sh", "-c", procfile()["beat"]], self.env, self.workdir
        )
        return self.beat

    def worker_pids(self) -> set[int]:
        return set().union(*(tree(w.pid) for w in self.workers))

    def check_alive(self) -> None:
        for proc in [*self.workers, *([self.beat] if self.beat else []), self.sandbox]:
            if not proc.alive():
                log_path = self.workdir / f"{proc.name}.log"
                tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
                raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{tail}")

    def backlog(self) -> dict[str, int]:
        """Messages waiting in the broker's queues (kombu's Redis lists)."""
        client = redis.Redis.from_url(self.redis_url)
        try:
            return {q: int(client.llen(q)) for q in ("rbsync.poll", "rbsync", "rbsync.webhook")}
        finally:
            client.close()

    # --- the ledger ---
    def polls(self, t0: int, t1: int) -> dict[str, Any]:
        """The poll cycles started in ``[t0, t1)``: by status, by connection, connections."""
        rows = self.query(
            "SELECT connection, status, changed FROM poll_cycles "
            "WHERE started_at >= :a AND started_at < :b",
            a=datetime.fromtimestamp(t0, UTC),
            b=datetime.fromtimestamp(t1, UTC),
        )
        return {
            "total": len(rows),
            "statuses": dict(Counter(str(r[1]) for r in rows)),
            "by_connection": dict(Counter(str(r[0]) for r in rows)),
            "with_changes": dict(Counter(str(r[0]) for r in rows if r[2])),
        }

    def query(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params).all())


@contextlib.contextmanager
def deployment(args: argparse.Namespace, poll_interval: float) -> Iterator[Deployment]:
    """Everything up but rbsync's processes (the caller starts those once tenants exist)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"rbsync-fairness-{args.part}-"))
    log(f"work directory {workdir}; rbsync environment extras: {shlex.join(args.env) or '-'}")
    processes = Processes(workdir)
    with contextlib.ExitStack() as stack:
        stack.callback(processes.stop_all)
        sandbox = sandbox_env(processes, workdir, SimpleNamespace(scale=0, rate_limits=True))
        sandbox_proc = processes.started[-1]
        private_redis = PrivateRedis(processes, workdir)
        private_redis.start()
        db_url = stack.enter_context(postgres_db())
        key = generate_key()
        inherited = {
            k: v
            for k, v in os.environ.items()
            if k not in ("RACKBEAT_API_TOKEN", "POWEROFFICE_CLIENT_KEY")
        }
        env = {
            **inherited,
            **dict(pair.split("=", 1) for pair in args.env),
            **{
                k: v
                for k, v in sandbox.items()
                if k not in ("RACKBEAT_API_TOKEN", "POWEROFFICE_CLIENT_KEY")
            },
            "RBSYNC_POLL_INTERVAL_SECONDS": f"{poll_interval:g}",
            "RBSYNC_SECRET_KEY": key,
            "RBSYNC_DATABASE_URL": db_url,
            "RBSYNC_BROKER_URL": private_redis.url,
            "RBSYNC_REDIS_URL": private_redis.url,
            "RBSYNC_DATA_DIR": str(workdir / "data"),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        subprocess.run(
            [RBSYNC, "db", "upgrade"], env=env, cwd=workdir, check=True, capture_output=True
        )
        engine = make_engine(db_url)
        stack.callback(engine.dispose)
        admin = stack.enter_context(httpx.Client(timeout=120))
        yield Deployment(
            workdir=workdir,
            processes=processes,
            env=env,
            engine=engine,
            redis_url=private_redis.url,
            rackbeat_root=sandbox["RACKBEAT_BASE_URL"].split("/api/", maxsplit=1)[0],
            poweroffice_root=sandbox["POWEROFFICE_BASE_URL"].split("/Demo/", maxsplit=1)[0],
            sandbox=sandbox_proc,
            box=SecretBox.from_text(key),
            admin=admin,
        )


# --- part 1: fairness ------------------------------------------------------------------------
@dataclass
class Change:
    connection: str
    seq: int
    touched_at: float
    delivered_at: float | None = None
    superseded: bool = False

    @property
    def latency(self) -> float:
        return math.inf if self.delivered_at is None else self.delivered_at - self.touched_at


def product_name(connection: str, seq: int) -> str:
    return f"Fair {connection} #{seq}"


def name_seq(connection: str, name: str) -> int | None:
    prefix = f"Fair {connection} #"
    return int(name[len(prefix) :]) if name.startswith(prefix) else None


class Watcher:
    """Reads the small clients' PowerOffice Go products; marks changes delivered."""

    def __init__(
        self, dep: Deployment, small: list[Connection], numbers: dict[str, str], every: float
    ) -> None:
        self.dep = dep
        self.small = {c.name: c for c in small}
        self.numbers = numbers
        self.every = every
        self.changes: dict[str, list[Change]] = {c.name: [] for c in small}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.reads = 0
        self.errors = 0
        self.ended = 0.0
        """When watching stopped (an undelivered change waited at least until then)."""
        self.thread = threading.Thread(target=self._run, daemon=True)

    def add(self, change: Change) -> None:
        with self.lock:
            self.changes[change.connection].append(change)

    def pending(self) -> int:
        with self.lock:
            return sum(1 for cs in self.changes.values() for c in cs if c.delivered_at is None)

    def _run(self) -> None:
        with httpx.Client(timeout=60) as client:
            while not self.stop.is_set():
                started = time.monotonic()
                with self.lock:
                    waiting = [
                        n
                        for n, cs in self.changes.items()
                        if any(c.delivered_at is None for c in cs)
                    ]
                for name in waiting:
                    try:
                        self._read(client, name)
                    except httpx.HTTPError:
                        self.errors += 1
                self.stop.wait(max(0.0, self.every - (time.monotonic() - started)))

    def _read(self, client: httpx.Client, name: str) -> None:
        conn = self.small[name]
        answer = client.get(
            f"{self.dep.poweroffice_root}/_sandbox/state", params={"client": conn.client_key}
        )
        answer.raise_for_status()
        self.reads += 1
        number = self.numbers[name]
        product = next(
            (p for p in answer.json()["resources"]["Products"] if p.get("Code") == number), None
        )
        if product is None:
            return
        seq = name_seq(name, str(product.get("Name") or ""))
        if seq is None:
            return
        changed = datetime.fromisoformat(str(product["LastChangedDateTimeOffset"])).timestamp()
        with self.lock:
            for change in self.changes[name]:
                if change.delivered_at is None and change.seq <= seq:
                    change.delivered_at = changed
                    change.superseded = change.seq < seq


def settle_small(
    dep: Deployment, small: list[Connection], numbers: dict[str, str], timeout: float
) -> float:
    """Wait until every small connection's product is synced and no row is open, stable for
    10 s; the seconds it took."""
    names = [c.name for c in small]
    started = time.monotonic()
    stable_since: float | None = None
    last_count = -1
    reported = 0.0
    while True:
        dep.check_alive()
        rows = dep.query("SELECT connection, kind, key, status FROM entity_links")
        open_rows = sum(1 for r in rows if r[3] in OPEN)
        synced_products = {
            r[0]
            for r in rows
            if r[1] == "product" and r[3] == "synced" and numbers.get(r[0]) == r[2]
        }
        ready = open_rows == 0 and all(n in synced_products for n in names)
        now = time.monotonic()
        if ready and len(rows) == last_count:
            stable_since = stable_since or now
            if now - stable_since >= 10:
                return now - started
        else:
            stable_since = None
        last_count = len(rows)
        if now - started > timeout:
            raise TimeoutError(f"the small connections did not settle in {timeout:g} s")
        if now - reported >= 15:
            reported = now
            statuses = Counter(r[3] for r in rows)
            log(
                f"  t={now - started:.0f} s: {len(rows)} rows {dict(statuses)}, "
                f"{len(synced_products)}/{len(names)} products synced"
            )
        time.sleep(1.0)


def big_counts(dep: Deployment) -> tuple[int, int]:
    """(rows done, rows open) of the big connection."""
    rows = dict(
        dep.query(
            "SELECT status IN ('pending', 'in_flight', 'unknown'), count(*) FROM entity_links "
            "WHERE connection = 'big' GROUP BY 1"
        )
    )
    return int(rows.get(False, 0)), int(rows.get(True, 0))


def run_fair(args: argparse.Namespace) -> bool:
    poll = args.poll_interval
    with deployment(args, poll) as dep:
        log(
            f"== fair: {SMALL} small connections + 1 big (Rackbeat scale {args.big_scale}), "
            f"poll interval {poll:g} s, {args.workers} worker(s) x concurrency "
            f"{args.concurrency}, window {args.window:g} s"
        )
        small = [
            dep.add_tenants(f"small-{i:02d}", {"scale": 1, "seed": i + 1})
            for i in range(1, SMALL + 1)
        ]
        numbers = {}
        for c in small:
            state = dep.call(dep.rackbeat_root, "state", params={"account": c.account_id})
            numbers[c.name] = str(state["products"][0]["number"])
        dep.store(small)
        for _ in range(args.workers):
            dep.start_worker(args.concurrency)
        if args.poller:
            dep.start_poller(args.poller)
        dep.start_beat()
        log("  the small connections' first sync ...")
        took = settle_small(dep, small, numbers, args.settle_timeout)
        log(f"  small connections settled in {took:.0f} s")

        t = time.monotonic()
        big = dep.add_tenants("big", {"scale": args.big_scale, "seed": 99})
        summary = dep.call(dep.rackbeat_root, f"accounts/{big.account_id}")
        dep.store([big])
        log(f"  big account added in {time.monotonic() - t:.1f} s: {summary['records']}")
        until(
            "the big push's first synced row",
            lambda: big_counts(dep)[0] > 0 or dep.check_alive(),
            args.settle_timeout,
            1.0,
        )
        log(f"  big push under way; warm-up {args.warmup:g} s")
        time.sleep(args.warmup)
        dep.check_alive()

        watcher = Watcher(dep, small, numbers, args.watch_every)
        watcher.thread.start()
        t0 = math.ceil(time.time())
        time.sleep(max(0.0, t0 - time.time()))
        big_before = big_counts(dep)
        backlog_before = dep.backlog()
        start = time.monotonic()
        seqs = dict.fromkeys(numbers, 0)
        schedule = sorted(
            (start + offset * args.change_every / SMALL + k * args.change_every, c.name)
            for offset, c in enumerate(small)
            for k in range(int(args.window // args.change_every) + 1)
            if offset * args.change_every / SMALL + k * args.change_every < args.window
        )
        accounts = {c.name: c.account_id for c in small}
        for at, name in schedule:
            time.sleep(max(0.0, at - time.monotonic()))
            seqs[name] += 1
            number = quote(numbers[name], safe="")
            touched = time.time()
            watcher.add(Change(name, seqs[name], touched))
            dep.call(
                dep.rackbeat_root,
                f"touch/products/{number}",
                "POST",
                params={"account": accounts[name]},
                json={"name": product_name(name, seqs[name])},
            )
        time.sleep(max(0.0, start + args.window - time.monotonic()))
        t1 = int(time.time())
        big_after = big_counts(dep)
        backlog_after = dep.backlog()
        dep.check_alive()
        log(
            f"  window over ({t1 - t0} s); waiting up to {args.drain:g} s for "
            f"{watcher.pending()} undelivered changes"
        )
        with contextlib.suppress(TimeoutError):
            until("the last changes", lambda: watcher.pending() == 0, args.drain, 0.5)
        watcher.stop.set()
        watcher.thread.join(30)
        watcher.ended = time.time()
        po = dep.window(dep.poweroffice_root, t0, t1)
        rb = dep.window(dep.rackbeat_root, t0, t1)
        window = FairWindow(
            t0, t1, po, rb, big_before, big_after, backlog_before, backlog_after, dep.polls(t0, t1)
        )
        return report_fair(args, dep, [*small, big], watcher, window)


@dataclass(frozen=True)
class FairWindow:
    """What was counted over the measurement window ``[t0, t1)``."""

    t0: int
    t1: int
    po: dict[str, Any]
    rb: dict[str, Any]
    big_before: tuple[int, int]
    big_after: tuple[int, int]
    backlog_before: dict[str, int]
    backlog_after: dict[str, int]
    polls: dict[str, Any]


def report_fair(
    args: argparse.Namespace,
    dep: Deployment,
    connections: list[Connection],
    watcher: Watcher,
    w: FairWindow,
) -> bool:
    poll = args.poll_interval
    po, rb, span = w.po, w.rb, w.t1 - w.t0
    changes = [c for cs in watcher.changes.values() for c in cs]
    latencies = [c.latency for c in changes]
    rate = po["requests"] / span
    limited = int(po["statuses"].get("429", 0))
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    worst = max(latencies, default=math.nan)
    by_client = po["clients"]
    by_account = rb["accounts"]
    big_key = next(c.client_key for c in connections if c.name == "big")
    big_requests = int(by_client.get(big_key, {}).get("requests", 0))
    small_names = [c.name for c in connections if c.name != "big"]
    tick = dep.env.get("RBSYNC_DISPATCH_INTERVAL_SECONDS", "5")
    log("")
    log(
        f"== fair: window {span} s (epoch {w.t0} to {w.t1}), poll interval {poll:g} s, "
        f"dispatch tick {tick} s, {args.workers} worker(s) x concurrency {args.concurrency}"
    )
    log(
        f"PowerOffice Go, gateway-wide: {po['requests']} requests = {rate:.2f} req/s; "
        f"statuses {po['statuses']}"
    )
    per_second = sorted(int(v) for v in po["per_second"].values())
    if per_second:
        log(
            f"  requests per second: min {per_second[0]}, median "
            f"{per_second[len(per_second) // 2]}, max {per_second[-1]} "
            f"({span - len(per_second)} seconds with none)"
        )
    log(
        f"Rackbeat (all accounts): {rb['requests']} requests = {rb['requests'] / span:.2f} "
        f"req/s; statuses {rb['statuses']}"
    )
    log(
        f"big push: {big_requests} PowerOffice Go requests = "
        f"{big_requests / max(1, po['requests']):.1%} of the window's; rows done "
        f"{w.big_before[0]} -> {w.big_after[0]} ({(w.big_after[0] - w.big_before[0]) / span:.2f}"
        f"/s), open {w.big_before[1]} -> {w.big_after[1]}"
    )
    superseded = sum(1 for c in changes if c.superseded)
    never = sum(1 for c in changes if c.delivered_at is None)
    log(
        f"small connections' changes: {len(changes)} (each connection one every "
        f"{args.change_every:g} s), change -> PowerOffice Go (the product's "
        f"LastChangedDateTimeOffset there): p50 {seconds(p50)}, p95 {seconds(p95)}, max "
        f"{seconds(worst)}; {superseded} superseded before seen (latency of the later value), "
        f"{never} never delivered (within {args.drain:g} s after the window); "
        f"{watcher.reads} state reads, {watcher.errors} errors"
    )
    if never:
        waited = [watcher.ended - c.touched_at for c in changes if c.delivered_at is None]
        log(
            f"  the undelivered changes had waited {min(waited):.0f} to {max(waited):.0f} s "
            "when watching stopped"
        )
    by_connection = w.polls["by_connection"]
    small_polls = sum(n for name, n in by_connection.items() if name != "big")
    expected = len(small_names) * 5 * span / poll
    log(
        f"polls started in the window (poll_cycles): {w.polls['total']} "
        f"{w.polls['statuses']}; small connections {small_polls} (a poll per kind every "
        f"{poll:g} s would be {expected:.0f}), {sum(w.polls['with_changes'].values())} of them "
        f"with changes; big {by_connection.get('big', 0)}"
    )
    log(
        f"broker backlog (messages waiting) at the window's start / end: {w.backlog_before} / "
        f"{w.backlog_after}"
    )
    log("")
    header = (
        "connection",
        "PO req",
        "PO 429",
        "PO req/s",
        "Rackbeat req",
        "polls",
        "changes",
        "p50",
        "max",
    )
    rows = []
    for c in connections:
        mine = [x.latency for x in watcher.changes.get(c.name, [])]
        client = by_client.get(c.client_key, {"requests": 0, "statuses": {}})
        account = by_account.get(c.account_id, {"requests": 0})
        rows.append(
            (
                c.name,
                str(client["requests"]),
                str(client["statuses"].get("429", 0)),
                f"{client['requests'] / span:.2f}",
                str(account["requests"]),
                str(by_connection.get(c.name, 0)),
                str(len(mine)),
                seconds(percentile(mine, 0.5)) if mine else "-",
                seconds(max(mine)) if mine else "-",
            )
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        log(
            "  ".join(
                cell.rjust(widths[i]) if i else cell.ljust(widths[i]) for i, cell in enumerate(r)
            )
        )
    target_latency = 5.0 + poll
    targets = {
        f"PowerOffice Go rate >= {RATE_TARGET} req/s ({rate:.2f})": rate >= RATE_TARGET,
        f"429s == 0 ({limited})": limited == 0,
        f"small change latency p95 <= {target_latency:g} s ({seconds(p95)})": p95 <= target_latency,
    }
    if w.big_after[1] == 0:
        targets["the big push still running at the window's end"] = False
    log("")
    for text, ok in targets.items():
        log(f"{'PASS' if ok else 'FAIL'}  {text}")
    log(f"(logs in {dep.workdir})")
    return all(targets.values())


# --- part 2: idle cost -----------------------------------------------------------------------
def run_idle(args: argparse.Namespace) -> bool:
    interval = args.idle_poll_interval
    with deployment(args, interval) as dep:
        count = args.idle_connections
        log(
            f"== idle: {count} idle connections, poll interval {interval:g} s, dispatch tick "
            f"{dep.env.get('RBSYNC_DISPATCH_INTERVAL_SECONDS', '5')} s, {args.workers} "
            f"worker(s) x concurrency {args.concurrency}"
        )
        t = time.monotonic()
        connections = [dep.add_tenants(f"idle-{i:04d}", {"empty": True}) for i in range(count)]
        dep.store(connections)
        log(f"  {count} accounts, clients and stored connections in {time.monotonic() - t:.1f} s")
        for _ in range(args.workers):
            dep.start_worker(args.concurrency)
        if args.poller:
            dep.start_poller(args.poller)
        beat = dep.start_beat()
        log(f"  warm-up: one poll interval ({interval:g} s)")
        time.sleep(interval)
        dep.check_alive()
        t0 = math.ceil(time.time())
        time.sleep(max(0.0, t0 - time.time()))
        backlog0 = dep.backlog()
        worker0 = cpu_seconds(dep.worker_pids())
        beat0 = cpu_seconds(tree(beat.pid))
        sandbox0 = cpu_seconds(tree(dep.sandbox.pid))
        time.sleep(interval)
        t1 = math.ceil(time.time())
        time.sleep(max(0.0, t1 - time.time()))
        worker1 = cpu_seconds(dep.worker_pids())
        beat1 = cpu_seconds(tree(beat.pid))
        sandbox1 = cpu_seconds(tree(dep.sandbox.pid))
        backlog1 = dep.backlog()
        dep.check_alive()
        time.sleep(2)  # the window's last second fully answered
        rb = dep.window(dep.rackbeat_root, t0, t1)
        po = dep.window(dep.poweroffice_root, t0, t1)
        polls = dep.polls(t0, t1)
        polled = len(polls["by_connection"])
        total_polls = int(polls["total"])
        span = t1 - t0
        per_interval = interval / span
        worker = worker1 - worker0
        beat_cpu = beat1 - beat0
        log("")
        log(
            f"== idle: {count} connections, measured over {span} s (one poll interval of "
            f"{interval:g} s, after a warm-up of one)"
        )
        log(
            f"polls run (poll_cycles started): {total_polls} {polls['statuses']} for {polled} "
            f"connections (expected {count} x 5 kinds = {count * 5} per interval)"
        )
        log(
            f"Rackbeat: {rb['requests']} requests ({rb['requests'] * per_interval:.0f} per "
            f"interval, {rb['requests'] * per_interval / count:.2f} per connection per interval; "
            f"{rb['requests'] / span:.1f} req/s), statuses {rb['statuses']}"
        )
        log(
            f"PowerOffice Go: {po['requests']} requests "
            f"({po['requests'] * per_interval / count:.3f} per connection per interval), "
            f"statuses {po['statuses']}"
        )
        log(
            f"worker CPU (process tree): {worker:.1f} s ({worker / span:.2f} cores; "
            f"{worker * 1000 * per_interval / count:.1f} ms per connection per interval, "
            f"{worker * 1000 / max(1, total_polls):.1f} ms per poll)"
        )
        log(
            f"beat CPU: {beat_cpu:.2f} s ({beat_cpu * 1000 * per_interval / count:.2f} ms per "
            f"connection per interval); emulators CPU {sandbox1 - sandbox0:.1f} s"
        )
        log(f"broker backlog (messages waiting) at start / end: {backlog0} / {backlog1}")
        log(f"(logs in {dep.workdir})")
    return True


# --- entry -----------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", nargs="?", default="fair", choices=["fair", "idle"])
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--poller",
        type=int,
        default=2,
        help="concurrency of the Procfile's poller (polls, tick, webhooks); 0: none",
    )
    parser.add_argument(
        "--concurrency", type=int, default=4, help="each worker's --concurrency (default 4)"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an environment variable for rbsync's processes (repeatable)",
    )
    fair = parser.add_argument_group("fair")
    fair.add_argument("--poll-interval", type=float, default=5.0)
    fair.add_argument(
        "--big-scale",
        type=int,
        default=14000,
        help="the big account's Rackbeat scale (14,000: ~20,000 entities)",
    )
    fair.add_argument("--window", type=float, default=150.0, help="measurement seconds")
    fair.add_argument(
        "--warmup", type=float, default=20.0, help="seconds after the big push's first synced row"
    )
    fair.add_argument(
        "--change-every",
        type=float,
        default=10.0,
        help="seconds between two changes of one small connection",
    )
    fair.add_argument("--watch-every", type=float, default=1.0)
    fair.add_argument("--drain", type=float, default=120.0)
    fair.add_argument("--settle-timeout", type=float, default=900.0)
    idle = parser.add_argument_group("idle")
    idle.add_argument("--idle-connections", type=int, default=1000)
    idle.add_argument("--idle-poll-interval", type=float, default=120.0)
    args = parser.parse_args()
    for pair in args.env:
        if "=" not in pair:
            parser.error(f"--env {pair!r} is not KEY=VALUE")

    def terminate(signum: int, frame: object) -> None:
        del signum, frame
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        passed = run_fair(args) if args.part == "fair" else run_idle(args)
    except KeyboardInterrupt:
        log("interrupted: everything started was stopped, the database dropped")
        raise SystemExit(130) from None
    raise SystemExit(0 if passed else 1)


if __name__ == "__main__":
    main()

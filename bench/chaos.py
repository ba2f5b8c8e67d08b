"""Chaos benchmark: the Procfile's processes in production mode, faults during a first push.

Per scenario, from nothing: a private ``redis-server`` (no persistence, on a free port, so it
can be restarted), a private PostgreSQL database ``rbsync_chaos_<random>`` (migrated with
``rbsync db upgrade``), both emulators (``rbsync sandbox``, seeded with ``--scale 800``: about
1,000 entities of every kind, rate limits on as in production), two workers and one beat run
with the Procfile's own command lines (``sh -c``; concurrency 2, a ``--hostname`` each) and a
poll every 5 s. Once the first entity is synced the push is under way and the scenario's fault
starts:

- ``sigkill-main``: SIGKILL a worker's main process every 10 s (the two in turn), restarting
  it at once, for 2 minutes or until the push is done;
- ``sigkill-child``: the same, killing one of a worker's prefork pool children (the pool
  replaces it);
- ``redis-restart``: once ``--fault-at`` of the entities are done, stop the private Redis,
  keep it down 10 s (everything in it is lost), start it again on the same port;
- ``pg-outage``: once ``--fault-at`` of the entities are done, 16 s in which the ledger
  database refuses connections (``ALTER DATABASE ... ALLOW_CONNECTIONS false``) and its
  connections are terminated every 0.5 s (``pg_terminate_backend``); only that database;
- ``faults-and-changes``: PowerOffice Go answers 20 % of writes with 503 and drops the
  connection after committing 20 % (``sandbox.faults``) while 150 products, BOMs and customers
  change in Rackbeat (the admin ``touch``), until the push is ``--fault-until`` done;
- ``second-beat``: a second beat runs the whole time; once the push has settled, 150 records
  change in Rackbeat, polled by both beats' schedules;
- ``baseline`` (not in the default set): no fault; the settle time is the push's duration.

Each scenario proves its fault happened (the killed pid existed and died; a Redis ping failed;
PostgreSQL refused a connection; the emulator's fault counters moved; the second beat sent
polls) and fails otherwise. Then the harness polls the ledger every second and, once no row is
open, both emulators' states (``bench/chaos_audit.py`` says exactly what it counts and why),
until everything is settled -- every row synced or skipped on purpose (or failed for a bad
record) and PowerOffice Go matching Rackbeat's latest -- or ``--settle-timeout`` has passed
since the last fault. It prints one row per scenario, and PASS/FAIL per target of issue 13:
0 duplicates, 0 missing, 0 stale, settled within 60 s of the last fault; exit status 1 when a
target is missed (or a fault could not be injected).

Usage (from the checkout; PostgreSQL on 127.0.0.1:5432 as in DEVELOPERS.md, ``redis-server``
on the PATH)::

    .venv/bin/python bench/chaos.py                          # every scenario, ~5-20 min each
    .venv/bin/python bench/chaos.py --scenario sigkill-main --scenario pg-outage
    .venv/bin/python bench/chaos.py --env RBSYNC_LEASE_SECONDS=10 --env RBSYNC_LOG_LEVEL=info

The processes inherit this environment (any ``RBSYNC_*`` setting passes through), then
``--env`` on top; the private servers' URLs, the sandbox's credentials and
``RBSYNC_DATA_DIR`` are always the harness's. Logs stay in the printed work directory.
Everything it starts is stopped, and the database dropped, also on Ctrl-C or an error.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import redis
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos_audit import SOURCES, Audit, LedgerCounts, audit, duplicates, ledger_counts
from pipeline import PG_SERVER, log

from worker.flower.testing import free_port

__all__ = ["Row", "audit", "duplicates", "ledger_counts", "main", "procfile", "table", "verdicts"]

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RBSYNC = str(BIN / "rbsync")
SCALE = 800
"""Rackbeat products of the sandbox (-> ~1,018 entities of every kind)."""
KILL_EVERY_SECONDS = 10.0
KILL_FOR_SECONDS = 120.0
REDIS_DOWN_SECONDS = 10.0
PG_OUTAGE_SECONDS = 16.0
CHANGES = 150
SETTLE_TARGET_SECONDS = 60.0
PUSH_START_TIMEOUT_SECONDS = 180.0
OPEN = ("pending", "in_flight", "unknown")
SCENARIOS = (
    "sigkill-main",
    "sigkill-child",
    "redis-restart",
    "pg-outage",
    "faults-and-changes",
    "second-beat",
)
EXTRA_SCENARIOS = ("baseline",)


class FaultNotInjectedError(RuntimeError):
    """A scenario could not prove that its fault happened."""


# --- processes -------------------------------------------------------------------------------
def procfile() -> dict[str, str]:
    """The Procfile's process types and command lines."""
    commands = {}
    for line in (ROOT / "Procfile").read_text(encoding="utf-8").splitlines():
        name, colon, command = line.partition(":")
        if colon and not line.startswith("#"):
            commands[name.strip()] = command.strip()
    return commands


@dataclass
class Proc:
    """One process the harness started, in a session of its own."""

    name: str
    popen: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None


class Processes:
    """Starts processes and kills every one of them (and their process groups) at the end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[Proc] = []

    def start(self, name: str, command: list[str], env: dict[str, str], cwd: Path) -> Proc:
        with (self.workdir / f"{name}.log").open("ab") as out:
            popen = subprocess.Popen(
                command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        proc = Proc(name, popen)
        self.started.append(proc)
        return proc

    def stop(self, proc: Proc, sig: int = signal.SIGKILL, timeout: float = 30.0) -> None:
        """Signal ``proc``'s whole process group (orphaned pool children included)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.popen.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            self.stop(proc)


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (a prefork worker's pool processes)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return sorted(found)


def gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs (no process, or a zombie its parent has not reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def until(what: str, probe: Callable[[], Any], seconds: float, step: float = 0.5) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError(f"timed out after {seconds:g} s waiting for {what}")


# --- the private servers ---------------------------------------------------------------------
class PrivateRedis:
    """A ``redis-server`` of our own, without persistence, restartable on its port."""

    def __init__(self, processes: Processes, workdir: Path) -> None:
        self.processes = processes
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: Proc | None = None

    def start(self) -> None:
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
        ]  # fmt: skip
        self.proc = self.processes.start("redis", command, dict(os.environ), self.workdir)
        until("redis-server", self.ping, 30, 0.1)

    def stop(self) -> None:
        assert self.proc is not None
        self.processes.stop(self.proc, signal.SIGTERM)

    def ping(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.RedisError:
            return False


@contextlib.contextmanager
def private_database() -> Iterator[tuple[str, str]]:
    """(name, URL) of a fresh database on the PostgreSQL server, dropped afterwards."""
    name = f"rbsync_chaos_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield name, sa.make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --- one scenario's run ----------------------------------------------------------------------
@dataclass
class Row:
    """What is printed for a scenario."""

    scenario: str
    entities: int = 0
    duplicates: int = 0
    missing: int = 0
    stale: int = 0
    stuck: int = 0
    failed_dead: int = 0
    settle_seconds: float | None = None
    """From the last fault to settled; None: not settled within the timeout."""
    settle_timeout: float = 0.0
    push_seconds: float | None = None
    fault: str = ""
    error: str = ""

    def targets(self) -> dict[str, bool]:
        settled = self.settle_seconds is not None and self.settle_seconds <= SETTLE_TARGET_SECONDS
        return {
            "duplicates": not self.error and self.duplicates == 0,
            "missing": not self.error and self.missing == 0,
            "stale": not self.error and self.stale == 0,
            "settled": not self.error and settled,
        }

    def settle_text(self) -> str:
        if self.settle_seconds is None:
            return f">{self.settle_timeout:.0f}"
        return f"{self.settle_seconds:.0f}"


@dataclass
class Run:
    """Everything one scenario runs against."""

    args: argparse.Namespace
    workdir: Path
    processes: Processes
    redis: PrivateRedis
    db_name: str
    env: dict[str, str]
    engine: sa.Engine
    rackbeat_root: str
    poweroffice_root: str
    contacts: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    entities: int = 0
    workers: list[Proc] = field(default_factory=list)
    beats: list[Proc] = field(default_factory=list)
    push_started: float = 0.0

    # --- processes ---
    def start_worker(self, index: int) -> Proc:
        line = procfile()["worker"]
        command = f"exec {line} --hostname=chaos-{index}@%h"
        proc = self.processes.start(
            f"worker-{index}", ["sh", "-c", command], self.env, self.workdir
        )
        if index < len(self.workers):
            self.workers[index] = proc
        else:
            self.workers.append(proc)
        return proc

    def start_beat(self, index: int) -> Proc:
        env = {**self.env, "RBSYNC_DATA_DIR": str(self.workdir / f"beat-{index}")}
        proc = self.processes.start(
            f"beat-{index}", ["sh", "-c", procfile()["beat"]], env, self.workdir
        )
        self.beats.append(proc)
        return proc

    # --- the ledger ---
    def ledger_rows(self) -> list[tuple[str, str, str]] | None:
        """(kind, key, status) of every row; None while the database cannot be read."""
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT kind, key, status FROM entity_links")).all()
        except sa.exc.SQLAlchemyError:
            return None
        return [(str(k), str(key), str(s)) for k, key, s in rows]

    def progress(self) -> float:
        """The share of the entities whose rows are done (synced, skipped, failed, dead)."""
        rows = self.ledger_rows()
        if rows is None or not self.entities:
            return 0.0
        return sum(1 for _, _, status in rows if status not in OPEN) / self.entities

    def push_done(self) -> bool:
        rows = self.ledger_rows()
        return rows is not None and len(rows) >= self.entities and self.progress() >= 1.0

    # --- the emulators ---
    def admin(self, root: str, path: str, method: str = "GET", body: Any = None) -> Any:
        response = httpx.request(method, f"{root}/_sandbox/{path}", json=body, timeout=120)
        response.raise_for_status()
        return response.json()

    def check(self) -> tuple[Audit, LedgerCounts] | None:
        """The audit and the ledger's counts; None while the ledger cannot be read."""
        rows = self.ledger_rows()
        if rows is None:
            return None
        checked = audit(
            self.admin(self.rackbeat_root, "state"),
            self.admin(self.poweroffice_root, "state"),
            self.contacts,
            customer_number_from_rackbeat=self.env.get(
                "RBSYNC_CUSTOMER_NUMBER_FROM_RACKBEAT", ""
            ).lower()
            in ("1", "true", "yes", "on"),
        )
        return checked, ledger_counts(rows, checked)

    def explain(self, kind: str, key: str, fields: tuple[str, ...]) -> str:
        """One stale entity, for the log: Rackbeat's latest, the ledger's row, PowerOffice Go's
        value of the first differing field."""
        resource = "Customers" if kind == "customer" else "Products"
        source = _field_of(resource, fields)
        state = self.admin(self.rackbeat_root, "state")
        record = next((r for r in state[SOURCES[kind]] if str(r["number"]) == key), {})
        match = "ExternalImportReference" if kind == "customer" else "Code"
        wanted = f"rackbeat-customer-{key}" if kind == "customer" else key
        twin = next(
            (
                r
                for r in self.admin(self.poweroffice_root, "state")["resources"][resource]
                if r.get(match) == wanted
            ),
            {},
        )
        with self.engine.connect() as conn:
            link = conn.execute(
                sa.text(
                    "SELECT status, source_updated_at, snapshot, snapshot_version, synced_at, "
                    "written FROM entity_links WHERE kind = :kind AND key = :key"
                ),
                {"kind": kind, "key": key},
            ).first()
        if link is None:
            return "no ledger row"
        status, updated, snapshot, version, synced_at, written = link
        return (
            f"fields {list(fields)}; Rackbeat {source}={record.get(source)!r} "
            f"(updated {record.get('updated_at')}); ledger {status}, snapshot v{version} "
            f"{source}={(snapshot or {}).get(source)!r} (updated {updated}), synced {synced_at}, "
            f"written {fields[0]}={(written or {}).get(fields[0])!r}; PowerOffice Go "
            f"{fields[0]}={twin.get(fields[0])!r}"
        )

    def touch(self, rng: random.Random, count: int, spread_seconds: float) -> int:
        """Change ``count`` products, BOMs and customers in Rackbeat (some several times)."""
        state = self.admin(self.rackbeat_root, "state")
        pool = (
            [("products", str(p["number"])) for p in state["products"]] * 4
            + [("lots", str(p["number"])) for p in state["lots"]]
            + [("customers", str(c["number"])) for c in state["customers"]]
        )
        done = 0
        for index in range(count):
            resource, number = rng.choice(pool)
            if resource == "customers":
                fields: dict[str, Any] = {"contact_phone": f"+47 9{rng.randrange(10**7):07d}"}
            else:
                fields = {"name": f"Endret {index} {rng.randrange(10**6)}"}
            self.admin(
                self.rackbeat_root, f"touch/{resource}/{quote(number, safe='')}", "POST", fields
            )
            done += 1
            time.sleep(spread_seconds / count)
        return done


# --- the scenarios -----------------------------------------------------------------------------
Fault = Callable[[Run], tuple[str, float]]
"""Injects a scenario's fault: (evidence, the monotonic time the last fault ended)."""


def _kills(run: Run, kill: Callable[[Run, int], str]) -> tuple[str, float]:
    first = run.push_started + KILL_EVERY_SECONDS
    kills: list[str] = []
    last = time.monotonic()
    number = 0
    while True:
        next_at = first + number * KILL_EVERY_SECONDS
        time.sleep(max(0.0, next_at - time.monotonic()))
        if time.monotonic() - first > KILL_FOR_SECONDS or run.push_done():
            break
        kills.append(kill(run, number % len(run.workers)))
        last = time.monotonic()
        number += 1
        log(f"  kill {number} at t={last - run.push_started:.0f} s: {kills[-1]} "
            f"({run.progress():.0%} done)")  # fmt: skip
    if not kills:
        raise FaultNotInjectedError("the push ended before the first kill")
    return f"{len(kills)} SIGKILLs, each pid seen alive then dead", last


def kill_main(run: Run, index: int) -> str:
    worker = run.workers[index]
    if not worker.alive():
        raise FaultNotInjectedError(f"worker {index} (pid {worker.pid}) was not running")
    os.kill(worker.pid, signal.SIGKILL)
    worker.popen.wait(timeout=10)
    if worker.popen.returncode != -signal.SIGKILL:
        raise FaultNotInjectedError(f"pid {worker.pid} ended with {worker.popen.returncode}")
    run.start_worker(index)
    return f"main pid {worker.pid} killed, worker restarted"


def kill_child(run: Run, index: int) -> str:
    worker = run.workers[index]
    pool = children(worker.pid)
    if not pool or not worker.alive():
        raise FaultNotInjectedError(f"worker {index} (pid {worker.pid}) has no pool child")
    child = random.choice(pool)
    os.kill(child, signal.SIGKILL)
    until(f"pool child {child} to die", lambda: gone(child), 10, 0.05)
    return f"pool child {child} of {worker.pid} killed"


def sigkill_main(run: Run) -> tuple[str, float]:
    return _kills(run, kill_main)


def sigkill_child(run: Run) -> tuple[str, float]:
    return _kills(run, kill_child)


def _wait_for_fault_point(run: Run) -> None:
    until(f"{run.args.fault_at:.0%} of the push", lambda: run.progress() >= run.args.fault_at,
          run.args.settle_timeout)  # fmt: skip
    if run.push_done():
        raise FaultNotInjectedError("the push was done before the fault point")


def redis_restart(run: Run) -> tuple[str, float]:
    _wait_for_fault_point(run)
    down = time.monotonic()
    run.redis.stop()
    if run.redis.ping():
        raise FaultNotInjectedError("Redis still answered after it was stopped")
    time.sleep(max(0.0, down + REDIS_DOWN_SECONDS - time.monotonic()))
    failed_ping = not run.redis.ping()
    run.redis.start()
    up = time.monotonic()
    if not failed_ping:
        raise FaultNotInjectedError("Redis answered while it should have been down")
    return f"Redis down {up - down:.1f} s (pings failed), restarted empty", up


def pg_outage(run: Run) -> tuple[str, float]:
    _wait_for_fault_point(run)
    admin = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    name = run.db_name
    url = sa.make_url(run.env["RBSYNC_DATABASE_URL"])
    terminated = refused = 0
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            start = time.monotonic()
            while time.monotonic() - start < PG_OUTAGE_SECONDS:
                terminated += int(
                    conn.execute(
                        sa.text(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE datname = :name AND pid <> pg_backend_pid()"
                        ),
                        {"name": name},
                    ).scalar_one()
                )
                probe = sa.create_engine(url, poolclass=sa.pool.NullPool)
                try:
                    with probe.connect():
                        pass
                except sa.exc.OperationalError:
                    refused += 1
                finally:
                    probe.dispose()
                time.sleep(0.5)
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            end = time.monotonic()
    finally:
        admin.dispose()
    if not refused:
        raise FaultNotInjectedError("PostgreSQL never refused a connection")
    return (
        f"{end - start:.0f} s: {refused} connections refused, {terminated} backends terminated",
        end,
    )


def faults_and_changes(run: Run) -> tuple[str, float]:
    rules = []
    for method in ("POST", "PATCH"):
        route = f"{method} /v2/*"
        rules += [
            {"route": route, "error_rate": 0.2, "status": 503},
            {"route": route, "commit_then_drop_rate": 0.2},
        ]
    run.admin(run.poweroffice_root, "faults", "PUT", rules)
    start = time.monotonic()
    try:
        touched = run.touch(random.Random(13), CHANGES, run.args.change_seconds)
        last_touch = time.monotonic()
        with contextlib.suppress(TimeoutError):
            until(
                f"{run.args.fault_until:.0%} of the push",
                lambda: run.progress() >= run.args.fault_until,
                max(0.0, start + run.args.fault_seconds - time.monotonic()),
            )
    finally:
        injected = run.admin(run.poweroffice_root, "faults")
        run.admin(run.poweroffice_root, "faults", "DELETE")
    end = time.monotonic()
    errors = sum(r["injected"] for r in injected if r["error_rate"])
    drops = sum(r["injected"] for r in injected if r["commit_then_drop_rate"])
    if not errors or not drops or not touched:
        raise FaultNotInjectedError(f"503s {errors}, drops {drops}, changes {touched}")
    return (
        f"{touched} changes, {errors} x 503, {drops} commit-then-drop in {end - start:.0f} s",
        max(end, last_touch),
    )


def second_beat(run: Run) -> tuple[str, float]:
    until("the push", run.push_done, run.args.settle_timeout, 1.0)
    touched = run.touch(random.Random(6), CHANGES, 10.0)
    last = time.monotonic()
    sent = [
        (run.workdir / f"{beat.name}.log").read_text(errors="replace").count("Sending due task")
        for beat in run.beats
    ]
    if len(run.beats) < 2 or not all(sent) or not all(beat.alive() for beat in run.beats):
        raise FaultNotInjectedError(f"beats alive/sent: {sent}")
    return f"2 beats ({sent[0]} and {sent[1]} polls sent), then {touched} changes", last


def baseline(run: Run) -> tuple[str, float]:
    return "none", run.push_started


FAULTS: dict[str, Fault] = {
    "sigkill-main": sigkill_main,
    "sigkill-child": sigkill_child,
    "redis-restart": redis_restart,
    "pg-outage": pg_outage,
    "faults-and-changes": faults_and_changes,
    "second-beat": second_beat,
    "baseline": baseline,
}


# --- running one scenario ----------------------------------------------------------------------
def sandbox_env(processes: Processes, workdir: Path, args: argparse.Namespace) -> dict[str, str]:
    command = [RBSYNC, "sandbox", "--rackbeat-port", "0", "--poweroffice-port", "0",
               "--scale", str(args.scale)]  # fmt: skip
    if not args.rate_limits:
        command.append("--no-rate-limits")
    proc = processes.start("sandbox", command, dict(os.environ), workdir)
    log_path = workdir / "sandbox.log"

    def ready() -> str | None:
        if not proc.alive():
            raise RuntimeError(f"rbsync sandbox exited: {log_path.read_text()[-2000:]}")
        text = log_path.read_text()
        return text if "Ctrl-C" in text else None

    text = until("the emulators", ready, 300, 0.2)
    return dict(re.findall(r"^export (\w+)=(.*)$", text, re.MULTILINE))


def read_contacts(env: dict[str, str], rackbeat: dict[str, Any]) -> dict[int, list[Any]]:
    """The contacts of every customer without an invoice e-mail (the state leaves them out);
    nothing in a scenario changes them, so they are read once."""
    base, token = env["RACKBEAT_BASE_URL"], env["RACKBEAT_API_TOKEN"]
    contacts = {}
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        for customer in rackbeat["customers"]:
            if not customer.get("invoice_email"):
                answer = client.get(f"{base}customers/{customer['number']}/contacts")
                answer.raise_for_status()
                contacts[int(customer["number"])] = answer.json()["customer_contacts"]
    return contacts


def settle(run: Run, last_fault: float, row: Row) -> None:
    """Poll until settled (or the timeout); fill ``row`` with the final counts."""
    deadline = last_fault + run.args.settle_timeout
    reported = 0.0
    result = None
    while True:
        now = time.monotonic()
        rows = run.ledger_rows()
        if rows is not None and all(status not in OPEN for _, _, status in rows):
            result = run.check()
            if result is not None:
                checked, counts = result
                if not checked.missing and not checked.stale and counts.stuck == 0:
                    row.settle_seconds = max(0.0, now - last_fault)
                    row.push_seconds = now - run.push_started
                    break
        if now >= deadline:
            break
        if now - reported >= 15:
            reported = now
            statuses = Counter(status for _, _, status in rows) if rows is not None else "?"
            log(f"  t={now - run.push_started:.0f} s, {now - last_fault:.0f} s after the last "
                f"fault: ledger {dict(statuses) if statuses != '?' else statuses}")  # fmt: skip
        time.sleep(1.0)
    final = run.check() if row.settle_seconds is None else result
    if final is None:
        raise RuntimeError("the ledger could not be read at the end")
    checked, counts = final
    row.entities = checked.entities
    row.duplicates = checked.duplicates
    row.missing = len(checked.missing)
    row.stale = len(checked.stale)
    row.stuck = counts.stuck
    row.failed_dead = counts.failed_dead
    log(f"  ledger: {dict(counts.by_status)} ({counts.rows} rows)")
    if checked.missing:
        log(f"  missing (first 10): {list(checked.missing[:10])}")
    for kind, key, fields in checked.stale[:10]:
        log(f"  stale {kind} {key}: {run.explain(kind, key, fields)}")


def _field_of(resource: str, fields: tuple[str, ...]) -> str:
    """The Rackbeat field behind the first differing PowerOffice Go field (for the log)."""
    names = {"Name": "name", "PhoneNumber": "contact_phone", "UnitPrice": "sales_price"}
    return names.get(fields[0], fields[0]) if resource else fields[0]


def run_scenario(name: str, args: argparse.Namespace, base: Path) -> Row:
    workdir = base / name
    workdir.mkdir(parents=True)
    row = Row(name, settle_timeout=args.settle_timeout)
    log(f"== {name} (logs in {workdir})")
    processes = Processes(workdir)
    with contextlib.ExitStack() as stack:
        stack.callback(processes.stop_all)
        sandbox = sandbox_env(processes, workdir, args)
        private_redis = PrivateRedis(processes, workdir)
        private_redis.start()
        db_name, db_url = stack.enter_context(private_database())
        env = {
            **os.environ,
            "RBSYNC_POLL_INTERVAL_SECONDS": "5",
            "RBSYNC_WORKER_CONCURRENCY": "2",
            **dict(pair.split("=", 1) for pair in args.env),
            **sandbox,
            "RBSYNC_DATABASE_URL": db_url,
            "RBSYNC_BROKER_URL": private_redis.url,
            "RBSYNC_REDIS_URL": private_redis.url,
            "RBSYNC_DATA_DIR": str(workdir / "data"),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        subprocess.run([RBSYNC, "db", "upgrade"], env=env, cwd=workdir, check=True,
                       capture_output=True)  # fmt: skip
        engine = sa.create_engine(
            db_url.replace("postgresql://", "postgresql+psycopg://"), pool_pre_ping=True
        )
        stack.callback(engine.dispose)
        rackbeat_root = sandbox["RACKBEAT_BASE_URL"].split("/api/", maxsplit=1)[0]
        poweroffice_root = sandbox["POWEROFFICE_BASE_URL"].split("/Demo/", maxsplit=1)[0]
        run = Run(args, workdir, processes, private_redis, db_name, env, engine,
                  rackbeat_root, poweroffice_root)  # fmt: skip
        state = run.admin(rackbeat_root, "state")
        run.contacts = read_contacts(env, state)
        run.entities = audit(state, run.admin(poweroffice_root, "state"), run.contacts).entities
        for index in range(2):
            run.start_worker(index)
        run.start_beat(0)
        if name == "second-beat":
            run.start_beat(1)
        synced = "SELECT count(*) FROM entity_links WHERE status = 'synced'"

        def started() -> bool:
            with engine.connect() as conn:
                return bool(conn.execute(sa.text(synced)).scalar_one())

        until("the first synced entity", started, PUSH_START_TIMEOUT_SECONDS)
        run.push_started = time.monotonic()
        log(f"  push under way: {run.entities} entities")
        try:
            row.fault, last_fault = FAULTS[name](run)
        except FaultNotInjectedError as exc:
            row.error = f"fault not injected: {exc}"
            log(f"  {row.error}")
            return row
        log(f"  fault: {row.fault}; last fault at t={last_fault - run.push_started:.0f} s")
        settle(run, last_fault, row)
    return row


# --- output ------------------------------------------------------------------------------------
HEADER = ("scenario", "entities", "duplicates", "missing", "stale", "stuck", "failed/dead",
          "settle s", "fault")  # fmt: skip


def table(rows: list[Row]) -> str:
    lines = [
        (r.scenario, str(r.entities), str(r.duplicates), str(r.missing), str(r.stale),
         str(r.stuck), str(r.failed_dead), r.settle_text(), r.error or r.fault)
        for r in rows
    ]  # fmt: skip
    widths = [max(len(x[i]) for x in [HEADER, *lines]) for i in range(len(HEADER))]
    out = []
    for line in [HEADER, *lines]:
        out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
    return "\n".join(out)


def verdicts(rows: list[Row]) -> tuple[str, bool]:
    lines = []
    passed = True
    for r in rows:
        targets = r.targets()
        passed = passed and all(targets.values())
        parts = [f"{n} {'PASS' if ok else 'FAIL'}" for n, ok in targets.items()]
        lines.append(f"{r.scenario}: " + ", ".join(parts))
    return "\n".join(lines), passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenario", action="append", choices=[*SCENARIOS, *EXTRA_SCENARIOS],
        help="run only this scenario (repeatable; default: all but baseline)",
    )  # fmt: skip
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=900.0,
        help="seconds after the last fault to wait for settling (default 900)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an environment variable for rbsync's processes (repeatable)",
    )
    parser.add_argument(
        "--scale",
        type=int,
        default=SCALE,
        help=f"Rackbeat products of the sandbox (default {SCALE})",
    )
    parser.add_argument(
        "--fault-at",
        type=float,
        default=0.7,
        help="share of the push done when redis-restart and pg-outage strike",
    )
    parser.add_argument(
        "--fault-until",
        type=float,
        default=0.9,
        help="faults-and-changes: faults stay on until this share is done",
    )
    parser.add_argument(
        "--fault-seconds",
        type=float,
        default=180.0,
        help="faults-and-changes: ... or at most this long",
    )
    parser.add_argument(
        "--change-seconds",
        type=float,
        default=60.0,
        help="faults-and-changes: the 150 changes are spread over this long",
    )
    parser.add_argument(
        "--no-rate-limits",
        dest="rate_limits",
        action="store_false",
        help="emulators without their rate limits (default: limits on)",
    )
    args = parser.parse_args()
    for pair in args.env:
        if "=" not in pair:
            parser.error(f"--env {pair!r} is not KEY=VALUE")
    names = args.scenario or list(SCENARIOS)

    def terminate(signum: int, frame: object) -> None:
        del signum, frame
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    base = Path(tempfile.mkdtemp(prefix="rbsync-chaos-"))
    log(f"work directory {base}; rbsync environment extras: {shlex.join(args.env) or '-'}")
    rows: list[Row] = []
    interrupted = False
    try:
        for name in names:
            try:
                rows.append(run_scenario(name, args, base))
            except (TimeoutError, RuntimeError, subprocess.CalledProcessError) as exc:
                rows.append(Row(name, settle_timeout=args.settle_timeout, error=f"error: {exc}"))
                log(f"  {rows[-1].error}")
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: everything started was stopped, the databases dropped")
    if rows:
        log("")
        log(table(rows))
        text, passed = verdicts(rows)
        log("")
        log(text)
    else:
        passed = False
    if interrupted:
        raise SystemExit(130)
    raise SystemExit(0 if passed else 1)


if __name__ == "__main__":
    main()

"""``rbsync demo``: the whole product in a minute, on a machine with nothing but Python.

Honest by construction: both emulators are real HTTP servers on loopback (seeded, realistic
data, rate limits on), the sync is the real pipeline -- ``worker.inprocess.run_once``: a real
Celery worker on the embedded (filesystem) broker, the SQLite ledger, the real clients and
mapping. The demo then changes a few records in the Rackbeat emulator (as a user would), polls
again and shows, from the PowerOffice Go emulator's own counters, that only those were sent.

The demo checks itself: it exits 1 (with the reason) when the first sync left work undone or
the second sync sent anything but the changed records.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from wiring.settings import Settings
from worker.commands._common import (
    EXIT_FAILED,
    cli_command,
    fail,
    kind_names,
    load_cli_settings,
    log_level,
    make_console,
    titled_table,
)
from worker.commands._progress import sync_progress
from worker.logs import configure_logging

if TYPE_CHECKING:
    from sandbox.poweroffice import PowerOfficeBackend
    from sandbox.rackbeat.app import RackbeatEmulator
    from worker.inprocess import OnceReport

__all__ = [
    "DEFAULT_DATA_DIR",
    "DEMO_MARKER",
    "EMBEDDED_FILES",
    "EXAMPLES_PER_KIND",
    "PO_TABLES",
    "demo",
    "rbsync_command",
    "register",
]

DEFAULT_DATA_DIR = Path("var") / "demo"
DEMO_MARKER = ".rbsync-demo"
"""A data directory holding this file was made by the demo and may be wiped by it."""
EMBEDDED_FILES = frozenset(
    {"ledger.sqlite3", "ledger.sqlite3-wal", "ledger.sqlite3-shm", "broker", "locks"}
)
"""What rbsync itself puts in an embedded data directory: such a directory may be wiped too
(e.g. after `RBSYNC_DATA_DIR=var/demo rbsync status` ran before the first demo)."""
EXAMPLES_PER_KIND = 3
RUN_TIMEOUT_SECONDS = 300.0
CHANGED_PRODUCTS = 2
CHANGED_CUSTOMERS = 1
FINAL_STATUSES = frozenset({"synced", "skipped", "failed"})
"""Where every record of the demo must end after the first sync."""
ALL_STATUSES = ("pending", "in_flight", "synced", "skipped", "unknown", "failed", "dead")

PO_TABLES: Mapping[str, tuple[str, ...]] = {
    "ProductGroups": ("Code", "Name", "StandardSalesAccount", "OptionalSalesAccount"),
    "Products": ("Code", "Name", "UnitPrice", "ProductGroupCode", "UnitOfMeasureCode"),
    "Customers": ("ExternalImportReference", "Name", "EmailAddress", "CurrencyCode"),
    "ContactGroups": ("Name",),
    "Suppliers": ("Number", "Name", "OrganizationNumber", "ContactGroupIds"),
    "SalesOrders": ("ExternalImportReference", "CustomerNo", "LineCount", "NetAmount"),
}
"""What the demo shows of each PowerOffice Go collection: a few columns of a few records."""


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command("demo")(demo)


@dataclass
class _Emulators:
    rackbeat: RackbeatEmulator
    poweroffice: PowerOfficeBackend
    environment: dict[str, str]
    rackbeat_url: str
    poweroffice_url: str


@contextmanager
def _emulators(*, seed: int, scale: int, rate_limits: bool) -> Iterator[_Emulators]:
    """Both emulators serving on free loopback ports; stopped when the block ends."""
    from sandbox.launcher import SandboxOptions, build_sandbox, environment
    from sandbox.server import serve_in_thread

    # bad_records: a few records PowerOffice Go must refuse (an unknown country), as real data
    # has; the demo shows how they end. `rbsync sandbox --with-bad-records` serves the same.
    sandbox = build_sandbox(
        SandboxOptions(
            rackbeat_port=0,
            poweroffice_port=0,
            seed=seed,
            rackbeat_scale=scale,
            bad_records=True,
            rate_limits=rate_limits,
        )
    )
    with (
        serve_in_thread(sandbox.rackbeat_app) as rb_server,
        serve_in_thread(sandbox.poweroffice_app) as po_server,
    ):
        yield _Emulators(
            rackbeat=sandbox.rackbeat,
            poweroffice=sandbox.poweroffice,
            environment=environment(sandbox, rb_server.url, po_server.url),
            rackbeat_url=rb_server.url,
            poweroffice_url=po_server.url,
        )


def _demo_settings(env: Mapping[str, str], data_dir: Path) -> Settings:
    """Settings pointing at the emulators, in embedded mode under ``data_dir``.

    The infrastructure URLs are set to None explicitly: an operator's RBSYNC_DATABASE_URL or
    RBSYNC_BROKER_URL in the environment must never receive demo data.
    """
    return load_cli_settings(
        _env_file=None,
        rackbeat_base_url=env["RACKBEAT_BASE_URL"],
        rackbeat_api_token=env["RACKBEAT_API_TOKEN"],
        poweroffice_base_url=env["POWEROFFICE_BASE_URL"],
        poweroffice_token_url=env["POWEROFFICE_TOKEN_URL"],
        poweroffice_application_key=env["POWEROFFICE_APPLICATION_KEY"],
        poweroffice_client_key=env["POWEROFFICE_CLIENT_KEY"],
        poweroffice_subscription_key=env["POWEROFFICE_SUBSCRIPTION_KEY"],
        database_url=None,
        broker_url=None,
        redis_url=None,
        data_dir=data_dir,
    )


def _prepare_data_dir(path: Path) -> Path:
    """An empty directory for the demo's ledger and broker (a previous demo's is wiped)."""
    path = path.resolve()
    if path.exists():
        if not path.is_dir():
            fail(f"--data-dir {path} is a file")
        names = {entry.name for entry in path.iterdir()}
        if names:
            if DEMO_MARKER not in names and not names <= EMBEDDED_FILES:
                fail(f"--data-dir {path} is not empty and was not made by the demo; pick another")
            shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / DEMO_MARKER).write_text("made by `rbsync demo`; wiped by its next run\n")
    return path


def _run(settings: Settings, console: Console, description: str) -> OnceReport:
    """One ``run_once`` (poll every kind, sync all it finds) with a progress bar."""
    from worker.inprocess import run_once

    with sync_progress(console, description):
        return run_once(settings, timeout=RUN_TIMEOUT_SECONDS)


def _ledger_rows(settings: Settings) -> list[dict[str, Any]]:
    """Every ledger row as plain values (the demo's dataset is small)."""
    from ledger import failures
    from wiring.runtime import build_runtime

    runtime = build_runtime(settings)
    try:
        with runtime.sessions() as session:
            links = failures(
                session,
                statuses=(*FINAL_STATUSES, "pending", "in_flight", "unknown", "dead"),
                limit=1_000_000,
            )
            return [
                {
                    "kind": link.kind,
                    "key": link.key,
                    "status": link.status,
                    "remote_id": link.remote_id,
                    "reason": link.last_error,
                    "warnings": list(link.warnings or []),
                    "manual": dict(link.details or {}),
                }
                for link in links
            ]
    finally:
        runtime.close()


def _kind_order(row: Mapping[str, Any]) -> tuple[int, str]:
    kind = str(row["kind"])
    return (
        kind_names().index(kind) if kind in kind_names() else len(kind_names()),
        str(row["key"]),
    )


def _ledger_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    counts: dict[str, Counter[str]] = {}
    for row in rows:
        counts.setdefault(row["kind"], Counter())[row["status"]] += 1
    statuses = ("synced", "skipped", "failed", "dead", "unknown", "pending", "in_flight")
    shown = [s for s in statuses if any(c[s] for c in counts.values())]
    table = titled_table("The ledger: every Rackbeat record and how it ended")
    table.add_column("kind")
    for status in shown:
        table.add_column(status, justify="right")
    for kind in sorted(
        counts, key=lambda k: kind_names().index(k) if k in kind_names() else len(kind_names())
    ):
        table.add_row(kind, *(str(counts[kind][s]) for s in shown))
    return table


def _poweroffice_tables(backend: PowerOfficeBackend) -> list[Table]:
    resources: Mapping[str, list[Mapping[str, Any]]] = backend.snapshot()["resources"]
    tables = []
    for name, columns in PO_TABLES.items():
        records = resources.get(name, [])
        table = titled_table(
            f"{name}: {len(records)} in PowerOffice Go"
            + (f" (first {EXAMPLES_PER_KIND})" if len(records) > EXAMPLES_PER_KIND else "")
        )
        for column in columns:
            table.add_column(column)
        for record in records[:EXAMPLES_PER_KIND]:
            table.add_row(*(_cell(record.get(column)) for column in columns))
        tables.append(table)
    return tables


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _skipped_and_failed(rows: Sequence[Mapping[str, Any]]) -> Table | None:
    chosen = [r for r in rows if r["status"] in ("skipped", "failed", "dead")]
    if not chosen:
        return None
    table = titled_table("Skipped or refused, and why")
    for column in ("kind", "key", "status", "reason"):
        table.add_column(column)
    for row in sorted(chosen, key=_kind_order):
        table.add_row(row["kind"], row["key"], row["status"], row["reason"] or "-")
    return table


def _needs_a_human(rows: Sequence[Mapping[str, Any]]) -> Table | None:
    """R-SUP-4/R-SUP-8 values PowerOffice Go v2 cannot take, and every mapping warning."""
    table = titled_table("Needs a human (set by hand in PowerOffice Go, or fix in Rackbeat)")
    for column in ("kind", "key", "what"):
        table.add_column(column)
    any_row = False
    for row in sorted(rows, key=_kind_order):
        manual = row["manual"]
        if manual:
            values = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(manual.items()))
            table.add_row(
                row["kind"], row["key"], f"set by hand (PowerOffice Go v2 has no field): {values}"
            )
            any_row = True
        for warning in row["warnings"]:
            text = (
                warning.get("message", str(warning))
                if isinstance(warning, Mapping)
                else str(warning)
            )
            table.add_row(row["kind"], row["key"], text)
            any_row = True
    return table if any_row else None


def _touch_records(
    rackbeat: RackbeatEmulator, rows: Sequence[Mapping[str, Any]]
) -> list[tuple[str, str, str]]:
    """Change a few synced records in Rackbeat, as a user would: (kind, key, what changed)."""
    synced = sorted(
        (r for r in rows if r["status"] == "synced" and r["remote_id"]), key=_kind_order
    )
    products = [r["key"] for r in synced if r["kind"] == "product"][:CHANGED_PRODUCTS]
    customers = [r["key"] for r in synced if r["kind"] == "customer"][:CHANGED_CUSTOMERS]
    changed: list[tuple[str, str, str]] = []
    for key in products:
        record = rackbeat.state.get("products", key)
        assert record is not None, key
        old = float(record["sales_price"])
        new = round(old * 1.1, 2)
        rackbeat.state.touch("products", key, {"sales_price": new})
        changed.append(("product", key, f"sales price {old:g} -> {new:g}"))
    for key in customers:
        phone = "+47 22 33 44 55"
        rackbeat.state.touch("customers", key, {"contact_phone": phone})
        changed.append(("customer", key, f"phone -> {phone}"))
    return changed


@dataclass
class _DemoRun:
    """The demo's phases, sharing the console, the emulators, the timings and the verdict."""

    console: Console
    emulators: _Emulators
    settings: Settings
    timings: list[tuple[str, float]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def require(self, ok: bool, problem: str) -> None:
        """Note a problem when ``ok`` is false (the demo then exits 1)."""
        if not ok:
            self.problems.append(problem)

    @contextmanager
    def timed(self, label: str) -> Iterator[None]:
        """Record how long the block took under ``label``."""
        start = time.monotonic()
        try:
            yield
        finally:
            self.timings.append((label, time.monotonic() - start))

    def introduce(self, directory: Path, *, rate_limits: bool) -> None:
        """Say what runs where."""
        emulators, console = self.emulators, self.console
        records = {
            k: len(v) for k, v in emulators.rackbeat.snapshot().items() if isinstance(v, list)
        }
        console.print(
            f"Rackbeat emulator       {emulators.rackbeat_url}/api/   "
            f"{records.get('products', 0)} products, {records.get('lots', 0)} BOMs, "
            f"{records.get('customers', 0)} customers, {records.get('suppliers', 0)} suppliers, "
            f"{records.get('customer_invoices', 0)} invoices"
        )
        console.print(
            f"PowerOffice Go emulator {emulators.poweroffice_url}/Demo/v2   empty company"
        )
        console.print(
            f"Ledger (SQLite) and broker (filesystem) under {directory}; "
            f"rate limits {'on' if rate_limits else 'off'}"
        )

    def first_sync(self) -> list[dict[str, Any]]:
        """Poll every kind and sync it all; show what landed, what not and what needs a human."""
        console = self.console
        console.rule("1. First sync: poll every kind, sync the records in batches")
        with self.timed("first sync"):
            report = _run(self.settings, console, "first sync")
        self.require(not report.timed_out, "the first sync timed out")
        self.require(not report.errors, f"tasks raised: {report.errors[:3]}")
        rows = _ledger_rows(self.settings)
        unfinished = [f"{r['kind']} {r['key']}" for r in rows if r["status"] not in FINAL_STATUSES]
        self.require(not unfinished, f"records did not finish: {unfinished[:5]}")
        console.print(_ledger_table(rows))
        console.rule("What landed in PowerOffice Go")
        for table in _poweroffice_tables(self.emulators.poweroffice):
            console.print(table)
        for extra in (_skipped_and_failed(rows), _needs_a_human(rows)):
            if extra is not None:
                console.print(extra)
        return rows

    def change_and_poll(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Change a few records in Rackbeat, poll again, prove only those were sent."""
        console, backend = self.console, self.emulators.poweroffice
        console.rule("2. A user changes a few records in Rackbeat; the next poll sends only those")
        changed = _touch_records(self.emulators.rackbeat, rows)
        for kind, key, what in changed:
            console.print(f"  changed {kind} {key}: {what}")
        backend.counters.reset()
        with self.timed("second poll"):
            report = _run(self.settings, console, "second poll")
        counters = backend.counters.snapshot()
        table = titled_table("PowerOffice Go requests of the second poll")
        table.add_column("request")
        table.add_column("count", justify="right")
        for request, count in counters["requests"].items():
            table.add_row(request, str(count))
        console.print(table)
        expected = {(kind, key) for kind, key, _ in changed}
        updated = {
            (str(r["kind"]), str(r["key"]))
            for r in report.entities.values()
            if r.get("outcome") == "updated"
        }
        console.print(f"Records updated: {', '.join(f'{k} {v}' for k, v in sorted(updated))}")
        self.require(not report.timed_out and not report.errors, "the second poll failed")
        self.require(
            updated == expected, f"expected {sorted(expected)} updated, got {sorted(updated)}"
        )
        created = sum(c.get("created", 0) for c in counters["writes"].values())
        patched = int(sum(c.get("updated", 0) for c in counters["writes"].values()))
        self.require(created == 0, f"the second poll created {created} record(s)")
        self.require(patched == len(expected), f"{patched} PATCHes, expected {len(expected)}")
        return patched

    def conclude(self, started: float, patched: int, directory: Path) -> None:
        """Timings, the verdict, what to try next."""
        console = self.console
        console.rule("Timing")
        for label, seconds in self.timings:
            console.print(f"  {label:<22} {seconds:6.1f} s")
        console.print(f"  {'total':<22} {time.monotonic() - started:6.1f} s")
        if self.problems:
            for problem in self.problems:
                console.print(f"[red]demo check failed:[/red] {problem}")
            raise typer.Exit(EXIT_FAILED)
        console.print(
            f"Only the changed records were sent: {patched} PATCH, 0 creates. Demo complete."
        )
        rbsync = rbsync_command()
        data_dir = shlex.quote(str(directory))
        # Whole commands, one a line, never wrapped or read as markup: they are for copying.
        for line in (
            "Look around the demo's ledger:",
            f"  RBSYNC_DATA_DIR={data_dir} {rbsync} status",
            f"  RBSYNC_DATA_DIR={data_dir} {rbsync} failures --status skipped",
            f"Next: README.md, {rbsync} --help.",
        ):
            console.print(line, markup=False, soft_wrap=True)


def rbsync_command() -> str:
    """How to run this very rbsync from any directory, quoted for a POSIX shell.

    ``./scripts/demo`` runs ``.venv/bin/rbsync`` without putting the venv on PATH, so a bare
    ``rbsync`` fails ("command not found") unless it is on PATH and is this one. The absolute
    path of the script next to this Python (a venv's ``bin``), or of the script this process
    was started as, works from wherever the user is.
    """
    candidates = [Path(sys.executable).with_name("rbsync"), Path(sys.argv[0])]
    script = next(
        (c for c in candidates if c.name == "rbsync" and c.is_file() and os.access(c, os.X_OK)),
        None,
    )
    if script is None:
        return "rbsync"
    on_path = shutil.which("rbsync")
    if on_path is not None and os.path.samefile(on_path, script):
        return "rbsync"
    return shlex.quote(os.path.abspath(script))


@cli_command
def demo(
    *,
    scale: Annotated[int, typer.Option(help="Products in the Rackbeat emulator.", min=1)] = 50,
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = 1,
    rate_limits: Annotated[
        bool,
        typer.Option(
            "--rate-limits/--no-rate-limits",
            help="Enforce the real limits (Rackbeat 480/min, PowerOffice Go 10/s).",
        ),
    ] = True,
    data_dir: Annotated[
        Path,
        typer.Option(help="Where the demo's SQLite ledger and broker files go (wiped first)."),
    ] = DEFAULT_DATA_DIR,
) -> None:
    """See rbsync work in under a minute: emulators, a real worker, a real ledger.

    Starts both emulators with a realistic dataset, syncs it with the real pipeline (a Celery
    worker on the embedded broker, a SQLite ledger), shows what landed in PowerOffice Go, what
    was skipped and why and what needs a human; then changes a few records in Rackbeat, polls
    again and shows that only those were sent. Needs no server and no credentials. Exits 1 when
    the demo's own checks fail.
    """
    from worker.embedded_broker import install_fixes

    started = time.monotonic()
    # kombu's filesystem transport can hand a half-written message file to the worker (it then
    # stops); this process both publishes and consumes, so make its writes atomic first (and
    # mark its worker's broadcast queues as consumed: worker.embedded_broker).
    # (The demo's settings are built later, by load_cli_settings, which installs it as well.)
    install_fixes()
    console = make_console()
    directory = _prepare_data_dir(data_dir)
    configure_logging(None, level=log_level())
    console.rule("[bold]rbsync demo")
    with _emulators(seed=seed, scale=scale, rate_limits=rate_limits) as emulators:
        run = _DemoRun(console, emulators, _demo_settings(emulators.environment, directory))
        run.timings.append(("start the emulators", time.monotonic() - started))
        run.introduce(directory, rate_limits=rate_limits)
        rows = run.first_sync()
        patched = run.change_and_poll(rows)
    run.conclude(started, patched, directory)

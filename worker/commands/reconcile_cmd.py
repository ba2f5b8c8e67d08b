"""``rbsync reconcile``: check PowerOffice Go and Rackbeat against the ledger (``tasks.reconcile``).

Reads each kind's PowerOffice Go collection in bulk and Rackbeat's keys with the cheap scan,
reports what is missing, duplicated, edited by hand, missed or stuck, and with ``--repair``
puts the repairable rows back to work: for the workers when a worker consumes the queue (or
Redis is the broker), else synced here, as ``rbsync enqueue`` does.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from worker.commands._common import (
    EXIT_FAILED,
    ConnectionOption,
    cli_app,
    cli_command,
    ensure_broker,
    fail,
    ledger_runtime,
    load_cli_settings,
    make_console,
    titled_table,
    validate_kind,
)

if TYPE_CHECKING:
    from tasks.pipeline import SyncResult
    from tasks.reconcile import Reconciliation

__all__ = ["SHOWN", "reconcile", "register"]

SHOWN = 20
"""Entries per kind and category the table output lists (``--json`` lists every one)."""


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command("reconcile")(reconcile)


@cli_command
def reconcile(
    kind: Annotated[
        str | None,
        typer.Option("--kind", help="Only this kind: product, bom, customer, invoice, supplier."),
    ] = None,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Create again what PowerOffice Go lost (not invoice drafts), sync the missed "
            "changes, send the stuck rows again.",
        ),
    ] = False,
    overwrite_drift: Annotated[
        bool,
        typer.Option(
            "--overwrite-drift",
            help="With --repair: also overwrite hand edits in PowerOffice Go with rbsync's "
            "content (left alone and reported by default).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (every entry).")] = False,
    connection: ConnectionOption = None,
) -> None:
    """Check PowerOffice Go and Rackbeat against the ledger and report what differs, per kind.

    missing: synced, but PowerOffice Go no longer has the record; duplicates: two PowerOffice Go
    records with one code or reference (never deleted); drift: PowerOffice Go's content differs
    from what rbsync wrote (hand edits); missed: a Rackbeat change behind the cursor that the
    ledger does not have; stuck: rows in flight whose lease ran out, or waiting long past due.
    Reads PowerOffice Go 20,000 records a request and Rackbeat 1,000 keys a request, within the
    shared rate limits. Exit 0: clean; 1: differences found (also when --repair repaired them:
    run it again to see them gone); 2: it could not run.
    """
    wanted = [validate_kind(kind)] if kind is not None else None
    if overwrite_drift and not repair:
        fail("--overwrite-drift works only with --repair")
    settings = load_cli_settings()
    app = cli_app(settings) if repair else None
    if app is not None:
        ensure_broker(app, settings)  # an unreachable broker fails before anything is read
    from tasks.reconcile import reconcile as run_reconcile

    with ledger_runtime(settings, connection) as runtime:
        rows: list[tuple[str, str]] = []
        remote = False
        if app is not None:
            from worker.commands.enqueue_cmd import queue_consumers

            remote = bool(settings.broker_url) or bool(queue_consumers(app))

        def send(kind_name: str, keys: list[str]) -> None:
            if remote:
                from tasks import enqueue_sync

                assert app is not None
                enqueue_sync(
                    app,
                    kind_name,
                    keys,
                    connection=runtime.connection,
                    batch_size=settings.sync_batch_size,
                )
            else:
                rows.extend((kind_name, key) for key in keys)

        result = run_reconcile(
            runtime, wanted, repair=repair, overwrite_drift=overwrite_drift, send=send
        )
        synced: list[SyncResult] = []
        if rows:
            from worker.commands.enqueue_cmd import sync_inline

            synced = sync_inline(runtime, rows)
    if as_json:
        body = result.to_json()
        if repair:
            body["sent"] = "workers" if remote else "here"
            body["synced_here"] = [r.to_json() for r in synced]
        typer.echo(json.dumps(body, indent=2))
    else:
        _print(result, synced, remote=remote)
    if result.differences:
        raise typer.Exit(EXIT_FAILED)


def _print(result: Reconciliation, synced: list[SyncResult], *, remote: bool) -> None:
    from tasks.reconcile import CATEGORIES

    console = make_console()
    table = titled_table("Reconciliation")
    for column in ("kind", "PowerOffice Go", "Rackbeat", "ledger", *CATEGORIES, "not yet polled"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for report in result.kinds:
        table.add_row(
            report.kind,
            str(report.poweroffice),
            str(report.rackbeat),
            str(report.ledger),
            *(str(len(report.entries(c))) for c in CATEGORIES),
            str(report.not_yet_polled),
        )
    console.print(table)
    for report in result.kinds:
        for category in CATEGORIES:
            entries = report.entries(category)
            for entry in entries[:SHOWN]:
                console.print(f"{report.kind} {category}: {_describe(category, entry)}")
            if len(entries) > SHOWN:
                console.print(
                    f"{report.kind} {category}: ... and {len(entries) - SHOWN} more (--json)"
                )
        for note in report.notes:
            console.print(f"note: {note}")
        if report.repaired:
            done = ", ".join(f"{what} {count}" for what, count in report.repaired.items())
            where = "sent to the workers" if remote else "synced here"
            console.print(f"{report.kind} repaired ({where}): {done}")
    if synced:
        bad = [r for r in synced if r.status not in ("synced", "skipped")]
        console.print(f"Synced here: {len(synced) - len(bad)} of {len(synced)} ended synced.")
        for r in bad:
            console.print(f"  {r.kind} {r.key}: {r.status or r.outcome} {r.error or ''}".rstrip())
    if result.differences:
        console.print(f"{result.differences} differences found.")
    else:
        console.print("Clean: PowerOffice Go, Rackbeat and the ledger agree.")


def _describe(category: str, entry: dict[str, Any]) -> str:
    if category == "missing":
        return f"{entry['key']} (PowerOffice Go id {entry['remote_id']} is gone)"
    if category == "duplicates":
        return f"{entry['reference']} is held by {len(entry['ids'])} records: " + ", ".join(
            entry["ids"]
        )
    if category == "drift":
        return f"{entry['key']} (id {entry['remote_id']}): {', '.join(entry['fields'])} edited"
    if category == "missed":
        if not entry["in_ledger"]:
            return f"{entry['key']} (updated {entry['rackbeat_updated_at']}) has no ledger row"
        return (
            f"{entry['key']} changed {entry['rackbeat_updated_at']}, "
            f"the ledger has {entry['ledger_updated_at']}"
        )
    return f"{entry['key']} ({entry['why']})"

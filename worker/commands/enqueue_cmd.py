"""``rbsync enqueue KIND KEY...``: sync chosen entities now, by the workers or (--now) here.

Without ``--now`` one ``rbsync.sync(kind, key)`` per key goes to the broker the workers consume
(Redis, or the embedded broker directory shared by the processes of this machine). With
``--now`` the same sync runs in this process and its outcome is printed. A key the ledger has
never seen is fetched from Rackbeat first.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from worker.commands._common import (
    EXIT_FAILED,
    cli_app,
    cli_command,
    ensure_broker,
    ledger_runtime,
    load_cli_settings,
    make_console,
    stderr_is_terminal,
    titled_table,
    validate_keys,
    validate_kind,
)

if TYPE_CHECKING:
    from tasks.pipeline import SyncResult
    from tasks.runtime import Runtime

__all__ = [
    "INLINE_REOPEN_LIMIT",
    "enqueue",
    "print_results",
    "progress_bar",
    "register",
    "sync_inline",
]

INLINE_REOPEN_LIMIT = 3
"""How often an inline sync is run again when newer content arrived while it ran."""


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command("enqueue")(enqueue)


def progress_bar() -> Progress:
    """The progress bar of long CLI work (drawn on stderr, only on a terminal)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=make_console(stderr=True),
        disable=not stderr_is_terminal(),
        transient=False,
    )


def sync_inline(runtime: Runtime, rows: Sequence[tuple[str, str]]) -> list[SyncResult]:
    """Run ``sync_entity`` on each (kind, key) in this process, with a progress bar."""
    from tasks.pipeline import sync_entity

    results: list[SyncResult] = []
    with progress_bar() as progress:
        task = progress.add_task("syncing", total=len(rows))
        for kind, key in rows:
            token = f"cli-{uuid.uuid4().hex}"
            result = sync_entity(runtime, kind, key, token)
            for _ in range(INLINE_REOPEN_LIMIT):
                if not result.reopened:
                    break
                result = sync_entity(runtime, kind, key, f"cli-{uuid.uuid4().hex}")
            results.append(result)
            progress.advance(task)
    return results


def print_results(results: Sequence[SyncResult], *, as_json: bool) -> None:
    """One line per sync outcome (a table, or JSON)."""
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in results], indent=2))
        return
    table = titled_table("Sync outcomes")
    for column in ("kind", "key", "outcome", "status", "PowerOffice Go id", "reason"):
        table.add_column(column)
    for r in results:
        reason = r.error or ""
        if r.retry:
            reason += " (left pending: the next poll or a worker retries it)"
        table.add_row(r.kind, r.key, r.outcome, r.status or "-", r.remote_id or "-", reason)
    make_console().print(table)


@cli_command
def enqueue(
    kind: Annotated[str, typer.Argument(help="product, bom, customer, invoice or supplier.")],
    keys: Annotated[
        list[str],
        typer.Argument(help="Rackbeat keys: item numbers, or customer/invoice/supplier numbers."),
    ],
    now: Annotated[
        bool, typer.Option("--now", help="Sync here and print the outcome; no worker needed.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Sync the given entities: enqueue them for the running workers, or (--now) sync here.

    Example: rbsync enqueue product AB/100 "PAL 12"   |   rbsync enqueue customer 10001 --now
    Exits 1 with --now when an entity did not end synced or skipped.
    """
    wanted = validate_kind(kind)
    wanted_keys = list(dict.fromkeys(validate_keys(wanted, keys)))
    settings = load_cli_settings()
    if not now:
        from tasks import enqueue_sync

        app = cli_app(settings)
        ensure_broker(app, settings)
        sent = enqueue_sync(app, wanted, wanted_keys)
        if as_json:
            typer.echo(json.dumps({"enqueued": [[wanted, k] for k in wanted_keys]}))
        else:
            where = "Redis" if settings.broker_url else "the embedded broker"
            typer.echo(f"Enqueued {sent} {wanted} sync task(s) on {where} for the workers.")
        return
    with ledger_runtime(settings) as runtime:
        results = sync_inline(runtime, [(wanted, key) for key in wanted_keys])
    print_results(results, as_json=as_json)
    if any(r.status not in ("synced", "skipped") for r in results):
        raise typer.Exit(EXIT_FAILED)

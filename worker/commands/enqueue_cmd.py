"""``rbsync enqueue KIND KEY...``: push chosen entities as Rackbeat has them *now*.

First each key's current record is fetched from Rackbeat (one GET each) and stored in the
ledger: a key Rackbeat does not have stops the command (one line, exit 2) before anything is
stored or sent. Then one ``rbsync.sync(kind, key)`` per key goes to the broker the workers
consume (Redis, or the embedded broker directory shared by the processes of this machine); or,
with ``--now``, the same sync runs in this process and its outcome is printed.

Before sending, the workers are asked (a one-second ping) whether any consumes the queue. In
embedded mode with none running, the syncs run here instead (a message in the broker directory
would wait for a worker nobody started); with Redis the messages are sent and the command says
plainly that they wait for a worker.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
    stderr_is_terminal,
    titled_table,
    validate_keys,
    validate_kind,
)

if TYPE_CHECKING:
    from celery import Celery

    from tasks.pipeline import SyncResult
    from wiring.runtime import Runtime
    from wiring.settings import Settings

log = logging.getLogger(__name__)

__all__ = [
    "INLINE_REOPEN_LIMIT",
    "enqueue",
    "fetch_current",
    "print_results",
    "progress_bar",
    "queue_consumers",
    "register",
    "sync_inline",
]

INLINE_REOPEN_LIMIT = 3
"""How often an inline sync is run again when newer content arrived while it ran."""

PING_SECONDS = 1.0
"""How long the workers are given to say which queues they consume."""


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
    connection: ConnectionOption = None,
) -> None:
    """Push the given entities as Rackbeat has them now: for the workers, or (--now) here.

    Each key's current record is fetched from Rackbeat and stored first; a key Rackbeat does not
    have stops the command (exit 2, nothing stored). In embedded mode with no worker running,
    the syncs run here. Example: rbsync enqueue product AB/100 "PAL 12" | rbsync enqueue
    customer 10001 --now. Exits 1 when an entity synced here did not end synced or skipped.
    """
    wanted = validate_kind(kind)
    wanted_keys = list(dict.fromkeys(validate_keys(wanted, keys)))
    settings = load_cli_settings()
    app = None if now else cli_app(settings)
    if app is not None:
        ensure_broker(app, settings)  # an unreachable broker fails before anything is fetched
    with ledger_runtime(settings, connection) as runtime:
        fetch_current(runtime, wanted, wanted_keys)
        if app is not None:
            consumers = queue_consumers(app)
            if consumers or settings.broker_url:
                _send(
                    app,
                    settings,
                    wanted,
                    wanted_keys,
                    consumers,
                    connection=runtime.connection,
                    as_json=as_json,
                )
                return
            typer.echo(
                "No worker consumes the embedded broker's queue: syncing here instead.", err=True
            )
        results = sync_inline(runtime, [(wanted, key) for key in wanted_keys])
    print_results(results, as_json=as_json)
    if any(r.status not in ("synced", "skipped") for r in results):
        raise typer.Exit(EXIT_FAILED)


def fetch_current(runtime: Runtime, kind: str, keys: Sequence[str]) -> None:
    """Fetch and store Rackbeat's current records of ``keys`` (``tasks.snapshot.fetch_current``,
    which Flower's Resync runs too); fail (exit 2) naming the keys Rackbeat does not have,
    before anything is stored."""
    from clients import ClientError
    from tasks.snapshot import NotInRackbeatKeysError
    from tasks.snapshot import fetch_current as fetch_and_store

    try:
        fetch_and_store(runtime, kind, keys)
    except ClientError as exc:
        fail(f"cannot read {kind} from Rackbeat: {exc}; nothing was enqueued")
    except NotInRackbeatKeysError as exc:
        fail(f"{exc}; nothing was enqueued")


def queue_consumers(app: Celery) -> list[str]:
    """The workers that consume the sync queue (they answer within :data:`PING_SECONDS`)."""
    from worker.app import DEFAULT_QUEUE

    try:
        answers = app.control.inspect(timeout=PING_SECONDS).active_queues() or {}
    except Exception as exc:
        log.debug("asking the workers for their queues failed: %s", type(exc).__name__)
        return []
    return sorted(
        worker
        for worker, queues in answers.items()
        if any(queue.get("name") == DEFAULT_QUEUE for queue in queues or ())
    )


def _send(
    app: Celery,
    settings: Settings,
    kind: str,
    keys: list[str],
    consumers: list[str],
    *,
    connection: str,
    as_json: bool,
) -> None:
    from tasks import enqueue_sync

    sent = enqueue_sync(app, kind, keys, connection=connection)
    where = "Redis" if settings.broker_url else "the embedded broker"
    if as_json:
        typer.echo(json.dumps({"enqueued": [[kind, k] for k in keys], "consumers": consumers}))
    else:
        typer.echo(f"Enqueued {sent} {kind} sync task(s) on {where}.")
    if not consumers:
        typer.echo(
            "No worker answered: the tasks wait in the queue until one starts "
            "(`celery -A worker.app worker`); `rbsync enqueue --now` syncs here instead.",
            err=True,
        )

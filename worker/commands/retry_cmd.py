"""``rbsync retry``: re-drive failed, dead and unknown rows from the ledger.

The same re-drive as the ``rbsync.retry`` task (and Flower's Retry buttons): the matching rows
go back to ``pending`` with a fresh attempt budget -- an ``unknown`` row keeps its intent, so
its create is looked up first -- and, after that commit, one ``rbsync.sync`` per row goes to
the broker for the running workers. ``--now`` runs the syncs here instead.
"""

from __future__ import annotations

import json
import shlex
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
    validate_keys,
    validate_kind,
)
from worker.commands.enqueue_cmd import print_results, sync_inline
from worker.commands.failures_cmd import SHOWABLE_STATUSES, next_step

if TYPE_CHECKING:
    from celery import Celery
    from sqlalchemy.orm import Session

NOT_TAKEN = "retry re-drives only failed, dead and unknown rows"

__all__ = ["register", "retry"]


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command("retry")(retry)


def _list_rows(heading: str, rows: list[tuple[str, str]], *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps([[k, v] for k, v in rows]))
        return
    console = make_console()
    console.print(heading)
    for row_kind, row_key in rows:
        console.print(f"  {row_kind} {row_key}")


def _enqueue_rows(
    app: Celery, rows: list[tuple[str, str]], *, connection: str, as_json: bool
) -> None:
    """One ``rbsync.sync`` per row, for the workers (after the reset was committed)."""
    from tasks import enqueue_sync

    by_kind: dict[str, list[str]] = {}
    for row_kind, row_key in rows:
        by_kind.setdefault(row_kind, []).append(row_key)
    for row_kind, keys in by_kind.items():
        enqueue_sync(app, row_kind, keys, connection=connection)
    if as_json:
        typer.echo(json.dumps({"requeued": [[k, v] for k, v in rows]}))
        return
    _list_rows(f"Reset {len(rows)} row(s) to pending and enqueued them:", rows, as_json=False)
    typer.echo("The running workers take them; follow with `rbsync status`.")


def why_nothing(session: Session, kind: str | None, key: str | None) -> tuple[str, dict[str, int]]:
    """Why the selection has no row to re-drive, and its rows per status (for ``--json``)."""
    from ledger import get_link
    from ledger.reports import status_counts

    if kind is not None and key is not None:
        link = get_link(session, kind, key)
        if link is None:
            return (
                f"{kind} {key} is not in the ledger (no poll has seen it); "
                f"`rbsync enqueue {kind} {shlex.quote(key)}` fetches and syncs it",
                {},
            )
        reason = f" ({link.last_error})" if link.last_error else ""
        step = next_step(kind, key, link.status, link.last_error)
        if link.status == "skipped":
            step = f"To sync it: {step}"
        elif step:
            step = step[0].upper() + step[1:]
        return f"{kind} {key} is {link.status}{reason}; {NOT_TAKEN}. {step}", {link.status: 1}
    counts = status_counts(session, kind=kind)
    what = kind or "any kind"
    if not counts:
        return f"no row of {what} in the ledger yet (no poll has run)", counts
    order = [s for s in SHOWABLE_STATUSES if s in counts] + sorted(
        set(counts) - set(SHOWABLE_STATUSES)
    )
    detail = ", ".join(f"{counts[s]} {s}" for s in order)
    total = sum(counts.values())
    message = f"no failed, dead or unknown row of {what} (its {total} rows: {detail}); {NOT_TAKEN}"
    if counts.get("skipped"):
        flags = f" --kind {kind}" if kind else ""
        message += (
            f". `rbsync failures --status skipped{flags}` says what would change the skipped ones"
        )
    return message, counts


def _nothing(
    runtime: Any, kind: str | None, key: str | None, *, dry_run: bool, as_json: bool
) -> None:
    with runtime.sessions() as session:
        why, counts = why_nothing(session, kind, key)
    if as_json:
        payload: Any = [] if dry_run else {"requeued": [], "why": why, "statuses": counts}
        typer.echo(json.dumps(payload))
    elif dry_run:
        typer.echo(f"0 row(s) would be retried: {why}")
    else:
        typer.echo(f"nothing to retry: {why}")


@cli_command
def retry(  # noqa: PLR0917 - Typer arguments and options
    kind: Annotated[
        str | None, typer.Argument(help="Only this kind (product, bom, customer, ...).")
    ] = None,
    key: Annotated[str | None, typer.Argument(help="Only this key (needs KIND).")] = None,
    all_failed: Annotated[
        bool, typer.Option("--all", help="Every failed, dead and unknown row of every kind.")
    ] = False,
    now: Annotated[
        bool, typer.Option("--now", help="Run the syncs in this process instead of the workers.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list the rows a retry would take.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    connection: ConnectionOption = None,
) -> None:
    """Retry one key (KIND KEY), a whole kind (KIND) or every failure (--all) of one
    connection.

    Takes the failed, dead and unknown rows from the ledger, resets them to pending with a
    fresh retry budget and enqueues one sync each for the running workers (or, with --now,
    syncs them here). Rows that are synced, skipped or still in progress are left alone; when
    none matches, it says why (the selection's rows per status, what would change a skipped
    one) and exits 0.
    """
    from ledger import reset_for_retry, rows_for_retry

    if kind is None and not all_failed:
        fail("say what to retry: KIND KEY, KIND, or --all")
    if kind is not None and all_failed:
        fail("give either KIND [KEY] or --all, not both")
    wanted_kind = validate_kind(kind) if kind is not None else None
    wanted_key = validate_keys(wanted_kind, [key])[0] if key is not None and wanted_kind else None
    settings = load_cli_settings()
    with ledger_runtime(settings, connection) as runtime:
        if dry_run:
            with runtime.sessions() as session:
                rows = rows_for_retry(session, kind=wanted_kind, key=wanted_key)
            if not rows:
                _nothing(runtime, wanted_kind, wanted_key, dry_run=True, as_json=as_json)
                return
            _list_rows(f"{len(rows)} row(s) would be retried:", rows, as_json=as_json)
            return
        app = None
        if not now:
            app = cli_app(settings)
            # Before any row changes: a broker that is down must not leave rows reset but
            # unsent (a poll would re-send them after RBSYNC_REQUEUE_AFTER_SECONDS anyway).
            ensure_broker(app, settings)
        with runtime.sessions.begin() as session:
            rows = reset_for_retry(session, kind=wanted_kind, key=wanted_key)
        if not rows:
            # Not an error (exit 0): the selection simply holds nothing retry re-drives; say why.
            _nothing(runtime, wanted_kind, wanted_key, dry_run=False, as_json=as_json)
            return
        if app is not None:
            _enqueue_rows(app, rows, connection=runtime.connection, as_json=as_json)
            return
        results = sync_inline(runtime, rows)
    print_results(results, as_json=as_json)
    if any(r.status not in ("synced", "skipped") for r in results):
        raise typer.Exit(EXIT_FAILED)

"""``rbsync sync --once``: one complete poll of every kind, processed to completion here."""

from __future__ import annotations

from typing import Annotated

import typer

from worker.commands._common import (
    cli_command,
    load_cli_settings,
    make_console,
    stderr_is_terminal,
)
from worker.commands._progress import sync_progress

__all__ = ["register", "sync"]


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command("sync")(sync)


@cli_command
def sync(
    once: Annotated[
        bool, typer.Option("--once", help="Poll every kind once and process all it produced.")
    ] = False,
    kind: Annotated[
        list[str] | None, typer.Option("--kind", "-k", help="Only these kinds (repeatable).")
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Give up after this many seconds (exit 1).")
    ] = 3600.0,
    concurrency: Annotated[
        int | None, typer.Option(help="Worker threads (default: RBSYNC_SYNC_ONCE_CONCURRENCY).")
    ] = None,
) -> None:
    """Sync Rackbeat -> PowerOffice Go once, in this process, and print a summary.

    Uses the configured URLs and credentials (emulators or the real services alike). Exits 0
    when nothing failed, 1 otherwise.
    """
    if not once:
        typer.echo(
            "Only `rbsync sync --once` runs here; the continuous sync is "
            "`celery -A worker.app worker` + `celery -A worker.app beat`.",
            err=True,
        )
        raise typer.Exit(2)
    from worker.inprocess import run_once

    settings = load_cli_settings()
    try:
        with sync_progress(make_console(stderr=True), "syncing", enabled=stderr_is_terminal()):
            report = run_once(
                settings, kinds=kind or None, timeout=timeout, concurrency=concurrency
            )
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for poll_kind, poll in report.polls.items():
        if poll.get("skipped"):
            typer.echo(f"poll {poll_kind}: skipped (another poll of {poll_kind} is running)")
        else:
            typer.echo(
                f"poll {poll_kind}: seen {poll['seen']}, changed {poll['changed']}, "
                f"enqueued {poll['enqueued'] + poll['requeued']}"
            )
    counts = report.counts()
    typer.echo(f"{'kind':<10} {'status':<10} {'count':>7}")
    for entity_kind, by_status in counts.items():
        for status, count in sorted(by_status.items()):
            typer.echo(f"{entity_kind:<10} {status:<10} {count:>7}")
    if not counts:
        typer.echo("(no entity needed work)")
    failures = [r for r in report.entities.values() if r.get("status") not in ("synced", "skipped")]
    for result in failures[:50]:
        typer.echo(f"  {result['kind']} {result['key']}: {result['status']}: {result.get('error')}")
    for error in report.errors:
        typer.echo(f"task error: {error}", err=True)
    if report.timed_out:
        typer.echo(f"timed out after {timeout:g} s with work still outstanding", err=True)
    raise typer.Exit(0 if report.ok else 1)

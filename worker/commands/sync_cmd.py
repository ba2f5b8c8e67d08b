"""``rbsync sync --once``: one complete poll of every kind, processed to completion here.

Before anything else both APIs are asked who we are (``rbsync check``'s Rackbeat and
PowerOffice Go checks, with a short retry budget): refused credentials or an unreachable API
end the run at once with one line and exit code 2, before a single row is touched. Then the
polls and the re-drive rounds (``worker.inprocess.run_once``); the verdict is the ledger's:
exit 0 only when every row of the kinds run is synced or skipped, else 1 with a count and the
reasons per status.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from worker.commands._common import (
    EXIT_ERROR,
    EXIT_FAILED,
    ConnectionOption,
    cli_command,
    fail,
    load_cli_settings,
    make_console,
    resolve_connection,
    stderr_is_terminal,
)
from worker.commands._progress import sync_progress

if TYPE_CHECKING:
    from wiring.connections import ConnectionConfig
    from worker.inprocess import OnceReport

__all__ = ["print_report", "register", "sync"]


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
    connection: ConnectionOption = None,
) -> None:
    """Sync Rackbeat -> PowerOffice Go once, in this process, and print a summary.

    Checks both APIs first (refused credentials or an unreachable API: one line, exit 2), polls
    every kind, then drives every row that needs work (earlier runs' leftovers included) to a
    final state. Exits 0 only when every row is synced or skipped; else 1, with the count and
    the reasons per status. One connection per run; a paused or broken one is refused (exit 2:
    `rbsync connections resume` it first).
    """
    if not once:
        typer.echo(
            "Only `rbsync sync --once` runs here; the continuous sync is "
            "`celery -A worker.app worker` + `celery -A worker.app beat`.",
            err=True,
        )
        raise typer.Exit(EXIT_ERROR)
    from worker.commands.check_cmd import check_poweroffice, check_rackbeat
    from worker.inprocess import run_once

    settings = load_cli_settings()
    config = resolve_connection(settings, connection)
    if config.stored and config.state != "active":
        why = f" ({config.state_reason})" if config.state_reason else ""
        fail(
            f"connection {config.name} is {config.state}{why}: nothing was synced; "
            f"`rbsync connections resume {config.name}` makes it active again"
        )
    with _quiet("clients"):  # the answer below says it all; no retry chatter before it
        answers = [check(config.settings) for check in (check_rackbeat, check_poweroffice)]
    for answer in answers:
        if not answer.ok:
            fail(
                f"{answer.name}: {_in_connection_terms(answer.detail, config)}; nothing was synced"
            )
    try:
        with sync_progress(make_console(stderr=True), "syncing", enabled=stderr_is_terminal()):
            report = run_once(
                settings,
                kinds=kind or None,
                timeout=timeout,
                concurrency=concurrency,
                connection=config.name,
            )
    except ValueError as exc:
        fail(str(exc))
    print_report(report, timeout=timeout)
    raise typer.Exit(0 if report.ok else EXIT_FAILED)


def _in_connection_terms(detail: str, config: ConnectionConfig) -> str:
    """A stored connection's check names its credentials, not the environment's variables."""
    if not config.stored:
        return detail
    return detail.replace(
        "RACKBEAT_API_TOKEN", f"connection {config.name}'s Rackbeat API token"
    ).replace("POWEROFFICE_CLIENT_KEY", f"connection {config.name}'s PowerOffice Go client key")


@contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Only errors from ``logger`` meanwhile."""
    target = logging.getLogger(logger)
    level = target.level
    target.setLevel(logging.ERROR)
    try:
        yield
    finally:
        target.setLevel(level)


SHOWN_PER_STATUS = 20
"""Unsettled rows named per status (the rest are counted; ``rbsync failures`` lists all)."""

WHAT_NEXT = {
    "pending": "left for the next run (or a worker); an API failed or a dependency is not there",
    "unknown": "a create's outcome is in doubt; the next attempt looks it up before it creates",
    "in_flight": "held by another worker (or one that died; taken back once its claim is stale)",
    "failed": "needs a human: fix the record or the setting, then `rbsync retry`",
    "dead": "retries spent: `rbsync retry` once the cause is fixed",
}


def print_report(report: OnceReport, *, timeout: float) -> None:
    """The polls, this run's entities by kind and status, then every unsettled row."""
    from ledger import without_sql

    for poll_kind, poll in report.polls.items():
        if poll.get("skipped"):
            typer.echo(f"poll {poll_kind}: skipped (another poll of {poll_kind} is running)")
        else:
            # A record the ledger could not store as it is does not stop a poll: say how many.
            poisoned = "".join(
                f", {what} {poll[what]}" for what in ("failed", "unstored") if poll.get(what)
            )
            typer.echo(
                f"poll {poll_kind}: seen {poll['seen']}, changed {poll['changed']}, "
                f"enqueued {poll['enqueued'] + poll['requeued']}{poisoned}"
            )
    counts = report.counts()
    typer.echo(f"{'kind':<10} {'status':<10} {'count':>7}")
    for entity_kind, by_status in counts.items():
        for status, count in sorted(by_status.items()):
            typer.echo(f"{entity_kind:<10} {status:<10} {count:>7}")
    if not counts:
        typer.echo("(no entity needed work in this run)")
    grouped = report.unsettled_by_status()
    if grouped:
        total = sum(len(rows) for rows in grouped.values())
        typer.echo(f"not settled: {total} row(s) in the ledger")
    for status, rows in grouped.items():
        typer.echo(f"{status} {len(rows)}: {WHAT_NEXT.get(status, '')}")
        for row in rows[:SHOWN_PER_STATUS]:
            typer.echo(f"  {row.kind} {row.key}: {without_sql(row.error or '-')}")
        if len(rows) > SHOWN_PER_STATUS:
            more = len(rows) - SHOWN_PER_STATUS
            typer.echo(f"  ... and {more} more (rbsync failures --status {status})")
    for error in report.errors:
        typer.echo(f"task error: {error}", err=True)
    if report.timed_out:
        typer.echo(f"timed out after {timeout:g} s with work still outstanding", err=True)

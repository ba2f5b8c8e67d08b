"""``rbsync initial-sync``: copy PowerOffice Go's records into Rackbeat once (R-INIT-1..4).

A progress bar per kind on stderr while it runs, then the records that were skipped, failed or
copied with a warning (every record in a dry run), and a summary table per kind on stdout.
Exit code 0 when everything was copied or linked, 1 when some records failed or the run
stopped early (run it again: it continues where it stopped), 2 when it could not start.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Self

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from worker.commands._common import (
    EXIT_FAILED,
    ConnectionOption,
    cli_command,
    fail,
    ledger_runtime,
    load_cli_settings,
)

if TYPE_CHECKING:
    from tasks.initial import InitialSyncReport

__all__ = ["ProgressBars", "initial_sync", "register", "render_report"]

DRY_RUN_VERBS = {
    "created": "would create",
    "linked": "would link",
    "skipped": "would skip",
    "failed": "would fail",
    "already": "done before",
}
"""How a dry run words each outcome."""


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command("initial-sync")(initial_sync)


class ProgressBars:
    """A rich progress bar per kind, fed by the engine's ``Progress`` calls."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[outcomes]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._tasks: dict[str, TaskID] = {}
        self._outcomes: dict[str, dict[str, int]] = {}

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def begin(self, kind: str, total: int) -> None:
        """A bar for ``kind`` with ``total`` records."""
        self._outcomes[kind] = {}
        self._tasks[kind] = self._progress.add_task(kind, total=total, outcomes="")

    def step(self, kind: str, outcome: str) -> None:
        """One record of ``kind`` is through."""
        counts = self._outcomes[kind]
        counts[outcome] = counts.get(outcome, 0) + 1
        text = " ".join(f"{name} {n}" for name, n in sorted(counts.items()))
        self._progress.update(self._tasks[kind], advance=1, outcomes=text)


@cli_command
def initial_sync(
    kinds: Annotated[
        list[str] | None,
        typer.Option(
            "--kinds",
            "-k",
            metavar="KINDS",
            help="units, products, suppliers, customers (repeatable or comma-separated; "
            "default: all, in that order).",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Read both systems, print what would be done, write nothing."
        ),
    ] = False,
    connection: ConnectionOption = None,
) -> None:
    """Copy PowerOffice Go's units, products, suppliers and customers into Rackbeat (optional).

    Records Rackbeat already has (same number) are linked, not duplicated.

    Every link is recorded, so the ongoing sync updates these records afterwards.

    Stopped half-way, a second run continues where it stopped and creates nothing twice.
    """
    from tasks.initial import (
        InitialSyncBusyError,
        parse_kinds,
        run_initial_sync,
    )

    try:
        selected = parse_kinds(kinds)
    except ValueError as exc:
        fail(str(exc))
    settings = load_cli_settings()
    try:
        with (
            ledger_runtime(settings, connection) as runtime,
            ProgressBars(Console(stderr=True)) as bars,
        ):
            report = run_initial_sync(runtime, kinds=selected, dry_run=dry_run, progress=bars)
    except InitialSyncBusyError as exc:
        fail(str(exc))
    render_report(report, Console())
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


def render_report(report: InitialSyncReport, console: Console) -> None:
    """Print the records worth a line, the summary table, and why a run stopped early."""
    from tasks.initial import SUMMARY_KINDS

    for event in report.events:
        verb = DRY_RUN_VERBS[event.outcome] if report.dry_run else event.outcome
        number = f" -> Rackbeat {event.number}" if event.number else ""
        reason = f": {event.reason}" if event.reason else ""
        console.print(f"{verb} {event.kind} {event.label}{number}{reason}", highlight=False)
    title = "initial sync (dry run: nothing was written)" if report.dry_run else "initial sync"
    table = Table(title=title)
    table.add_column("kind")
    for outcome in ("created", "linked", "skipped", "failed", "already"):
        header = DRY_RUN_VERBS[outcome] if report.dry_run else outcome
        table.add_column(header, justify="right")
    for kind in SUMMARY_KINDS:
        summary = report.summary[kind]
        if summary.total:
            table.add_row(
                kind,
                *(
                    str(n)
                    for n in (
                        summary.created,
                        summary.linked,
                        summary.skipped,
                        summary.failed,
                        summary.already,
                    )
                ),
            )
    console.print(table)
    if not report.complete:
        console.print(f"stopped early: {report.stopped}", highlight=False)

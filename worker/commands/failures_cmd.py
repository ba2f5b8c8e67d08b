"""``rbsync failures``: the rows that need a look, with their reasons, filterable; of one
connection, or with several connections and no ``--connection`` of every one (a connection
column says whose)."""

from __future__ import annotations

import json
import shlex
from collections import Counter
from typing import TYPE_CHECKING, Annotated, Any

import typer

from worker.commands._common import (
    ENVIRONMENT,
    ConnectionOption,
    cli_command,
    fail,
    ledger_runtime,
    load_cli_settings,
    make_console,
    resolve_connection,
    titled_table,
    validate_kind,
)

if TYPE_CHECKING:
    from rich.console import Console

    from ledger import EntityLink

__all__ = [
    "DEFAULT_STATUSES",
    "REDRIVE_STATUSES",
    "SHOWABLE_STATUSES",
    "failures",
    "link_json",
    "next_step",
    "register",
    "skip_advice",
]

REDRIVE_STATUSES = ("failed", "dead", "unknown")
"""The statuses ``rbsync retry`` re-drives (``ledger.REDRIVE_STATUSES``), in display order."""
DEFAULT_STATUSES = REDRIVE_STATUSES
"""What ``failures`` lists unless told otherwise: the rows ``rbsync retry`` re-drives."""
SHOWABLE_STATUSES = ("failed", "dead", "unknown", "skipped", "pending", "in_flight", "synced")
GENERIC_SKIP_ADVICE = (
    "left alone on purpose; when the record changes in Rackbeat, the next poll maps it again"
)


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command("failures")(failures)


def skip_advice(reason: str | None) -> str:
    """What would change a row skipped for ``reason`` (``rbsync retry`` does not take it)."""
    from mapping import (
        REASON_CREATE_ONLY,
        REASON_INVOICE_TRANSFERRED,
        REASON_NO_PATCHABLE_CHANGE,
        REASON_NO_VAT_NUMBER,
        REASON_NOT_BOOKED,
        REASON_UNCHANGED,
    )

    advice = {
        REASON_NO_VAT_NUMBER: (
            "set its VAT number in Rackbeat: the next poll sees the change and syncs it"
        ),
        REASON_NOT_BOOKED: "book the invoice in Rackbeat: the next poll sees it and sends it",
        REASON_CREATE_ONLY: (
            "it is in PowerOffice Go already and this kind is create-only: change it there"
        ),
        REASON_INVOICE_TRANSFERRED: (
            "its sales-order draft is in PowerOffice Go already (invoices are create-only): "
            "change the draft there"
        ),
        REASON_UNCHANGED: (
            "nothing to do: PowerOffice Go has this content; the next change in Rackbeat is sent"
        ),
        REASON_NO_PATCHABLE_CHANGE: (
            "only fields PowerOffice Go cannot update changed: change them there by hand"
        ),
    }
    text = reason or ""
    for known, what in advice.items():
        # The row keeps the mapping's reason, possibly behind "<kind> <key>: ".
        if text == known or text.endswith(f": {known}"):
            return what
    return GENERIC_SKIP_ADVICE


def next_step(
    kind: str, key: str, status: str, reason: str | None, *, connection: str | None = None
) -> str:
    """What the operator can do about one row, by its status (``connection``: name it in the
    commands suggested, for a deployment of several)."""
    which = f" --connection {shlex.quote(connection)}" if connection is not None else ""
    retry = f"`rbsync retry {kind} {shlex.quote(key)}{which}`"
    steps = {
        # A retry fetches the record as Rackbeat has it now, so it serves a fix in Rackbeat as
        # well as one elsewhere (a fixed record is also new content: the next poll syncs it).
        "failed": (
            "fix the record in Rackbeat or what the reason names elsewhere (a setting, "
            f"PowerOffice Go), then {retry}"
        ),
        "dead": f"check the APIs with `rbsync check`, then {retry}",
        "unknown": f"{retry} looks the create up in PowerOffice Go before sending it again",
        "skipped": skip_advice(reason),
        "pending": "waiting for a worker (follow with `rbsync status`)",
        "in_flight": "a worker is on it (follow with `rbsync status`)",
        "synced": "nothing to do",
    }
    return steps.get(status, "")


def _shown(error: str | None) -> str | None:
    """A stored reason as shown: never a database error's SQL statement or parameters."""
    from ledger import without_sql

    return None if error is None else without_sql(error)


def link_json(link: EntityLink, *, name_connection: bool = False) -> dict[str, Any]:
    """One ledger row as the JSON ``failures --json`` prints (no snapshot, no payload).

    ``warnings`` lists what the ledger cleaned out of the snapshot to store it (a NUL in a
    name), then the last mapping's warnings. ``name_connection``: the next step names the
    row's connection (a deployment of several).
    """
    reason = _shown(link.last_error)
    which = link.connection if name_connection else None
    return {
        "connection": link.connection,
        "kind": link.kind,
        "key": link.key,
        "status": link.status,
        "reason": reason,
        "next_step": next_step(link.kind, link.key, link.status, reason, connection=which),
        "attempts": link.attempts,
        "remote_id": link.remote_id,
        "intent": link.intent,
        "warnings": [*(link.snapshot_warnings or []), *(link.warnings or [])],
        "manual": dict(link.details or {}),
        "updated_at": link.updated_at.isoformat() if link.updated_at else None,
    }


def _warning_text(warning: Any) -> str:
    if isinstance(warning, dict):
        return str(warning.get("message") or warning)
    return str(warning)


@cli_command
def failures(  # noqa: PLR0917 - Typer arguments and options
    kind: Annotated[
        str | None, typer.Option("--kind", "-k", help="Only this kind (product, bom, ...).")
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            "-s",
            help="Only these statuses (repeatable; default failed, dead and unknown; "
            "skipped shows what was left alone and why).",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many rows.", min=1)] = 50,
    history: Annotated[
        bool, typer.Option("--history", help="Also show each row's last attempts.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    connection: ConnectionOption = None,
) -> None:
    """List failed, dead and unknown entities with the reason each one stopped, newest first.

    failed: the record or PowerOffice Go refused it (fix the record in Rackbeat or what the
    reason names elsewhere, then `rbsync retry`: it pushes the record as Rackbeat has it now).
    dead: retriable errors outlasted the retry budget (check `rbsync check`, then retry).
    unknown: a create ended ambiguously; the next attempt looks it up before creating.
    skipped (--status skipped): left alone on purpose, e.g. a supplier without a VAT number;
    `rbsync retry` does not take it, and the output says what would change it. With several
    connections and no --connection: every connection's rows, with a connection column.
    """
    from ledger import ALL, attempts_of, make_session_factory
    from ledger import failures as ledger_failures
    from wiring.connections import AmbiguousConnectionError

    wanted_kind = validate_kind(kind) if kind is not None else None
    statuses = [s.strip().lower() for s in status or DEFAULT_STATUSES]
    for value in statuses:
        if value not in SHOWABLE_STATUSES:
            fail(f"unknown status {value!r}; expected one of {', '.join(SHOWABLE_STATUSES)}")
    settings = load_cli_settings()
    try:
        config = resolve_connection(settings, connection)
    except AmbiguousConnectionError:
        config = None  # several connections, none named: every connection's rows
    every = config is None
    with ledger_runtime(settings, ENVIRONMENT if config is None else config) as runtime:
        sessions = make_session_factory(runtime.engine, ALL) if every else runtime.sessions
        with sessions() as session:
            rows = ledger_failures(session, kind=wanted_kind, statuses=statuses, limit=limit)
            entries = [
                link_json(row, name_connection=every or connection is not None) for row in rows
            ]
        if history:
            for entry in entries:
                scoped = make_session_factory(runtime.engine, entry["connection"])
                with scoped() as session:
                    attempts = attempts_of(session, entry["kind"], entry["key"], limit=5)
                entry["attempts_history"] = [
                    {
                        "task_id": a.task_id,
                        "started_at": a.started_at.isoformat(),
                        "outcome": a.outcome,
                        "http_status": a.http_status,
                        "error": _shown(a.error),
                    }
                    for a in attempts
                ]
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
        return
    console = make_console()
    what = "/".join(statuses)
    if not entries:
        console.print(
            f"No {what} rows"
            + (f" of kind {wanted_kind}" if wanted_kind else "")
            + (" in any connection." if every else ".")
        )
        return
    whose = "every connection's " if every else ""
    table = titled_table(f"{whose}{what} rows (newest first, at most {limit})")
    columns = ("kind", "key", "status", "tries", "updated", "reason")
    for column in ("connection", *columns) if every else columns:
        table.add_column(column, justify="right" if column == "tries" else "left")
    for entry in entries:
        reason = entry["reason"] or ""
        if entry["warnings"]:
            reason += "".join(f"\n  warning: {_warning_text(w)}" for w in entry["warnings"])
        for attempt in entry.get("attempts_history", []):
            reason += (
                f"\n  {attempt['started_at'][:19]} {attempt['outcome']}"
                f"{' ' + str(attempt['http_status']) if attempt['http_status'] else ''}"
                f"{': ' + attempt['error'] if attempt['error'] else ''}"
            )
        cells = (
            entry["kind"],
            entry["key"],
            entry["status"],
            str(entry["attempts"]),
            (entry["updated_at"] or "")[:19].replace("T", " "),
            reason,
        )
        table.add_row(*((entry["connection"], *cells) if every else cells))
    console.print(table)
    _print_next_steps(console, entries, every=every)


def _print_next_steps(console: Console, entries: list[dict[str, Any]], *, every: bool) -> None:
    """``rbsync retry`` for the rows it re-drives; for skipped rows, what would change them."""
    if any(entry["status"] in REDRIVE_STATUSES for entry in entries):
        which = " --connection NAME" if every else ""
        console.print(
            f"Re-drive the failed, dead and unknown rows with `rbsync retry{which}` "
            "(see `rbsync retry --help`).",
            markup=False,
        )
    skipped = Counter(
        (entry["reason"] or "-", entry["next_step"])
        for entry in entries
        if entry["status"] == "skipped"
    )
    if skipped:
        console.print(
            "Skipped rows were left alone on purpose; `rbsync retry` does not take skipped "
            "rows. What would change them:",
            markup=False,
        )
        for (reason, step), count in skipped.most_common():
            console.print(f"  {reason} ({count} row(s)): {step}", markup=False, soft_wrap=True)
    waiting = sum(1 for entry in entries if entry["status"] in ("pending", "in_flight"))
    if waiting:
        console.print(
            f"{waiting} row(s) still in progress: a worker takes them (`rbsync status`).",
            markup=False,
        )

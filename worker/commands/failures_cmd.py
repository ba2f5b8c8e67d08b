"""``rbsync failures``: the rows that need a look, with their reasons, filterable."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from worker.commands._common import (
    cli_command,
    fail,
    ledger_runtime,
    load_cli_settings,
    make_console,
    titled_table,
    validate_kind,
)

if TYPE_CHECKING:
    from ledger import EntityLink

__all__ = ["DEFAULT_STATUSES", "SHOWABLE_STATUSES", "failures", "link_json", "register"]

DEFAULT_STATUSES = ("failed", "dead", "unknown")
"""What ``failures`` lists unless told otherwise: the rows ``rbsync retry`` re-drives."""
SHOWABLE_STATUSES = ("failed", "dead", "unknown", "skipped", "pending", "in_flight", "synced")


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command("failures")(failures)


def link_json(link: EntityLink) -> dict[str, Any]:
    """One ledger row as the JSON ``failures --json`` prints (no snapshot, no payload)."""
    return {
        "kind": link.kind,
        "key": link.key,
        "status": link.status,
        "reason": link.last_error,
        "attempts": link.attempts,
        "remote_id": link.remote_id,
        "intent": link.intent,
        "warnings": list(link.warnings or []),
        "manual": dict(link.details or {}),
        "updated_at": link.updated_at.isoformat() if link.updated_at else None,
    }


def _warning_text(warning: Any) -> str:
    if isinstance(warning, dict):
        return str(warning.get("message") or warning)
    return str(warning)


@cli_command
def failures(
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
) -> None:
    """List failed, dead and unknown entities with the reason each one stopped, newest first.

    failed: the record or PowerOffice Go refused it (fix the data, then `rbsync retry`).
    dead: retriable errors outlasted the retry budget (check `rbsync check`, then retry).
    unknown: a create ended ambiguously; the next attempt looks it up before creating.
    """
    from ledger import attempts_of
    from ledger import failures as ledger_failures

    wanted_kind = validate_kind(kind) if kind is not None else None
    statuses = [s.strip().lower() for s in status or DEFAULT_STATUSES]
    for value in statuses:
        if value not in SHOWABLE_STATUSES:
            fail(f"unknown status {value!r}; expected one of {', '.join(SHOWABLE_STATUSES)}")
    settings = load_cli_settings()
    with ledger_runtime(settings) as runtime, runtime.sessions() as session:
        rows = ledger_failures(session, kind=wanted_kind, statuses=statuses, limit=limit)
        entries = [link_json(row) for row in rows]
        if history:
            for entry in entries:
                entry["attempts_history"] = [
                    {
                        "task_id": a.task_id,
                        "started_at": a.started_at.isoformat(),
                        "outcome": a.outcome,
                        "http_status": a.http_status,
                        "error": a.error,
                    }
                    for a in attempts_of(session, entry["kind"], entry["key"], limit=5)
                ]
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
        return
    console = make_console()
    what = "/".join(statuses)
    if not entries:
        console.print(f"No {what} rows" + (f" of kind {wanted_kind}." if wanted_kind else "."))
        return
    table = titled_table(f"{what} rows (newest first, at most {limit})")
    for column in ("kind", "key", "status", "tries", "updated", "reason"):
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
        table.add_row(
            entry["kind"],
            entry["key"],
            entry["status"],
            str(entry["attempts"]),
            (entry["updated_at"] or "")[:19].replace("T", " "),
            reason,
        )
    console.print(table)
    console.print("Re-drive them with `rbsync retry` (see `rbsync retry --help`).")

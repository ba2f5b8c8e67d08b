"""``rbsync status``: the ledger at a glance -- counts by kind and status, cursors, last polls,
the last reconciliation -- of one connection; with several connections and no
``--connection``, a summary of each instead."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from worker.commands._common import (
    EXIT_FAILED,
    ConnectionOption,
    cli_command,
    kind_names,
    ledger_location,
    ledger_runtime,
    load_cli_settings,
    make_console,
    resolve_connection,
    titled_table,
)

if TYPE_CHECKING:
    from wiring.settings import Settings

__all__ = [
    "STATUS_COLUMNS",
    "attention",
    "gather_connections",
    "gather_status",
    "print_connection",
    "register",
    "status",
]

STATUS_COLUMNS = ("pending", "in_flight", "synced", "skipped", "unknown", "failed", "dead")
"""The ledger statuses, in the order ``status`` shows them."""


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command("status")(status)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


UNSWEPT_AFTER_SWEEPS = 3
"""A row whose lease ran out this many sweep intervals ago (and at least a minute) and that no
sweep sent again is reported as waiting for a sweep that does not come."""


def _patience(sweep_interval_seconds: float) -> float:
    return max(60.0, UNSWEPT_AFTER_SWEEPS * sweep_interval_seconds)


def gather_connections(settings: Settings) -> list[dict[str, Any]]:
    """Every connection with its state and its rows per status (one GROUP BY over every
    connection's rows); a connection removed but whose ledger rows were kept is listed as
    ``removed``."""
    from ledger import (
        ALL,
        counts_by_connection_and_status,
        make_session_factory,
        unswept_counts_by_connection,
        utcnow,
    )
    from wiring.connections import connection_infos
    from wiring.runtime import build_runtime

    before = utcnow() - timedelta(seconds=_patience(settings.sweep_interval_seconds))
    probe = build_runtime(settings)
    try:
        sessions = make_session_factory(probe.engine, ALL)
        infos = connection_infos(settings, sessions)
        with sessions() as session:
            counts = counts_by_connection_and_status(session)
            unswept = unswept_counts_by_connection(session, before=before)
    finally:
        probe.close()
    described = {info.name: (info.state, info.state_reason) for info in infos}
    for name in sorted(set(counts) - set(described)):
        described[name] = ("removed", "its ledger rows were kept (`rbsync connections remove`)")
    return [
        {
            "name": name,
            "state": state,
            "reason": reason,
            "counts": {s: counts.get(name, {}).get(s, 0) for s in STATUS_COLUMNS},
            "total": sum(counts.get(name, {}).values()),
            "unswept": unswept.get(name, 0),
        }
        for name, (state, reason) in sorted(described.items())
    ]


def gather_status(sessions: Any, *, sweep_interval_seconds: float) -> dict[str, Any]:
    """The status as plain JSON-ready values (what ``--json`` prints)."""
    from ledger import (
        all_cursors,
        counts_by_kind_and_status,
        last_poll_cycles,
        last_reconcile_run,
        one_line,
        unswept_count,
        utcnow,
    )

    patience = _patience(sweep_interval_seconds)
    with sessions() as session:
        counts = counts_by_kind_and_status(session)
        cursors = all_cursors(session)
        polls = last_poll_cycles(session)
        run = last_reconcile_run(session)
        unswept = unswept_count(session, before=utcnow() - timedelta(seconds=patience))
    kinds = [k for k in kind_names() if k in counts or k in cursors or k in polls]
    kinds += sorted(set(counts) - set(kind_names()))
    result: dict[str, Any] = {"kinds": {}, "last_reconcile": None, "unswept": unswept}
    if run is not None:
        result["last_reconcile"] = {
            "status": run.status,
            "trigger": run.trigger,
            "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at),
            "kinds": list(run.kinds),
            "repair": run.repair,
            "differences": run.differences,
            "counts": {
                kind: {c: n for c, n in body.get("counts", {}).items() if n}
                for kind, body in run.report.items()
            },
            "error": run.error,
        }
    for kind in kinds:
        poll = polls.get(kind)
        result["kinds"][kind] = {
            "counts": {s: counts.get(kind, {}).get(s, 0) for s in STATUS_COLUMNS},
            "total": sum(counts.get(kind, {}).values()),
            "cursor": _iso(cursors.get(kind)),
            "last_poll": None
            if poll is None
            else {
                "status": poll.status,
                "started_at": _iso(poll.started_at),
                "finished_at": _iso(poll.finished_at),
                "seen": poll.seen,
                "changed": poll.changed,
                "enqueued": poll.enqueued,
                # One line without SQL, also for an error stored before the poll kept it so.
                "error": None if poll.error is None else one_line(poll.error),
            },
        }
    result["webhooks"] = _webhooks(sessions)
    return result


def _webhooks(sessions: Any) -> dict[str, Any]:
    """Registered webhooks, accepted deliveries by outcome, the connection's state."""
    from ledger.webhooks import connection_disconnected, subscriptions, webhook_event_counts

    with sessions() as session:
        registered = len(subscriptions(session))
        deliveries = webhook_event_counts(session)
        disconnection = connection_disconnected(session)
    return {
        "registered": registered,
        "deliveries": deliveries,
        "disconnected": None
        if disconnection is None
        else {"at": _iso(disconnection.at), "reason": disconnection.reason},
    }


def print_connection(data: dict[str, Any]) -> None:
    """The webhook lines of ``status``: a disconnection first, loudly."""
    console = make_console()
    hooks = data["webhooks"]
    gone = hooks["disconnected"]
    if gone is not None:
        console.print(
            f"[bold red]Rackbeat connection DISCONNECTED[/] since {_short(gone['at'])}: "
            f"{gone['reason']}. Polls are stopped. Once the plugin is installed again, run "
            "`rbsync webhooks register --url URL` (it reconnects)."
        )
    if hooks["registered"] or hooks["deliveries"]:
        counts = ", ".join(f"{name} {n}" for name, n in sorted(hooks["deliveries"].items()))
        console.print(
            f"Webhooks: {hooks['registered']} registered; deliveries: {counts or 'none'} "
            "(`rbsync webhooks list`)."
        )


def _short(moment: str | None) -> str:
    if moment is None:
        return "-"
    return moment.replace("T", " ")[:19]


@cli_command
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    connection: ConnectionOption = None,
) -> None:
    """Show the ledger: entities per kind and status, each kind's cursor and last poll, and the
    last reconciliation (`rbsync reconcile`).

    What to do about each status: pending/in_flight are in progress (in_flight rows whose
    worker died and that no sweep sent again are counted apart, in red); unknown is retried (looked
    up first); failed and dead need a look (`rbsync failures`) and then `rbsync retry`;
    skipped rows were left alone on purpose (the reason is in `rbsync failures --status
    skipped`). Also: registered webhooks, their deliveries, and a Rackbeat connection marked
    disconnected by plugin.uninstalled (polls stopped). With several connections and no
    --connection: each connection's state and rows per status.

    Exit code 0 when nothing needs an operator, 1 when something does (failed or dead rows,
    in_flight rows no sweep brings back, a kind whose last poll failed, a broken or
    disconnected connection; named on the last line, under "attention" in --json), 2 when the
    ledger cannot be read.
    """
    settings = load_cli_settings()
    if connection is None:
        overview = gather_connections(settings)
        if sum(1 for row in overview if row["state"] != "removed") > 1:
            _print_overview(settings, overview, as_json=as_json)
            return
    config = resolve_connection(settings, connection)
    with ledger_runtime(settings, config) as runtime:
        data = gather_status(
            runtime.sessions, sweep_interval_seconds=settings.sweep_interval_seconds
        )
    data["connection"] = {
        "name": config.name,
        "state": config.state,
        "reason": config.state_reason,
        "stored": config.stored,
    }
    data["ledger"] = ledger_location(settings)
    data["mode"] = "embedded" if settings.embedded else "production"
    data["attention"] = attention(data)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        _exit_for(data["attention"])
        return
    console = make_console()
    console.print(f"Ledger: {data['ledger']} ({data['mode']} mode)")
    if config.stored or connection is not None:
        console.print(
            f"Connection: {config.name} ({_state_text(config.state, config.state_reason)})"
        )
    print_connection(data)
    if not data["kinds"]:
        console.print("The ledger is empty: no poll has run yet (try `rbsync sync --once`).")
        _print_attention(data["attention"])
        return
    table = titled_table("Entities by kind and status")
    table.add_column("kind")
    for column in STATUS_COLUMNS:
        table.add_column(column, justify="right")
    table.add_column("total", justify="right")
    totals = dict.fromkeys(STATUS_COLUMNS, 0)
    for kind, info in data["kinds"].items():
        counts = info["counts"]
        for column in STATUS_COLUMNS:
            totals[column] += counts[column]
        table.add_row(kind, *(str(counts[c]) for c in STATUS_COLUMNS), str(info["total"]))
    table.add_row(
        "all", *(str(totals[c]) for c in STATUS_COLUMNS), str(sum(totals.values())), style="bold"
    )
    console.print(table)
    if data["unswept"]:
        console.print(
            f"[bold red]{data['unswept']} in_flight rows are not in progress[/]: their worker "
            "died (their lease ran out) and no sweep has sent them again. Beat sends "
            "`rbsync.sweep` every RBSYNC_SWEEP_INTERVAL_SECONDS to a worker on the poll queue: "
            "check that beat and a worker run."
        )
    polls = titled_table("Cursors and last polls")
    for column in ("kind", "cursor", "last poll", "status", "seen", "changed", "enqueued"):
        polls.add_column(
            column, justify="right" if column in {"seen", "changed", "enqueued"} else "left"
        )
    for kind, info in data["kinds"].items():
        poll = info["last_poll"] or {}
        status_text = poll.get("status", "-")
        if poll.get("error"):
            status_text += f": {poll['error']}"
        polls.add_row(
            kind,
            _short(info["cursor"]),
            _short(poll.get("started_at")),
            status_text,
            str(poll.get("seen", "-")),
            str(poll.get("changed", "-")),
            str(poll.get("enqueued", "-")),
        )
    console.print(polls)
    console.print(_reconcile_line(data["last_reconcile"]))
    _print_attention(data["attention"])


def attention(data: dict[str, Any]) -> list[str]:
    """What needs an operator in one connection's status (``status`` exits 1 when anything
    does): failed or dead rows, in_flight rows no sweep brings back, a kind whose last poll
    failed (its changes are not being read), a broken connection, a Rackbeat disconnection.
    Pending, in-flight and unknown rows are work in progress (unknown ones are looked up and
    retried by the workers); skipped rows and a paused connection are on purpose."""
    link = data.get("connection") or {}
    counts = {
        s: sum(info["counts"][s] for info in data["kinds"].values()) for s in ("failed", "dead")
    }
    found = _trouble(
        link.get("name"), link.get("state"), link.get("reason"), counts, data["unswept"]
    )
    if data["webhooks"]["disconnected"] is not None:
        found.append("the Rackbeat connection is disconnected (plugin.uninstalled)")
    failed_polls = [
        kind
        for kind, info in data["kinds"].items()
        if (info["last_poll"] or {}).get("status") == "failed"
    ]
    if failed_polls:
        found.append(f"the last poll of {', '.join(failed_polls)} failed")
    return found


def overview_attention(overview: list[dict[str, Any]]) -> list[str]:
    """:func:`attention` over every connection's summary row, each line naming it."""
    found: list[str] = []
    for row in overview:
        found += _trouble(
            row["name"], row["state"], row["reason"], row["counts"], row["unswept"],
            prefix=f"{row['name']}: ",
        )  # fmt: skip
    return found


def _trouble(
    name: str | None,
    state: str | None,
    reason: str | None,
    counts: dict[str, int],
    unswept: int,
    *,
    prefix: str = "",
) -> list[str]:
    """What a connection's state, failed and dead rows and unswept rows say needs a look."""
    found: list[str] = []
    if state == "broken":
        found.append(f"connection {name} is broken: {reason or '-'}")
    stuck = counts["failed"] + counts["dead"]
    if stuck:
        found.append(f"{prefix}{stuck} failed or dead rows (`rbsync failures`)")
    if unswept:
        found.append(f"{prefix}{unswept} in_flight rows no sweep has sent again")
    return found


def _print_attention(found: list[str]) -> None:
    if found:
        make_console().print(
            "Needs attention (exit code 1): " + "; ".join(found) + ".",
            markup=False,
            soft_wrap=True,  # one line, however long: scripts read the last line
        )
    _exit_for(found)


def _exit_for(found: list[str]) -> None:
    if found:
        raise typer.Exit(EXIT_FAILED)


def _state_text(state: str, reason: str | None) -> str:
    return f"{state}: {reason}" if reason else state


STATE_STYLES = {"active": "", "paused": "yellow", "broken": "bold red", "removed": "dim"}


def _print_overview(settings: Settings, overview: list[dict[str, Any]], *, as_json: bool) -> None:
    """Each connection's state and rows per status (``status`` without ``--connection``)."""
    location = ledger_location(settings)
    mode = "embedded" if settings.embedded else "production"
    found = overview_attention(overview)
    if as_json:
        payload = {"ledger": location, "mode": mode, "connections": overview, "attention": found}
        typer.echo(json.dumps(payload, indent=2))
        _exit_for(found)
        return
    console = make_console()
    console.print(f"Ledger: {location} ({mode} mode)")
    table = titled_table("Connections: entities by status")
    for column in ("connection", "state", "reason"):
        table.add_column(column)
    for column in STATUS_COLUMNS:
        table.add_column(column, justify="right")
    table.add_column("total", justify="right")
    for row in overview:
        style = STATE_STYLES.get(row["state"], "")
        state = f"[{style}]{row['state']}[/]" if style else row["state"]
        table.add_row(
            row["name"],
            state,
            row["reason"] or "",
            *(str(row["counts"][c]) for c in STATUS_COLUMNS),
            str(row["total"]),
        )
    console.print(table)
    for row in overview:
        if row["unswept"]:
            console.print(
                f"[bold red]{row['name']}: {row['unswept']} in_flight rows are not in "
                "progress[/]: their worker died and no sweep has sent them again; check that "
                "beat and a worker run."
            )
    needing = [r["name"] for r in overview if r["counts"]["failed"] or r["counts"]["dead"]]
    if needing:
        console.print(
            f"Failed or dead rows in {', '.join(needing)}: `rbsync failures` lists them.",
            markup=False,
        )
    console.print(
        "One connection's kinds, cursors, polls and reconcile: `rbsync status --connection NAME`.",
        markup=False,
    )
    _print_attention(found)


def _reconcile_line(run: dict[str, Any] | None) -> str:
    """One line on the last reconciliation."""
    if run is None:
        return "Last reconcile: never (`rbsync reconcile`; beat runs it weekly)."
    when = _short(run["started_at"])
    if run["status"] == "failed":
        return f"Last reconcile: {when}: failed: {run['error']}"
    if run["status"] == "running":
        return f"Last reconcile: {when}: running"
    if not run["differences"]:
        return f"Last reconcile: {when}: clean"
    found = "; ".join(
        f"{kind}: " + ", ".join(f"{c} {n}" for c, n in counts.items())
        for kind, counts in run["counts"].items()
        if counts
    )
    return (
        f"Last reconcile: {when}: {run['differences']} differences ({found}); "
        "`rbsync reconcile` lists them"
    )

"""``rbsync webhooks serve|register|list|unregister``: Rackbeat's push path (docs/webhooks.md)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from worker.commands._common import (
    ConnectionOption,
    cli_app,
    cli_command,
    ledger_runtime,
    load_cli_settings,
    log_level,
)

__all__ = ["register", "webhooks"]

webhooks = typer.Typer(
    help="Rackbeat webhooks: the receiver, and registering it with Rackbeat.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``webhooks`` command group to ``app``."""
    app.add_typer(webhooks, name="webhooks")


@webhooks.command("serve")
@cli_command
def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Address to listen on (default RBSYNC_WEBHOOK_HOST, 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default RBSYNC_WEBHOOK_PORT, 8000).")
    ] = None,
) -> None:
    """Run the receiver: POST /webhooks/rackbeat (Rackbeat's deliveries), GET /healthz.

    Put a TLS-terminating proxy in front and register its public https URL with `rbsync
    webhooks register --url`. Each delivery is checked (token, size), stored in the ledger and
    answered; its sync goes to the broker afterwards (a broker that is down delays it until the
    sweep sends it; the answer never waits). Needs the ledger; workers do the syncing.
    """
    import uvicorn

    from wiring.runtime import fleet_for, set_runtime
    from worker.logs import configure_logging
    from worker.webhooks.receiver import create_receiver

    settings = load_cli_settings()
    configure_logging(settings, level=min(log_level(), logging.INFO))
    app = cli_app(settings)
    # Every connection's deliveries (routed on Rackbeat-Account-Id, worker.webhooks.receiver).
    fleet = fleet_for(app)
    try:
        receiver = create_receiver(fleet, app)
        uvicorn.run(
            receiver,
            host=host or settings.webhook_host,
            port=port or settings.webhook_port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=10,
        )
    finally:
        set_runtime(app, None)


@webhooks.command("register")
@cli_command
def register_cmd(
    url: Annotated[
        str,
        typer.Option(
            "--url",
            help="The receiver's public https URL, ending in /webhooks/rackbeat.",
        ),
    ],
    connection: ConnectionOption = None,
) -> None:
    """Register every event rbsync handles with Rackbeat for URL, for one connection's
    Rackbeat account (--connection; one receiver serves them all); idempotent.

    Tokens Rackbeat returns are kept in the ledger as SHA-256 digests (never printed). Running
    it again updates the same webhooks (an event whose token the ledger lacks is deleted and
    created again). Clears a disconnection left by plugin.uninstalled. Exits 1 when Rackbeat
    refused an event (inferred names may not exist; the poll still catches those changes).
    """
    from worker.commands._common import EXIT_FAILED, fail, make_console, titled_table
    from worker.webhooks.registration import register_receiver

    if not url.startswith(("https://", "http://")):
        fail(f"--url must be an http(s) URL, not {url!r}")
    settings = load_cli_settings()
    with ledger_runtime(settings, connection) as runtime:
        done = register_receiver(runtime, url)
    table = titled_table(f"Webhooks for {url}")
    for column in ("event", "source", "Rackbeat id", "outcome"):
        table.add_column(column)
    for r in done:
        source = "verified" if r.event.verified else "inferred"
        table.add_row(r.event.name, source, str(r.webhook_id or "-"), r.outcome)
    make_console().print(table)
    if any(r.webhook_id is None for r in done):
        raise typer.Exit(EXIT_FAILED)


@webhooks.command("list")
@cli_command
def list_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    connection: ConnectionOption = None,
) -> None:
    """List the webhooks Rackbeat has (with failures_since_last_success), whether the ledger
    holds each one's token, and the deletions Rackbeat reported (nothing is deleted in
    PowerOffice Go: handle them by hand)."""
    import json

    from kinds.webhook_events import event_named
    from ledger.webhooks import deletion_events, subscriptions
    from worker.commands._common import make_console, titled_table

    settings = load_cli_settings()
    with ledger_runtime(settings, connection) as runtime:
        remote = list(runtime.rackbeat.iter_webhooks())
        with runtime.sessions() as session:
            held = {s.rackbeat_id for s in subscriptions(session)}
            deletions = deletion_events(session)
    rows = [
        {
            "id": hook.id,
            "event": hook.event,
            "url": hook.url,
            "active": hook.is_active,
            "failures_since_last_success": hook.failures_since_last_success,
            "source": _source(event_named(hook.event)),
            "token_held": hook.id in held,
        }
        for hook in remote
    ]
    removed = [{"received_at": at.isoformat(), "event": e, "key": k} for at, e, k in deletions]
    if as_json:
        typer.echo(json.dumps({"webhooks": rows, "deletions": removed}, indent=2))
        return
    console = make_console()
    table = titled_table("Webhooks in Rackbeat")
    columns = ("id", "event", "source", "url", "active", "failures", "token held")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["id"]),
            str(row["event"]),
            str(row["source"]),
            str(row["url"]),
            "yes" if row["active"] else "no",
            str(row["failures_since_last_success"]),
            "yes" if row["token_held"] else "no (deliveries refused)",
        )
    console.print(table)
    if removed:
        gone = titled_table("Deleted in Rackbeat (nothing was changed in PowerOffice Go)")
        for column in ("received", "event", "key"):
            gone.add_column(column)
        for item in removed:
            gone.add_row(item["received_at"][:19].replace("T", " "), item["event"], item["key"])
        console.print(gone)


def _source(event: object) -> str:
    verified = getattr(event, "verified", None)
    if verified is None:
        return "not handled"
    return "verified" if verified else "inferred"


@webhooks.command("unregister")
@cli_command
def unregister_cmd(
    url: Annotated[str | None, typer.Option("--url", help="Only the webhooks of this URL.")] = None,
    connection: ConnectionOption = None,
) -> None:
    """Delete the webhooks rbsync registered from Rackbeat and forget their tokens; polling
    alone keeps PowerOffice Go in step afterwards."""
    from worker.webhooks.registration import unregister_receiver

    settings = load_cli_settings()
    with ledger_runtime(settings, connection) as runtime:
        removed = unregister_receiver(runtime, url)
    typer.echo(f"Deleted {removed} webhook(s) from Rackbeat.")

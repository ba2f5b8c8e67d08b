"""``rbsync webhooks serve|register|list|unregister``: Rackbeat's push path (docs/webhooks.md)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from worker.commands._common import (
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

    from worker.logs import configure_logging
    from worker.webhooks.receiver import create_receiver

    settings = load_cli_settings()
    configure_logging(settings, level=min(log_level(), logging.INFO))
    app = cli_app(settings)
    with ledger_runtime(settings) as runtime:
        receiver = create_receiver(runtime, app)
        uvicorn.run(
            receiver,
            host=host or settings.webhook_host,
            port=port or settings.webhook_port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=10,
        )

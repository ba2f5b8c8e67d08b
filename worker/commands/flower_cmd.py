"""``rbsync flower``: Flower for the rbsync app, with auth, persistence, Retry buttons and entity
pages (search the ledger, Resync one entity)."""

from __future__ import annotations

import logging

import typer

from worker.commands._common import cli_command, load_cli_settings, log_level
from worker.flower.config import DEFAULT_ADDRESS, FlowerConfigError, flower_config
from worker.logs import configure_logging


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command("flower")(flower)


@cli_command
def flower(
    address: str = typer.Option(
        DEFAULT_ADDRESS, help="Address to listen on (0.0.0.0 in a container)."
    ),
    port: int | None = typer.Option(None, help="Port (default: RBSYNC_FLOWER_PORT, 5555)."),
    url_prefix: str = typer.Option("", help="Serve under this path (behind a reverse proxy)."),
    insecure_no_auth: bool = typer.Option(
        False,
        "--insecure-no-auth",
        help=(
            "Start without RBSYNC_FLOWER_BASIC_AUTH: anyone who reaches the port can read the "
            "ledger, retry and resync."
        ),
    ),
) -> None:
    """Run Flower for rbsync: inspect tasks, Retry a failed one, look an entity up and Resync it.

    Needs RBSYNC_FLOWER_BASIC_AUTH (user:password) unless --insecure-no-auth is given; keeps its
    state in RBSYNC_FLOWER_DB (default RBSYNC_DATA_DIR/flower-state) across restarts. The
    Entities tab reads the ledger (RBSYNC_DATABASE_URL); its Resync reads the record from
    Rackbeat first (RACKBEAT_API_TOKEN), as rbsync enqueue does.
    """
    settings = load_cli_settings()
    try:
        config = flower_config(
            settings, address=address, port=port, insecure=insecure_no_auth, url_prefix=url_prefix
        )
    except FlowerConfigError as exc:
        typer.echo(f"rbsync flower: {exc}", err=True)
        raise typer.Exit(2) from exc
    configure_logging(settings, level=min(log_level(), logging.INFO))

    from worker.app import create_app
    from worker.flower.server import run_flower

    run_flower(create_app(settings), config)

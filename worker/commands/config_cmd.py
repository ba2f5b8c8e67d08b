"""``rbsync config``: show the effective settings with every secret masked."""

from __future__ import annotations

import json

import typer

from worker.commands._common import cli_command, load_cli_settings


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command("config")(show_config)


@cli_command
def show_config() -> None:
    """Print the effective settings (environment + .env) as JSON, secrets masked."""
    settings = load_cli_settings()
    typer.echo(json.dumps(settings.safe_dump(), indent=2, default=str))

"""``rbsync config``: show the effective settings with every secret masked."""

from __future__ import annotations

import json

import typer

from worker.settings import load_settings


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command("config")(show_config)


def show_config() -> None:
    """Print the effective settings (environment + .env) as JSON, secrets masked."""
    settings = load_settings()
    typer.echo(json.dumps(settings.safe_dump(), indent=2, default=str))

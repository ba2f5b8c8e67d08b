"""CLI commands, one module each; ``register_all`` adds them to the Typer app."""

from __future__ import annotations

import typer

__all__ = ["register_all"]


def register_all(app: typer.Typer) -> None:
    """Register every command module's commands on ``app``."""
    from worker.commands import config_cmd, db_cmd, flower_cmd, sandbox_cmd, sync_cmd

    config_cmd.register(app)
    flower_cmd.register(app)
    sandbox_cmd.register(app)
    sync_cmd.register(app)
    db_cmd.register(app)

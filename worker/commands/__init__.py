"""CLI commands, one module each; ``register_all`` adds them to the Typer app."""

from __future__ import annotations

import typer

__all__ = ["register_all"]


def register_all(app: typer.Typer) -> None:
    """Register every command module's commands on ``app`` (the order of ``rbsync --help``)."""
    from worker.commands import (
        check_cmd,
        config_cmd,
        connections_cmd,
        db_cmd,
        demo_cmd,
        enqueue_cmd,
        failures_cmd,
        flower_cmd,
        health_cmd,
        initial_sync_cmd,
        metrics_cmd,
        reconcile_cmd,
        retry_cmd,
        sandbox_cmd,
        status_cmd,
        sync_cmd,
        webhooks_cmd,
    )

    demo_cmd.register(app)
    check_cmd.register(app)
    status_cmd.register(app)
    health_cmd.register(app)
    metrics_cmd.register(app)
    failures_cmd.register(app)
    retry_cmd.register(app)
    enqueue_cmd.register(app)
    sync_cmd.register(app)
    reconcile_cmd.register(app)
    initial_sync_cmd.register(app)
    db_cmd.register(app)
    flower_cmd.register(app)
    webhooks_cmd.register(app)
    connections_cmd.register(app)
    sandbox_cmd.register(app)
    config_cmd.register(app)

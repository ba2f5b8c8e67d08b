"""``rbsync metrics serve``: the Prometheus endpoint (docs/observability.md)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from worker.commands._common import cli_command, ledger_runtime, load_cli_settings, log_level

__all__ = ["metrics", "register"]

metrics = typer.Typer(help="Prometheus metrics: the scrape endpoint.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``metrics`` command group to ``app``."""
    app.add_typer(metrics, name="metrics")


@metrics.command("serve")
@cli_command
def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Address to listen on (default RBSYNC_METRICS_HOST, 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default RBSYNC_METRICS_PORT, 9808).")
    ] = None,
) -> None:
    """Serve Prometheus metrics on http://HOST:PORT/metrics until stopped.

    What the worker processes on this host recorded (syncs by kind and outcome, API requests,
    429s, rate-limiter waits, token refreshes, poll durations, heartbeats: files in
    RBSYNC_METRICS_DIR, default RBSYNC_DATA_DIR/metrics), plus gauges read at each scrape from
    the ledger (entities by kind and status, oldest pending row, cursor lag, last successful
    poll) and Redis (queue depths, beat's last tick). Run one per host that runs workers, with
    the workers' settings. Alert rules: monitoring/alerts.yml.
    """
    from worker.logs import configure_logging
    from worker.metrics import make_metrics_server

    settings = load_cli_settings()
    configure_logging(settings, level=min(log_level(), logging.INFO))
    host = host or settings.metrics_host
    port = port or settings.metrics_port
    with ledger_runtime(settings) as runtime:
        try:
            server = make_metrics_server(runtime, host, port)
        except OSError as exc:
            from worker.commands._common import fail

            fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
        logging.getLogger(__name__).info("metrics on http://%s:%d/metrics", host, port)
        with server:
            server.serve_forever()

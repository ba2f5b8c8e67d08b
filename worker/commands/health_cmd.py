"""``rbsync health``: is each of rbsync's processes alive? For compose healthchecks and
Kubernetes probes (docs/operations.md, "Health"). The checks are ``worker.health``'s."""

from __future__ import annotations

import enum
import json
from typing import Annotated

import typer

from worker.commands._common import (
    EXIT_FAILED,
    cli_app,
    cli_command,
    load_cli_settings,
    make_console,
)

__all__ = ["Component", "health", "register"]

DEFAULT_TIMEOUT_SECONDS = 5.0


class Component(enum.StrEnum):
    WORKER = "worker"
    BEAT = "beat"
    RECEIVER = "receiver"


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command("health")(health)


@cli_command
def health(
    components: Annotated[
        list[Component] | None,
        typer.Argument(help="What to check: worker, beat, receiver (default: worker and beat)."),
    ] = None,
    *,
    node: Annotated[
        str | None,
        typer.Option(
            "--node",
            help="The worker to ask (its --hostname, e.g. celery@host1 or poller@%h, %h being "
            "this host's name); '*' for any worker. Default: celery@<this host>.",
        ),
    ] = None,
    queues: Annotated[
        str | None,
        typer.Option(
            "--queues",
            help="Comma-separated queues the worker must consume (the poller: "
            "rbsync,rbsync.poll,rbsync.webhook). Default: every rbsync queue.",
        ),
    ] = None,
    max_age: Annotated[
        float | None,
        typer.Option(
            "--max-age",
            help="Beat's last tick may be this many seconds old (default: three sweep "
            "intervals, at least 30).",
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="The receiver's health URL (default: http://RBSYNC_WEBHOOK_HOST:"
            "RBSYNC_WEBHOOK_PORT/healthz).",
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for each answer.")
    ] = DEFAULT_TIMEOUT_SECONDS,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check that rbsync's processes are alive: exit 0 when every one checked is, 1 otherwise.

    worker: the node answers over the broker and consumes every rbsync queue (or --queues).
    beat: its last tick (beat records one for every message it sends; the sweep goes out every
    RBSYNC_SWEEP_INTERVAL_SECONDS) is recent. receiver: GET /healthz answers 200 (it does while
    the ledger answers). Use it as a compose healthcheck or a Kubernetes liveness probe of each
    process; `rbsync status` says whether the work itself moves.
    """
    from tasks.names import QUEUES
    from worker.health import (
        Check,
        beat_max_age,
        check_beat,
        check_receiver,
        check_worker,
        default_node,
        expand_node,
    )

    settings = load_cli_settings()
    consumed = [q.strip() for q in (queues or "").split(",") if q.strip()]
    unknown = sorted(set(consumed) - set(QUEUES))
    if unknown:
        raise typer.BadParameter(
            f"not an rbsync queue: {', '.join(unknown)} (they are: {', '.join(QUEUES)})",
            param_hint="--queues",
        )
    wanted = list(dict.fromkeys(components or [Component.WORKER, Component.BEAT]))
    results: list[Check] = []
    for component in wanted:
        if component is Component.WORKER:
            app = cli_app(settings)
            asked = expand_node(node) if node else default_node()
            results.append(check_worker(app, asked, timeout=timeout, queues=consumed or None))
        elif component is Component.BEAT:
            limit = max_age if max_age is not None else beat_max_age(settings)
            results.append(check_beat(settings, max_age=limit))
        else:
            target = url or f"http://{settings.webhook_host}:{settings.webhook_port}/healthz"
            results.append(check_receiver(target, timeout=timeout))
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in results], indent=2))
    else:
        console = make_console()
        for r in results:
            verdict = "[green]ok[/]" if r.ok else "[bold red]FAILED[/]"
            console.print(f"{r.name}: {verdict} ({r.detail})", highlight=False)
    if not all(r.ok for r in results):
        raise typer.Exit(EXIT_FAILED)

"""``rbsync sandbox``: both emulators on loopback, with the environment to point rbsync at them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from worker.commands._common import cli_command

if TYPE_CHECKING:
    from sandbox.faults import FaultRule

RB_FAULT_HELP = (
    'A Rackbeat fault rule as JSON, e.g. \'{"route": "GET /api/*", "error_rate": 0.1}\'.'
)
PO_FAULT_HELP = (
    'A PowerOffice Go fault rule as JSON, e.g. \'{"route": "POST /v2/*", '
    '"commit_then_drop_rate": 0.2}\'.'
)


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command("sandbox")(sandbox)


def _rules(raw: list[str] | None, flag: str) -> list[FaultRule]:
    from pydantic import ValidationError

    from sandbox.faults import FaultRule

    rules: list[FaultRule] = []
    for text in raw or []:
        try:
            rules.append(FaultRule.model_validate(json.loads(text)))
        except (ValueError, ValidationError) as exc:
            typer.echo(f"rbsync sandbox: {flag} {text!r} is not a fault rule: {exc}", err=True)
            raise typer.Exit(2) from exc
    return rules


@cli_command
def sandbox(
    *,
    rackbeat_port: Annotated[
        int, typer.Option(help="Rackbeat emulator port (0 = any free port).")
    ] = 8081,
    poweroffice_port: Annotated[
        int, typer.Option(help="PowerOffice Go emulator port (0 = any free port).")
    ] = 8082,
    host: Annotated[str, typer.Option(help="Loopback address to listen on.")] = "127.0.0.1",
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = 1,
    scale: Annotated[int, typer.Option(help="Rackbeat data size (0 = empty).")] = 50,
    with_bad_records: Annotated[
        bool,
        typer.Option(
            "--with-bad-records",
            help="Add the demo's bad records (customers PowerOffice Go refuses), to try "
            "`rbsync failures` and `rbsync retry`.",
        ),
    ] = False,
    poweroffice_scale: Annotated[
        int,
        typer.Option(help="PowerOffice Go data size for an initial sync (0 = empty: ongoing)."),
    ] = 0,
    rate_limits: Annotated[
        bool,
        typer.Option(
            "--rate-limits/--no-rate-limits", help="Enforce 480/min (Rackbeat) and 10/s (PO Go)."
        ),
    ] = True,
    replica_lag: Annotated[
        float, typer.Option(help="Seconds before a PowerOffice Go write is visible to GETs.")
    ] = 0.0,
    rackbeat_fault: Annotated[list[str] | None, typer.Option(help=RB_FAULT_HELP)] = None,
    poweroffice_fault: Annotated[list[str] | None, typer.Option(help=PO_FAULT_HELP)] = None,
) -> None:
    """Run the Rackbeat and PowerOffice Go emulators until Ctrl-C.

    Prints the URLs and the sandbox credentials as environment lines for rbsync. Change
    faults and knobs at run time through each emulator's /_sandbox/ admin routes.
    """
    from sandbox.launcher import SandboxOptions, build_sandbox, environment
    from sandbox.server import RunningServer, serve_forever

    options = SandboxOptions(
        rackbeat_port=rackbeat_port,
        poweroffice_port=poweroffice_port,
        seed=seed,
        rackbeat_scale=scale,
        bad_records=with_bad_records,
        poweroffice_scale=poweroffice_scale,
        rate_limits=rate_limits,
        replica_lag_seconds=replica_lag,
        rackbeat_faults=_rules(rackbeat_fault, "--rackbeat-fault"),
        poweroffice_faults=_rules(poweroffice_fault, "--poweroffice-fault"),
    )
    built = build_sandbox(options)

    def announce(servers: list[RunningServer]) -> None:
        rackbeat, poweroffice = servers
        typer.echo(f"# Rackbeat emulator:       {rackbeat.url}/api/  (admin /_sandbox/)")
        typer.echo(f"# PowerOffice Go emulator: {poweroffice.url}/Demo/v2  (admin /_sandbox/)")
        typer.echo("# Sandbox credentials (harmless); put these in rbsync's environment:")
        for name, value in environment(built, rackbeat.url, poweroffice.url).items():
            typer.echo(f"export {name}={value}")
        typer.echo("# Ctrl-C stops both.")

    try:
        serve_forever(
            [(built.rackbeat_app, rackbeat_port), (built.poweroffice_app, poweroffice_port)],
            host,
            on_ready=announce,
        )
    except (OSError, ValueError) as exc:
        typer.echo(f"rbsync sandbox: {exc}", err=True)
        raise typer.Exit(2) from exc

"""The ``rbsync`` command line: the operator's entry point.

Each command lives in a small module of its own under ``worker/commands/`` and is registered
here, so that the list below is the table of contents of the CLI. Errors that an operator can
act on (bad settings, an unreachable service) end as one clear line and exit code 2, never a
traceback.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="rbsync",
    help="Keep PowerOffice Go in step with Rackbeat: products, BOMs, customers, "
    "invoice drafts and suppliers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(
    log_level: str = typer.Option(
        "warning",
        "--log-level",
        envvar="RBSYNC_LOG_LEVEL",
        help="debug, info, warning or error (logs go to stderr, secrets redacted).",
    ),
) -> None:
    """Keep PowerOffice Go in step with Rackbeat (see `rbsync demo` for a first look)."""
    from worker.commands._common import CliError, set_log_level

    try:
        set_log_level(log_level)
    except CliError as exc:
        typer.echo(f"rbsync: {exc}", err=True)
        raise typer.Exit(2) from exc


_registered: list[bool] = []


def build_app() -> typer.Typer:
    """The Typer app with every command registered (once), e.g. for ``typer.testing``."""
    if not _registered:
        from worker.commands import register_all

        register_all(app)
        _registered.append(True)
    return app


def main() -> None:
    """Console-script entry point."""
    build_app()()

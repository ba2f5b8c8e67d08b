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


def _register() -> None:
    from worker.commands import register_all

    register_all(app)


def main() -> None:
    """Console-script entry point."""
    _register()
    app()

"""``rbsync db upgrade``: bring the ledger's schema to the newest revision (Alembic)."""

from __future__ import annotations

import typer

from wiring.settings import mask_url_password
from worker.commands._common import cli_command, describe_error, load_cli_settings

__all__ = ["db", "register"]

db = typer.Typer(help="The ledger database.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``db`` command group to ``app``."""
    app.add_typer(db, name="db")


@db.command("upgrade")
@cli_command
def upgrade() -> None:
    """Create or migrate the ledger (RBSYNC_DATABASE_URL, else the embedded SQLite file)."""
    from ledger import current_revision, head_revision
    from ledger import upgrade as run_upgrade

    settings = load_cli_settings()
    url = settings.ledger_url
    try:
        run_upgrade(url)
        revision = current_revision(url)
    except Exception as exc:
        detail = describe_error(exc) or type(exc).__name__
        typer.echo(
            f"rbsync db upgrade: cannot migrate {mask_url_password(url)}: {detail}", err=True
        )
        raise typer.Exit(2) from exc
    typer.echo(f"ledger {mask_url_password(url)} at revision {revision} (head {head_revision()})")

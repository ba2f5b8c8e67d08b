"""``rbsync connections add|list|check|pause|resume|remove|rotate-key|generate-key``.

A connection is one Rackbeat account <-> one PowerOffice Go client (``wiring.connections``).
``add`` verifies both credentials the way ``rbsync check`` does (Rackbeat ``GET self``, a
PowerOffice Go token and ``GET ClientIntegrationInformation``) and stores nothing when either
is refused; the credentials are stored encrypted with ``RBSYNC_SECRET_KEY``.

Secrets never travel as argument values (a shell's history and ``ps`` would show them):
``--rackbeat-token-env VAR`` / ``--client-key-env VAR`` name the variables that hold them;
without those they are asked for without echo on a terminal, or read from standard input one a
line (the Rackbeat token first). No command prints a credential; ``generate-key`` prints the
new key, which is what it is for.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from worker.commands._common import (
    EXIT_ERROR,
    cli_command,
    fail,
    ledger_runtime,
    load_cli_settings,
    make_console,
    titled_table,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from wiring.settings import Settings
    from worker.commands.check_cmd import CheckResult

__all__ = [
    "add",
    "check",
    "connections",
    "generate_key",
    "list_cmd",
    "pause",
    "register",
    "remove",
    "resume",
    "rotate_key",
]

connections = typer.Typer(
    help=(
        "Connections: the Rackbeat accounts <-> PowerOffice Go clients this deployment syncs "
        "(add, list, check, pause, resume, remove; rotate-key, generate-key for "
        "RBSYNC_SECRET_KEY)."
    ),
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``connections`` command group to ``app``."""
    app.add_typer(connections, name="connections")


# --- helpers ----------------------------------------------------------------------------------


def _read_secret(label: str, variable: str | None, option: str) -> str:
    """A secret from the variable ``variable`` names, else asked for (no echo) or from stdin."""
    if variable is not None:
        value = os.environ.get(variable, "").strip()
        if not value:
            fail(f"{variable} (named by {option}) is not set or empty")
        return value
    if sys.stdin.isatty():
        value = str(typer.prompt(label, hide_input=True, err=True)).strip()
    else:
        value = sys.stdin.readline().strip()
    if not value:
        fail(
            f"no {label} given: name the variable that holds it with {option}, type it when "
            "asked, or give it on standard input"
        )
    return value


def _in_connection_terms(result: CheckResult, name: str) -> CheckResult:
    """A check of a stored connection names its credentials, not the environment's variables."""
    import dataclasses

    detail = result.detail.replace(
        "RACKBEAT_API_TOKEN", f"connection {name}'s Rackbeat API token"
    ).replace("POWEROFFICE_CLIENT_KEY", f"connection {name}'s PowerOffice Go client key")
    return dataclasses.replace(result, detail=detail)


def _verify(settings: Settings, name: str, *, stored: bool) -> list[CheckResult]:
    """``rbsync check``'s two API checks on a connection's settings."""
    from worker.commands.check_cmd import check_poweroffice, check_rackbeat
    from worker.logs import redact_also

    redact_also(settings)
    results = [check_rackbeat(settings), check_poweroffice(settings)]
    return [_in_connection_terms(r, name) for r in results] if stored else results


def _rackbeat_account_id(settings: Settings) -> str | None:
    """Rackbeat's id of the token's account (``GET self``), as text."""
    from collections.abc import Mapping

    from worker.commands.check_cmd import _rackbeat_client

    with _rackbeat_client(settings) as client:
        answer = client.whoami()
    account = answer.get("user_account") if isinstance(answer, Mapping) else None
    if isinstance(account, Mapping) and account.get("id") is not None:
        return str(account["id"])
    return None


def _not_stored(settings: Settings, sessions: sessionmaker[Session], name: str) -> NoReturn:
    """Fail: ``name`` has no stored row (the environment's ``default``, or unknown)."""
    from wiring.connections import DEFAULT_CONNECTION, connection_infos

    infos = connection_infos(settings, sessions)
    if name == DEFAULT_CONNECTION and any(i.name == name and not i.stored for i in infos):
        fail(
            f"connection {name} is defined by the environment (RACKBEAT_API_TOKEN, "
            "POWEROFFICE_CLIENT_KEY, ...) and has no stored row: change or unset those "
            f"variables, or store it with `rbsync connections add {name}`"
        )
    known = ", ".join(i.name for i in infos) or "none"
    fail(f"no connection named {name!r}; known connections: {known}")


def _print_checks(rows: list[tuple[str, CheckResult]], title: str) -> None:
    table = titled_table(title)
    for column in ("connection", "check", "target", "result", "detail"):
        table.add_column(column)
    for connection, r in rows:
        table.add_row(connection, r.name, r.target, "ok" if r.ok else "FAILED", r.detail)
    make_console().print(table)


def _valid_name(name: str) -> str:
    from ledger.connections import validate_name

    try:
        return validate_name(name)
    except ValueError as exc:
        fail(str(exc))


# --- commands ---------------------------------------------------------------------------------


@connections.command("add")
@cli_command
def add(  # noqa: PLR0917 - one option per setting of a connection
    name: Annotated[str, typer.Argument(help="The connection's name (a-z, 0-9, - and _).")],
    rackbeat_token_env: Annotated[
        str | None,
        typer.Option(
            "--rackbeat-token-env",
            metavar="VAR",
            help="The environment variable holding the Rackbeat API token (else asked for).",
        ),
    ] = None,
    client_key_env: Annotated[
        str | None,
        typer.Option(
            "--client-key-env",
            metavar="VAR",
            help="The environment variable holding the PowerOffice Go client key (else asked for).",
        ),
    ] = None,
    employee_map: Annotated[
        str | None,
        typer.Option(
            "--employee-map",
            metavar="JSON",
            help="R-INV-6: Rackbeat employee -> PowerOffice Go employee, e.g. '{\"3\": 102}'.",
        ),
    ] = None,
    supplier_contact_group: Annotated[
        str | None,
        typer.Option(help="R-SUP-9: the contact group suppliers are put in (default PowerOffice)."),
    ] = None,
    customer_number_from_rackbeat: Annotated[
        bool | None,
        typer.Option(
            "--customer-number-from-rackbeat/--no-customer-number-from-rackbeat",
            help="Send Rackbeat's customer number as PowerOffice Go's (default: no).",
            show_default=False,
        ),
    ] = None,
    rackbeat_account_id: Annotated[
        str | None,
        typer.Option(help="Rackbeat's account id (default: the token's, from GET self)."),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Replace the credentials and options of a stored connection (made active).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Add a connection: verify its credentials against both APIs, then store them encrypted.

    The Rackbeat API token and the PowerOffice Go client key come from the variables
    --rackbeat-token-env and --client-key-env name, else they are asked for without echo (or
    read from standard input, one a line, the token first); never give them as arguments. The
    application and subscription keys are the deployment's (POWEROFFICE_APPLICATION_KEY,
    POWEROFFICE_SUBSCRIPTION_KEY). Nothing is stored when either API refuses. Needs
    RBSYNC_SECRET_KEY. Options not given take the built-in defaults.
    """
    from ledger.connections import (
        ConnectionCredentials,
        ConnectionExistsError,
        add_connection,
        get_connection,
        list_connections,
    )
    from wiring.connections import connection_options, connection_settings, secret_box

    settings = load_cli_settings()
    _valid_name(name)
    box = secret_box(settings, purpose=f"storing connection {name}'s credentials")
    parsed_map: Any = None
    if employee_map is not None:
        try:
            parsed_map = json.loads(employee_map)
        except json.JSONDecodeError as exc:
            fail(f"--employee-map: not valid JSON ({exc.msg}: column {exc.colno})")
        if not isinstance(parsed_map, dict):
            fail('--employee-map: expected an object such as {"3": 102}')
    try:
        options = connection_options(
            employee_map=parsed_map,
            supplier_contact_group_name=supplier_contact_group,
            customer_number_from_rackbeat=customer_number_from_rackbeat,
        )
    except ValueError as exc:
        fail(f"--{exc}")
    with ledger_runtime(settings) as runtime:
        with runtime.sessions() as session:
            exists = get_connection(session, name) is not None
        if exists and not replace:
            fail(f"connection {name} exists already (--replace to give it new credentials)")
        credentials = ConnectionCredentials(
            rackbeat_token=_read_secret(
                "Rackbeat API token", rackbeat_token_env, "--rackbeat-token-env"
            ),
            client_key=_read_secret(
                "PowerOffice Go client key", client_key_env, "--client-key-env"
            ),
        )
        connection = connection_settings(
            settings,
            rackbeat_token=credentials.rackbeat_token,
            client_key=credentials.client_key,
            options=options,
        )
        results = _verify(connection, name, stored=True)
        failed = [r for r in results if not r.ok]
        if failed:
            if not as_json:
                _print_checks([(name, r) for r in results], f"rbsync connections add {name}")
            fail(
                f"connection {name} not stored: "
                + "; ".join(f"{r.name}: {r.detail}" for r in failed)
            )
        account_id = rackbeat_account_id or _rackbeat_account_id(connection)
        with runtime.sessions() as session, session.begin():
            twin = next(
                (
                    other.name
                    for other in list_connections(session)
                    if account_id is not None
                    and other.rackbeat_account_id == account_id
                    and other.name != name
                ),
                None,
            )
            if twin is not None:
                fail(
                    f"connection {name} not stored: connection {twin} serves Rackbeat account "
                    f"{account_id} already"
                )
            try:
                add_connection(
                    session,
                    name,
                    credentials=credentials,
                    box=box,
                    rackbeat_account_id=account_id,
                    options=options,
                    replace=replace,
                )
            except ConnectionExistsError as exc:  # added by someone else meanwhile
                fail(str(exc))
    summary = {
        "name": name,
        "state": "active",
        "rackbeat_account_id": account_id,
        "options": options,
        "replaced": exists,
        "checks": [r.to_json() for r in results],
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    _print_checks([(name, r) for r in results], f"rbsync connections add {name}")
    verb = "replaced" if exists else "added"
    typer.echo(f"connection {name} {verb} (Rackbeat account {account_id}), active")


def _credentials_state(settings: Settings, sessions: sessionmaker[Session]) -> dict[str, str]:
    """Per connection: whether its credentials can be read now (no request is made)."""
    from ledger.connections import connection_credentials, list_connections
    from ledger.secrets import UndecryptableError
    from wiring.connections import ConnectionSecretsError, secret_box

    with sessions() as session:
        rows = list_connections(session)
    if not rows:
        return {}
    try:
        box = secret_box(settings)
    except ConnectionSecretsError:
        return {row.name: "unreadable: RBSYNC_SECRET_KEY is not set" for row in rows}
    found: dict[str, str] = {}
    for row in rows:
        try:
            connection_credentials(row, box)
        except UndecryptableError:
            found[row.name] = "unreadable: RBSYNC_SECRET_KEY does not hold their key"
        else:
            found[row.name] = (
                "readable"
                if box.is_current(row.rackbeat_token_encrypted)
                else ("readable (not under the first key: run rotate-key)")
            )
    return found


@connections.command("list")
@cli_command
def list_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the connections: name, state (and why, since when), Rackbeat account, where its
    credentials come from (stored, or the environment) and whether they can be read.

    A broken connection (credentials or module refused) shows the reason the worker recorded;
    `rbsync connections check NAME`, then `resume NAME`, once it is fixed. Never shows a secret.
    """
    from wiring.connections import connection_infos

    settings = load_cli_settings()
    with ledger_runtime(settings) as runtime:
        infos = connection_infos(settings, runtime.sessions)
        readable = _credentials_state(settings, runtime.sessions)
    token_set = settings.rackbeat_api_token is not None and bool(
        settings.rackbeat_api_token.get_secret_value()
    )
    rows: list[dict[str, Any]] = []
    for info in infos:
        if info.stored:
            credentials = readable.get(info.name, "readable")
        else:
            credentials = "environment" if token_set else "environment: RACKBEAT_API_TOKEN unset"
        rows.append(
            {
                "name": info.name,
                "state": info.state,
                "reason": info.state_reason,
                "since": info.state_at.isoformat() if info.state_at else None,
                "rackbeat_account_id": info.account_id,
                "source": "stored" if info.stored else "environment",
                "credentials": credentials,
                "options": info.options,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = titled_table("rbsync connections")
    for column in ("name", "state", "since", "reason", "account", "source", "credentials"):
        table.add_column(column)
    for row in rows:
        since = str(row["since"] or "")[:19].replace("T", " ")
        table.add_row(
            str(row["name"]),
            str(row["state"]),
            since,
            str(row["reason"] or ""),
            str(row["rackbeat_account_id"] or ""),
            str(row["source"]),
            str(row["credentials"]),
        )
    make_console().print(table)


@connections.command("check")
@cli_command
def check(
    name: Annotated[
        str | None, typer.Argument(help="The connection to check (default: every one).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Verify connections' credentials against both APIs, as `rbsync check` does.

    Checks NAME, or every connection; paused and broken ones too (a broken one that passes
    can be resumed). Changes nothing. Exits 0 when all pass, 2 otherwise.
    """
    from wiring.connections import ConnectionSecretsError, connection_infos, load_connection
    from worker.commands.check_cmd import CheckResult

    settings = load_cli_settings()
    rows: list[tuple[str, CheckResult]] = []
    with ledger_runtime(settings) as runtime:
        names = (
            [name]
            if name is not None
            else [i.name for i in connection_infos(settings, runtime.sessions)]
        )
        for each in names:
            try:
                config = load_connection(settings, runtime.sessions, each)
            except ConnectionSecretsError as exc:
                rows.append((each, CheckResult("Credentials", "ledger", False, str(exc))))
                continue
            rows.extend((each, r) for r in _verify(config.settings, each, stored=config.stored))
    if as_json:
        typer.echo(json.dumps([{"connection": c, **r.to_json()} for c, r in rows], indent=2))
    else:
        _print_checks(rows, "rbsync connections check")
    if not all(r.ok for _, r in rows):
        raise typer.Exit(EXIT_ERROR)


def _set_state(name: str, state: str, reason: str | None) -> str | None:
    """Set a stored connection's state; the reason it had before."""
    from ledger.connections import get_connection, set_connection_state

    settings = load_cli_settings()
    with ledger_runtime(settings) as runtime:
        with runtime.sessions() as session, session.begin():
            before = get_connection(session, name)
            if before is not None:
                set_connection_state(session, name, state, reason)
        if before is None:
            _not_stored(settings, runtime.sessions, name)
    return f"{before.state}: {before.state_reason}" if before.state_reason else before.state


@connections.command("pause")
@cli_command
def pause(
    name: Annotated[str, typer.Argument(help="The connection to pause.")],
    reason: Annotated[
        str | None, typer.Option(help="Why (shown by `rbsync connections list`).")
    ] = None,
) -> None:
    """Pause a stored connection: its polls and syncs stop until `rbsync connections resume`.

    Its ledger and its waiting work stay. The environment-defined `default` has no stored
    state: stop its workers, or store it with `rbsync connections add default`.
    """
    _set_state(name, "paused", reason or "paused by an operator")
    typer.echo(f"connection {name} paused")


@connections.command("resume")
@cli_command
def resume(name: Annotated[str, typer.Argument(help="The connection to resume.")]) -> None:
    """Make a paused or broken connection active again (run `connections check NAME` first
    for a broken one: its credentials were refused)."""
    before = _set_state(name, "active", None)
    typer.echo(f"connection {name} active (was {before})")


@connections.command("remove")
@cli_command
def remove(
    name: Annotated[str, typer.Argument(help="The connection to remove.")],
    purge: Annotated[
        bool,
        typer.Option(
            "--purge", help="Delete its ledger history too (every row of this connection)."
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before --purge.")] = False,
) -> None:
    """Remove a stored connection: its credentials are deleted, its ledger history kept (a
    connection added again under the same name carries on from it).

    --purge deletes that history as well: every ledger row of the connection (snapshots,
    links, attempts, cursors, ...), which cannot be undone. It asks first unless --yes.
    """
    from ledger.connections import get_connection, purge_connection, remove_connection
    from wiring.connections import DEFAULT_CONNECTION, connection_infos

    settings = load_cli_settings()
    with ledger_runtime(settings) as runtime:
        with runtime.sessions() as session:
            stored = get_connection(session, name) is not None
        if not stored:
            env_default = any(
                i.name == DEFAULT_CONNECTION and not i.stored
                for i in connection_infos(settings, runtime.sessions)
            )
            if not purge or (name == DEFAULT_CONNECTION and env_default):
                _not_stored(settings, runtime.sessions, name)
        if purge and not yes:
            if not sys.stdin.isatty():
                fail(f"--purge deletes connection {name}'s ledger history for good: add --yes")
            typer.confirm(
                f"Delete every ledger row of connection {name}? This cannot be undone",
                abort=True,
                err=True,
            )
        with runtime.sessions() as session, session.begin():
            remove_connection(session, name)
            purged = purge_connection(session, name) if purge else {}
    if stored:
        typer.echo(f"connection {name} removed")
    if purge:
        total = sum(purged.values())
        detail = ", ".join(f"{table} {n}" for table, n in sorted(purged.items()) if n)
        typer.echo(
            f"connection {name}: {total} ledger rows deleted" + (f" ({detail})" if detail else "")
        )
    else:
        typer.echo("its ledger history is kept (`remove --purge` deletes it)")


@connections.command("rotate-key")
@cli_command
def rotate_key(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Re-encrypt every stored connection's credentials with the first key of
    RBSYNC_SECRET_KEY (any of its keys opens them), in one transaction.

    Rotation: put the new key first (RBSYNC_SECRET_KEY=new,old) everywhere, run this, then
    drop the old key. See docs/operations.md, "Connections".
    """
    from ledger.connections import reencrypt_connections
    from ledger.secrets import UndecryptableError
    from wiring.connections import secret_box

    settings = load_cli_settings()
    box = secret_box(settings, purpose="re-encrypting the stored connections")
    with ledger_runtime(settings) as runtime, runtime.sessions() as session:
        try:
            with session.begin():
                changed, current = reencrypt_connections(session, box)
        except UndecryptableError as exc:
            fail(f"{exc}; nothing was re-encrypted")
    if as_json:
        typer.echo(
            json.dumps({"reencrypted": changed, "already_current": current, "keys": box.key_count})
        )
        return
    typer.echo(
        f"{changed} connection(s) re-encrypted with the first key of RBSYNC_SECRET_KEY, "
        f"{current} already were"
        + ("; the other keys can now be dropped" if box.key_count > 1 else "")
    )


@connections.command("generate-key")
@cli_command
def generate_key() -> None:
    """Print a new random key for RBSYNC_SECRET_KEY (a Fernet key) on standard output.

    Keep it like a password: whoever holds it and the ledger holds every stored credential.
    """
    from ledger.secrets import generate_key as new_key

    typer.echo(new_key())

"""What every ``rbsync`` command shares: error handling, settings, logging, the ledger.

Decorate a command with :func:`cli_command`. Errors an operator can act on -- bad settings, a
missing credential, an unreachable API, database or broker, refused credentials, a ledger not
migrated -- end as **one line** on stderr (``rbsync: <what> ...``) and exit code
:data:`EXIT_ERROR` (2), never a traceback. Commands raise :class:`CliError` for their own
such errors. Exit code :data:`EXIT_FAILED` (1) means "ran, but some work failed".

:func:`load_cli_settings` builds the settings and installs the redacting log handler
(``worker.logs``), so no secret can reach a log line from then on.
"""

from __future__ import annotations

import enum
import functools
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from wiring.settings import (
    Settings,
    SettingsInvalidError,
    describe_settings_error,
    load_settings,
    mask_url_password,
)
from worker.logs import configure_logging

if TYPE_CHECKING:
    from celery import Celery

    from wiring.connections import ConnectionConfig
    from wiring.runtime import Runtime

__all__ = [
    "ENVIRONMENT",
    "EXIT_ERROR",
    "EXIT_FAILED",
    "CliError",
    "ConnectionOption",
    "cli_app",
    "cli_command",
    "describe_error",
    "ensure_broker",
    "fail",
    "kind_names",
    "ledger_location",
    "ledger_runtime",
    "load_cli_settings",
    "log_level",
    "make_console",
    "resolve_connection",
    "set_log_level",
    "stderr_is_terminal",
    "titled_table",
    "validate_keys",
    "validate_kind",
]

EXIT_FAILED = 1
"""The command ran, but some of its work failed (e.g. an entity ended failed or dead)."""
EXIT_ERROR = 2
"""The command could not do its work: bad settings, an unreachable service, refused keys."""


_log_level: int = logging.WARNING
log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


class CliError(Exception):
    """An error the operator can act on: printed as one line, exit code 2."""


def fail(message: str) -> NoReturn:
    """Stop the command with ``message`` (one line, exit code 2)."""
    raise CliError(message)


def set_log_level(level: int | str) -> None:
    """The level commands log at (the global ``--log-level`` option)."""
    global _log_level  # noqa: PLW0603 - one CLI invocation per process
    value = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(value, int):
        fail(f"unknown log level {level!r}; use debug, info, warning or error")
    _log_level = value


def log_level() -> int:
    """The level set by ``--log-level`` (warning by default)."""
    return _log_level


def load_cli_settings(**overrides: Any) -> Settings:
    """The settings from the environment (and ``.env``), with logging redacting their secrets."""
    try:
        settings = load_settings(**overrides)
    except SettingsInvalidError as exc:
        configure_logging(None, level=_log_level)
        raise CliError(str(exc)) from exc
    configure_logging(settings, level=_log_level)
    if settings.embedded:
        # Commands that publish to the embedded broker (enqueue, retry, sync --once) must never
        # leave a half-written message file for a worker to choke on (kombu issue #1551), nor
        # write broadcasts for consumers that are gone (see worker.embedded_broker).
        from worker.embedded_broker import install_fixes

        install_fixes()
    return settings


def describe_error(exc: BaseException) -> str | None:  # noqa: PLR0911 - one branch per family
    """One line for an error an operator can act on; None for anything else (a bug)."""
    import kombu.exceptions
    import redis.exceptions
    import sqlalchemy.exc

    from clients import AuthenticationError, ClientError, NetworkError

    if isinstance(exc, CliError):
        return str(exc)
    settings_problem = describe_settings_error(exc)
    if settings_problem is not None:
        return settings_problem
    if isinstance(exc, AuthenticationError):
        return f"credentials refused: {exc}"
    if isinstance(exc, NetworkError):
        return f"cannot reach the API: {exc}"
    if isinstance(exc, ClientError):
        return f"API error: {exc}"
    from wiring.clients import MissingSettingError
    from wiring.connections import UnknownConnectionError
    from wiring.runtime import LedgerNotMigratedError

    if isinstance(exc, UnknownConnectionError):
        return str(exc)

    if isinstance(exc, MissingSettingError):
        return f"missing setting: {exc}"
    if isinstance(exc, LedgerNotMigratedError):
        return str(exc)
    if isinstance(exc, sqlalchemy.exc.SQLAlchemyError):
        return _database_problem(exc)
    if isinstance(exc, redis.exceptions.RedisError):
        return f"cannot use Redis: {_first_line(exc)}"
    if isinstance(exc, kombu.exceptions.OperationalError):
        return f"cannot reach the broker: {_first_line(exc)}"
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {_first_line(exc)}"
    return None


def _database_problem(exc: BaseException) -> str:
    """A ledger database error in one line: never the statement and its parameters (record
    content) that a traceback or the error's own text would print."""
    import sqlalchemy.exc

    from ledger import describe_error as describe_database_error

    if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        detail = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        return f"cannot use the ledger database: {detail}"
    if isinstance(exc, sqlalchemy.exc.ArgumentError):
        return f"bad RBSYNC_DATABASE_URL: {exc}"
    return f"ledger database error: {describe_database_error(exc)}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def cli_command(func: Callable[P, R]) -> Callable[P, R]:
    """Run a command with the shared error handling (one line, exit code 2, no traceback)."""

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            typer.echo("rbsync: interrupted", err=True)
            raise typer.Exit(130) from None
        except Exception as exc:
            message = describe_error(exc)
            if message is None:
                raise
            log.debug("%s failed", getattr(func, "__name__", "command"), exc_info=True)
            typer.echo(f"rbsync: {_one_line(message)}", err=True)
            raise typer.Exit(EXIT_ERROR) from None

    return run


def _one_line(text: str) -> str:
    return " ".join(text.split())


def kind_names() -> list[str]:
    """The registered entity kinds, in the order they are shown (dependencies first)."""
    from kinds import registry

    return registry.names()


def validate_kind(kind: str) -> str:
    """``kind`` when it is a registered kind, else a :class:`CliError` naming them."""
    value = kind.strip().lower()
    if value not in kind_names():
        fail(f"unknown kind {kind!r}; expected one of {', '.join(kind_names())}")
    return value


def validate_keys(kind: str, keys: list[str]) -> list[str]:
    """The keys, stripped; customers, invoices and suppliers must be numbers."""
    from kinds import registry

    numeric = registry.get(kind).numeric_key
    cleaned = [key.strip() for key in keys]
    for key in cleaned:
        if not key:
            fail(f"an empty {kind} key was given")
        if numeric and not key.isdigit():
            fail(f"{kind} key {key!r} is not a number ({kind}s are keyed by their Rackbeat number)")
    return cleaned


def cli_app(settings: Settings) -> Celery:
    """The Celery app for ``settings``; a setting it refuses becomes a :class:`CliError`."""
    from worker.app import create_app

    try:
        return create_app(settings)
    except SettingsInvalidError as exc:
        raise CliError(str(exc)) from exc
    except ValueError as exc:
        raise CliError(f"bad settings: {exc}") from exc


def ensure_broker(app: Celery, settings: Settings) -> None:
    """Fail with one line, fast, when the broker cannot be reached."""
    import kombu.exceptions

    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=5)
    except (kombu.exceptions.OperationalError, OSError) as exc:
        where = mask_url_password(settings.broker_url or "the embedded broker")
        raise CliError(f"cannot reach the broker at {where}: {_first_line(exc)}") from exc


ConnectionOption = Annotated[
    str | None,
    typer.Option(
        "--connection",
        metavar="NAME",
        help="The connection to work on (`rbsync connections list`); default: the only one "
        "there is (with several, say which).",
        show_default=False,
    ),
]
"""The ``--connection NAME`` option every command that works on entities takes."""


class _Environment(enum.Enum):
    DEFAULT = "default"


ENVIRONMENT = _Environment.DEFAULT
"""``ledger_runtime(settings)`` without a connection: the environment's settings as the
``default`` connection, not looked up (commands about no connection's entities)."""


def resolve_connection(settings: Settings, name: str | None) -> ConnectionConfig:
    """The connection ``name`` (None: the only one), looked up in the ledger on a short-lived
    engine of its own (the embedded ledger is migrated on the way).

    Several connections and no name, or an unknown name: one line naming the known ones
    (exit code 2). The log redactor learns the connection's credentials from here on.
    """
    from ledger import ALL, make_session_factory
    from wiring.connections import pick_connection
    from wiring.runtime import build_runtime
    from worker.logs import redact_also

    probe = build_runtime(settings)
    try:
        config = pick_connection(settings, make_session_factory(probe.engine, ALL), name)
    finally:
        probe.close()
    if config.stored:
        redact_also(config.settings)
    return config


@contextmanager
def ledger_runtime(
    settings: Settings, connection: str | ConnectionConfig | _Environment | None = ENVIRONMENT
) -> Iterator[Runtime]:
    """The ledger (and clients, on first use) of one connection; closed afterwards.

    ``connection``: a name or None (``--connection``; None: the only one there is, see
    :func:`resolve_connection`), a connection already resolved, or :data:`ENVIRONMENT` (the
    environment's settings as ``default``, unchecked: for what concerns no connection's
    entities). Embedded mode migrates its SQLite file on the way; production needs
    ``rbsync db upgrade``.
    """
    from wiring.connections import ConnectionConfig
    from wiring.runtime import build_runtime

    if isinstance(connection, _Environment):
        runtime = build_runtime(settings)
    else:
        config = (
            connection
            if isinstance(connection, ConnectionConfig)
            else resolve_connection(settings, connection)
        )
        runtime = build_runtime(config.settings, config.name)
    try:
        yield runtime
    finally:
        runtime.close()


def ledger_location(settings: Settings) -> str:
    """Where the ledger is, for humans (password masked)."""
    return mask_url_password(settings.ledger_url)


def stderr_is_terminal() -> bool:
    """Whether progress bars may be drawn."""
    return sys.stderr.isatty()


PIPE_WIDTH = 160
"""Columns of tables written to a pipe or file (a terminal uses its own width)."""


def make_console(*, stderr: bool = False) -> Console:
    """A rich console: no syntax highlighting; wide when not writing to a terminal."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else PIPE_WIDTH
    return Console(file=stream, highlight=False, width=width, stderr=stderr)


def titled_table(title: str) -> Table:
    """A table whose title sits left above it and never wraps (wider than its columns)."""
    return Table(title=title, title_justify="left", min_width=len(title))

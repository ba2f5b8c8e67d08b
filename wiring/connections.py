"""Which connections this deployment serves, each as the ``Settings`` its clients are built from.

A connection is one Rackbeat account (API token) <-> one PowerOffice Go client (client key).
The PowerOffice Go application key and subscription key, the URLs and every tuning knob are
the deployment's (its environment); a connection brings its two credentials and its company's
options (employee map, supplier contact group, customer-number flag).

Which connections exist:

- every stored row (``rbsync connections add``; ``ledger.connections``), and
- ``default``, defined by the environment (``RACKBEAT_API_TOKEN``, ``POWEROFFICE_CLIENT_KEY``,
  ``RBSYNC_EMPLOYEE_MAP``, ...) exactly as before connections existed, when
  ``RACKBEAT_API_TOKEN`` is set and no stored row is named ``default``;
- with no stored row and no token, ``default`` all the same, so that every command fails as
  it always did ("RACKBEAT_API_TOKEN is not set").

A stored connection's options not given when it was added take the built-in defaults, not the
environment's values: those describe the environment's own company, ``default``.

Stored credentials are decrypted with ``RBSYNC_SECRET_KEY`` (``ledger.secrets``); a missing or
wrong key is a :class:`ConnectionSecretsError` (a ``SettingsInvalidError``: one line naming the
variable, never its value).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import SecretStr, TypeAdapter, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from ledger.connections import (
    CONNECTION_STATES,
    StoredConnection,
    connection_credentials,
    get_connection,
    list_connections,
    set_connection_state,
)
from ledger.secrets import SecretBox, SecretKeyError, UndecryptableError
from wiring.settings import Settings, SettingsInvalidError

__all__ = [
    "CONNECTION_OPTIONS",
    "DEFAULT_CONNECTION",
    "AmbiguousConnectionError",
    "ConnectionConfig",
    "ConnectionInfo",
    "ConnectionSecretsError",
    "UnknownConnectionError",
    "connection_infos",
    "connection_options",
    "connection_settings",
    "load_connection",
    "load_connections",
    "mark_connection",
    "pick_connection",
    "secret_box",
]

log = logging.getLogger(__name__)

DEFAULT_CONNECTION = "default"
"""The name of the connection the environment defines."""

CONNECTION_OPTIONS = (
    "employee_map",
    "supplier_contact_group_name",
    "customer_number_from_rackbeat",
)
"""The ``Settings`` fields a stored connection sets for itself (its ``options``)."""


class UnknownConnectionError(ValueError):
    """No connection of that name; the message lists the known ones."""


class AmbiguousConnectionError(UnknownConnectionError):
    """No name was given and several connections exist; the message names them."""


class ConnectionSecretsError(SettingsInvalidError):
    """A stored connection's credentials cannot be written or read: ``RBSYNC_SECRET_KEY`` is
    missing, malformed, or holds no key they were encrypted with. One line, no value."""


@dataclass(frozen=True)
class ConnectionConfig:
    """One connection, ready to build clients from."""

    name: str
    settings: Settings
    """The deployment's settings with this connection's credentials and options."""
    state: str
    """active / paused / broken."""
    state_reason: str | None
    account_id: str | None
    """Rackbeat's id of the account (webhook deliveries name it)."""
    stored: bool
    """False for ``default`` when the environment defines it."""


@dataclass(frozen=True)
class ConnectionInfo:
    """What ``rbsync connections list`` shows of a connection: never a secret."""

    name: str
    state: str
    state_reason: str | None
    state_at: datetime | None
    account_id: str | None
    stored: bool
    options: dict[str, Any]


def secret_box(settings: Settings, *, purpose: str = "stored connections") -> SecretBox:
    """The box of ``RBSYNC_SECRET_KEY``; :class:`ConnectionSecretsError` when it is unset."""
    text = settings.secret_key.get_secret_value() if settings.secret_key is not None else None
    try:
        return SecretBox.from_text(text)
    except SecretKeyError as exc:
        hint = " (make one with `rbsync connections generate-key`)" if not text else ""
        raise ConnectionSecretsError(f"{exc}: it is needed for {purpose}{hint}") from None


_EMPLOYEE_MAP: TypeAdapter[dict[int, int]] = TypeAdapter(dict[int, int])


def connection_options(
    *,
    employee_map: dict[Any, Any] | None = None,
    supplier_contact_group_name: str | None = None,
    customer_number_from_rackbeat: bool | None = None,
) -> dict[str, Any]:
    """A connection's ``options`` as stored (JSON): only those given, checked.

    ``ValueError`` (naming the option, never quoting the value) when one is invalid.
    """
    options: dict[str, Any] = {}
    if employee_map is not None:
        try:
            parsed = _EMPLOYEE_MAP.validate_python(employee_map)
        except ValidationError:
            raise ValueError(
                'employee map: expected an object of employee numbers such as {"3": 102}'
            ) from None
        options["employee_map"] = {str(k): v for k, v in parsed.items()}
    if supplier_contact_group_name is not None:
        if not supplier_contact_group_name.strip():
            raise ValueError("supplier contact group: must not be blank")
        options["supplier_contact_group_name"] = supplier_contact_group_name.strip()
    if customer_number_from_rackbeat is not None:
        options["customer_number_from_rackbeat"] = bool(customer_number_from_rackbeat)
    return options


def connection_settings(
    settings: Settings, *, rackbeat_token: str, client_key: str, options: dict[str, Any]
) -> Settings:
    """The deployment's ``settings`` with a stored connection's credentials and options.

    Options it does not set take the built-in defaults (not the environment's, which belong to
    the environment's own connection).
    """
    update: dict[str, Any] = {
        "rackbeat_api_token": SecretStr(rackbeat_token),
        "poweroffice_client_key": SecretStr(client_key),
    }
    for name in CONNECTION_OPTIONS:
        default = Settings.model_fields[name].get_default(call_default_factory=True)
        update[name] = options.get(name, default)
    update["employee_map"] = _EMPLOYEE_MAP.validate_python(update["employee_map"])
    update["customer_number_from_rackbeat"] = bool(update["customer_number_from_rackbeat"])
    update["supplier_contact_group_name"] = str(update["supplier_contact_group_name"])
    return settings.model_copy(update=update)


def _env_default(settings: Settings) -> ConnectionConfig:
    return ConnectionConfig(
        name=DEFAULT_CONNECTION,
        settings=settings,
        state="active",
        state_reason=None,
        account_id=None,
        stored=False,
    )


def _env_default_exists(settings: Settings, stored: list[StoredConnection]) -> bool:
    if any(row.name == DEFAULT_CONNECTION for row in stored):
        return False
    token = settings.rackbeat_api_token
    has_token = token is not None and bool(token.get_secret_value())
    return has_token or not stored


def _config(settings: Settings, row: StoredConnection, box: SecretBox) -> ConnectionConfig:
    try:
        credentials = connection_credentials(row, box)
    except UndecryptableError as exc:
        raise ConnectionSecretsError(str(exc)) from None
    return ConnectionConfig(
        name=row.name,
        settings=connection_settings(
            settings,
            rackbeat_token=credentials.rackbeat_token,
            client_key=credentials.client_key,
            options=row.options,
        ),
        state=row.state,
        state_reason=row.state_reason,
        account_id=row.rackbeat_account_id,
        stored=True,
    )


def _stored_rows(sessions: sessionmaker[Session]) -> list[StoredConnection]:
    with sessions() as session:
        return list_connections(session)


def load_connections(settings: Settings, sessions: sessionmaker[Session]) -> list[ConnectionConfig]:
    """Every connection this deployment serves, by name (see the module's rule), whatever
    its state; the caller skips those not active.

    Raises :class:`ConnectionSecretsError` when rows are stored and ``RBSYNC_SECRET_KEY`` is
    unset or cannot decrypt one of them (a deployment-wide mistake: every row was encrypted
    with the same key).
    """
    rows = _stored_rows(sessions)
    configs: list[ConnectionConfig] = []
    if rows:
        box = secret_box(settings, purpose=f"reading connection {rows[0].name}'s credentials")
        configs = [_config(settings, row, box) for row in rows]
    if _env_default_exists(settings, rows):
        configs.append(_env_default(settings))
    return sorted(configs, key=lambda config: config.name)


def _known_names(settings: Settings, rows: list[StoredConnection]) -> list[str]:
    names = {row.name for row in rows}
    if _env_default_exists(settings, rows):
        names.add(DEFAULT_CONNECTION)
    return sorted(names)


def _unknown(name: str, known: list[str]) -> UnknownConnectionError:
    listed = ", ".join(known) if known else "none"
    return UnknownConnectionError(f"no connection named {name!r}; known connections: {listed}")


def load_connection(
    settings: Settings, sessions: sessionmaker[Session], name: str
) -> ConnectionConfig:
    """The connection ``name`` (only its credentials are decrypted).

    Raises :class:`UnknownConnectionError` listing the known names, or
    :class:`ConnectionSecretsError`.
    """
    with sessions() as session:
        row = get_connection(session, name)
        rows = list_connections(session) if row is None else [row]
    if row is not None:
        box = secret_box(settings, purpose=f"reading connection {name}'s credentials")
        return _config(settings, row, box)
    if name == DEFAULT_CONNECTION and _env_default_exists(settings, rows):
        return _env_default(settings)
    raise _unknown(name, _known_names(settings, rows))


def pick_connection(
    settings: Settings, sessions: sessionmaker[Session], name: str | None
) -> ConnectionConfig:
    """The connection ``name``; with None the only one there is.

    Raises :class:`AmbiguousConnectionError` (naming them, saying to pass ``--connection``)
    when there are several, and what :func:`load_connection` raises.
    """
    if name is not None:
        return load_connection(settings, sessions, name)
    rows = _stored_rows(sessions)
    names = _known_names(settings, rows)
    if len(names) > 1:
        raise AmbiguousConnectionError(
            f"this deployment serves {len(names)} connections ({', '.join(names)}); "
            "pass --connection NAME to say which"
        )
    return load_connection(settings, sessions, names[0])


def mark_connection(
    sessions: sessionmaker[Session], name: str, state: str, reason: str | None
) -> bool:
    """Record a connection's state (the worker: ``broken`` with why; an operator: paused,
    active), committed at once; whether it was recorded.

    The environment-defined ``default`` has no row and gets none: its state is its
    environment, which only a restart changes, and a stored ``broken`` would outlive the fix
    of the variables that caused it. For it the state is logged (WARNING, with the reason) and
    nothing is stored; a process that wants to stop working for it keeps that in memory.
    A stored name that is gone (removed meanwhile) is logged the same way.
    """
    if state not in CONNECTION_STATES:
        raise ValueError(f"unknown state {state!r}; expected one of {', '.join(CONNECTION_STATES)}")
    with sessions() as session, session.begin():
        found = set_connection_state(session, name, state, reason)
    if not found:
        log.warning(
            "connection %s is %s%s (not recorded: it has no stored row)",
            name,
            state,
            f": {reason}" if reason else "",
        )
    return found


def connection_infos(settings: Settings, sessions: sessionmaker[Session]) -> list[ConnectionInfo]:
    """Every connection (the same rule as :func:`load_connections`), without decrypting."""
    rows = _stored_rows(sessions)
    infos = [
        ConnectionInfo(
            name=row.name,
            state=row.state,
            state_reason=row.state_reason,
            state_at=row.state_at,
            account_id=row.rackbeat_account_id,
            stored=True,
            options=dict(row.options),
        )
        for row in rows
    ]
    if _env_default_exists(settings, rows):
        infos.append(
            ConnectionInfo(
                name=DEFAULT_CONNECTION,
                state="active",
                state_reason=None,
                state_at=None,
                account_id=None,
                stored=False,
                options={},
            )
        )
    return sorted(infos, key=lambda info: info.name)

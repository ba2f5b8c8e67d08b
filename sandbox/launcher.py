"""Both emulators side by side, as ``rbsync sandbox`` runs them.

:func:`build_sandbox` makes the two apps from plain options; :func:`environment` says what to
put in rbsync's environment to point it at them (sandbox credentials, fine to print).
:func:`add_connection` adds one more Rackbeat account and PowerOffice Go client company (one
connection of a multi-connection deployment), :func:`connection_environment` gives its
credentials in the same form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from starlette.applications import Starlette

from sandbox.faults import FaultRule
from sandbox.poweroffice import PowerOfficeBackend, PowerOfficeConfig
from sandbox.poweroffice import create_app as create_poweroffice_app
from sandbox.poweroffice.clients import ClientRequest
from sandbox.rackbeat.accounts import AccountRequest
from sandbox.rackbeat.app import RackbeatConfig, RackbeatEmulator
from sandbox.rackbeat.app import create_app as create_rackbeat_app

__all__ = [
    "Sandbox",
    "SandboxConnection",
    "SandboxOptions",
    "add_connection",
    "build_sandbox",
    "connection_environment",
    "environment",
]

DEFAULT_RACKBEAT_PORT = 8081
DEFAULT_POWEROFFICE_PORT = 8082


@dataclass(frozen=True)
class SandboxOptions:
    """What ``rbsync sandbox`` can set at start-up."""

    rackbeat_port: int = DEFAULT_RACKBEAT_PORT
    poweroffice_port: int = DEFAULT_POWEROFFICE_PORT
    seed: int = 1
    rackbeat_scale: int = 50
    bad_records: bool = False
    """Add the generator's few records PowerOffice Go must refuse (customers in the unknown
    country "Atlantis" and with the country code "XX"), as the demo does."""
    poweroffice_scale: int = 0
    rate_limits: bool = True
    replica_lag_seconds: float = 0.0
    rackbeat_faults: Sequence[FaultRule] = field(default_factory=tuple)
    poweroffice_faults: Sequence[FaultRule] = field(default_factory=tuple)


@dataclass(frozen=True)
class Sandbox:
    """The two apps and their state holders."""

    rackbeat_app: Starlette
    poweroffice_app: Starlette
    rackbeat: RackbeatEmulator
    poweroffice: PowerOfficeBackend


def build_sandbox(options: SandboxOptions) -> Sandbox:
    """Create both emulators from ``options`` (nothing is served yet)."""
    rackbeat_app = create_rackbeat_app(
        RackbeatConfig(
            seed=options.seed,
            scale=options.rackbeat_scale,
            include_bad=options.bad_records,
            empty=options.rackbeat_scale == 0,
            rate_limit_enabled=options.rate_limits,
        )
    )
    rackbeat: RackbeatEmulator = rackbeat_app.state.emulator
    if options.rackbeat_faults:
        rackbeat.faults.set_rules(options.rackbeat_faults)
    poweroffice_app = create_poweroffice_app(
        PowerOfficeConfig(
            seed=options.seed,
            scale=options.poweroffice_scale,
            rate_limit_enabled=options.rate_limits,
            replica_lag_seconds=options.replica_lag_seconds,
            faults=list(options.poweroffice_faults),
        )
    )
    return Sandbox(rackbeat_app, poweroffice_app, rackbeat, poweroffice_app.state.sandbox)


def environment(sandbox: Sandbox, rackbeat_url: str, poweroffice_url: str) -> dict[str, str]:
    """The environment variables that point rbsync at the running sandbox."""
    po = sandbox.poweroffice.config
    return {
        "RACKBEAT_BASE_URL": f"{rackbeat_url}/api/",
        "RACKBEAT_API_TOKEN": sandbox.rackbeat.knobs.token,
        "POWEROFFICE_BASE_URL": f"{poweroffice_url}/Demo/v2",
        "POWEROFFICE_TOKEN_URL": f"{poweroffice_url}/Demo/OAuth/Token",
        "POWEROFFICE_APPLICATION_KEY": po.application_key,
        "POWEROFFICE_CLIENT_KEY": po.client_key,
        "POWEROFFICE_SUBSCRIPTION_KEY": po.subscription_key,
    }


@dataclass(frozen=True)
class SandboxConnection:
    """One Rackbeat account and its PowerOffice Go client company (sandbox credentials)."""

    rackbeat_account_id: int
    rackbeat_token: str
    poweroffice_client_key: str


def add_connection(
    sandbox: Sandbox,
    *,
    rackbeat_token: str | None = None,
    account_id: int | None = None,
    client_key: str | None = None,
    seed: int | None = None,
    rackbeat_scale: int | None = None,
    poweroffice_scale: int | None = None,
    empty: bool = False,
) -> SandboxConnection:
    """A new Rackbeat account (``rackbeat_scale``: the start scale when omitted) and a new
    PowerOffice Go client company (``poweroffice_scale``: the start scale, empty by default)
    under the same subscription key; ``empty`` leaves both without records."""
    account = sandbox.rackbeat.add_account(
        AccountRequest(
            token=rackbeat_token,
            account_id=account_id,
            seed=seed,
            scale=rackbeat_scale,
            empty=empty,
        )
    )
    client = sandbox.poweroffice.add_client(
        ClientRequest(client_key=client_key, seed=seed, scale=poweroffice_scale, empty=empty)
    )
    return SandboxConnection(account.account_id, account.tokens[0], client.client_key)


def connection_environment(
    sandbox: Sandbox, connection: SandboxConnection, rackbeat_url: str, poweroffice_url: str
) -> dict[str, str]:
    """What :func:`environment` says, for ``connection``'s account and client company."""
    return {
        **environment(sandbox, rackbeat_url, poweroffice_url),
        "RACKBEAT_API_TOKEN": connection.rackbeat_token,
        "POWEROFFICE_CLIENT_KEY": connection.poweroffice_client_key,
    }

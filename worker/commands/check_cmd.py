"""``rbsync check``: can rbsync reach both APIs with these credentials, the ledger, the broker?

One request per API -- Rackbeat ``GET self`` (whose account the token belongs to) and
PowerOffice Go ``GET ClientIntegrationInformation`` (which client, which privileges, after a
token request made on its own, so that its failure names ``POWEROFFICE_TOKEN_URL`` and not the
base URL) -- each with a message naming the likely cause of its failure: a setting not set, a
service not reachable, refused credentials (and which ones), a wrong URL, a spent
rate limit, a failing service, missing privileges. Then the ledger (reachable, migrated?) and
the broker (reachable?). Exit code 0 when everything answered, 2 otherwise.

The clients are built here with a short retry budget (:data:`CHECK_RETRY`): a check answers in
seconds instead of waiting out the workers' patient retry policy.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from wiring.settings import Settings, mask_url_password
from worker.commands._common import (
    EXIT_ERROR,
    cli_app,
    cli_command,
    describe_error,
    ledger_location,
    load_cli_settings,
    make_console,
    titled_table,
)

if TYPE_CHECKING:
    from clients import ClientError, PowerOfficeClient, RackbeatClient

__all__ = [
    "CHECK_RETRY_ATTEMPTS",
    "CHECK_RETRY_SECONDS",
    "CheckResult",
    "check",
    "check_broker",
    "check_ledger",
    "check_poweroffice",
    "check_rackbeat",
    "register",
]

CHECK_RETRY_ATTEMPTS = 2
CHECK_RETRY_SECONDS = 10.0
CHECK_TIMEOUT_SECONDS = 10.0

RACKBEAT_ENV = {"rackbeat_api_token": "RACKBEAT_API_TOKEN"}
POWEROFFICE_ENV = {
    "poweroffice_application_key": "POWEROFFICE_APPLICATION_KEY",
    "poweroffice_client_key": "POWEROFFICE_CLIENT_KEY",
    "poweroffice_subscription_key": "POWEROFFICE_SUBSCRIPTION_KEY",
}


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The answer of one check."""

    name: str
    target: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        """As a JSON object."""
        return dataclasses.asdict(self)


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command("check")(check)


def _missing(settings: Settings, names: Mapping[str, str]) -> list[str]:
    missing = []
    for field, env in names.items():
        value = getattr(settings, field)
        if value is None or not value.get_secret_value():
            missing.append(env)
    return missing


def _quick_retry() -> Any:
    from clients import RetryPolicy

    return RetryPolicy(attempts=CHECK_RETRY_ATTEMPTS, timeout=CHECK_RETRY_SECONDS)


def _rackbeat_client(settings: Settings) -> RackbeatClient:
    from clients import InProcessRateLimiter, RackbeatClient, build_http_client

    assert settings.rackbeat_api_token is not None
    http = build_http_client(
        base_url=settings.rackbeat_base_url,
        limiter=InProcessRateLimiter(settings.rackbeat_requests_per_second),
        timeout_seconds=min(settings.http_timeout_seconds, CHECK_TIMEOUT_SECONDS),
    )
    return RackbeatClient(
        http, token=settings.rackbeat_api_token.get_secret_value(), retry=_quick_retry()
    )


def _poweroffice_client(settings: Settings) -> PowerOfficeClient:
    from clients import InProcessRateLimiter, PowerOfficeClient, build_http_client

    keys = {f: getattr(settings, f).get_secret_value() for f in POWEROFFICE_ENV}
    http = build_http_client(
        base_url=settings.poweroffice_base_url,
        limiter=InProcessRateLimiter(settings.poweroffice_requests_per_second),
        timeout_seconds=min(settings.http_timeout_seconds, CHECK_TIMEOUT_SECONDS),
    )
    return PowerOfficeClient(
        http,
        application_key=keys["poweroffice_application_key"],
        client_key=keys["poweroffice_client_key"],
        subscription_key=keys["poweroffice_subscription_key"],
        token_url=settings.poweroffice_token_url,
        retry=_quick_retry(),
    )


def explain_api_error(exc: ClientError, *, api: str, base_env: str, keys_hint: str) -> str:
    """The likely cause of ``exc`` in operator terms (the error itself follows)."""
    from clients import (
        AuthenticationError,
        MalformedResponseError,
        NetworkError,
        NotFoundError,
        RateLimitedError,
        RateLimitWaitError,
        ServerError,
    )

    if isinstance(exc, NetworkError):
        cause = f"cannot connect to {api}: is {base_env} right and the service up?"
    elif isinstance(exc, AuthenticationError):
        cause = f"{api} refused the credentials: {keys_hint}"
        if exc.status == 403:
            cause = f"{api} forbids this call: the integration lacks a privilege or access"
    elif isinstance(exc, NotFoundError):
        cause = f"{api} has no such endpoint: is {base_env} the API's base URL?"
    elif isinstance(exc, RateLimitedError | RateLimitWaitError):
        cause = f"{api} rate limit reached: other processes use this budget; try again shortly"
    elif isinstance(exc, ServerError):
        cause = f"{api} is failing (server error); try again later"
    elif isinstance(exc, MalformedResponseError):
        cause = f"the answer is not {api}'s: is {base_env} right?"
    else:
        cause = f"{api} answered unexpectedly"
    return f"{cause} ({exc})"


def _guard(name: str, target: str, run: Callable[[], str]) -> CheckResult:
    """Run one check; any error an operator can act on becomes a failed result."""
    try:
        return CheckResult(name, target, True, run())
    except _CheckFailedError as exc:
        return CheckResult(name, target, False, str(exc))
    except Exception as exc:
        message = describe_error(exc)
        if message is None:
            raise
        return CheckResult(name, target, False, message)


def check_rackbeat(settings: Settings) -> CheckResult:
    """``GET self``: reachable, token accepted, whose account."""
    from clients import ClientError

    target = settings.rackbeat_base_url
    missing = _missing(settings, RACKBEAT_ENV)
    if missing:
        return CheckResult("Rackbeat", target, False, f"not configured: {', '.join(missing)} unset")

    def run() -> str:
        with _rackbeat_client(settings) as client:
            try:
                answer = client.whoami()
            except ClientError as exc:
                raise _CheckFailedError(
                    explain_api_error(
                        exc,
                        api="Rackbeat",
                        base_env="RACKBEAT_BASE_URL",
                        keys_hint="check RACKBEAT_API_TOKEN (a personal API token of the account)",
                    )
                ) from exc
        account = answer.get("user_account") if isinstance(answer, Mapping) else None
        user = answer.get("user") if isinstance(answer, Mapping) else None
        if not isinstance(account, Mapping):
            raise _CheckFailedError(
                "the answer to GET self has no user_account: is RACKBEAT_BASE_URL right?"
            )
        who = f"account {account.get('company_name')!s} (id {account.get('id')!s})"
        if isinstance(user, Mapping) and user.get("name"):
            who += f", token of {user.get('name')!s}"
        return who

    return _guard("Rackbeat", target, run)


def check_poweroffice(settings: Settings) -> CheckResult:
    """Token, then ``GET ClientIntegrationInformation``: which client, which privileges."""
    from clients import ClientError

    target = settings.poweroffice_base_url
    missing = _missing(settings, POWEROFFICE_ENV)
    if missing:
        return CheckResult(
            "PowerOffice Go", target, False, f"not configured: {', '.join(missing)} unset"
        )

    def failed(exc: ClientError, *, url_env: str) -> _CheckFailedError:
        body = (exc.body_excerpt or "").lower()
        if "subscription key" in body:
            hint = "check POWEROFFICE_SUBSCRIPTION_KEY (the API gateway refused it)"
        elif exc.status == 404:
            # The client reads a 404 of the token endpoint as refused keys (that is how it
            # answers unknown ones), but a wrong URL answers the same.
            hint = (
                f"check {url_env} (no token endpoint there?), then POWEROFFICE_APPLICATION_KEY "
                "and POWEROFFICE_CLIENT_KEY"
            )
        else:
            hint = (
                "check POWEROFFICE_APPLICATION_KEY and POWEROFFICE_CLIENT_KEY, and that "
                "they belong to this environment (Demo or production URLs)"
            )
        return _CheckFailedError(
            explain_api_error(exc, api="PowerOffice Go", base_env=url_env, keys_hint=hint)
        )

    def run() -> str:
        with _poweroffice_client(settings) as client:
            # The token first, on its own: its URL is a setting of its own, and an error of
            # the token request must name POWEROFFICE_TOKEN_URL, not the API's base URL.
            try:
                client.authenticate()
            except ClientError as exc:
                raise failed(exc, url_env="POWEROFFICE_TOKEN_URL") from exc
            try:
                info = client.client_integration_information()
            except ClientError as exc:
                raise failed(exc, url_env="POWEROFFICE_BASE_URL") from exc
        if info.invalid_privileges:
            raise _CheckFailedError(
                f"client {info.client_name!s} lacks privileges: "
                f"{', '.join(info.invalid_privileges)} (grant them to the integration)"
            )
        return (
            f"client {info.client_name!s} (id {info.client_id!s}), "
            f"{len(info.valid_privileges)} privileges granted, none missing"
        )

    return _guard("PowerOffice Go", target, run)


def check_ledger(settings: Settings) -> CheckResult:
    """The ledger database answers and is at the newest schema revision."""
    from ledger import current_revision, head_revision

    target = ledger_location(settings)

    def run() -> str:
        head = head_revision()
        if settings.database_url is None and not (settings.data_dir / "ledger.sqlite3").exists():
            return "embedded SQLite ledger, created on first use"
        revision = current_revision(settings.ledger_url)
        if revision != head:
            if settings.database_url is None:
                return f"embedded ledger at {revision}, migrated to {head} on first use"
            raise _CheckFailedError(
                f"schema at {revision}, newest is {head}: run `rbsync db upgrade`"
            )
        return f"schema at the newest revision ({head})"

    return _guard("Ledger", target, run)


def check_broker(settings: Settings) -> CheckResult:
    """The broker accepts a connection (Redis), or the embedded broker directory is usable."""
    from worker.app import embedded_broker_dir

    if settings.broker_url is None:
        target = f"embedded ({embedded_broker_dir(settings)})"
    else:
        target = mask_url_password(settings.broker_url)

    def run() -> str:
        from worker.commands._common import ensure_broker

        ensure_broker(cli_app(settings), settings)
        return "accepts connections" if settings.broker_url else "no server needed"

    return _guard("Broker", target, run)


class _CheckFailedError(Exception):
    """A check's own failure message (already in operator terms)."""


@cli_command
def check(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check connectivity and permissions: Rackbeat, PowerOffice Go, the ledger, the broker.

    Rackbeat: GET self (is the token accepted, whose account). PowerOffice Go: a token, then GET
    ClientIntegrationInformation (which client, any privilege missing). Each failure names its
    likely cause. Exits 0 when all pass, 2 otherwise.
    """
    settings = load_cli_settings()
    results = [
        check_rackbeat(settings),
        check_poweroffice(settings),
        check_ledger(settings),
        check_broker(settings),
    ]
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in results], indent=2))
    else:
        table = titled_table("rbsync check")
        for column in ("check", "target", "result", "detail"):
            table.add_column(column)
        for r in results:
            table.add_row(r.name, r.target, "ok" if r.ok else "FAILED", r.detail)
        make_console().print(table)
    if not all(r.ok for r in results):
        raise typer.Exit(EXIT_ERROR)

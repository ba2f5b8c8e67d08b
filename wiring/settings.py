"""The one typed settings object, built at the edge (CLI, Celery app) and passed down.

Environment names are a contract with operators: the API credentials and URLs keep the names
the issue fixed (``RACKBEAT_*``, ``POWEROFFICE_*``, ``RBSYNC_DATABASE_URL``,
``RBSYNC_BROKER_URL``, ``RBSYNC_REDIS_URL``); every other knob is ``RBSYNC_<FIELD>``.
A ``.env`` file in the working directory is read too. Keys are ``SecretStr`` so that they
never print: ``repr(settings)`` and ``settings.safe_dump()`` show ``**********``.

Embedded mode (the default) is what you get when ``RBSYNC_DATABASE_URL`` and
``RBSYNC_BROKER_URL`` are unset: a SQLite ledger under ``RBSYNC_DATA_DIR`` and a kombu
transport that needs no server. Production sets both (PostgreSQL, Redis).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

DEFAULT_RACKBEAT_BASE_URL = "https://app.rackbeat.com/api/"
DEFAULT_POWEROFFICE_BASE_URL = "https://goapi.poweroffice.net/Demo/v2"
DEFAULT_POWEROFFICE_TOKEN_URL = "https://goapi.poweroffice.net/Demo/OAuth/Token"  # noqa: S105


_URL_FIELDS = frozenset({"database_url", "broker_url", "redis_url"})
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_HTTP_URL = re.compile(r"^https?://[^/?#\s]+")


class SettingsInvalidError(ValueError):
    """The settings cannot be used. The message is one line (``bad settings: VAR: what``) that
    names each variable at fault and never repeats a value: a mistyped value may be a secret."""


class Settings(BaseSettings):
    """Everything rbsync reads from its environment, typed and validated once."""

    model_config = SettingsConfigDict(
        env_prefix="RBSYNC_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    # --- Rackbeat -------------------------------------------------------------------------
    rackbeat_base_url: str = Field(
        DEFAULT_RACKBEAT_BASE_URL,
        validation_alias=AliasChoices("RACKBEAT_BASE_URL", "rackbeat_base_url"),
    )
    rackbeat_api_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("RACKBEAT_API_TOKEN", "rackbeat_api_token")
    )
    rackbeat_consumer_name: str = "rbsync"
    rackbeat_consumer_contact: str = "ops@rbsync.invalid"
    """Sent as Rackbeat's ``Consumer-Name`` / ``Consumer-Contact`` headers: who to call about
    this integration's traffic. Set the contact to a real address in production."""
    rackbeat_requests_per_second: float = Field(8.0, gt=0)
    """Rackbeat allows 480 requests/minute per token; the fleet shares this budget."""

    # --- PowerOffice Go -------------------------------------------------------------------
    poweroffice_base_url: str = Field(
        DEFAULT_POWEROFFICE_BASE_URL,
        validation_alias=AliasChoices("POWEROFFICE_BASE_URL", "poweroffice_base_url"),
    )
    poweroffice_token_url: str = Field(
        DEFAULT_POWEROFFICE_TOKEN_URL,
        validation_alias=AliasChoices("POWEROFFICE_TOKEN_URL", "poweroffice_token_url"),
    )
    poweroffice_application_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("POWEROFFICE_APPLICATION_KEY", "poweroffice_application_key"),
    )
    poweroffice_client_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("POWEROFFICE_CLIENT_KEY", "poweroffice_client_key")
    )
    poweroffice_subscription_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices(
            "POWEROFFICE_SUBSCRIPTION_KEY", "poweroffice_subscription_key"
        ),
    )
    poweroffice_requests_per_second: float = Field(10.0, gt=0)
    """PowerOffice Go allows 10 requests/s per subscription key, across all client keys."""
    poweroffice_fair_share: bool = True
    """Share that budget fairly among the connections waiting for it (start-time fair
    queueing, ``clients.fairshare``); false: in arrival order (one limiter, as before
    connections; its Redis keys differ, so set it alike on every worker)."""

    # --- infrastructure -------------------------------------------------------------------
    database_url: str | None = Field(
        None, validation_alias=AliasChoices("RBSYNC_DATABASE_URL", "database_url")
    )
    database_password: SecretStr | None = Field(
        None, validation_alias=AliasChoices("RBSYNC_DATABASE_PASSWORD", "database_password")
    )
    """The ledger database's password, apart from ``RBSYNC_DATABASE_URL`` (which then names
    the user but no password): any character works, as it is URL-quoted into the URL here; a
    password pasted raw into a URL breaks it at ``@ / : %``."""
    broker_url: str | None = Field(
        None, validation_alias=AliasChoices("RBSYNC_BROKER_URL", "broker_url")
    )
    redis_url: str | None = Field(
        None, validation_alias=AliasChoices("RBSYNC_REDIS_URL", "redis_url")
    )
    data_dir: Path = Path("var")
    """Where embedded mode keeps its SQLite ledger and broker files."""
    secret_key: SecretStr | None = None
    """``RBSYNC_SECRET_KEY``: the Fernet key(s) that encrypt the stored connections' credentials
    (``rbsync connections``), comma-separated: the first encrypts, every one decrypts, so a key
    is rotated by putting the new one first, ``rbsync connections rotate-key``, then dropping
    the old one (docs/operations.md, "Connections"). Needed only once a connection is stored;
    make one with ``rbsync connections generate-key``."""

    # --- behaviour ------------------------------------------------------------------------
    poll_interval_seconds: float = Field(300.0, gt=0)
    dispatch_interval_seconds: float = Field(5.0, gt=0)
    """How often beat sends its one poll tick (``rbsync.dispatch``), which polls the
    connections whose phase in the poll period falls in the tick (never longer than
    ``poll_interval_seconds``)."""
    poll_overlap_seconds: float = Field(5.0, ge=0)
    customer_number_from_rackbeat: bool = False
    """R-CUST link: send Rackbeat's number as PowerOffice Go ``Number`` (must fit a series)."""
    # NoDecode: the JSON is parsed by _employee_map_json below, so that malformed JSON is a
    # validation error naming the variable like any other (pydantic-settings' own decoding
    # raises a SettingsError that says neither the variable nor what is wrong).
    employee_map: Annotated[dict[int, int], NoDecode] = Field(default_factory=dict)
    """R-INV-6: Rackbeat employee number -> PowerOffice Go employee number (JSON in the
    environment, e.g. ``RBSYNC_EMPLOYEE_MAP='{"3": 102}'``); unmapped ones are omitted with a
    warning."""
    supplier_contact_group_name: str = "PowerOffice"
    """R-SUP-9: the PowerOffice Go contact group every supplier is put in."""
    http_timeout_seconds: float = Field(30.0, gt=0)

    # --- pipeline (worker, tasks) ---------------------------------------------------------
    visibility_timeout_seconds: float = Field(3600.0, gt=0)
    """Redis redelivers an unacknowledged message after this; every countdown stays far below."""
    task_time_limit_seconds: float = Field(300.0, gt=0)
    """Hard limit per task (the soft limit is 80 % of it); far below the visibility timeout."""
    poll_time_limit_seconds: float = Field(900.0, gt=0)
    """Hard limit of one poll (a first poll of a large catalogue takes minutes); its lock lasts
    as long, and it must not exceed the visibility timeout."""
    sync_batch_size: int = Field(50, ge=1, le=1000)
    """Keys per ``rbsync.sync_batch`` task a poll sends (1: one ``rbsync.sync`` per key). A batch
    shares its ledger round trips and its task overhead; anything that needs a second attempt
    goes on as its own ``rbsync.sync``."""
    bulk_threshold: int = Field(100, ge=0)
    """A poll (or a sweep, per connection and kind) that sends more keys than this sends them as
    a backlog, on the ``rbsync.bulk`` lane that the poller never takes, so that one company's
    first push never delays another's changes; the worker takes both lanes."""
    sync_max_retries: int = Field(6, ge=0)
    """Celery retries of one sync task (tier two), after the client's own in-process retries.
    Attempts that only waited for a dependency to settle are not counted, up to as many again."""
    retry_backoff_seconds: float = Field(2.0, gt=0)
    """First Celery retry countdown; doubled per retry (full jitter)."""
    retry_backoff_max_seconds: float = Field(600.0, gt=0)
    """Longest Celery retry countdown (exponential backoff with full jitter, capped here)."""
    worker_soft_shutdown_seconds: float = Field(30.0, ge=0)
    lease_seconds: float = Field(20.0, ge=3)
    """A worker's claim on a row, and a poll's lock, last this long unless its heartbeat renews
    them (every third of it): a worker that died frees its rows within one lease."""
    sweep_interval_seconds: float = Field(5.0, gt=0)
    """How often beat sends ``rbsync.sweep``, which re-sends the rows whose lease ran out and
    the waiting rows whose message was lost."""
    requeue_after_seconds: float = Field(600.0, gt=0)
    """A waiting row this long past due is sent again by the sweep even while the sync queue
    is busy (with an idle queue: one lease past due; before a broker restart: at once)."""
    reconcile_interval_seconds: float = Field(604800.0, ge=0)
    """How often beat sends ``rbsync.reconcile`` (a week; 0: never, only by hand)."""
    reconcile_repair: bool = False
    """Whether the scheduled reconcile also repairs what is missing in PowerOffice Go and the
    missed changes (as ``rbsync reconcile --repair``); hand edits are never overwritten by it."""
    link_index_max_age_seconds: float = Field(3600.0, gt=0)
    """Bulk indexes of PowerOffice Go ids older than this are reloaded before a poll writes."""
    log_format: Literal["text", "json"] = "text"
    """``json``: every rbsync process (the CLI, Celery's worker and beat, the webhook receiver,
    Flower) logs one JSON object a line, with the entity's kind, key, attempt, outcome and HTTP
    status where a line is about one (docs/operations.md, "Logs")."""
    task_events: bool = True
    """Send task events (Flower needs them); off saves the worker a share of its CPU."""
    sync_once_concurrency: int = Field(8, ge=1)
    """Threads of the in-process worker of ``rbsync sync --once`` and the demo."""

    # --- webhooks -------------------------------------------------------------------------
    webhook_host: str = "127.0.0.1"
    """Where ``rbsync webhooks serve`` listens (behind a TLS-terminating proxy)."""
    webhook_port: int = Field(8000, ge=1, le=65535)
    webhook_max_body_bytes: int = Field(65536, ge=1024)
    """A delivery body larger than this is refused (413): Rackbeat's carry a key and a few
    fields."""
    webhook_poll_interval_seconds: float = Field(3600.0, gt=0)
    """Once webhooks are registered, beat's poll of a kind runs about this often (it still
    sends one every ``poll_interval_seconds``; the others skip): the poll is then the safety
    net for missed deliveries, not the way changes arrive."""

    # --- metrics (docs/observability.md) ----------------------------------------------------
    metrics_enabled: bool = True
    """Whether worker processes record Prometheus metrics (syncs, API requests, rate-limiter
    waits, token refreshes, poll durations, heartbeats) into ``metrics_dir``; off, they record
    nothing and ``rbsync metrics serve`` still serves what it reads from the ledger and Redis."""
    metrics_dir: Path | None = None
    """Where worker processes keep their metric files (``PROMETHEUS_MULTIPROC_DIR``; default
    ``<data_dir>/metrics``). One per host: ``rbsync metrics serve`` on that host reads it."""
    metrics_host: str = "127.0.0.1"
    """Where ``rbsync metrics serve`` listens."""
    metrics_port: int = Field(9808, ge=1, le=65535)

    # --- Flower ---------------------------------------------------------------------------
    flower_basic_auth: SecretStr | None = None
    """``user:password`` (comma-separated for several users); Flower refuses to start without."""
    flower_port: int = 5555
    flower_db: Path | None = None
    flower_control: bool = False
    """Flower's own remote control (shut a worker down, restart or resize its pool, add or
    cancel a consumer, revoke, terminate or abort a task, change rate or time limits, send any
    task by name): off unless set, because every Flower login could otherwise stop the fleet.
    rbsync's Retry buttons work either way."""

    @field_validator("rackbeat_base_url", "poweroffice_base_url", "poweroffice_token_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        # A URL without scheme or host would only fail at the first request, as a confusing
        # transport error far from the setting that caused it.
        if not _HTTP_URL.match(value.strip()):
            raise ValueError("must be an http:// or https:// URL with a host")
        return value.strip()

    @field_validator("database_url", "broker_url", "redis_url")
    @classmethod
    def _server_url(cls, value: str | None) -> str | None:
        # A blank variable means unset (embedded mode, in-process pieces), not a bad URL.
        if value is None or not value.strip():
            return None
        # Kombu reads a URL without a scheme as a host name and fails much later ("Name or
        # service not known"); say so at start-up instead.
        if not _SCHEME.match(value.strip()):
            raise ValueError("must be a URL with a scheme, e.g. redis://host:6379/0")
        return value.strip()

    @field_validator("database_password")
    @classmethod
    def _password_fits_the_url(cls, value: SecretStr | None, info: ValidationInfo) -> Any:
        if value is None:
            return value
        url_name = env_name("database_url")
        if "database_url" not in info.data:
            return value  # the URL is invalid itself; that error is reported
        url = info.data["database_url"]
        if not url:
            raise ValueError(f"is set, but {url_name} is not")
        user, password = _url_credentials(url)
        if not user:
            raise ValueError(f"{url_name} names no user to go with it")
        if password is not None:
            raise ValueError(f"{url_name} has a password already; give it in one place only")
        return value

    @field_validator("secret_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        # Checked here so that a mistyped key is one line at start-up, not a failure at the
        # first stored connection; blank means unset.
        if value is None or not value.get_secret_value().strip():
            return None
        from ledger.secrets import SecretKeyError, parse_keys

        try:
            parse_keys(value.get_secret_value())
        except SecretKeyError as exc:
            raise ValueError(str(exc).removeprefix("RBSYNC_SECRET_KEY ")) from None
        return value

    @field_validator("employee_map", mode="before")
    @classmethod
    def _employee_map_json(cls, value: Any) -> Any:
        if not isinstance(value, str | bytes):
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            # exc.msg and the position only: the document itself is never repeated.
            raise ValueError(
                f"not valid JSON ({exc.msg}: line {exc.lineno} column {exc.colno}); "
                'expected an object such as {"3": 102}'
            ) from None

    @field_validator("rackbeat_base_url")
    @classmethod
    def _rackbeat_trailing_slash(cls, value: str) -> str:
        # httpx joins relative paths onto base_url; Rackbeat paths are relative to /api/.
        return value if value.endswith("/") else value + "/"

    @field_validator("poweroffice_base_url")
    @classmethod
    def _poweroffice_no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def embedded(self) -> bool:
        """True when no broker is configured: the demo / one-machine mode."""
        return self.broker_url is None

    @property
    def ledger_url(self) -> str:
        """The SQLAlchemy URL of the ledger: the configured one, else a SQLite file."""
        if self.database_url:
            url = normalise_database_url(self.database_url)
            if self.database_password is not None:
                url = with_url_password(url, self.database_password.get_secret_value())
            return url
        return f"sqlite:///{(self.data_dir / 'ledger.sqlite3').resolve()}"

    def __repr_args__(self) -> Any:
        # URLs may carry passwords (redis://:pw@host): show them masked, like SecretStr.
        return list(self.safe_dump().items())

    def safe_dump(self) -> dict[str, Any]:
        """The settings as plain values with every secret masked (for `rbsync status`, logs)."""
        dumped: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                dumped[name] = "**********"
            elif name in _URL_FIELDS and value:
                dumped[name] = mask_url_password(str(value))
            else:
                dumped[name] = value
        return dumped


def normalise_database_url(url: str) -> str:
    """Accept ``postgres://`` / ``postgresql://`` and use the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _url_credentials(url: str) -> tuple[str, str | None]:
    """The user and password of ``scheme://user:password@host/...`` (``""``/None when absent)."""
    _scheme, sep, rest = url.partition("://")
    authority = rest.split("/", 1)[0]
    if not sep or "@" not in authority:
        return "", None
    creds = authority.rpartition("@")[0]
    user, colon, password = creds.partition(":")
    return user, password if colon else None


def with_url_password(url: str, password: str) -> str:
    """``scheme://user@host/db`` with ``password`` URL-quoted in (every character is safe)."""
    scheme, _, rest = url.partition("://")
    creds, _, host = rest.partition("@")
    return f"{scheme}://{creds}:{quote(password, safe='')}@{host}"


def mask_url_password(url: str) -> str:
    """``redis://:secret@host`` -> ``redis://:***@host``; URLs without a password unchanged."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user, colon, _password = creds.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"


def env_name(field: str) -> str:
    """The environment variable an operator sets for ``field`` (a field name or an alias)."""
    for name, info in Settings.model_fields.items():
        choices = getattr(info.validation_alias, "choices", None) or ()
        if field == name or field in choices:
            first = choices[0] if choices else None
            return first if isinstance(first, str) else f"RBSYNC_{name.upper()}"
    return f"RBSYNC_{field.upper()}"


_SOURCE_FIELD = re.compile(r'field "(?P<field>\w+)" from source "(?P<source>\w+)"')


def describe_settings_error(exc: BaseException) -> str | None:
    """One line naming each variable at fault and what is wrong; None for other errors.

    Values are left out on purpose (``include_input=False``): a mistyped value may well be a
    secret, and a URL may carry a password.
    """
    if isinstance(exc, SettingsInvalidError):
        return str(exc)
    if isinstance(exc, ValidationError) and exc.title == Settings.__name__:
        problems = []
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            loc = error.get("loc") or ()
            where = env_name(str(loc[0])) if loc else "settings"
            message = str(error.get("msg", "invalid"))
            # Our own validators' messages read better without pydantic's prefix.
            message = message.removeprefix("Value error, ")
            problems.append(f"{where}: {message}")
        return "bad settings: " + "; ".join(problems)
    if isinstance(exc, SettingsError):
        # pydantic-settings could not even read a value (its own parsing of complex fields).
        # Its message names the field and the source; the cause's message is left out, as it
        # might quote the value.
        match = _SOURCE_FIELD.search(str(exc))
        if match is None:
            return "bad settings: " + " ".join(str(exc).split())
        source = " (in .env)" if "DotEnv" in match["source"] else ""
        return f"bad settings: {env_name(match['field'])}{source}: cannot be read"
    return None


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from the environment (and ``.env``), with explicit overrides.

    Raises :class:`SettingsInvalidError` (one line naming the variables) when they are invalid.
    """
    try:
        return Settings(**overrides)
    except (ValidationError, SettingsError) as exc:
        raise SettingsInvalidError(describe_settings_error(exc) or "bad settings") from exc

"""Logging for rbsync processes, with every secret redacted on the way out.

:func:`configure_logging` installs one handler on the root logger whose formatter runs the
whole formatted record (message, arguments and traceback alike) through a
:class:`SecretRedactor`. The redactor knows the configured secrets (API token, application,
client and subscription keys, their Basic-auth form, passwords inside URLs, Flower's
credentials) and, by pattern, any ``Bearer``/``Basic`` credential or
``Ocp-Apim-Subscription-Key`` header value, which covers access tokens fetched at run time.

``RBSYNC_LOG_FORMAT=json`` makes it :class:`JsonFormatter` instead: one JSON object a line, with
the entity's kind, key, attempt, outcome, ledger status and HTTP status where a record carries
them (the ``extra=`` of :data:`ENTITY_FIELDS`), and the Celery task's id and name inside a task;
every string in it is redacted the same way. Celery's own processes (``celery -A worker.app
worker|beat``) take this handler too when the format is ``json`` (``worker.app``).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from celery import current_task
from pydantic import SecretStr

from wiring.settings import Settings

__all__ = [
    "ENTITY_FIELDS",
    "LOG_FORMAT",
    "REDACTED",
    "JsonFormatter",
    "LogFormat",
    "RedactingFormatter",
    "SecretRedactor",
    "configure_logging",
    "redact_also",
    "reset_logging",
    "secrets_of",
]

REDACTED = "**********"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MIN_SECRET_LENGTH = 4
"""Shorter values would mask ordinary words; real keys and tokens are far longer."""

_HEADER_PATTERNS = (
    # An access token fetched at run time is no configured secret: catch it by its header.
    re.compile(r"(?i)(\bBearer\s+)[A-Za-z0-9\-._~+/]+=*"),
    re.compile(r"(?i)(\bBasic\s+)[A-Za-z0-9+/]+=*"),
    re.compile(r"(?i)(Ocp-Apim-Subscription-Key['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
    re.compile(r"(?i)(access_token['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
    # user:password@host inside any URL.
    re.compile(r"(://[^/\s:@]*:)[^@\s/]+(?=@)"),
)

_NOISE = (("kombu.connection", "No hostname was supplied"),)
"""(logger, message prefix) of warnings that say nothing to an operator: kombu warns so on
every connection of the embedded (filesystem) broker, which has no host by design."""

_TASK_LOGGERS = ("celery.app.trace", "celery.worker")
"""Loggers of failed tasks, whose tracebacks only ``--log-level debug`` shows in the CLI."""

ENTITY_FIELDS = ("kind", "key", "attempt", "outcome", "status", "http_status", "remote_id")
"""Fields a log record may carry (``extra={...}``) that a JSON line shows as keys of its own."""

LogFormat = Literal["text", "json"]

_handler: logging.Handler | None = None


class SecretRedactor:
    """Replaces known secrets and credential-shaped substrings with :data:`REDACTED`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted(
            {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True
        )

    def add(self, secrets: Iterable[str]) -> None:
        """Redact these too (secrets learnt after start-up: stored connections' credentials)."""
        known = set(self._secrets) | {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
        self._secrets = sorted(known, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        for pattern in _HEADER_PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        return text


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not any(
            record.name == name and str(record.msg).startswith(prefix) for name, prefix in _NOISE
        )


class RedactingFormatter(logging.Formatter):
    """A formatter whose every output line has passed through a :class:`SecretRedactor`.

    With ``task_tracebacks=False`` a failed Celery task is logged without its traceback: in a
    CLI process the command reports each failed task itself, and an unreachable API must not
    end in pages of traceback (``--log-level debug`` shows them).
    """

    def __init__(
        self, redactor: SecretRedactor, fmt: str = LOG_FORMAT, *, task_tracebacks: bool = True
    ) -> None:
        super().__init__(fmt)
        self.redactor = redactor
        self.task_tracebacks = task_tracebacks

    def format(self, record: logging.LogRecord) -> str:
        if not self.task_tracebacks and record.exc_info and record.name.startswith(_TASK_LOGGERS):
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return self.redactor(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``ts``, ``level``, ``logger``, ``message``, the entity fields a
    record carries, ``task_id``/``task`` inside a Celery task, ``exc`` (the traceback) when
    there is one. Every string value passes through the redactor before it is encoded."""

    def __init__(self, redactor: SecretRedactor, *, task_tracebacks: bool = True) -> None:
        super().__init__()
        self.redactor = redactor
        self.task_tracebacks = task_tracebacks

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ENTITY_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        line.update(_task_of(record))
        traceback_wanted = self.task_tracebacks or not record.name.startswith(_TASK_LOGGERS)
        if record.exc_info and traceback_wanted:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_info and record.exc_info[1] is not None:
            line["error"] = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        return json.dumps(
            {k: self._redacted(v) for k, v in line.items()}, ensure_ascii=False, default=str
        )

    def _redacted(self, value: Any) -> Any:
        return self.redactor(value) if isinstance(value, str) else value


def _task_of(record: logging.LogRecord) -> dict[str, str]:
    """The Celery task a record was logged in (or, for Celery's own "Task ... succeeded"
    lines, the task it is about)."""
    data = record.__dict__.get("data")
    if isinstance(data, dict) and data.get("id"):
        return {"task_id": str(data["id"]), "task": str(data.get("name", ""))}
    task = current_task
    request = getattr(task, "request", None) if task else None
    task_id = getattr(request, "id", None)
    if not task_id:
        return {}
    return {"task_id": str(task_id), "task": str(getattr(task, "name", ""))}


def secrets_of(settings: Settings | None) -> list[str]:
    """Every secret value in ``settings`` (plus derived forms a log line could carry)."""
    if settings is None:
        return []
    found: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
    application = settings.poweroffice_application_key
    client = settings.poweroffice_client_key
    if application is not None and client is not None:
        pair = f"{application.get_secret_value()}:{client.get_secret_value()}"
        found.append(base64.b64encode(pair.encode()).decode())
    if settings.secret_key is not None:
        # Each key on its own too: after a rotation the old one may be logged alone.
        found.extend(part.strip() for part in settings.secret_key.get_secret_value().split(","))
    if settings.flower_basic_auth is not None:
        for credential in settings.flower_basic_auth.get_secret_value().split(","):
            found.extend(part for part in credential.split(":", 1)[1:] if part)
    # The ledger URL, not RBSYNC_DATABASE_URL: it carries RBSYNC_DATABASE_PASSWORD URL-quoted.
    ledger_url = settings.ledger_url if settings.database_url else None
    for url in (ledger_url, settings.broker_url, settings.redis_url):
        password = _url_password(url)
        if password:
            found.append(password)
    return [s for s in found if s]


def _url_password(url: str | None) -> str | None:
    if not url or "://" not in url:
        return None
    rest = url.split("://", 1)[1]
    if "@" not in rest:
        return None
    creds = rest.rsplit("@", 1)[0]
    return creds.split(":", 1)[1] if ":" in creds else None


def configure_logging(
    settings: Settings | None = None,
    *,
    level: int | str = logging.WARNING,
    stream: TextIO | None = None,
    log_format: LogFormat | None = None,
    task_tracebacks: bool | None = None,
) -> logging.Handler:
    """Send every log record through one redacting handler on the root logger, as text or as
    JSON lines (``log_format``; by default the settings' ``RBSYNC_LOG_FORMAT``, else text).

    A failed Celery task's traceback is shown at ``debug`` only (the CLI reports each failed
    task itself), unless ``task_tracebacks`` says otherwise (Celery's own processes).

    Calling it again (e.g. once the settings are known) replaces the handler it installed
    before; handlers installed by others (pytest's capture) are left alone.
    """
    global _handler  # noqa: PLW0603 - one handler per process, replaced on reconfiguration
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    redactor = SecretRedactor(secrets_of(settings))
    debug = _as_int(level) <= logging.DEBUG if task_tracebacks is None else task_tracebacks
    chosen = log_format or (settings.log_format if settings is not None else "text")
    formatter: logging.Formatter
    if chosen == "json":
        formatter = JsonFormatter(redactor, task_tracebacks=debug)
    else:
        formatter = RedactingFormatter(redactor, task_tracebacks=debug)
    handler.setFormatter(formatter)
    handler.addFilter(_DropNoise())
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request at INFO; keep it for --log-level debug.
    quiet = _as_int(level) > logging.DEBUG
    logging.getLogger("httpx").setLevel(logging.WARNING if quiet else logging.DEBUG)
    _handler = handler
    return handler


def _as_int(level: int | str) -> int:
    if isinstance(level, int):
        return level
    value = logging.getLevelName(level.upper())
    return value if isinstance(value, int) else logging.INFO


def redact_also(settings: Settings) -> None:
    """Make the installed handler redact ``settings``' secrets as well: a stored connection's
    credentials are read from the ledger after logging was configured from the environment.
    Without a handler installed (nothing configured yet) it does nothing."""
    if _handler is None:
        return
    formatter = _handler.formatter
    if isinstance(formatter, RedactingFormatter | JsonFormatter):
        formatter.redactor.add(secrets_of(settings))


def reset_logging() -> None:
    """Remove the handler :func:`configure_logging` installed (tests that run commands
    in-process call this, so that no handler outlives the stream it writes to)."""
    global _handler  # noqa: PLW0603 - the one handler of this process
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
        _handler = None

"""The CLI's shared error handling and log redaction (``worker/commands/_common.py``,
``worker/logs.py``): one line and exit code 2 for what an operator can fix, never a traceback;
no secret in any log line."""

from __future__ import annotations

import io
import logging
import socket
from pathlib import Path

import pytest
from cli_helpers import Cli, one_line_error

from wiring.settings import Settings
from worker.cli import build_app
from worker.logs import REDACTED, SecretRedactor, configure_logging, secrets_of


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli({"RBSYNC_DATA_DIR": str(tmp_path / "data")}, tmp_path)


def test_every_command_has_help(cli: Cli) -> None:
    app = build_app()
    names = [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]
    assert set(names) == {
        "demo",
        "check",
        "status",
        "failures",
        "retry",
        "enqueue",
        "sync",
        "initial-sync",
        "db",
        "flower",
        "sandbox",
        "config",
    }
    for name in names:
        assert name is not None
        outcome = cli(name, "--help")
        assert outcome.exit_code == 0, (name, outcome.stderr)
        assert f"rbsync {name}" in outcome.stdout
        # A sentence of help beyond the usage line.
        assert len(outcome.stdout.split()) > 12, (name, outcome.stdout)


def test_bad_settings_end_as_one_line_naming_the_variable(cli: Cli) -> None:
    outcome = cli.run_process("status", RBSYNC_POLL_INTERVAL_SECONDS="-5")
    assert outcome.exit_code == 2
    assert one_line_error(outcome) == (
        "rbsync: bad settings: RBSYNC_POLL_INTERVAL_SECONDS: Input should be greater than 0"
    )


def test_a_bad_secret_value_is_not_echoed(cli: Cli) -> None:
    # A value that fails validation may be a mistyped secret: the message never repeats it.
    outcome = cli("status", RBSYNC_HTTP_TIMEOUT_SECONDS="s3cr3t-value")
    assert outcome.exit_code == 2
    line = one_line_error(outcome)
    assert line.startswith("rbsync: bad settings: RBSYNC_HTTP_TIMEOUT_SECONDS: ")
    assert "s3cr3t-value" not in outcome.stderr + outcome.stdout


def test_an_unreachable_database_is_one_line(cli: Cli) -> None:
    url = f"postgresql://postgres:hunter22@127.0.0.1:{_closed_port()}/rbsync"
    outcome = cli.run_process("status", RBSYNC_DATABASE_URL=url)
    assert outcome.exit_code == 2
    line = one_line_error(outcome)
    assert line.startswith("rbsync: cannot use the ledger database: ")
    assert "Connection refused" in line
    assert "hunter22" not in outcome.stderr


def test_an_unreachable_broker_is_one_line(cli: Cli) -> None:
    url = f"redis://:hunter22@127.0.0.1:{_closed_port()}/0"
    outcome = cli("enqueue", "product", "AB/100", RBSYNC_BROKER_URL=url)
    assert outcome.exit_code == 2
    line = one_line_error(outcome)
    assert line.startswith("rbsync: cannot reach the broker at redis://:***@127.0.0.1:")
    assert "hunter22" not in outcome.stderr


def test_an_unmigrated_production_ledger_says_what_to_run(cli: Cli, postgres_url: str) -> None:
    outcome = cli("failures", RBSYNC_DATABASE_URL=postgres_url)
    assert outcome.exit_code == 2
    assert one_line_error(outcome) == (
        "rbsync: the ledger database is not at the newest schema revision; run `rbsync db upgrade`"
    )


def test_bad_arguments_are_one_line(cli: Cli) -> None:
    assert one_line_error(cli("enqueue", "widget", "1")) == (
        "rbsync: unknown kind 'widget'; expected one of product, bom, customer, invoice, supplier"
    )
    assert one_line_error(cli("enqueue", "customer", "ten")) == (
        "rbsync: customer key 'ten' is not a number (customers are keyed by their Rackbeat number)"
    )
    assert one_line_error(cli("retry")) == "rbsync: say what to retry: KIND KEY, KIND, or --all"
    assert one_line_error(cli("failures", "--status", "lost")) == (
        "rbsync: unknown status 'lost'; expected one of failed, dead, unknown, skipped, "
        "pending, in_flight, synced"
    )
    assert cli("--log-level", "loud", "status").exit_code == 2


def test_the_redactor_masks_configured_secrets_and_credential_shapes() -> None:
    settings = Settings(
        _env_file=None,
        rackbeat_api_token="rb-token-0123456789",
        poweroffice_application_key="app-key-abcdef",
        poweroffice_client_key="client-key-ghijkl",
        poweroffice_subscription_key="sub-key-mnopqr",
        broker_url="redis://:brokerpw1@10.0.0.5:6379/0",
        flower_basic_auth="ops:flowerpw1",
    )
    redact = SecretRedactor(secrets_of(settings))
    text = (
        "token rb-token-0123456789 app app-key-abcdef client client-key-ghijkl "
        "sub sub-key-mnopqr basic YXBwLWtleS1hYmNkZWY6Y2xpZW50LWtleS1naGlqa2w= "
        "Authorization: Bearer eyJhbGciOi.fresh-token_1 Ocp-Apim-Subscription-Key: other-key "
        '{"access_token": "tok-from-body"} url postgresql://u:dbpw9@host/db flower flowerpw1 '
        "broker brokerpw1"
    )
    assert redact(text) == (
        f"token {REDACTED} app {REDACTED} client {REDACTED} sub {REDACTED} basic {REDACTED} "
        f"Authorization: Bearer {REDACTED} Ocp-Apim-Subscription-Key: {REDACTED} "
        f'{{"access_token": "{REDACTED}"}} url postgresql://u:{REDACTED}@host/db flower '
        f"{REDACTED} broker {REDACTED}"
    )


def test_log_records_and_tracebacks_are_redacted() -> None:
    settings = Settings(_env_file=None, rackbeat_api_token="rb-token-0123456789")
    stream = io.StringIO()
    handler = configure_logging(settings, level=logging.INFO, stream=stream)
    try:
        log = logging.getLogger("rbsync.test")
        log.info("calling with %s", "rb-token-0123456789")
        try:
            raise RuntimeError("refused rb-token-0123456789")
        except RuntimeError:
            log.exception("failed")
    finally:
        logging.getLogger().removeHandler(handler)
    output = stream.getvalue()
    assert "rb-token-0123456789" not in output
    assert f"calling with {REDACTED}" in output
    assert f"RuntimeError: refused {REDACTED}" in output


def test_failed_task_tracebacks_only_at_debug_level() -> None:
    def logged(level: int) -> str:
        stream = io.StringIO()
        handler = configure_logging(None, level=level, stream=stream)
        try:
            try:
                raise ConnectionError("GET /api/products: ConnectError before a response")
            except ConnectionError:
                logging.getLogger("celery.app.trace").error(
                    "Task rbsync.poll[1] raised unexpected: %s", "NetworkError", exc_info=True
                )
                logging.getLogger("tasks.pipeline").exception("product 1: unexpected error")
        finally:
            logging.getLogger().removeHandler(handler)
        return stream.getvalue()

    quiet = logged(logging.WARNING)
    task_line, bug = quiet.split("\n", 1)
    assert task_line.endswith(
        "celery.app.trace: Task rbsync.poll[1] raised unexpected: NetworkError"
    )
    # Anything else (a bug in rbsync's own code) keeps its traceback.
    assert bug.count("Traceback (most recent call last)") == 1
    assert "tasks.pipeline: product 1: unexpected error\nTraceback" in bug
    assert logged(logging.DEBUG).count("Traceback (most recent call last)") == 2

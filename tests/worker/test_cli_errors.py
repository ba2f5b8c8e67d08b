"""The CLI's shared error handling and log redaction (``worker/commands/_common.py``,
``worker/logs.py``): one line and exit code 2 for what an operator can fix, never a traceback;
no secret in any log line."""

from __future__ import annotations

import io
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import SUBPROCESS_TIMEOUT_SECONDS, Cli, one_line_error

from wiring.settings import Settings
from worker.cli import build_app
from worker.logs import REDACTED, SecretRedactor, configure_logging, secrets_of

CELERY = str(Path(sys.executable).with_name("celery"))


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
        "webhooks",
        "reconcile",
        "health",
        "metrics",
        "connections",
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


# Each command with the arguments it needs to get as far as loading its settings.
SETTINGS_COMMANDS = [
    ("check",),
    ("status",),
    ("failures",),
    ("retry", "--all"),
    ("enqueue", "product", "AB/100"),
    ("sync", "--once"),
    ("initial-sync",),
    ("db", "upgrade"),
    ("flower",),
    ("config",),
    ("health",),
    ("metrics", "serve"),
    ("connections", "list"),
    ("connections", "check"),
]


def test_malformed_json_settings_are_one_line_in_a_real_process(cli: Cli) -> None:
    outcome = cli.run_process("status", RBSYNC_EMPLOYEE_MAP='{"3":')
    assert outcome.exit_code == 2
    line = one_line_error(outcome)
    assert line.startswith("rbsync: bad settings: RBSYNC_EMPLOYEE_MAP: not valid JSON")


@pytest.mark.parametrize("command", SETTINGS_COMMANDS, ids=" ".join)
@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("RBSYNC_EMPLOYEE_MAP", '{"41":', "RBSYNC_EMPLOYEE_MAP: not valid JSON"),
        ("RBSYNC_EMPLOYEE_MAP", "[3, 102]", "RBSYNC_EMPLOYEE_MAP: Input should be a valid dict"),
        ("RBSYNC_SYNC_BATCH_SIZE", "many", "RBSYNC_SYNC_BATCH_SIZE: Input should be a valid int"),
        (
            "POWEROFFICE_TOKEN_URL",
            "goapi/OAuth/Token",
            "POWEROFFICE_TOKEN_URL: must be an http:// or https:// URL",
        ),
        ("RBSYNC_BROKER_URL", "redis-host:6379", "RBSYNC_BROKER_URL: must be a URL with a scheme"),
    ],
    ids=["malformed-json", "wrong-type", "not-a-number", "api-url", "infra-url"],
)
def test_every_command_reports_bad_settings_in_one_line(
    cli: Cli, command: tuple[str, ...], variable: str, value: str, expected: str
) -> None:
    outcome = cli(*command, **{variable: value})
    assert outcome.exit_code == 2, outcome.stderr
    line = one_line_error(outcome)
    assert line.startswith(f"rbsync: bad settings: {expected}"), line
    assert value not in line


def test_a_malformed_value_in_dotenv_is_named_not_shown(cli: Cli) -> None:
    (cli.cwd / ".env").write_text("RBSYNC_EMPLOYEE_MAP={'7': 205}\n", encoding="utf-8")
    outcome = cli.run_process("config")
    assert outcome.exit_code == 2
    line = one_line_error(outcome)
    assert line.startswith("rbsync: bad settings: RBSYNC_EMPLOYEE_MAP: not valid JSON"), line
    assert "205" not in line


@pytest.mark.parametrize("program", ["worker", "beat"])
def test_the_celery_entry_points_name_the_bad_variable(tmp_path: Path, program: str) -> None:
    # `celery -A worker.app worker` builds the settings when it imports the app: a bad one must
    # be one clear line there too, not the import's traceback.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RBSYNC_", "POWEROFFICE_"))}
    env.update(RBSYNC_EMPLOYEE_MAP='{"3":', RBSYNC_DATA_DIR=str(tmp_path / "data"))
    done = subprocess.run(
        [CELERY, "-A", "worker.app", program],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines() == [
        "rbsync: bad settings: RBSYNC_EMPLOYEE_MAP: not valid JSON (Expecting value: line 1 "
        'column 6); expected an object such as {"3": 102}'
    ]


def test_the_celery_app_names_the_variables_of_a_refused_combination(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RBSYNC_", "POWEROFFICE_"))}
    env.update(RBSYNC_VISIBILITY_TIMEOUT_SECONDS="600", RBSYNC_DATA_DIR=str(tmp_path / "data"))
    done = subprocess.run(
        [CELERY, "-A", "worker.app", "worker"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("rbsync: bad settings: RBSYNC_VISIBILITY_TIMEOUT_SECONDS ")
    assert "RBSYNC_RETRY_BACKOFF_MAX_SECONDS" in lines[0]


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

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.engine import make_url

from wiring.settings import (
    DEFAULT_POWEROFFICE_BASE_URL,
    DEFAULT_POWEROFFICE_TOKEN_URL,
    DEFAULT_RACKBEAT_BASE_URL,
    Settings,
    SettingsInvalidError,
    describe_settings_error,
    env_name,
    load_settings,
    mask_url_password,
    normalise_database_url,
)
from worker.logs import secrets_of

ENV_NAMES = [
    "RACKBEAT_BASE_URL",
    "RACKBEAT_API_TOKEN",
    "POWEROFFICE_BASE_URL",
    "POWEROFFICE_TOKEN_URL",
    "POWEROFFICE_APPLICATION_KEY",
    "POWEROFFICE_CLIENT_KEY",
    "POWEROFFICE_SUBSCRIPTION_KEY",
    "RBSYNC_DATABASE_URL",
    "RBSYNC_DATABASE_PASSWORD",
    "RBSYNC_BROKER_URL",
    "RBSYNC_REDIS_URL",
]
AWKWARD_PASSWORD = "p@ss/w:rd%"
"""Every character that breaks a password pasted into a URL: ``@ / : %``."""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(str(tmp_path))  # no stray .env


def test_defaults_are_the_real_services_and_embedded_mode() -> None:
    settings = Settings()
    assert settings.rackbeat_base_url == DEFAULT_RACKBEAT_BASE_URL
    assert settings.poweroffice_base_url == DEFAULT_POWEROFFICE_BASE_URL
    assert settings.poweroffice_token_url == DEFAULT_POWEROFFICE_TOKEN_URL
    assert settings.embedded is True
    assert settings.ledger_url.startswith("sqlite:///")
    assert settings.ledger_url.endswith("var/ledger.sqlite3")


def test_exact_environment_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RACKBEAT_BASE_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("RACKBEAT_API_TOKEN", "rb-secret")
    monkeypatch.setenv("POWEROFFICE_BASE_URL", "http://127.0.0.1:9/Demo/v2/")
    monkeypatch.setenv("POWEROFFICE_TOKEN_URL", "http://127.0.0.1:9/Demo/OAuth/Token")
    monkeypatch.setenv("POWEROFFICE_APPLICATION_KEY", "app-secret")
    monkeypatch.setenv("POWEROFFICE_CLIENT_KEY", "client-secret")
    monkeypatch.setenv("POWEROFFICE_SUBSCRIPTION_KEY", "sub-secret")
    monkeypatch.setenv("RBSYNC_DATABASE_URL", "postgres://u:pw@db/rbsync")
    monkeypatch.setenv("RBSYNC_BROKER_URL", "redis://:pw@redis:6379/0")
    monkeypatch.setenv("RBSYNC_REDIS_URL", "redis://redis:6379/1")
    settings = Settings()
    assert settings.rackbeat_base_url == "http://127.0.0.1:9/api/"
    assert settings.poweroffice_base_url == "http://127.0.0.1:9/Demo/v2"
    assert settings.rackbeat_api_token is not None
    assert settings.rackbeat_api_token.get_secret_value() == "rb-secret"
    assert settings.embedded is False
    assert settings.ledger_url == "postgresql+psycopg://u:pw@db/rbsync"
    assert settings.redis_url == "redis://redis:6379/1"


def test_secrets_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RACKBEAT_API_TOKEN", "rb-secret-123")
    monkeypatch.setenv("POWEROFFICE_CLIENT_KEY", "client-secret-456")
    monkeypatch.setenv("RBSYNC_BROKER_URL", "redis://:brokerpw@redis:6379/0")
    settings = Settings()
    text = repr(settings) + str(settings) + repr(settings.safe_dump())
    for secret in ("rb-secret-123", "client-secret-456", "brokerpw"):
        assert secret not in text


def test_dotenv_file_is_read(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    with open(".env", "w", encoding="utf-8") as handle:
        handle.write("RACKBEAT_API_TOKEN=from-dotenv\nRBSYNC_POLL_INTERVAL_SECONDS=60\n")
    settings = Settings()
    assert settings.rackbeat_api_token is not None
    assert settings.rackbeat_api_token.get_secret_value() == "from-dotenv"
    assert settings.poll_interval_seconds == 60


def test_wrong_setting_is_a_clear_validation_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RBSYNC_POLL_INTERVAL_SECONDS", "-5")
    with pytest.raises(ValidationError, match="poll_interval_seconds"):
        Settings()


def test_env_names_of_fields_and_aliases() -> None:
    assert env_name("poll_interval_seconds") == "RBSYNC_POLL_INTERVAL_SECONDS"
    assert env_name("poweroffice_token_url") == "POWEROFFICE_TOKEN_URL"
    assert env_name("POWEROFFICE_TOKEN_URL") == "POWEROFFICE_TOKEN_URL"
    assert env_name("database_url") == "RBSYNC_DATABASE_URL"


def test_the_employee_map_is_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RBSYNC_EMPLOYEE_MAP", '{"3": 102, "4": "103"}')
    assert load_settings().employee_map == {3: 102, 4: 103}
    monkeypatch.setenv("RBSYNC_EMPLOYEE_MAP", '{"3":')
    with pytest.raises(SettingsInvalidError) as bad:
        load_settings()
    assert str(bad.value) == (
        "bad settings: RBSYNC_EMPLOYEE_MAP: not valid JSON (Expecting value: line 1 column 6); "
        'expected an object such as {"3": 102}'
    )


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("RACKBEAT_BASE_URL", "app.rackbeat.com/api", "must be an http:// or https:// URL"),
        ("POWEROFFICE_BASE_URL", "https:///v2", "must be an http:// or https:// URL"),
        ("POWEROFFICE_TOKEN_URL", "ftp://host/token", "must be an http:// or https:// URL"),
        ("RBSYNC_DATABASE_URL", "db.example:5432/rbsync", "must be a URL with a scheme"),
        ("RBSYNC_BROKER_URL", "redis:6379", "must be a URL with a scheme"),
        ("RBSYNC_REDIS_URL", "localhost", "must be a URL with a scheme"),
    ],
)
def test_urls_without_scheme_or_host_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsInvalidError) as bad:
        load_settings()
    assert str(bad.value).startswith(f"bad settings: {variable}: {problem}")


def test_blank_server_urls_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RBSYNC_DATABASE_URL", "RBSYNC_BROKER_URL", "RBSYNC_REDIS_URL"):
        monkeypatch.setenv(name, " ")
    settings = load_settings()
    assert (settings.database_url, settings.broker_url, settings.redis_url) == (None, None, None)
    assert settings.embedded is True


def test_several_problems_are_one_line_and_repeat_no_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RBSYNC_HTTP_TIMEOUT_SECONDS", "tok-123")
    monkeypatch.setenv("RBSYNC_FLOWER_PORT", "pw-456")
    with pytest.raises(SettingsInvalidError) as bad:
        load_settings()
    message = str(bad.value)
    assert "\n" not in message
    assert "RBSYNC_HTTP_TIMEOUT_SECONDS: " in message
    assert "; RBSYNC_FLOWER_PORT: " in message
    assert "tok-123" not in message
    assert "pw-456" not in message


def test_a_value_pydantic_settings_cannot_read_is_named() -> None:
    # What pydantic-settings raises when it cannot decode a value itself: only its message
    # names the field, and the cause (which may quote the value) is left out.
    error = SettingsError(
        'error parsing value for field "employee_map" from source "DotEnvSettingsSource"'
    )
    error.__cause__ = ValueError("secret-ish text")
    assert describe_settings_error(error) == (
        "bad settings: RBSYNC_EMPLOYEE_MAP (in .env): cannot be read"
    )
    assert describe_settings_error(RuntimeError("x")) is None


def test_the_database_password_is_quoted_into_the_ledger_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RBSYNC_DATABASE_URL", "postgres://rbsync@db:5432/rbsync")
    monkeypatch.setenv("RBSYNC_DATABASE_PASSWORD", AWKWARD_PASSWORD)
    settings = load_settings()
    url = make_url(settings.ledger_url)
    assert (url.drivername, url.username, url.host, url.port, url.database) == (
        "postgresql+psycopg",
        "rbsync",
        "db",
        5432,
        "rbsync",
    )
    assert url.password == AWKWARD_PASSWORD
    assert settings.ledger_url == "postgresql+psycopg://rbsync:p%40ss%2Fw%3Ard%25@db:5432/rbsync"
    # Never shown: neither the password nor its quoted form.
    shown = repr(settings) + str(settings.safe_dump()) + mask_url_password(settings.ledger_url)
    assert AWKWARD_PASSWORD not in shown
    assert "p%40ss" not in shown
    # ...and the log redactor knows both forms.
    assert {AWKWARD_PASSWORD, "p%40ss%2Fw%3Ard%25"} <= set(secrets_of(settings))


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (None, "RBSYNC_DATABASE_PASSWORD: is set, but RBSYNC_DATABASE_URL is not"),
        (
            "postgresql://db/rbsync",
            "RBSYNC_DATABASE_PASSWORD: RBSYNC_DATABASE_URL names no user to go with it",
        ),
        (
            "postgresql://rbsync:other@db/rbsync",
            "RBSYNC_DATABASE_PASSWORD: RBSYNC_DATABASE_URL has a password already; "
            "give it in one place only",
        ),
    ],
)
def test_a_database_password_that_cannot_be_used_is_refused(
    monkeypatch: pytest.MonkeyPatch, url: str | None, problem: str
) -> None:
    if url is not None:
        monkeypatch.setenv("RBSYNC_DATABASE_URL", url)
    monkeypatch.setenv("RBSYNC_DATABASE_PASSWORD", AWKWARD_PASSWORD)
    with pytest.raises(SettingsInvalidError) as bad:
        load_settings()
    assert str(bad.value) == f"bad settings: {problem}"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_normalise_database_url(url: str, expected: str) -> None:
    assert normalise_database_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        ("postgresql://u:pw@h/d", "postgresql://u:***@h/d"),
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("postgresql://u@h/d", "postgresql://u@h/d"),
    ],
)
def test_mask_url_password(url: str, expected: str) -> None:
    assert mask_url_password(url) == expected

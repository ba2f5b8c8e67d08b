from __future__ import annotations

import pytest
from pydantic import ValidationError

from wiring.settings import (
    DEFAULT_POWEROFFICE_BASE_URL,
    DEFAULT_POWEROFFICE_TOKEN_URL,
    DEFAULT_RACKBEAT_BASE_URL,
    Settings,
    mask_url_password,
    normalise_database_url,
)

ENV_NAMES = [
    "RACKBEAT_BASE_URL",
    "RACKBEAT_API_TOKEN",
    "POWEROFFICE_BASE_URL",
    "POWEROFFICE_TOKEN_URL",
    "POWEROFFICE_APPLICATION_KEY",
    "POWEROFFICE_CLIENT_KEY",
    "POWEROFFICE_SUBSCRIPTION_KEY",
    "RBSYNC_DATABASE_URL",
    "RBSYNC_BROKER_URL",
    "RBSYNC_REDIS_URL",
]


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

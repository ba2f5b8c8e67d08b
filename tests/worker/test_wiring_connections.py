"""``wiring.connections``: which connections a deployment serves and the Settings of each,
on SQLite and PostgreSQL ledgers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from ledger import make_engine, make_session_factory, upgrade
from ledger.connections import ConnectionCredentials, add_connection, get_connection
from ledger.secrets import SecretBox, generate_key
from wiring.connections import (
    DEFAULT_CONNECTION,
    AmbiguousConnectionError,
    ConnectionSecretsError,
    UnknownConnectionError,
    connection_infos,
    load_connection,
    load_connections,
    mark_connection,
    pick_connection,
)
from wiring.settings import Settings

KEY = generate_key()


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    upgrade(url)
    engine = make_engine(url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def _settings(**values: Any) -> Settings:
    base: dict[str, Any] = {
        "poweroffice_application_key": "app-key-of-the-deployment",
        "poweroffice_subscription_key": "sub-key-of-the-deployment",
        "secret_key": KEY,
    }
    base.update(values)
    return Settings(_env_file=None, **base)


def _store(
    sessions: sessionmaker[Session], name: str, key: str = KEY, **kwargs: Any
) -> ConnectionCredentials:
    credentials = ConnectionCredentials(
        rackbeat_token=f"rb-token-{name}", client_key=f"po-client-{name}"
    )
    with sessions() as session, session.begin():
        add_connection(session, name, credentials=credentials, box=SecretBox([key]), **kwargs)
    return credentials


def test_without_rows_the_environment_is_the_default_connection(
    sessions: sessionmaker[Session],
) -> None:
    for settings in (_settings(), _settings(rackbeat_api_token="rb-env-token")):
        (only,) = load_connections(settings, sessions)
        assert (only.name, only.stored, only.state, only.account_id) == (
            DEFAULT_CONNECTION,
            False,
            "active",
            None,
        )
        assert only.settings is settings
        assert pick_connection(settings, sessions, None) == only


def test_stored_rows_and_the_env_default(sessions: sessionmaker[Session]) -> None:
    _store(
        sessions,
        "acme",
        rackbeat_account_id="4711",
        options={"employee_map": {"3": 102}, "customer_number_from_rackbeat": True},
    )
    env = _settings(
        rackbeat_api_token="rb-env-token",
        poweroffice_client_key="po-env-client",
        employee_map={"9": 900},
        supplier_contact_group_name="Env group",
    )
    configs = {c.name: c for c in load_connections(env, sessions)}
    assert sorted(configs) == ["acme", "default"]
    acme = configs["acme"]
    assert (acme.stored, acme.state, acme.account_id) == (True, "active", "4711")
    s = acme.settings
    assert s.rackbeat_api_token is not None
    assert s.rackbeat_api_token.get_secret_value() == "rb-token-acme"
    assert s.poweroffice_client_key is not None
    assert s.poweroffice_client_key.get_secret_value() == "po-client-acme"
    # The deployment's keys stay; the company's options are its own, unset ones built-in.
    assert s.poweroffice_application_key == env.poweroffice_application_key
    assert s.employee_map == {3: 102}
    assert s.customer_number_from_rackbeat is True
    assert s.supplier_contact_group_name == "PowerOffice"
    assert configs["default"].settings is env
    # Without RACKBEAT_API_TOKEN the rows are all there is.
    assert [c.name for c in load_connections(_settings(), sessions)] == ["acme"]
    # A stored `default` replaces the environment's.
    _store(sessions, "default")
    defaults = [c for c in load_connections(env, sessions) if c.name == "default"]
    assert [c.stored for c in defaults] == [True]


def test_load_and_pick_by_name(sessions: sessionmaker[Session]) -> None:
    _store(sessions, "acme")
    _store(sessions, "beta")
    settings = _settings()
    assert load_connection(settings, sessions, "beta").name == "beta"
    with pytest.raises(UnknownConnectionError) as unknown:
        load_connection(settings, sessions, "gamma")
    assert str(unknown.value) == "no connection named 'gamma'; known connections: acme, beta"
    with pytest.raises(UnknownConnectionError, match=r"known connections: acme, beta$"):
        load_connection(settings, sessions, "default")
    with pytest.raises(AmbiguousConnectionError) as ambiguous:
        pick_connection(settings, sessions, None)
    assert str(ambiguous.value) == (
        "this deployment serves 2 connections (acme, beta); pass --connection NAME to say which"
    )
    assert pick_connection(settings, sessions, "acme").name == "acme"
    env = _settings(rackbeat_api_token="rb-env-token")
    assert load_connection(env, sessions, "default").stored is False


def test_a_missing_or_wrong_key_is_one_clear_line(sessions: sessionmaker[Session]) -> None:
    _store(sessions, "acme")
    with pytest.raises(ConnectionSecretsError) as missing:
        load_connections(_settings(secret_key=None), sessions)
    assert str(missing.value) == (
        "RBSYNC_SECRET_KEY is not set: it is needed for reading connection acme's credentials "
        "(make one with `rbsync connections generate-key`)"
    )
    other = generate_key()
    with pytest.raises(ConnectionSecretsError) as wrong:
        load_connection(_settings(secret_key=other), sessions, "acme")
    assert str(wrong.value) == (
        "cannot decrypt connection acme's credentials: RBSYNC_SECRET_KEY does not hold the key "
        "they were encrypted with"
    )
    assert other not in str(wrong.value)
    # The old key second in the list still opens them.
    assert load_connection(_settings(secret_key=f"{other},{KEY}"), sessions, "acme").stored


def test_mark_connection(sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture) -> None:
    _store(sessions, "acme")
    mark_connection(sessions, "acme", "broken", "Rackbeat refused the token (401)")
    with sessions() as session:
        stored = get_connection(session, "acme")
    assert stored is not None
    assert (stored.state, stored.state_reason) == ("broken", "Rackbeat refused the token (401)")
    info = {i.name: i for i in connection_infos(_settings(), sessions)}["acme"]
    assert (info.state, info.state_reason) == ("broken", "Rackbeat refused the token (401)")
    # The environment's default has no row: logged, nothing stored.
    with caplog.at_level(logging.WARNING, logger="wiring.connections"):
        mark_connection(sessions, DEFAULT_CONNECTION, "broken", "401")
    assert "connection default is broken: 401 (not recorded: it has no stored row)" in (
        caplog.messages
    )
    with sessions() as session:
        assert get_connection(session, DEFAULT_CONNECTION) is None
    with pytest.raises(ValueError, match="unknown state"):
        mark_connection(sessions, "acme", "gone", None)


def test_a_refusal_is_said_once_per_connection(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    from types import SimpleNamespace

    from clients import AuthenticationError
    from tasks.connection_state import mark_refused

    _store(sessions, "acme")
    refused = AuthenticationError("refused", method="POST", path="/OAuth/Token", status=400)
    with caplog.at_level(logging.WARNING):
        for name in ("acme", DEFAULT_CONNECTION):
            runtime: Any = SimpleNamespace(sessions=sessions, connection=name)
            mark_refused(runtime, refused, "product 10001")
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if " is broken: " in r.message]
    # A stored connection: recorded, one ERROR. The environment's default: not recorded, one
    # WARNING that says so (not the same refusal twice).
    assert [(level, text.split(":")[0]) for level, text in lines] == [
        ("ERROR", "connection acme is broken"),
        ("WARNING", "connection default is broken"),
    ]
    assert lines[1][1].endswith("(not recorded: it has no stored row)")
    with sessions() as session:
        stored = get_connection(session, "acme")
    assert stored is not None
    assert stored.state == "broken"
    assert stored.state_reason is not None
    assert stored.state_reason.startswith("product 10001: ")

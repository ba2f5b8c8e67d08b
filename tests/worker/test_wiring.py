"""wiring.clients: Settings in, clients out (Redis-shared or in-process pieces)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from clients import (
    FlowLimiter,
    InProcessProbeStore,
    InProcessRateLimiter,
    InProcessTokenCache,
    RedisProbeStore,
    RedisTokenCache,
)
from clients.rackbeat import CUSTOMERS, PRODUCTS
from ledger import LedgerProbeStore, make_engine, make_session_factory, upgrade
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from wiring.clients import (
    MissingSettingError,
    api_clients,
    build_poweroffice_client,
    build_rackbeat_client,
)
from wiring.settings import Settings


def _settings(
    rackbeat: RackbeatEmulatorHandle, poweroffice: PowerOfficeEmulatorHandle, **extra: object
) -> Settings:
    return Settings(
        rackbeat_base_url=rackbeat.base_url,
        rackbeat_api_token=rackbeat.token,
        poweroffice_base_url=poweroffice.base_url,
        poweroffice_token_url=poweroffice.token_url,
        poweroffice_application_key=poweroffice.application_key,
        poweroffice_client_key=poweroffice.client_key,
        poweroffice_subscription_key=poweroffice.subscription_key,
        **extra,
    )


def test_embedded_mode_builds_in_process_pieces(
    rackbeat_emulator: RackbeatEmulatorHandle, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    settings = _settings(rackbeat_emulator, poweroffice_emulator)
    with api_clients(settings) as clients:
        assert clients.rackbeat.get(PRODUCTS, "AB/100").number == "AB/100"
        info = clients.poweroffice.client_integration_information()
        assert info.client_name == "Sandkasse Demo AS"
        limiter = clients.poweroffice._http._transport._limiter  # type: ignore[attr-defined]
        # The subscription key's budget, one per process, shared fairly by the connections.
        assert isinstance(limiter, FlowLimiter)
        other = build_poweroffice_client(settings, connection="another")
        with other:
            theirs = other._http._transport._limiter  # type: ignore[attr-defined]
            assert theirs._backend is limiter._backend
        plain = settings.model_copy(update={"poweroffice_fair_share": False})
        with build_poweroffice_client(plain) as arrival_order:
            limiter = arrival_order._http._transport._limiter  # type: ignore[attr-defined]
            assert isinstance(limiter, InProcessRateLimiter)
        assert isinstance(clients.poweroffice._auth._tokens, InProcessTokenCache)


@pytest.mark.redis
def test_with_redis_the_limiter_and_token_are_shared(
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    redis_url: str,
) -> None:
    settings = _settings(rackbeat_emulator, poweroffice_emulator, redis_url=redis_url)
    first = build_poweroffice_client(settings)
    second = build_poweroffice_client(settings)
    with first, second:
        assert isinstance(first._auth._tokens, RedisTokenCache)
        limiter = first._http._transport._limiter  # type: ignore[attr-defined]
        assert isinstance(limiter, FlowLimiter)  # the fair share of the key's Redis budget
        first.client_integration_information()
        second.client_integration_information()
        assert first.token_requests + second.token_requests == 1
    keys = {key.decode() for key in redis.Redis.from_url(redis_url).keys("rbsync:*")}
    assert any(key.startswith("rbsync:poweroffice:token:") for key in keys)
    assert any(key.startswith("rbsync:ratelimit:fair:{poweroffice:") for key in keys)
    for secret in (poweroffice_emulator.subscription_key, poweroffice_emulator.client_key):
        assert all(secret not in key for key in keys)
    with build_rackbeat_client(settings) as rackbeat:
        assert rackbeat.find(CUSTOMERS, 10001) is not None


def test_a_missing_credential_names_its_variable() -> None:
    with pytest.raises(MissingSettingError, match="RACKBEAT_API_TOKEN is not set"):
        build_rackbeat_client(Settings(rackbeat_api_token=None))
    with pytest.raises(MissingSettingError, match="POWEROFFICE_CLIENT_KEY is not set"):
        build_poweroffice_client(
            Settings(
                poweroffice_application_key="app-key-123456",
                poweroffice_subscription_key="sub-key-123456",
            )
        )


def test_rackbeat_consumer_headers_come_from_settings(
    rackbeat_emulator: RackbeatEmulatorHandle, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    settings = _settings(
        rackbeat_emulator,
        poweroffice_emulator,
        rackbeat_consumer_name="rbsync at Regnskap AS",
        rackbeat_consumer_contact="drift@regnskap.example",
    )
    client = build_rackbeat_client(settings)
    try:
        headers = client._headers  # what every Rackbeat request carries
        assert headers["Consumer-Name"] == "rbsync at Regnskap AS"
        assert headers["Consumer-Contact"] == "drift@regnskap.example"
    finally:
        client.close()


@pytest.mark.redis
def test_the_filter_probe_store_is_redis_else_the_ledger_else_the_process(
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    redis_url: str,
    tmp_path: Path,
) -> None:
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    upgrade(ledger_url)
    engine = make_engine(ledger_url)
    sessions = make_session_factory(engine)
    embedded = _settings(rackbeat_emulator, poweroffice_emulator)
    fleet = _settings(rackbeat_emulator, poweroffice_emulator, redis_url=redis_url)
    try:
        with build_rackbeat_client(embedded, sessions=sessions) as client:
            assert isinstance(client._probes, LedgerProbeStore)
        with build_rackbeat_client(embedded) as client:
            assert isinstance(client._probes, InProcessProbeStore)
        with build_rackbeat_client(fleet, sessions=sessions) as client:
            assert isinstance(client._probes, RedisProbeStore)
    finally:
        engine.dispose()

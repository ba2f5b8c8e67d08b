"""From the one ``Settings`` object to ready API clients (the edge where settings end).

With ``RBSYNC_REDIS_URL`` set, the rate limiters, the PowerOffice Go token cache and the
Rackbeat filter-probe answers live in Redis and are shared by every process and machine of the
fleet; without it (embedded mode) the limiters and the token cache are in-process, and the probe
answers go to the ledger when the caller hands over its sessions (each ``rbsync sync --once`` is
a new process: in-process answers would be probed again by every run). Everything below
``clients/`` receives plain values, never the settings.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis
from sqlalchemy.orm import Session, sessionmaker

from clients import (
    FairShareLimiter,
    InProcessFairShareLimiter,
    InProcessProbeStore,
    InProcessRateLimiter,
    InProcessTokenCache,
    PowerOfficeClient,
    ProbeStore,
    RackbeatClient,
    RateLimiter,
    RedisFairShareLimiter,
    RedisProbeStore,
    RedisRateLimiter,
    RedisTokenCache,
    TokenCache,
    build_http_client,
    credential_bucket,
    token_cache_key,
)
from ledger import DEFAULT_CONNECTION, LedgerProbeStore
from wiring.metrics import api_observer
from wiring.settings import Settings

__all__ = [
    "RATE_HEADROOM",
    "ApiClients",
    "MissingSettingError",
    "api_clients",
    "build_poweroffice_client",
    "build_rackbeat_client",
]

RATE_HEADROOM = 0.97
"""Our limiters run at 97 % of each API's budget. A server counts requests by their arrival,
which jitters by milliseconds against our evenly spaced slots; at exactly 100 % an unlucky
window would see one request too many and answer 429."""


class MissingSettingError(ValueError):
    """A credential the client needs is not configured."""


@dataclass(frozen=True)
class ApiClients:
    """Both API clients of one process."""

    rackbeat: RackbeatClient
    poweroffice: PowerOfficeClient


@functools.cache
def _redis(url: str) -> redis.Redis:
    """One connection pool per Redis URL and process."""
    return redis.Redis.from_url(url)


def _secret(settings: Settings, name: str, env: str) -> str:
    value = getattr(settings, name)
    if value is None or not value.get_secret_value():
        raise MissingSettingError(f"{env} is not set")
    secret: str = value.get_secret_value()
    return secret


def _limiter(settings: Settings, api: str, credential: str, rate: float) -> RateLimiter:
    if settings.redis_url:
        bucket = credential_bucket(api, credential)
        return RedisRateLimiter(_redis(settings.redis_url), bucket, rate * RATE_HEADROOM)
    return InProcessRateLimiter(rate * RATE_HEADROOM)


@functools.cache
def _in_process_budget(bucket: str, rate: float) -> FairShareLimiter:  # noqa: ARG001 - cache key
    """One budget per subscription key and process, shared by every connection's client."""
    return InProcessFairShareLimiter(rate)


def _poweroffice_limiter(settings: Settings, subscription_key: str, connection: str) -> RateLimiter:
    """The subscription key's budget (10 req/s for every client key), shared fairly among the
    connections that are waiting (``clients.fairshare``: a connection with a backlog takes
    the spare capacity, one with a single change gets the next slot); with
    ``RBSYNC_POWEROFFICE_FAIR_SHARE=false`` in arrival order, as before connections."""
    rate = settings.poweroffice_requests_per_second * RATE_HEADROOM
    if not settings.poweroffice_fair_share:
        return _limiter(
            settings, "poweroffice", subscription_key, settings.poweroffice_requests_per_second
        )
    bucket = credential_bucket("poweroffice", subscription_key)
    budget: FairShareLimiter = (
        RedisFairShareLimiter(_redis(settings.redis_url), bucket, rate)
        if settings.redis_url
        else _in_process_budget(bucket, rate)
    )
    return budget.flow(connection)


def _probe_store(
    settings: Settings, token: str, sessions: sessionmaker[Session] | None
) -> ProbeStore:
    """Where the filter-probe answers are kept: Redis, else the ledger, else this process."""
    bucket = credential_bucket("rackbeat", token)  # answers per Rackbeat account
    if settings.redis_url:
        return RedisProbeStore(_redis(settings.redis_url), bucket)
    if sessions is not None:
        return LedgerProbeStore(sessions, bucket)
    return InProcessProbeStore()


def build_rackbeat_client(
    settings: Settings, *, sessions: sessionmaker[Session] | None = None
) -> RackbeatClient:
    """The Rackbeat client for these settings (limit per API token).

    ``sessions`` (the ledger's) keep the filter-probe answers across processes when there is
    no Redis; without them the answers live as long as this client.
    """
    token = _secret(settings, "rackbeat_api_token", "RACKBEAT_API_TOKEN")
    http = build_http_client(
        base_url=settings.rackbeat_base_url,
        limiter=_limiter(settings, "rackbeat", token, settings.rackbeat_requests_per_second),
        timeout_seconds=settings.http_timeout_seconds,
        observer=api_observer("rackbeat"),
    )
    probes = _probe_store(settings, token, sessions)
    return RackbeatClient(
        http,
        token=token,
        probes=probes,
        consumer_name=settings.rackbeat_consumer_name,
        consumer_contact=settings.rackbeat_consumer_contact,
    )


def build_poweroffice_client(
    settings: Settings, *, connection: str = DEFAULT_CONNECTION
) -> PowerOfficeClient:
    """The PowerOffice Go client of ``connection`` for these settings (the subscription key's
    limit, shared fairly with the other connections; the token cached per application + client
    key)."""
    application_key = _secret(
        settings, "poweroffice_application_key", "POWEROFFICE_APPLICATION_KEY"
    )
    client_key = _secret(settings, "poweroffice_client_key", "POWEROFFICE_CLIENT_KEY")
    subscription_key = _secret(
        settings, "poweroffice_subscription_key", "POWEROFFICE_SUBSCRIPTION_KEY"
    )
    tokens: TokenCache = (
        RedisTokenCache(_redis(settings.redis_url), token_cache_key(application_key, client_key))
        if settings.redis_url
        else InProcessTokenCache()
    )
    observer = api_observer("poweroffice")
    http = build_http_client(
        base_url=settings.poweroffice_base_url,
        limiter=_poweroffice_limiter(settings, subscription_key, connection),
        timeout_seconds=settings.http_timeout_seconds,
        observer=observer,
    )
    return PowerOfficeClient(
        http,
        application_key=application_key,
        client_key=client_key,
        subscription_key=subscription_key,
        token_url=settings.poweroffice_token_url,
        tokens=tokens,
        observer=observer,
    )


@contextmanager
def api_clients(settings: Settings) -> Iterator[ApiClients]:
    """Both clients, closed (connections released) when the block ends."""
    rackbeat = build_rackbeat_client(settings)
    try:
        poweroffice = build_poweroffice_client(settings)
    except BaseException:
        rackbeat.close()
        raise
    with rackbeat, poweroffice:
        yield ApiClients(rackbeat=rackbeat, poweroffice=poweroffice)

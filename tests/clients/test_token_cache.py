"""The access-token cache: renewed before expiry, once for every process sharing Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from clients.errors import TokenUnavailableError
from clients.tokens import (
    REFRESH_MARGIN_SECONDS,
    InProcessTokenCache,
    RedisTokenCache,
    refresh_margin,
    token_cache_key,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Issuer:
    """A token endpoint: counts requests, hands out ``token-1``, ``token-2``, ..."""

    def __init__(self, expires_in: float = 1200.0, delay: float = 0.0) -> None:
        self.expires_in = expires_in
        self.delay = delay
        self.requests = 0
        self._lock = threading.Lock()

    def __call__(self) -> tuple[str, float]:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.requests += 1
            return f"token-{self.requests}", self.expires_in


def test_refresh_margin_is_two_minutes_or_a_fifth_of_a_short_lifetime() -> None:
    assert refresh_margin(1200) == REFRESH_MARGIN_SECONDS
    assert refresh_margin(10) == 2.0


def test_in_process_token_is_reused_then_renewed_before_expiry() -> None:
    clock, issuer = FakeClock(), Issuer(expires_in=1200)
    cache = InProcessTokenCache(clock=clock)
    assert cache.get(issuer) == "token-1"
    clock.now += 1079
    assert cache.get(issuer) == "token-1"
    clock.now += 1  # 1080 s = 1200 - 120: due, though not expired
    assert cache.get(issuer) == "token-2"
    assert issuer.requests == 2


def test_in_process_invalidate_drops_only_the_refused_token() -> None:
    clock, issuer = FakeClock(), Issuer()
    cache = InProcessTokenCache(clock=clock)
    cache.get(issuer)
    cache.invalidate("some-older-token")
    assert cache.get(issuer) == "token-1"
    cache.invalidate("token-1")
    assert cache.get(issuer) == "token-2"


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


KEY = token_cache_key("application-key", "client-key")


@pytest.mark.redis
def test_the_key_reveals_neither_credential() -> None:
    assert KEY.startswith("rbsync:poweroffice:token:")
    assert "application" not in KEY
    assert "client-key" not in KEY


@pytest.mark.redis
def test_processes_sharing_redis_fetch_once_per_expiry_period(redis_client: redis.Redis) -> None:
    clock, issuer = FakeClock(), Issuer(expires_in=1200)
    processes = [RedisTokenCache(redis_client, KEY, clock=clock) for _ in range(4)]
    assert {cache.get(issuer) for cache in processes} == {"token-1"}
    clock.now += 1100  # past the renewal point of token-1 for everyone
    assert {cache.get(issuer) for cache in processes} == {"token-2"}
    assert issuer.requests == 2


@pytest.mark.redis
def test_concurrent_renewal_makes_one_token_request(redis_client: redis.Redis) -> None:
    issuer = Issuer(expires_in=1200, delay=0.2)
    caches = [RedisTokenCache(redis_client, KEY, poll_seconds=0.01) for _ in range(8)]
    results: list[str] = []
    threads = [threading.Thread(target=lambda c=c: results.append(c.get(issuer))) for c in caches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert results == ["token-1"] * 8
    assert issuer.requests == 1


@pytest.mark.redis
def test_the_old_token_serves_while_another_process_renews(redis_client: redis.Redis) -> None:
    clock, issuer = FakeClock(), Issuer(expires_in=1200)
    renewer = RedisTokenCache(redis_client, KEY, clock=clock)
    other = RedisTokenCache(redis_client, KEY, clock=clock)
    renewer.get(issuer)
    clock.now += 1100
    redis_client.set(KEY + ":lock", "someone-else", px=30_000)
    assert other.get(issuer) == "token-1"
    assert issuer.requests == 1


@pytest.mark.redis
def test_no_usable_token_and_a_stuck_renewal_is_a_retriable_error(
    redis_client: redis.Redis,
) -> None:
    clock = FakeClock()
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    cache = RedisTokenCache(
        redis_client, KEY, wait_seconds=1.0, poll_seconds=0.25, clock=clock, sleep=sleep
    )
    redis_client.set(KEY + ":lock", "someone-else", px=30_000)
    with pytest.raises(TokenUnavailableError):
        cache.get(Issuer())
    assert slept == [0.25, 0.25, 0.25, 0.25]


@pytest.mark.redis
def test_invalidate_keeps_a_newer_token_another_process_stored(redis_client: redis.Redis) -> None:
    clock, issuer = FakeClock(), Issuer()
    first = RedisTokenCache(redis_client, KEY, clock=clock)
    second = RedisTokenCache(redis_client, KEY, clock=clock)
    assert second.get(issuer) == "token-1"
    first.invalidate("token-1")  # first got a 401 with token-1
    assert first.get(issuer) == "token-2"
    second.invalidate("token-1")  # second's 401 arrives late: token-2 must survive
    assert second.get(issuer) == "token-2"
    assert issuer.requests == 2


@pytest.mark.redis
def test_token_expires_from_redis_with_its_lifetime(redis_client: redis.Redis) -> None:
    RedisTokenCache(redis_client, KEY).get(Issuer(expires_in=60))
    assert 55_000 < redis_client.pttl(KEY) <= 60_000

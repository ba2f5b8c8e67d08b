"""GCRA limiters: in-process with a fake clock, and the shared Redis bucket on a real Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from clients.ratelimit import (
    InProcessRateLimiter,
    RedisRateLimiter,
    SlotUnavailableError,
    credential_bucket,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_in_process_slots_are_spaced_one_interval_apart() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(10.0, clock=clock)
    delays = [limiter.reserve() for _ in range(4)]
    assert delays == [0.0, pytest.approx(0.1), pytest.approx(0.2), pytest.approx(0.3)]


def test_in_process_budget_refills_with_time() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(10.0, clock=clock)
    limiter.reserve()
    limiter.reserve()
    clock.now += 5.0
    assert limiter.reserve() == 0.0


def test_in_process_burst_lets_that_many_through_at_once() -> None:
    limiter = InProcessRateLimiter(2.0, burst=3, clock=FakeClock())
    delays = [limiter.reserve() for _ in range(5)]
    assert delays == [0.0, 0.0, 0.0, pytest.approx(0.5), pytest.approx(1.0)]


def test_in_process_refuses_a_wait_beyond_its_maximum_without_reserving() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(1.0, max_wait=1.5, clock=clock)
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == pytest.approx(1.0)
    with pytest.raises(SlotUnavailableError):
        limiter.reserve()
    clock.now += 1.0
    assert limiter.reserve() == pytest.approx(1.0)


def test_acquire_sleeps_for_the_reserved_slot() -> None:
    slept: list[float] = []
    limiter = InProcessRateLimiter(4.0, clock=FakeClock(), sleep=slept.append)
    limiter.acquire()
    limiter.acquire()
    assert slept == [pytest.approx(0.25)]


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        InProcessRateLimiter(0.0)
    with pytest.raises(ValueError, match="burst must be >= 1"):
        InProcessRateLimiter(1.0, burst=0)


def test_bucket_names_do_not_reveal_the_credential() -> None:
    bucket = credential_bucket("poweroffice", "subscription-key-123456")
    assert bucket.startswith("poweroffice:")
    assert "subscription-key" not in bucket
    assert bucket == credential_bucket("poweroffice", "subscription-key-123456")
    assert bucket != credential_bucket("poweroffice", "another-key-123456")


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


@pytest.mark.redis
def test_redis_bucket_is_shared_by_every_limiter_on_the_same_name(
    redis_client: redis.Redis,
) -> None:
    # Two limiters stand for two processes; at 1 request/s their reservations interleave.
    first = RedisRateLimiter(redis_client, "poweroffice:test", 1.0)
    second = RedisRateLimiter(redis_client, "poweroffice:test", 1.0)
    delays = [first.reserve(), second.reserve(), first.reserve(), second.reserve()]
    assert [round(delay) for delay in delays] == [0, 1, 2, 3]
    assert delays == sorted(delays)


@pytest.mark.redis
def test_redis_buckets_of_different_credentials_are_independent(
    redis_client: redis.Redis,
) -> None:
    first = RedisRateLimiter(redis_client, "poweroffice:a", 1.0)
    other = RedisRateLimiter(redis_client, "poweroffice:b", 1.0)
    assert first.reserve() == 0.0
    assert other.reserve() == 0.0


@pytest.mark.redis
def test_redis_bucket_refuses_a_wait_beyond_its_maximum(redis_client: redis.Redis) -> None:
    limiter = RedisRateLimiter(redis_client, "rackbeat:test", 1.0, max_wait=2.5)
    assert [round(limiter.reserve()) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(SlotUnavailableError, match=r"no slot within 2\.5 s"):
        limiter.reserve()


@pytest.mark.redis
def test_redis_bucket_keys_expire(redis_client: redis.Redis) -> None:
    RedisRateLimiter(redis_client, "rackbeat:ttl", 10.0).reserve()
    ttl_ms = redis_client.pttl("rbsync:ratelimit:rackbeat:ttl")
    assert 0 < ttl_ms <= 1100


def test_unreachable_redis_is_a_missing_slot_not_a_crash() -> None:
    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    limiter = RedisRateLimiter(client, "poweroffice:down", 10.0)
    with pytest.raises(SlotUnavailableError, match="shared rate limiter unavailable"):
        limiter.reserve()

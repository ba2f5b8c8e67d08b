"""GCRA limiters: in-process with a fake clock, and the shared Redis bucket on a real Redis."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from clients.ratelimit import (
    CATCH_UP_FRACTION,
    InProcessRateLimiter,
    RedisRateLimiter,
    SlotUnavailableError,
    credential_bucket,
)

CATCH_UP = CATCH_UP_FRACTION * 0.1
"""The catch-up of a 10 requests/s limiter, in seconds."""


class FakeClock:
    """A clock that only moves when the limiter sleeps (or the test moves it)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_in_process_a_slot_is_taken_only_when_free() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(10.0, clock=clock)
    assert limiter.try_acquire() == 0.0
    # A fresh stream starts one catch-up early, so the next slot is a little under 0.1 s away.
    # Asking again reserves nothing: the wait stays the same until time passes.
    assert limiter.try_acquire() == pytest.approx(0.1 - CATCH_UP)
    assert limiter.try_acquire() == pytest.approx(0.1 - CATCH_UP)
    clock.now += 0.05
    assert limiter.try_acquire() == pytest.approx(0.05 - CATCH_UP)
    clock.now += 0.05 - CATCH_UP
    assert limiter.try_acquire() == 0.0
    assert limiter.try_acquire() == pytest.approx(0.1)


def test_in_process_acquire_spaces_callers_one_interval_apart() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(10.0, clock=clock, sleep=clock.sleep)
    for _ in range(4):
        limiter.acquire()
    assert clock.slept == [pytest.approx(0.1 - CATCH_UP), pytest.approx(0.1), pytest.approx(0.1)]


def test_a_slightly_late_grant_keeps_the_schedule() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(10.0, clock=clock)
    limiter.try_acquire()
    clock.now += 0.1 - CATCH_UP
    limiter.try_acquire()  # on time
    scheduled = clock.now + 0.1
    clock.now += 0.1 + 0.8 * CATCH_UP  # this caller woke up late, but within the catch-up
    assert limiter.try_acquire() == 0.0
    # The slot after still comes on the schedule, not 0.1 s after the late grant.
    assert limiter.try_acquire() == pytest.approx(scheduled + 0.1 - clock.now)


def test_a_long_pause_restarts_the_schedule() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(10.0, clock=clock)
    limiter.try_acquire()
    clock.now += 5.0
    assert limiter.try_acquire() == 0.0
    assert limiter.try_acquire() == pytest.approx(0.1 - CATCH_UP)


def _grants(rate: float, lateness: list[float], count: int = 2000) -> list[float]:
    """Grant times of ``count`` acquires by callers that wake up late by one of ``lateness``."""
    rng = random.Random(7)
    clock = FakeClock()

    def late_sleep(seconds: float) -> None:
        clock.now += seconds + rng.choice(lateness)

    limiter = InProcessRateLimiter(rate, clock=clock, sleep=late_sleep)
    grants = []
    for _ in range(count):
        limiter.acquire()
        grants.append(clock.now)
    return grants


def test_no_eleven_grants_fit_in_a_second_however_late_callers_wake() -> None:
    # The gateway allows 10 requests in any 1 s window; our limiter runs at 9.7/s.
    grants = _grants(9.7, [0.0, 0.0005, 0.003, 0.015, 0.04, 0.2])
    spans = [grants[i + 10] - grants[i] for i in range(len(grants) - 10)]
    assert min(spans) >= 10 / 9.7 - CATCH_UP_FRACTION / 9.7 - 1e-9
    assert min(spans) > 1.0


def test_wake_up_latency_within_the_catch_up_costs_no_throughput() -> None:
    catch_up = CATCH_UP_FRACTION / 9.7
    grants = _grants(9.7, [0.0, 0.0005, catch_up / 2, catch_up * 0.99])
    rate = (len(grants) - 1) / (grants[-1] - grants[0])
    assert rate == pytest.approx(9.7, rel=1e-3)


def test_in_process_budget_refills_with_time() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(10.0, clock=clock)
    limiter.try_acquire()
    clock.now += 5.0
    assert limiter.try_acquire() == 0.0


def test_in_process_burst_lets_that_many_through_at_once() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(2.0, burst=3, clock=clock)
    assert [limiter.try_acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.try_acquire() == pytest.approx(0.5 - CATCH_UP_FRACTION * 0.5)


def test_in_process_gives_up_when_the_wait_exceeds_its_maximum() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(0.5, max_wait=1.5, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    with pytest.raises(SlotUnavailableError, match=r"no slot within 1\.5 s"):
        limiter.acquire()  # the next slot is 2 s away
    assert clock.slept == []


def test_in_process_threads_share_one_budget() -> None:
    clock = FakeClock()
    lock = threading.Lock()  # makes "ask and note the grant time" and "time passes" atomic
    grants: list[float] = []

    class Recording(InProcessRateLimiter):
        def try_acquire(self) -> float:
            with lock:
                wait = super().try_acquire()
                if wait == 0:
                    grants.append(clock.now)
                return wait

    def sleep(seconds: float) -> None:
        with lock:
            clock.now += seconds / 8  # eight sleepers at once: time moves a little per sleep

    limiter = Recording(10.0, clock=clock, sleep=sleep)

    def worker() -> None:
        for _ in range(5):
            limiter.acquire()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(grants) == 40
    gaps = [later - earlier for earlier, later in itertools.pairwise(grants)]
    assert min(gaps) >= 0.1 - CATCH_UP - 1e-9
    assert grants[-1] - grants[0] >= 39 * 0.1 - CATCH_UP - 1e-9


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
    # Two limiters stand for two processes: once one took the slot, the other must wait.
    # (One slot per 100 s: the checks hold however slowly a loaded machine runs them.)
    first = RedisRateLimiter(redis_client, "poweroffice:test", 0.01)
    second = RedisRateLimiter(redis_client, "poweroffice:test", 0.01)
    assert first.try_acquire() == 0.0
    wait = second.try_acquire()
    assert 50 < wait <= 100
    # Asking took nothing: the first limiter sees the same slot still taken.
    assert 50 < first.try_acquire() <= wait


@pytest.mark.redis
def test_redis_buckets_of_different_credentials_are_independent(
    redis_client: redis.Redis,
) -> None:
    first = RedisRateLimiter(redis_client, "poweroffice:a", 1.0)
    other = RedisRateLimiter(redis_client, "poweroffice:b", 1.0)
    assert first.try_acquire() == 0.0
    assert other.try_acquire() == 0.0


@pytest.mark.redis
def test_redis_acquire_waits_for_the_shared_slot(redis_client: redis.Redis) -> None:
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(min(seconds, 0.05))  # a short real nap: the slot frees in real time

    # One slot a second: the second limiter asks well within it even on a loaded machine.
    one = RedisRateLimiter(redis_client, "rackbeat:test", 1.0, sleep=sleep)
    two = RedisRateLimiter(redis_client, "rackbeat:test", 1.0, sleep=sleep)
    one.acquire()
    two.acquire()  # waits until the slot frees, 1 s after the first grant
    assert slept
    assert all(0 < wait <= 1.0 for wait in slept)


@pytest.mark.redis
def test_redis_bucket_gives_up_after_its_maximum_wait(redis_client: redis.Redis) -> None:
    holder = RedisRateLimiter(redis_client, "rackbeat:slow", 0.01)  # one slot per 100 s
    holder.acquire()
    waiter = RedisRateLimiter(redis_client, "rackbeat:slow", 0.01, max_wait=2.0)
    with pytest.raises(SlotUnavailableError, match=r"no slot within 2\.0 s"):
        waiter.acquire()


@pytest.mark.redis
def test_redis_bucket_keys_expire(redis_client: redis.Redis) -> None:
    RedisRateLimiter(redis_client, "rackbeat:ttl", 10.0).acquire()
    ttl_ms = redis_client.pttl("rbsync:ratelimit:rackbeat:ttl")
    assert 0 < ttl_ms <= 1100


def test_unreachable_redis_is_a_missing_slot_not_a_crash() -> None:
    client = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    limiter = RedisRateLimiter(client, "poweroffice:down", 10.0)
    with pytest.raises(SlotUnavailableError, match="shared rate limiter unavailable"):
        limiter.acquire()

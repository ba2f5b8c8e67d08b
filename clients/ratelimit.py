"""Client-side rate limiters: callers wait for a slot instead of collecting 429s.

One algorithm, two homes. Both limiters run GCRA (the generic cell rate algorithm, a token
bucket kept as one number, the "theoretical arrival time"): each call *reserves* the next free
slot and is told how long to wait for it, so waiting callers are served in order and spaced
exactly ``1 / rate`` apart, with up to ``burst`` calls let through back to back.

- :class:`InProcessRateLimiter`: a lock and a float; for one process (embedded mode).
- :class:`RedisRateLimiter`: the same arithmetic in one Lua script, on Redis's own clock, so
  every process on every machine shares one budget per API credential.

The bucket name is derived from the credential with :func:`credential_bucket`, never the
credential itself, so no secret reaches Redis keys or logs.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis

__all__ = [
    "DEFAULT_MAX_WAIT_SECONDS",
    "InProcessRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "SlotUnavailableError",
    "credential_bucket",
]

DEFAULT_MAX_WAIT_SECONDS = 60.0
"""A caller that would wait longer than this for a slot gives up (a retriable error)."""

KEY_PREFIX = "rbsync:ratelimit:"


class SlotUnavailableError(Exception):
    """No slot within the allowed wait, or the shared limiter could not be reached."""


class RateLimiter(Protocol):
    """Blocks until the caller may send one request."""

    def acquire(self) -> None: ...


def credential_bucket(api: str, credential: str) -> str:
    """A stable bucket name for one API credential that does not reveal it."""
    digest = hashlib.sha256(credential.encode()).hexdigest()[:16]
    return f"{api}:{digest}"


class _Gcra:
    """The parameters of one bucket, shared by both implementations."""

    def __init__(self, rate: float, burst: int, max_wait: float) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 requests/s, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self.interval = 1.0 / rate
        self.tolerance = (burst - 1) * self.interval
        self.max_wait = max_wait


class InProcessRateLimiter:
    """A GCRA bucket for the threads of one process."""

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        max_wait: float = DEFAULT_MAX_WAIT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._gcra = _Gcra(rate, burst, max_wait)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tat = 0.0

    def reserve(self) -> float:
        """Reserve the next slot; return how many seconds to wait for it."""
        gcra = self._gcra
        with self._lock:
            now = self._clock()
            tat = max(self._tat, now)
            delay = max(0.0, tat - gcra.tolerance - now)
            if delay > gcra.max_wait:
                raise SlotUnavailableError(f"next slot in {delay:.1f} s > {gcra.max_wait:.1f} s")
            self._tat = tat + gcra.interval
            return delay

    def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            self._sleep(delay)


# KEYS[1] the bucket; ARGV: interval, tolerance, max wait (all in microseconds).
# Returns the wait in microseconds, or -1 when the wait would exceed the maximum (nothing
# reserved). Redis's TIME is the clock, so machines with skewed clocks still share one budget.
_GCRA_LUA = """
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local delay = tat - tolerance - now
if delay < 0 then delay = 0 end
if delay > max_wait then return -1 end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX',
           math.floor((new_tat - now) / 1000) + 1000)
return delay
"""


class RedisRateLimiter:
    """A GCRA bucket in Redis, shared by every process that uses the same bucket name."""

    def __init__(
        self,
        client: redis.Redis,
        bucket: str,
        rate: float,
        *,
        burst: int = 1,
        max_wait: float = DEFAULT_MAX_WAIT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._gcra = _Gcra(rate, burst, max_wait)
        self._key = KEY_PREFIX + bucket
        self._script = client.register_script(_GCRA_LUA)
        self._sleep = sleep

    def reserve(self) -> float:
        """Reserve the next slot in the shared bucket; return the seconds to wait for it."""
        gcra = self._gcra
        try:
            micros = int(
                self._script(
                    keys=[self._key],
                    args=[
                        round(gcra.interval * 1e6),
                        round(gcra.tolerance * 1e6),
                        round(gcra.max_wait * 1e6),
                    ],
                )
            )
        except redis.RedisError as exc:
            raise SlotUnavailableError(
                f"shared rate limiter unavailable: {type(exc).__name__}"
            ) from exc
        if micros < 0:
            raise SlotUnavailableError(f"no slot within {gcra.max_wait:.1f} s")
        return micros / 1e6

    def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            self._sleep(delay)

"""Client-side rate limiters: callers wait for a slot instead of collecting 429s.

One algorithm, two homes. Both limiters run GCRA (the generic cell rate algorithm: a token
bucket kept as one number, the "theoretical arrival time", TAT). A slot is granted only at the
moment the caller is about to send, never reserved ahead: a caller told to wait sleeps, then
asks again. Reserving future slots would let a sleeper that wakes late send right on the heels
of the next slot's owner, and a gateway that counts arrivals in a one-second window would see
one request too many.

A grant that comes a little late (a sleeper woke up at most the catch-up late, 5 % of the
interval) keeps the stream's schedule instead of pushing every later slot back, so ordinary
wake-up latency costs no throughput; a longer gap restarts the schedule. Either way any
``n + 1`` consecutive grants span at least ``(n - 0.05) / rate`` seconds: at 97 % of a 10 req/s
budget, 11 grants span at least 1.026 s, so no one-second window at the gateway holds 11 unless
a request takes 26 ms longer than the one ten before it to get from our grant to the gateway.

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
"""A caller that has waited this long for a slot gives up (a retriable error)."""

KEY_PREFIX = "rbsync:ratelimit:"

_EPSILON = 1e-9
"""Waits shorter than this are float noise (``1000.3 - 1000.2 - 0.1``), not a wait."""

CATCH_UP_FRACTION = 0.05
"""How late (as a fraction of the interval) a grant may come and still keep the schedule.

Larger values turn more wake-up latency into throughput but leave less margin for jitter
between our grant and the gateway's clock: measured on a loaded 2-core box, 0.2 and 0.1 drew
one 429 in 60 s, 0.05 none (docs/benchmarks.md)."""


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
    """The parameters of one bucket and the waiting loop, shared by both implementations."""

    def __init__(
        self,
        rate: float,
        burst: int,
        max_wait: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 requests/s, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self.interval = 1.0 / rate
        self.tolerance = (burst - 1) * self.interval
        self.catch_up = CATCH_UP_FRACTION * self.interval
        self.max_wait = max_wait
        self.clock = clock
        self.sleep = sleep

    def acquire(self, try_acquire: Callable[[], float]) -> None:
        """Ask for a slot until granted; sleep the wait the limiter names between asks."""
        deadline = self.clock() + self.max_wait
        while (wait := try_acquire()) > 0:
            if self.clock() + wait > deadline:
                raise SlotUnavailableError(f"no slot within {self.max_wait:.1f} s")
            self.sleep(wait)


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
        self._gcra = _Gcra(rate, burst, max_wait, clock, sleep)
        self._lock = threading.Lock()
        self._tat = 0.0

    def try_acquire(self) -> float:
        """Take a slot now and return 0, or return the seconds until one may be free."""
        gcra = self._gcra
        with self._lock:
            now = gcra.clock()
            wait = self._tat - gcra.tolerance - now
            if wait > _EPSILON:
                return wait
            self._tat = max(self._tat, now - gcra.catch_up) + gcra.interval
            return 0.0

    def acquire(self) -> None:
        self._gcra.acquire(self.try_acquire)


# KEYS[1] the bucket; ARGV: interval, tolerance, catch-up (microseconds). Returns 0 when a slot
# was taken, else the microseconds until one may be free (nothing taken). Redis's TIME is the
# clock, so machines with skewed clocks still share one budget.
_GCRA_LUA = """
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local catch_up = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local wait = tat - tolerance - now
if wait > 0 then return wait end
if tat < now - catch_up then tat = now - catch_up end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX',
           math.floor((new_tat - now) / 1000) + 1000)
return 0
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
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._gcra = _Gcra(rate, burst, max_wait, clock, sleep)
        self._key = KEY_PREFIX + bucket
        self._script = client.register_script(_GCRA_LUA)

    def try_acquire(self) -> float:
        """Take a slot of the shared bucket now and return 0, or the seconds until one may be."""
        gcra = self._gcra
        args = [
            round(gcra.interval * 1e6),
            round(gcra.tolerance * 1e6),
            round(gcra.catch_up * 1e6),
        ]
        try:
            micros = int(self._script(keys=[self._key], args=args))
        except redis.RedisError as exc:
            raise SlotUnavailableError(
                f"shared rate limiter unavailable: {type(exc).__name__}"
            ) from exc
        return micros / 1e6

    def acquire(self) -> None:
        self._gcra.acquire(self.try_acquire)

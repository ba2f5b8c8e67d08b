"""Fair-share rate limiting: one budget, many flows, slots handed out in a fair order.

One PowerOffice Go subscription key serves many connections (a *flow* is one connection), and
its budget is shared by all of them. :mod:`clients.ratelimit` keeps the budget but serves
whoever asks first after a slot frees, so a connection pushing 20,000 entities through eight
threads takes nearly every slot, and a connection that needs one request every few seconds
waits behind it. The limiters here keep the *same* global GCRA as
:class:`clients.ratelimit.RedisRateLimiter` (the theoretical arrival time, a grant only at
the moment the caller is about to send, never reserved ahead; the same catch-up rule, so any
``n + 1`` consecutive grants still span at least ``(n - 0.05) / rate`` seconds) and add one
question when a slot is free: *is it this flow's turn?*

The order: start-time fair queueing (SFQ)
-----------------------------------------

Each flow has a virtual start tag, the budget a virtual time ``V``. A flow that starts waiting
gets ``tag = max(V, tag)`` (a flow that was idle starts at the present, with no credit saved
up, and a flow that was just served cannot skip the queue by going idle for a moment). A grant
to a flow sets ``V = tag`` and advances ``tag`` by ``1 / weight``. A free slot goes to the
waiting flow with the lowest tag; flows that tie may each take it (whoever asks first). (A
grant out of turn, after a grace ran out, below, advances the taker's tag but leaves ``V``.)

Why SFQ and not deficit round robin: with unit-cost requests DRR is a round robin, and a flow
that becomes active joins the *end* of the round, so with 20 connections a light one would wait
up to 20 slots (2 s). Under SFQ a flow that becomes active starts at ``V``, the lowest tag
there can be, so a light flow is served at the next free slot (or the one after, when several
light flows arrive together), within one or two slot intervals; backlogged flows share in
proportion to their weights (two flows: 50/50); and a flow alone has the lowest tag, so it
gets every slot (work conserving). SFQ needs only the tags and ``V``: no per-request queue,
which a polling limiter (callers sleep and ask again) could not keep anyway.

Polling and grace
-----------------

Callers are not queued: a caller told to wait sleeps and asks again, as with the plain
limiter. When a flow with a lower tag is waiting, a caller of another flow is told to come back
a *grace* (:data:`GRACE_FRACTION`, a fifth of an interval) after the slot frees, so the flow
whose turn it is has the slot to itself for that long. If its waiter has not asked within the
grace (it woke late, or it died), the slot goes to whoever asks then, and the skipped flow keeps
its tag (the next slot is kept for it again). So a late or dead waiter costs the others at most
a grace per slot, never the slot, and whoever waits gets its turn within one or two slots
unless it keeps waking later than the grace.

Waiter registrations
--------------------

"Is the flow with the lower tag still waiting?" is answered by registrations: every waiting
``acquire()`` call holds one (a random id) that expires :data:`REGISTRATION_SECONDS` after its
latest ask; the caller asks again at least every :data:`MAX_POLL_SECONDS`, and the grant or a
give-up removes it. A process killed while waiting leaves a registration that lapses within a
second; until then its flow's turn costs the others a grace per slot (above).

Homes
-----

- :class:`InProcessFairShareLimiter`: for the threads of one process (embedded mode).
- :class:`RedisFairShareLimiter`: the same arithmetic in one Lua script on Redis's clock, shared
  by every process and machine that names the same bucket. Three keys per bucket, all under
  ``rbsync:ratelimit:fair:{<bucket>}:`` (a hash tag: one Redis Cluster slot); flows appear in
  them only as ``sha256(name)[:16]``, so no connection name (or secret) reaches Redis.

Both hand out one :class:`FlowLimiter` per flow (``budget.flow(name)``), a
:class:`clients.ratelimit.RateLimiter`: it goes wherever a limiter does (``build_http_client(
limiter=...)``), and the transport reports its waits to the observer as it does for any
limiter.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import redis

from clients.ratelimit import (
    CATCH_UP_FRACTION,
    DEFAULT_MAX_WAIT_SECONDS,
    KEY_PREFIX,
    SlotUnavailableError,
)

__all__ = [
    "GRACE_FRACTION",
    "MAX_POLL_SECONDS",
    "REGISTRATION_SECONDS",
    "FairShareLimiter",
    "FlowLimiter",
    "InProcessFairShareLimiter",
    "RedisFairShareLimiter",
    "flow_key",
]

GRACE_FRACTION = 0.2
"""How long (a fraction of the interval) a free slot is kept for the flow whose turn it is.

A trade: the waiter whose turn it is must wake within it, or another flow takes the slot (the
late flow gets the next one); the grant after a grace that ran out is late by the grace, so it
restarts the schedule and loses the grace minus the catch-up. That is rare, so a longer grace
costs little throughput and buys fairness on a loaded machine: in the bench (2 cores, load 4-5)
light flows' wait p95 was 7.0 slot intervals at 0.025 and 3.4 at 0.2, both at 9.53 grants/s
(docs/benchmarks.md)."""

REGISTRATION_SECONDS = 1.0
"""A waiter's registration lapses this long after its latest ask (a killed waiter's too)."""

MAX_POLL_SECONDS = 0.25
"""A waiter asks again at least this often, renewing its registration well before it lapses."""

_EPSILON = 1e-9

KEY_IDLE_SECONDS = 60.0
"""The budget's keys outlive its latest ask by this much (plus the schedule ahead)."""


def flow_key(name: str) -> str:
    """The flow's name in keys and registrations: a hash, so a connection name never shows."""
    return hashlib.sha256(name.encode()).hexdigest()[:16]


class FairShareLimiter(Protocol):
    """One budget shared fairly by flows; ``flow(name)`` is a flow's own limiter."""

    def flow(self, name: str, *, weight: float = 1.0) -> FlowLimiter: ...

    def waiting(self, name: str) -> int:
        """How many live waiter registrations the flow holds now (for tests and diagnostics)."""
        ...


@dataclass(frozen=True)
class _Params:
    interval: float
    tolerance: float
    catch_up: float
    grace: float
    max_wait: float

    @classmethod
    def of(cls, rate: float, burst: int, max_wait: float, grace: float) -> _Params:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 requests/s, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        if not 0 <= grace < 1:
            raise ValueError(f"grace must be a fraction of the interval in [0, 1), got {grace}")
        interval = 1.0 / rate
        return cls(
            interval=interval,
            tolerance=(burst - 1) * interval,
            catch_up=CATCH_UP_FRACTION * interval,
            grace=grace * interval,
            max_wait=max_wait,
        )


class _Backend(Protocol):
    def ask(self, flow: str, waiter: str, weight: float) -> float: ...

    def leave(self, flow: str, waiter: str) -> None: ...


class FlowLimiter:
    """One flow's view of a shared budget: a :class:`clients.ratelimit.RateLimiter`."""

    def __init__(
        self,
        backend: _Backend,
        name: str,
        *,
        weight: float,
        max_wait: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        if weight <= 0:
            raise ValueError(f"weight must be > 0, got {weight}")
        self._backend = backend
        self._flow = flow_key(name)
        self._weight = weight
        self._max_wait = max_wait
        self._clock = clock
        self._sleep = sleep

    def try_acquire(self, waiter: str) -> float:
        """Take a slot now and return 0, or register ``waiter`` (one waiting call's id) as
        waiting and return the seconds until it should ask again (nothing is taken)."""
        return self._backend.ask(self._flow, waiter, self._weight)

    def leave(self, waiter: str) -> None:
        """Drop ``waiter``'s registration (it stopped waiting without a slot)."""
        self._backend.leave(self._flow, waiter)

    def acquire(self) -> None:
        """Wait for this flow's fair turn at a slot of the shared budget."""
        waiter = os.urandom(8).hex()
        deadline = self._clock() + self._max_wait
        try:
            while (wait := self.try_acquire(waiter)) > 0:
                if self._clock() + wait > deadline:
                    raise SlotUnavailableError(f"no slot within {self._max_wait:.1f} s")
                self._sleep(min(wait, MAX_POLL_SECONDS))
        except BaseException:
            # Gave up (or was interrupted): drop the registration now rather than let it lapse.
            self.leave(waiter)
            raise


# --- in process -------------------------------------------------------------------------


@dataclass
class _State:
    """The budget's state; the Lua script keeps the same fields in Redis."""

    tat: float = 0.0
    vtime: float = 0.0
    tags: dict[str, float] = field(default_factory=dict)
    waiters: dict[tuple[str, str], float] = field(default_factory=dict)  # -> expiry
    counts: dict[str, int] = field(default_factory=dict)


class _InProcessBackend:
    def __init__(self, params: _Params, clock: Callable[[], float]) -> None:
        self.params = params
        self.clock = clock
        self.lock = threading.Lock()
        self.state = _State()

    def _drop(self, flow: str, waiter: str) -> None:
        state = self.state
        if state.waiters.pop((flow, waiter), None) is not None:
            left = state.counts.get(flow, 0) - 1
            if left > 0:
                state.counts[flow] = left
            else:
                state.counts.pop(flow, None)

    def _purge(self, now: float) -> None:
        state = self.state
        for flow, waiter in [key for key, expiry in state.waiters.items() if expiry <= now]:
            self._drop(flow, waiter)
        # A tag below V is worth V: forget it (the Lua script does the same).
        for name in [name for name, tag in state.tags.items() if tag < state.vtime]:
            del state.tags[name]

    def ask(self, flow: str, waiter: str, weight: float) -> float:
        p = self.params
        with self.lock:
            now = self.clock()
            state = self.state
            self._purge(now)
            mine = max(state.vtime, state.tags.get(flow, state.vtime))
            lower = any(
                tag < mine and other != flow and state.counts.get(other, 0) > 0
                for other, tag in state.tags.items()
            )
            # _EPSILON: a caller that slept exactly the wait it was told is on time, float noise
            # (``1000.3 - 1000.2 - 0.1``) notwithstanding.
            free_at = state.tat - p.tolerance - _EPSILON
            if now >= free_at:
                if not lower or now >= free_at + p.grace:
                    state.tat = max(state.tat, now - p.catch_up) + p.interval
                    if not lower:
                        state.vtime = mine
                    state.tags[flow] = mine + 1.0 / weight
                    self._drop(flow, waiter)
                    return 0.0
                wait = free_at + p.grace - now
            else:
                wait = free_at - now + (p.grace if lower else 0.0)
            if (flow, waiter) not in state.waiters:
                state.counts[flow] = state.counts.get(flow, 0) + 1
            state.waiters[(flow, waiter)] = now + REGISTRATION_SECONDS
            state.tags[flow] = mine
            return wait

    def leave(self, flow: str, waiter: str) -> None:
        with self.lock:
            self._drop(flow, waiter)

    def waiting(self, flow: str) -> int:
        with self.lock:
            self._purge(self.clock())
            return self.state.counts.get(flow, 0)


class InProcessFairShareLimiter:
    """A fair-share budget for the threads of one process (embedded mode)."""

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        max_wait: float = DEFAULT_MAX_WAIT_SECONDS,
        grace: float = GRACE_FRACTION,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._backend = _InProcessBackend(_Params.of(rate, burst, max_wait, grace), clock)
        self._clock = clock
        self._sleep = sleep

    def flow(self, name: str, *, weight: float = 1.0) -> FlowLimiter:
        """The limiter of flow ``name`` (a connection's name); ``weight`` its relative share."""
        max_wait = self._backend.params.max_wait
        return FlowLimiter(
            self._backend,
            name,
            weight=weight,
            max_wait=max_wait,
            clock=self._clock,
            sleep=self._sleep,
        )

    def waiting(self, name: str) -> int:
        return self._backend.waiting(flow_key(name))


# --- Redis ------------------------------------------------------------------------------

# KEYS: [1] state hash (tat, v, n:<flow> = live registrations), [2] tags zset (flow -> start
# tag), [3] waiters zset (<flow>|<waiter> -> expiry). ARGV: [1] op ("ask", "leave", "count"),
# [2] flow, [3] waiter, [4] weight, then microseconds: [5] interval, [6] tolerance,
# [7] catch-up, [8] grace, [9] registration, [10] key idle time. "ask" returns 0 when the
# slot was taken, else the microseconds to wait (nothing taken); "count" the flow's live
# registrations. Redis's TIME is the clock, so machines with skewed clocks share one budget.
_FAIR_LUA = """
local state, tags, waiters = KEYS[1], KEYS[2], KEYS[3]
local op, flow, waiter = ARGV[1], ARGV[2], ARGV[3]
local member = flow .. '|' .. waiter
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local function drop(m)
  if redis.call('ZREM', waiters, m) == 1 then
    local f = string.match(m, '^([^|]+)|')
    if redis.call('HINCRBY', state, 'n:' .. f, -1) <= 0 then
      redis.call('HDEL', state, 'n:' .. f)
    end
  end
end

local function live(f)
  return tonumber(redis.call('HGET', state, 'n:' .. f) or '0') > 0
end

local lapsed = redis.call('ZRANGEBYSCORE', waiters, '-inf', string.format('%d', now))
for _, m in ipairs(lapsed) do drop(m) end

if op == 'leave' then drop(member) return 0 end
if op == 'count' then return tonumber(redis.call('HGET', state, 'n:' .. flow) or '0') end

local weight = tonumber(ARGV[4])
local interval, tolerance = tonumber(ARGV[5]), tonumber(ARGV[6])
local catch_up, grace = tonumber(ARGV[7]), tonumber(ARGV[8])
local registration, idle = tonumber(ARGV[9]), tonumber(ARGV[10])

local tat = tonumber(redis.call('HGET', state, 'tat') or '0')
local v = tonumber(redis.call('HGET', state, 'v') or '0')
-- a tag below V is worth V: forget it
redis.call('ZREMRANGEBYSCORE', tags, '-inf', '(' .. string.format('%.17g', v))
local mine = tonumber(redis.call('ZSCORE', tags, flow) or v)
if mine < v then mine = v end
local lower = false
local below = redis.call('ZRANGEBYSCORE', tags, '-inf', '(' .. string.format('%.17g', mine))
for _, f in ipairs(below) do
  if f ~= flow and live(f) then lower = true break end
end

local function keep()
  local ttl = string.format('%d', math.floor(math.max(tat - now, 0) / 1000) + idle)
  redis.call('PEXPIRE', state, ttl)
  redis.call('PEXPIRE', tags, ttl)
  redis.call('PEXPIRE', waiters, ttl)
end

local free_at = tat - tolerance
local wait
if now >= free_at then
  if (not lower) or now >= free_at + grace then
    if tat < now - catch_up then tat = now - catch_up end
    tat = tat + interval
    if not lower then v = mine end
    redis.call('HSET', state, 'tat', string.format('%d', tat), 'v', string.format('%.17g', v))
    redis.call('ZADD', tags, string.format('%.17g', mine + 1 / weight), flow)
    drop(member)
    keep()
    return 0
  end
  wait = free_at + grace - now
else
  wait = free_at - now
  if lower then wait = wait + grace end
end
if redis.call('ZADD', waiters, string.format('%d', now + registration), member) == 1 then
  redis.call('HINCRBY', state, 'n:' .. flow, 1)
end
redis.call('ZADD', tags, string.format('%.17g', mine), flow)
keep()
return math.max(1, math.ceil(wait))
"""


class _RedisBackend:
    def __init__(self, client: redis.Redis, bucket: str, params: _Params) -> None:
        base = f"{KEY_PREFIX}fair:{{{bucket}}}:"
        self.keys = [base + "state", base + "tags", base + "waiters"]
        self.params = params
        self.script = client.register_script(_FAIR_LUA)
        p = params
        self.micros = [
            round(p.interval * 1e6),
            round(p.tolerance * 1e6),
            round(p.catch_up * 1e6),
            round(p.grace * 1e6),
            round(REGISTRATION_SECONDS * 1e6),
            round(KEY_IDLE_SECONDS * 1e3),  # milliseconds: a PEXPIRE argument
        ]

    def _run(self, op: str, flow: str, waiter: str, weight: float) -> int:
        try:
            return int(self.script(keys=self.keys, args=[op, flow, waiter, weight, *self.micros]))
        except redis.RedisError as exc:
            raise SlotUnavailableError(
                f"shared rate limiter unavailable: {type(exc).__name__}"
            ) from exc

    def ask(self, flow: str, waiter: str, weight: float) -> float:
        return self._run("ask", flow, waiter, weight) / 1e6

    def leave(self, flow: str, waiter: str) -> None:
        # Redis unreachable: the registration lapses on its own within REGISTRATION_SECONDS.
        with contextlib.suppress(SlotUnavailableError):
            self._run("leave", flow, waiter, 1.0)

    def waiting(self, flow: str) -> int:
        return self._run("count", flow, "-", 1.0)


class RedisFairShareLimiter:
    """A fair-share budget in Redis, shared by every process that names the same bucket.

    ``bucket`` comes from :func:`clients.ratelimit.credential_bucket` (never the credential);
    ``rate`` is the whole budget's, headroom applied, as for
    :class:`clients.ratelimit.RedisRateLimiter`.
    """

    def __init__(
        self,
        client: redis.Redis,
        bucket: str,
        rate: float,
        *,
        burst: int = 1,
        max_wait: float = DEFAULT_MAX_WAIT_SECONDS,
        grace: float = GRACE_FRACTION,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._backend = _RedisBackend(client, bucket, _Params.of(rate, burst, max_wait, grace))
        self._clock = clock
        self._sleep = sleep

    def flow(self, name: str, *, weight: float = 1.0) -> FlowLimiter:
        """The limiter of flow ``name`` (a connection's name); ``weight`` its relative share."""
        max_wait = self._backend.params.max_wait
        return FlowLimiter(
            self._backend,
            name,
            weight=weight,
            max_wait=max_wait,
            clock=self._clock,
            sleep=self._sleep,
        )

    def waiting(self, name: str) -> int:
        return self._backend.waiting(flow_key(name))

"""The PowerOffice Go access-token cache: renewed before expiry, shared by the fleet.

PowerOffice Go has no refresh token: a new access token is a new client-credentials request,
and those count against the same 10 requests/s as everything else. So a token is fetched once
per expiry period for *all* worker processes:

- :class:`InProcessTokenCache`: one token per process, guarded by a lock (embedded mode).
- :class:`RedisTokenCache`: the token lives in a Redis hash; the process that first finds it due
  for renewal takes a short Redis lock and fetches; the others keep using the still-valid old
  token meanwhile (or wait briefly when there is none). Each process also keeps a local copy, so
  Redis is read only around renewals, not on every request.

A token is due for renewal ``refresh_margin(expires_in)`` seconds before it expires (at most
:data:`REFRESH_MARGIN_SECONDS`, at most a fifth of its lifetime). :meth:`TokenCache.invalidate`
drops a token the API refused (401), but only if it is still the cached one, so a fresher token
another process just stored survives.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import redis

from clients.errors import TokenUnavailableError

__all__ = [
    "REFRESH_MARGIN_SECONDS",
    "AccessToken",
    "InProcessTokenCache",
    "RedisTokenCache",
    "TokenCache",
    "TokenFetcher",
    "refresh_margin",
    "token_cache_key",
]

REFRESH_MARGIN_SECONDS = 120.0
EXPIRY_SAFETY_SECONDS = 5.0
"""A token this close to its expiry is not handed out, even while another process renews."""

KEY_PREFIX = "rbsync:poweroffice:token:"

TokenFetcher = Callable[[], tuple[str, float]]
"""Fetches a new token from the API: returns ``(access_token, expires_in_seconds)``."""


def refresh_margin(expires_in: float) -> float:
    """How long before expiry a token of this lifetime is renewed."""
    return min(REFRESH_MARGIN_SECONDS, expires_in / 5)


def token_cache_key(application_key: str, client_key: str) -> str:
    """The Redis key of one integration + client's token; reveals neither key."""
    digest = hashlib.sha256(f"{application_key}:{client_key}".encode()).hexdigest()[:16]
    return KEY_PREFIX + digest


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and when it expires / is due for renewal (wall-clock seconds)."""

    value: str = field(repr=False)
    expires_at: float
    refresh_at: float

    @classmethod
    def issued(cls, value: str, expires_in: float, *, at: float) -> AccessToken:
        return cls(value, at + expires_in, at + expires_in - refresh_margin(expires_in))

    def fresh(self, now: float) -> bool:
        """Not yet due for renewal."""
        return now < self.refresh_at

    def usable(self, now: float) -> bool:
        """Still accepted by the API for a while (used while another process renews)."""
        return now < self.expires_at - EXPIRY_SAFETY_SECONDS


class TokenCache(Protocol):
    """Where the current access token lives."""

    def get(self, fetch: TokenFetcher) -> str:
        """A token valid for a while yet, fetching a new one when due."""
        ...

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (the API refused it), unless a newer one replaced it already."""
        ...


class InProcessTokenCache:
    """One token per process; the first thread to find it due fetches, the others wait."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._token: AccessToken | None = None

    def get(self, fetch: TokenFetcher) -> str:
        with self._lock:
            token = self._token
            if token is not None and token.fresh(self._clock()):
                return token.value
            started = self._clock()
            value, expires_in = fetch()
            self._token = AccessToken.issued(value, expires_in, at=started)
            return value

    def invalidate(self, token: str) -> None:
        with self._lock:
            if self._token is not None and self._token.value == token:
                self._token = None


# KEYS[1] the token hash; ARGV[1] the refused token. Deletes only if it is still the cached one.
_INVALIDATE_LUA = """
if redis.call('HGET', KEYS[1], 'value') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1] the lock; ARGV[1] the holder's id. Releases only a lock we still hold.
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisTokenCache:
    """The fleet's token in Redis; one fetch per expiry period for every process together."""

    def __init__(
        self,
        client: redis.Redis,
        key: str,
        *,
        lock_seconds: float = 30.0,
        wait_seconds: float = 15.0,
        poll_seconds: float = 0.05,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._redis = client
        self._key = key
        self._lock_key = key + ":lock"
        self._lock_ms = int(lock_seconds * 1000)
        self._wait_seconds = wait_seconds
        self._poll_seconds = poll_seconds
        self._clock = clock
        self._sleep = sleep
        self._invalidate = client.register_script(_INVALIDATE_LUA)
        self._release = client.register_script(_RELEASE_LUA)
        self._local: AccessToken | None = None
        self._local_lock = threading.Lock()

    def get(self, fetch: TokenFetcher) -> str:
        with self._local_lock:
            local = self._local
            if local is not None and local.fresh(self._clock()):
                return local.value
            token = self._obtain(fetch)
            self._local = token
            return token.value

    def invalidate(self, token: str) -> None:
        with self._local_lock:
            if self._local is not None and self._local.value == token:
                self._local = None
        self._invalidate(keys=[self._key], args=[token])

    def _read(self) -> AccessToken | None:
        raw = {_text(k): _text(v) for k, v in self._redis.hgetall(self._key).items()}
        try:
            return AccessToken(raw["value"], float(raw["expires_at"]), float(raw["refresh_at"]))
        except (KeyError, ValueError):
            return None

    def _obtain(self, fetch: TokenFetcher) -> AccessToken:
        deadline = self._clock() + self._wait_seconds
        while True:
            now = self._clock()
            shared = self._read()
            if shared is not None and shared.fresh(now):
                return shared
            holder = uuid.uuid4().hex
            if self._redis.set(self._lock_key, holder, nx=True, px=self._lock_ms):
                try:
                    return self._renew(fetch)
                finally:
                    self._release(keys=[self._lock_key], args=[holder])
            # Another process is renewing: the old token still works meanwhile.
            if shared is not None and shared.usable(now):
                return shared
            if now >= deadline:
                raise TokenUnavailableError(
                    "another process is renewing the access token and it did not appear in time",
                    method="POST",
                    path="OAuth/Token",
                )
            self._sleep(self._poll_seconds)

    def _renew(self, fetch: TokenFetcher) -> AccessToken:
        # Checked again under the lock: the previous holder may have just stored a new token.
        shared = self._read()
        if shared is not None and shared.fresh(self._clock()):
            return shared
        started = self._clock()
        value, expires_in = fetch()
        token = AccessToken.issued(value, expires_in, at=started)
        ttl_ms = max(1, int((token.expires_at - self._clock()) * 1000))
        pipe = self._redis.pipeline()
        pipe.delete(self._key)
        pipe.hset(
            self._key,
            mapping={
                "value": token.value,
                "expires_at": repr(token.expires_at),
                "refresh_at": repr(token.refresh_at),
            },
        )
        pipe.pexpire(self._key, ttl_ms)
        pipe.execute()
        return token

"""rbsync clients: the only code that speaks HTTP (Rackbeat and PowerOffice Go).

``RackbeatClient`` and ``PowerOfficeClient`` run on an injected ``httpx.Client`` (built by
:func:`build_http_client`); failures arrive as the error tree of :mod:`clients.errors`; the
retry policy, rate limiters and token caches are separate, swappable pieces.
"""

from __future__ import annotations

from clients.errors import (
    AmbiguousWriteError,
    AuthenticationError,
    ClientError,
    InvalidRequestError,
    MalformedResponseError,
    NetworkError,
    NotFoundError,
    PermanentError,
    RateLimitedError,
    RateLimitWaitError,
    RetriableError,
    ServerError,
    TokenUnavailableError,
    UnexpectedStatusError,
)
from clients.fairshare import (
    FairShareLimiter,
    FlowLimiter,
    InProcessFairShareLimiter,
    RedisFairShareLimiter,
)
from clients.http import build_http_client
from clients.observer import NO_OBSERVER, ApiObserver, NullObserver
from clients.poweroffice import PowerOfficeAuth, PowerOfficeClient
from clients.probes import InProcessProbeStore, ProbeStore, RedisProbeStore
from clients.rackbeat import RackbeatClient, RackbeatResource
from clients.ratelimit import (
    InProcessRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    credential_bucket,
)
from clients.retry import ReplicaLagPolicy, RetryPolicy, set_testing
from clients.tokens import InProcessTokenCache, RedisTokenCache, TokenCache, token_cache_key

__all__ = [
    "NO_OBSERVER",
    "AmbiguousWriteError",
    "ApiObserver",
    "AuthenticationError",
    "ClientError",
    "FairShareLimiter",
    "FlowLimiter",
    "InProcessFairShareLimiter",
    "InProcessProbeStore",
    "InProcessRateLimiter",
    "InProcessTokenCache",
    "InvalidRequestError",
    "MalformedResponseError",
    "NetworkError",
    "NotFoundError",
    "NullObserver",
    "PermanentError",
    "PowerOfficeAuth",
    "PowerOfficeClient",
    "ProbeStore",
    "RackbeatClient",
    "RackbeatResource",
    "RateLimitWaitError",
    "RateLimitedError",
    "RateLimiter",
    "RedisFairShareLimiter",
    "RedisProbeStore",
    "RedisRateLimiter",
    "RedisTokenCache",
    "ReplicaLagPolicy",
    "RetriableError",
    "RetryPolicy",
    "ServerError",
    "TokenCache",
    "TokenUnavailableError",
    "UnexpectedStatusError",
    "build_http_client",
    "credential_bucket",
    "set_testing",
    "token_cache_key",
]

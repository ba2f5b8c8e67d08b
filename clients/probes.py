"""Where the Rackbeat client remembers whether an endpoint honours ``updated_at_from``.

The answer is a property of the Rackbeat deployment, not of one process: kept in Redis it is
probed once per endpoint and expiry period for the whole fleet, so a poll of an unchanged
catalogue costs one request per kind whichever worker runs it. Without Redis (embedded mode)
the wiring hands the client ``ledger.LedgerProbeStore`` (same protocol, kept in the ledger, so
each new ``rbsync sync --once`` process reuses the answers); :class:`InProcessProbeStore` is
for a client built without either.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

import redis

__all__ = ["InProcessProbeStore", "ProbeStore", "RedisProbeStore"]

log = logging.getLogger(__name__)

KEY_PREFIX = "rbsync:rackbeat:filter-probe:"


class ProbeStore(Protocol):
    """Remembered probe answers: ``True`` = the endpoint honours the filter."""

    def get(self, resource: str) -> bool | None:
        """The remembered answer for ``resource``, or None (never probed, or expired)."""
        ...

    def put(self, resource: str, honoured: bool, ttl_seconds: float) -> None:
        """Remember the answer for ``ttl_seconds``."""
        ...


class InProcessProbeStore:
    """Answers kept in this process."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._answers: dict[str, tuple[bool, float]] = {}

    def get(self, resource: str) -> bool | None:
        answer = self._answers.get(resource)
        if answer is None or self._clock() >= answer[1]:
            return None
        return answer[0]

    def put(self, resource: str, honoured: bool, ttl_seconds: float) -> None:
        self._answers[resource] = (honoured, self._clock() + ttl_seconds)


class RedisProbeStore:
    """Answers shared in Redis by every process using the same ``bucket`` (one credential).

    A Redis failure is a miss: the client probes again, which costs one request, never a
    wrong answer.
    """

    def __init__(self, client: redis.Redis, bucket: str) -> None:
        self._redis = client
        self._prefix = f"{KEY_PREFIX}{bucket}:"

    def get(self, resource: str) -> bool | None:
        try:
            value = self._redis.get(self._prefix + resource)
        except redis.RedisError as exc:
            log.debug("filter probe store unavailable: %s", type(exc).__name__)
            return None
        if value is None:
            return None
        return bool(value in (b"1", "1"))

    def put(self, resource: str, honoured: bool, ttl_seconds: float) -> None:
        try:
            self._redis.set(
                self._prefix + resource,
                "1" if honoured else "0",
                px=max(1, int(ttl_seconds * 1000)),
            )
        except redis.RedisError as exc:
            log.debug("filter probe store unavailable: %s", type(exc).__name__)

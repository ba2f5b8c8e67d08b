"""A sliding-window rate limiter shared by both emulators, switchable off at run time.

PowerOffice Go allows 10 requests per second per subscription key (all client keys together);
Rackbeat allows 480 requests per minute per bearer token. Both are "at most ``limit`` requests
in any window of ``period`` seconds" per key, which is what :class:`RateLimiter` enforces. It
returns how long the caller must wait, so each emulator can answer with its own 429 body.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """At most ``limit`` requests per ``period`` seconds per key; thread-safe."""

    def __init__(
        self,
        limit: int,
        period: float,
        *,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or period <= 0:
            raise ValueError(f"rate limit needs limit >= 1 and period > 0, got {limit}/{period}")
        self._lock = threading.Lock()
        self._limit = limit
        self._period = period
        self._enabled = enabled
        self._clock = clock
        self._windows: dict[str, deque[float]] = {}

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def period(self) -> float:
        return self._period

    @property
    def enabled(self) -> bool:
        return self._enabled

    def configure(
        self, *, limit: int | None = None, period: float | None = None, enabled: bool | None = None
    ) -> None:
        """Change the limit, the window or the switch; the windows start afresh."""
        with self._lock:
            new_limit = self._limit if limit is None else limit
            new_period = self._period if period is None else period
            if new_limit < 1 or new_period <= 0:
                raise ValueError(
                    f"rate limit needs limit >= 1 and period > 0, got {new_limit}/{new_period}"
                )
            self._limit, self._period = new_limit, new_period
            if enabled is not None:
                self._enabled = enabled
            self._windows.clear()

    def reset(self) -> None:
        """Forget every request seen so far."""
        with self._lock:
            self._windows.clear()

    def forget(self, key: str) -> None:
        """Forget the requests of one key (a removed or reloaded tenant's)."""
        with self._lock:
            self._windows.pop(key, None)

    def hit(self, key: str) -> float | None:
        """Record one request for ``key``: ``None`` if allowed, else the seconds to wait.

        A refused request is not recorded (the gateway refuses it before it costs anything).
        """
        if not self._enabled:
            return None
        now = self._clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = deque()
            cutoff = now - self._period
            while window and window[0] <= cutoff:
                window.popleft()
            if len(window) < self._limit:
                window.append(now)
                return None
            return max(window[0] + self._period - now, 0.0)

    @staticmethod
    def whole_seconds(wait: float) -> int:
        """A wait as the whole seconds a gateway announces (at least 1)."""
        return max(1, math.ceil(wait))

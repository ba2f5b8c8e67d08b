"""Rackbeat's rate limit: S1's sliding window plus the count left, for ``X-RateLimit-Remaining``."""

from __future__ import annotations

from sandbox.ratelimit import RateLimiter

__all__ = ["TokenRateLimiter"]


class TokenRateLimiter(RateLimiter):
    """:class:`RateLimiter` that can also say how many requests a key has left in its window."""

    def remaining(self, key: str) -> int:
        """Requests ``key`` may still make in the current window (the limit when switched off)."""
        if not self.enabled:
            return self.limit
        cutoff = self._clock() - self.period
        with self._lock:
            window = self._windows.get(key)
            used = sum(1 for stamp in window if stamp > cutoff) if window else 0
        return max(0, self.limit - used)

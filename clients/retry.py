"""The clients' one retry policy: seconds, in-process, over tenacity (tier one of two).

- Only :class:`~clients.errors.RetriableError` is retried: never a bare ``Exception``, never a
  :class:`~clients.errors.PermanentError`, and never an
  :class:`~clients.errors.AmbiguousWriteError` (the caller must look the record up first).
- The wait is the server's own hint when it gave one (``Retry-After``, PowerOffice Go's "Try
  again in N seconds") plus a little jitter; otherwise jittered exponential backoff.
- Bounded twice: at most ``attempts`` tries, and no retry whose wait would end past ``timeout``
  seconds after the first try.
- :func:`set_testing` removes every wait (tests), like stamina's switch.

Longer outages are Celery's business (tier two): the task retries with its own budget.

:class:`ReplicaLagPolicy` is the other, smaller budget: how long a lookup that found nothing
keeps re-reading before it answers "absent", because GETs read a replica that lags writes.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from clients.errors import RetriableError

__all__ = [
    "RETRY_AFTER_JITTER_SECONDS",
    "ReplicaLagPolicy",
    "RetryPolicy",
    "is_testing",
    "set_testing",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_AFTER_JITTER_SECONDS = 0.25
"""Added to a server's wait hint, so that waiting processes do not all come back at once."""

_testing = False


def set_testing(testing: bool) -> None:
    """Turn every retry and replica-lag wait into no wait at all (for tests)."""
    global _testing  # noqa: PLW0603 - one process-wide switch, as in stamina
    _testing = testing


def is_testing() -> bool:
    """Whether :func:`set_testing` removed the waits."""
    return _testing


def _sleep(seconds: float, sleep: Callable[[float], None]) -> None:
    if not _testing and seconds > 0:
        sleep(seconds)


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how long a retriable call is tried again.

    Worst case per call: ``attempts`` tries within ``timeout`` seconds of waiting and sending
    (the defaults: 5 tries, 30 s). Celery multiplies this by its own ``max_retries``.
    """

    attempts: int = 5
    timeout: float = 30.0
    wait_initial: float = 0.5
    wait_max: float = 8.0
    wait_jitter: float = 0.5
    wait_exp_base: float = 2.0
    sleep: Callable[[float], None] = time.sleep

    def wait_for(self, error: BaseException | None, attempt: int) -> float:
        """The wait before try ``attempt + 1`` after ``error`` ended try ``attempt``."""
        if isinstance(error, RetriableError) and error.retry_after is not None:
            return error.retry_after + random.uniform(0, RETRY_AFTER_JITTER_SECONDS)  # noqa: S311 - jitter
        backoff = min(self.wait_max, self.wait_initial * self.wait_exp_base ** (attempt - 1))
        return backoff + random.uniform(0, self.wait_jitter)  # noqa: S311 - jitter

    def call(self, fn: Callable[[], T]) -> T:
        """Call ``fn`` until it returns, raises a non-retriable error, or the budget is spent;
        then the last error is raised as it was."""

        def wait(state: tenacity.RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            return 0.0 if _testing else self.wait_for(error, state.attempt_number)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            upcoming = state.upcoming_sleep
            log.warning(
                "retrying in %.2f s (try %d of %d): %s",
                upcoming,
                state.attempt_number + 1,
                self.attempts,
                error,
            )

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(RetriableError),
            stop=tenacity.stop_after_attempt(self.attempts)
            | tenacity.stop_before_delay(self.timeout),
            wait=wait,
            sleep=lambda seconds: _sleep(seconds, self.sleep),
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(fn)


@dataclass(frozen=True, kw_only=True)
class ReplicaLagPolicy:
    """Re-reads a lookup that found nothing, to see writes the read replica has not yet got.

    PowerOffice Go documents (for v1) a replica "typically under 1 s behind"; the defaults
    re-read 4 times over about 2 s before a lookup answers "absent".
    """

    rereads: int = 4
    wait_seconds: float = 0.5
    sleep: Callable[[float], None] = time.sleep

    @property
    def window_seconds(self) -> float:
        """How long after a write its absence is still re-read: a write that ended longer ago
        than this is visible to a single read."""
        return self.rereads * self.wait_seconds

    def settle_many(
        self, lookup: Callable[[list[str]], dict[str, T]], keys: Sequence[str]
    ) -> dict[str, T]:
        """``lookup(keys)`` for many keys at once, re-reading only the keys still missing:
        one wait for the whole set, not one per key."""
        found = lookup(list(keys))
        for _ in range(self.rereads):
            missing = [key for key in keys if key not in found]
            if not missing:
                break
            _sleep(self.wait_seconds, self.sleep)
            found.update(lookup(missing))
        return found

    def settle(self, lookup: Callable[[], T | None]) -> T | None:
        """``lookup()``, re-read while it returns ``None`` and rereads remain."""
        found = lookup()
        for _ in range(self.rereads):
            if found is not None:
                return found
            _sleep(self.wait_seconds, self.sleep)
            found = lookup()
        return found

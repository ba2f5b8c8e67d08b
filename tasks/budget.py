"""A batch's time, and its sense of whether an API is down (shared with its dependencies)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

__all__ = ["SEND_GRACE", "UNAVAILABLE_AFTER", "Budget", "late"]

UNAVAILABLE_AFTER = 3
"""Entities in a row whose API calls failed retriably, after which a batch starts no more
(see :attr:`Budget.unavailable`). Three: one failure in a burst of faults is common, three in a
row (each after the client's own retries) is an outage."""

SEND_GRACE = 1.5
"""Planned creates are sent until this many times a batch's budget has passed."""


@dataclasses.dataclass
class Budget:
    """A batch's time: its entities start until ``seconds`` (None: no limit) have passed on
    ``clock``, and none after the worker's soft time limit fired in it (``expired``).

    One budget is shared by a batch and the syncs of its dependencies, so that the soft time
    limit, wherever it lands, stops the whole task: what is left is released and handed on,
    well before the hard limit would kill the process with rows still held.
    """

    seconds: float | None = None
    clock: Callable[[], float] = time.monotonic
    started: float = dataclasses.field(init=False)
    expired: bool = False
    failing: int = 0
    """Entities in a row whose API calls failed retriably (the client had already retried)."""
    unavailable: str | None = None
    """Set once :data:`UNAVAILABLE_AFTER` entities in a row failed so: an API is down, and the
    batch's remaining entities are released untouched instead of each waiting out its own
    client retries (a batch of 50 against a dead API would otherwise take minutes)."""

    def __post_init__(self) -> None:
        self.started = self.clock()

    def out_of_time(self, share: float = 1.0) -> bool:
        """Whether ``share`` of the budget has passed (always, once expired)."""
        if self.expired:
            return True
        return self.seconds is not None and self.clock() - self.started > self.seconds * share

    def api_failed(self, exc: BaseException) -> None:
        """An entity's API call failed retriably (after the client's own retries)."""
        self.failing += 1
        if self.failing >= UNAVAILABLE_AFTER:
            self.unavailable = f"{self.failing} entities in a row failed, last: {exc}"

    def api_answered(self) -> None:
        """An entity's API calls got through: whatever failed before was not an outage."""
        self.failing = 0
        self.unavailable = None

    def left(self, at_most: float) -> float:
        """The time left, capped at ``at_most``."""
        if self.seconds is None:
            return at_most
        return min(at_most, max(0.0, self.seconds - (self.clock() - self.started)))


def late(budget: Budget, what: str) -> str:
    """Why an entity was released untouched: the batch's budget, or the soft time limit."""
    if budget.expired:
        return f"{what} before the task's soft time limit"
    return f"{what} within the batch's time budget"

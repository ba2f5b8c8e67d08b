"""Errors raised by rbsync's tasks after the ledger recorded the outcome.

So that the Celery task state says what the ledger says (:class:`EntityFailedError`,
:class:`BatchFailedError`, :class:`NotInRackbeatError`): Flower lists the task under *Failed*,
``sync --once`` counts it. Their arguments are plain strings and lists, so that they pickle as
they are (Celery wraps an exception that does not in ``UnpickleableExceptionWrapper``) and their
``repr`` -- what a ``task-failed`` event carries to Flower -- is an exact Python literal that
Flower's Retry button reads back (``worker.flower.retry``). The errors raised *inside* a sync
and sorted into a ledger status live with the kinds (``kinds.errors``); the clients' error tree
in ``clients.errors``.
"""

from __future__ import annotations

__all__ = [
    "TASK_FAILURES",
    "BatchFailedError",
    "EntityFailedError",
    "NotInRackbeatError",
]


class EntityFailedError(Exception):
    """The entity of an ``rbsync.sync`` task ended ``failed`` or ``dead`` in the ledger.

    ``EntityFailedError(kind, key, status, reason)``; ``str()`` reads ``kind key: status:
    reason``. The reason is the ledger's ``last_error``, which never holds a secret.
    """

    def __init__(self, kind: str, key: str, status: str, reason: str) -> None:
        super().__init__(kind, key, status, reason)
        self.kind, self.key, self.status, self.reason = kind, key, status, reason

    def __str__(self) -> str:
        return f"{self.kind} {self.key}: {self.status}: {self.reason}"


class BatchFailedError(Exception):
    """Entities of an ``rbsync.sync_batch`` task ended ``failed``/``dead`` (``keys``).

    ``BatchFailedError(kind, keys, reason)``: ``keys`` are exactly the entities that need a
    human (Flower's Retry re-drives those); ``reason`` names the first few with their causes.
    The batch's other entities were recorded as usual.
    """

    def __init__(self, kind: str, keys: list[str], reason: str) -> None:
        super().__init__(kind, list(keys), reason)
        self.kind, self.keys, self.reason = kind, list(keys), reason

    def __str__(self) -> str:
        return f"{len(self.keys)} {self.kind} entit{'y' if len(self.keys) == 1 else 'ies'} " + (
            f"need a human: {self.reason}"
        )


class NotInRackbeatError(Exception):
    """A sync (a manual enqueue) named a key Rackbeat does not have; no ledger row was made.

    ``NotInRackbeatError(kind, key)``. Nothing to retry: Flower offers no Retry for it.
    """

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(kind, key)
        self.kind, self.key = kind, key

    def __str__(self) -> str:
        return f"{self.kind} {self.key}: not in Rackbeat"


TASK_FAILURES = (EntityFailedError, BatchFailedError, NotInRackbeatError)
"""The expected failures of rbsync's tasks: Celery logs them in one line, no traceback."""

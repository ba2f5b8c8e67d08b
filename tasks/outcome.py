"""What one sync attempt did (:class:`SyncResult`), and how its outcome reaches the ledger:
at once for one entity, or with the rest of its batch (:func:`write_outcomes`)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import redis
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import OperationalError

from clients import RetriableError
from clients.ratelimit import SlotUnavailableError
from kinds.errors import DependencyPendingError, LockTimeoutError
from ledger import Finish, RowOutcome, Status, end_attempts, finish_many, record_intents
from tasks.leases import LeaseLostError
from wiring import metrics
from wiring.runtime import Runtime

if TYPE_CHECKING:
    from tasks.recording import Recorder

__all__ = [
    "PLANNED",
    "RETRIABLE",
    "BookedOutcome",
    "Outcome",
    "RetryLaterError",
    "SyncResult",
    "warning_json",
    "write_outcomes",
]

log = logging.getLogger(__name__)

RETRIABLE = (
    RetriableError,
    DependencyPendingError,
    LockTimeoutError,
    SlotUnavailableError,
    SoftTimeLimitExceeded,
    OperationalError,
    LeaseLostError,
    redis.ConnectionError,
    redis.TimeoutError,
)
"""Errors after which the same sync may simply run again later. Redis unreachable (a shared
lock, the token cache) is an outage, not the record's fault: before, a Redis restart turned
the entities that touched a lock during it into ``failed`` rows ("internal error")."""


class Outcome:
    """What one sync attempt did (the attempt row's ``outcome``)."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    LINKED = "linked"
    SKIPPED = "skipped"
    FAILED = "failed"
    UNKNOWN = "unknown"
    RETRY = "retry"
    DEAD = "dead"
    BUSY = "busy"
    MISSING = "missing"


@dataclasses.dataclass(frozen=True)
class SyncResult:
    """The result of :func:`sync_entity`, as plain values (also the task's JSON result)."""

    kind: str
    key: str
    outcome: str
    status: str | None
    remote_id: str | None = None
    error: str | None = None
    http_status: int | None = None
    retry: bool = False
    retry_after: float | None = None
    reopened: bool = False
    waiting: bool = False
    """Retriable only because a dependency has not settled yet (it has attempts of its own):
    the task does not charge this attempt to the entity's retry budget."""

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object."""
        return dataclasses.asdict(self)


class RetryLaterError(Exception):
    """Leave the row retriable (``status``) and tell the task to retry."""

    def __init__(self, status: Status, error: BaseException) -> None:
        self.status = status
        self.error = error
        super().__init__(str(error))


PLANNED = SyncResult("", "", "planned", None)
"""Returned by a batched run whose create waits for its intent to be committed."""


@dataclasses.dataclass
class BookedOutcome:
    """One row's outcome, to be written (at once, or with the rest of its batch): what the
    ledger row gets (``row``), and what the attempt row and the caller get."""

    run: Recorder
    row: RowOutcome
    outcome: str
    http_status: int | None = None
    retry: bool = False
    retry_after: float | None = None
    waiting: bool = False

    def result(self, done: Finish | None) -> SyncResult:
        run, row = self.run, self.row
        if done is None:
            log.warning(
                "%s %s: claim lost before the outcome %s was recorded",
                run.kind,
                run.key,
                self.outcome,
            )
            return SyncResult(
                run.kind, run.key, self.outcome, None, row.remote_id, row.error, self.http_status
            )
        return SyncResult(
            run.kind,
            run.key,
            self.outcome,
            done.status.value,
            row.remote_id or run.link.remote_id,
            row.error,
            self.http_status,
            retry=self.retry,
            retry_after=self.retry_after,
            reopened=done.reopened,
            waiting=self.waiting,
        )


def write_outcomes(runtime: Runtime, outcomes: Sequence[BookedOutcome]) -> list[SyncResult]:
    """Write the outcomes and their attempt rows in one transaction.

    The remote id lands on the row itself; dependants look there (and in the bulk indexes), so
    there is no second copy to keep in step.
    """
    if not outcomes:
        return []
    restored = {o.run.link.id: o.run.link.intent for o in outcomes if o.run.restore_intent}
    with runtime.begin() as conn:
        if restored:
            record_intents(conn, outcomes[0].run.token, restored, strict=False)
        done = finish_many(conn, [o.row for o in outcomes])
        end_attempts(
            conn,
            [
                {
                    "attempt_id": o.run.attempt_id,
                    "outcome": o.outcome,
                    "http_status": o.http_status,
                    "error": o.row.error,
                }
                for o in outcomes
            ],
        )
    results = [o.result(d) for o, d in zip(outcomes, done, strict=True)]
    for booked, result in zip(outcomes, results, strict=True):
        _log_outcome(booked, result)
    return results


def _log_outcome(booked: BookedOutcome, result: SyncResult) -> None:
    """One line per recorded attempt, at INFO, carrying the entity's fields for
    ``RBSYNC_LOG_FORMAT=json``; the text form reads ``product 10001: created``. (INFO even for
    a failure: the CLI reports failed entities itself, and the worker logs at INFO.) The same
    attempt counts once in ``rbsync_syncs_total`` (``wiring.metrics``)."""
    run = booked.run
    metrics.count_sync(run.kind, result.outcome)
    log.info(
        "%s %s: %s%s",
        run.kind,
        run.key,
        result.outcome,
        f" ({result.error})" if result.error else "",
        extra={
            "kind": run.kind,
            "key": run.key,
            "attempt": run.link.attempts,
            "outcome": result.outcome,
            "status": result.status,
            "http_status": result.http_status,
            "remote_id": result.remote_id,
        },
    )


def warning_json(value: Any) -> Any:
    to_json = getattr(value, "to_json", None)
    return to_json() if callable(to_json) else value

"""The bookkeeping half of an entity's attempt: sorting what ended it by intent, and recording
the outcome and the attempt row (now, or with its batch)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from clients import (
    AmbiguousWriteError,
    AuthenticationError,
    PermanentError,
    RateLimitedError,
    RetriableError,
)
from kinds.errors import DependencyFailedError, DependencyPendingError
from kinds.spec import EntityKind
from ledger import EntityLink, Finish, RowOutcome, Status
from mapping import (
    REASON_CREATE_ONLY,
    REASON_INVOICE_TRANSFERRED,
    REASON_NO_PATCHABLE_CHANGE,
    REASON_UNCHANGED,
    Create,
    MappedRecord,
    RecordRejected,
    Skip,
)
from tasks.budget import Budget
from tasks.connection_state import mark_refused
from tasks.outcome import (
    PLANNED,
    RETRIABLE,
    BookedOutcome,
    Outcome,
    RetryLaterError,
    SyncResult,
    warning_json,
    write_outcomes,
)
from wiring.heartbeat import Holding
from wiring.runtime import Runtime

__all__ = ["Recorder"]

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Recorder:
    """One entity's attempt: its fields, and how each way it can end is sorted and recorded
    (the steps themselves are :class:`~tasks.entity.EntityRun`'s)."""

    runtime: Runtime
    handler: EntityKind
    link: EntityLink
    token: str
    attempt_id: int
    final_attempt: bool
    known: str | None = None
    """The remote id the ledger knew when the row was claimed (its own, or a bulk index's)."""
    fresh: bool = False
    """Whether the bulk index of this kind was fresh then (an absence in it can be trusted)."""
    intent_recorded: bool = False
    http_status: int | None = None
    book: list[BookedOutcome] | None = None
    """Outcomes are appended here and written with the batch's (None: written at once)."""
    planned: Create | None = None
    """A batched create, waiting for the batch to commit its intent."""
    resolved: Mapping[tuple[str, str], str] = dataclasses.field(default_factory=dict)
    """Dependency ids the batch resolved first, ``(kind, key)`` -> id (``item`` for codes)."""
    restore_intent: bool = False
    """A batched create was planned (its intent committed) but not sent: put back the row's
    earlier intent when the outcome is written."""
    budget: Budget | None = None
    """The time of the batch this run belongs to (or syncs a dependency for)."""
    nested: Callable[..., SyncResult] | None = None
    """``tasks.pipeline.sync_entity``: how a dependency with no id yet is synced first."""
    held: Mapping[str, Any] | None = None
    """What PowerOffice Go holds for the record, read ahead by its batch (see ``EntityRun``)."""
    update_in_doubt: bool = False
    """A PATCH of this attempt ended without an answer: PowerOffice Go may hold it or not."""
    held_read: bool = False
    """Whether :attr:`held` was read ahead (None then means: PowerOffice Go has no such body)."""
    looked: bool = False
    """The batch looked this record up already (a create in doubt): no lookup of its own."""
    lease: Holding | None = None
    """The heartbeat's hold on the claim: proved before each write (``tasks.leases``)."""

    @property
    def kind(self) -> str:
        return self.link.kind

    @property
    def key(self) -> str:
        return self.link.key

    def release(self, reason: str) -> SyncResult:
        """Let go of the row untouched (out of time): ``pending``, retriable, and not charged
        to its retry budget (nothing was attempted).

        A create planned but never sent gets back the intent the row had before this attempt
        (none, unless an earlier create is in doubt): nothing of this attempt can have landed,
        so the next one need not look it up.
        """
        if self.intent_recorded and self.planned is not None:
            self.restore_intent = True
        return self._finish(Status.PENDING, Outcome.RETRY, error=reason, retry=True, waiting=True)

    def _guarded(self, step: Callable[[], SyncResult]) -> SyncResult:
        """:meth:`_sorted`, telling the batch's budget whether the APIs answered."""
        result, api_error = self._sorted(step)
        if self.budget is not None and result is not PLANNED:
            if api_error is not None:
                self.budget.api_failed(api_error)
            elif result.outcome not in (Outcome.RETRY, Outcome.UNKNOWN):
                self.budget.api_answered()
        return result

    def _sorted(  # noqa: PLR0911 - one branch per intent
        self, step: Callable[[], SyncResult]
    ) -> tuple[SyncResult, BaseException | None]:
        """Run ``step``; its result, and the API error it ended on (retriable, after the
        client's own retries), if any."""
        try:
            return step(), None
        except RetryLaterError as retry:
            api_error = retry.error if isinstance(retry.error, RetriableError) else None
            return self._retriable(retry.status, retry.error), api_error
        except RecordRejected as exc:
            return self._failed(str(exc)), None
        except DependencyFailedError as exc:
            return self._failed(str(exc)), None
        except AmbiguousWriteError as exc:
            return self._retriable(Status.UNKNOWN, exc), exc
        except DependencyPendingError as exc:
            status = Status.UNKNOWN if self._create_in_doubt() else Status.PENDING
            return self._retriable(status, exc, waiting=True), None
        except AuthenticationError as exc:
            mark_refused(self.runtime, exc, f"{self.kind} {self.key}")  # the connection stops
            return self._failed(str(exc), http_status=exc.status), None
        except PermanentError as exc:
            return self._failed(str(exc), http_status=exc.status), None
        except RETRIABLE as exc:
            if isinstance(exc, SoftTimeLimitExceeded) and self.budget is not None:
                self.budget.expired = True  # the task's time is up: start nothing more
            status = Status.UNKNOWN if self._create_in_doubt() else Status.PENDING
            api_error = exc if isinstance(exc, RetriableError) else None
            return self._retriable(status, exc), api_error
        except Exception as exc:
            # A bug or an unforeseen input must not take the worker down: the row keeps the
            # reason and the traceback goes to the log.
            log.exception("%s %s: unexpected error", self.kind, self.key)
            if self._create_in_doubt():
                return self._retriable(Status.UNKNOWN, exc), None
            return self._failed(f"internal error: {type(exc).__name__}: {exc}"), None

    def _create_in_doubt(self) -> bool:
        return self.intent_recorded

    # --- the happy path -------------------------------------------------------------------

    def _skip(
        self, decision: Skip, remote_id: str | None, mapped: MappedRecord | Skip
    ) -> SyncResult:
        ours = self.link.fingerprint is not None
        if decision.reason == REASON_UNCHANGED or (
            ours and decision.reason in (REASON_CREATE_ONLY, REASON_INVOICE_TRANSFERRED)
        ):
            # Unchanged, or a create-only record we transferred: nothing to send. A later
            # change to it stays recorded in the snapshot, not re-sent (R-INV, R-SUP-11).
            return self._finish(
                Status.SYNCED,
                Outcome.UNCHANGED,
                remote_id=remote_id,
                warnings=decision.warnings,
                details=decision.manual,
            )
        if decision.reason == REASON_NO_PATCHABLE_CHANGE and isinstance(mapped, MappedRecord):
            # Only fields PowerOffice Go cannot patch changed: remember the new content so
            # that it is not compared (and skipped) again and again.
            return self._finish(
                Status.SYNCED,
                Outcome.UNCHANGED,
                remote_id=remote_id,
                fingerprint=mapped.fingerprint,
                written=mapped.body(),
                warnings=decision.warnings,
                details=decision.manual,
            )
        return self._finish(
            Status.SKIPPED,
            Outcome.SKIPPED,
            remote_id=remote_id,
            error=decision.reason,
            warnings=decision.warnings,
            details=decision.manual,
        )

    def _finish(
        self,
        status: Status,
        outcome: str,
        *,
        remote_id: str | None = None,
        fingerprint: str | None = None,
        written: Mapping[str, Any] | None = None,
        error: str | None = None,
        warnings: Any = None,
        details: Mapping[str, Any] | None = None,
        http_status: int | None = None,
        retry: bool = False,
        retry_after: float | None = None,
        waiting: bool = False,
    ) -> SyncResult:
        """Record the outcome and the attempt row: now, or with the batch (``book``)."""
        row = RowOutcome(
            self.link.id,
            self.token,
            status,
            remote_id=remote_id,
            fingerprint=fingerprint,
            written=written,
            error=error,
            warnings=None if warnings is None else [warning_json(w) for w in warnings],
            details=dict(details) if details is not None else None,
            forget_written=self.update_in_doubt,
        )
        record = BookedOutcome(
            self,
            row,
            outcome,
            http_status=http_status or self.http_status,
            retry=retry,
            retry_after=retry_after,
            waiting=waiting,
        )
        if self.book is not None:
            self.book.append(record)
            return record.result(Finish(status=status, reopened=False))  # provisional
        return write_outcomes(self.runtime, [record])[0]

    def _failed(self, reason: str, *, http_status: int | None = None) -> SyncResult:
        return self._finish(Status.FAILED, Outcome.FAILED, error=reason, http_status=http_status)

    def _retriable(
        self, status: Status, exc: BaseException, *, waiting: bool = False
    ) -> SyncResult:
        error = f"{type(exc).__name__}: {exc}"
        http_status = getattr(exc, "status", None)
        if self.final_attempt:
            return self._finish(
                Status.DEAD,
                Outcome.DEAD,
                error=f"retries exhausted: {error}",
                http_status=http_status,
            )
        outcome = Outcome.UNKNOWN if status == Status.UNKNOWN else Outcome.RETRY
        retry_after = exc.retry_after if isinstance(exc, RateLimitedError) else None
        return self._finish(
            status,
            outcome,
            error=error,
            http_status=http_status,
            retry=True,
            retry_after=retry_after,
            waiting=waiting,
        )

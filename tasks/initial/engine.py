"""The engine of the initial sync: one run of its steps, record by record.

A :class:`Step` (one module per kind: ``units``, ``products``, ``suppliers``, ``customers``)
reads what its kind needs and hands each record to :meth:`Engine.record`, which

- sends nothing for a record whose ``initial_sync_items`` row is final (``already``);
- otherwise runs the step's copy of it and sorts what it raises: an error that means the run
  cannot go on (an API or the ledger unreachable after the clients' retries, refused
  credentials, the task's soft time limit) ends the run between two records; anything else
  fails this record only, with the reason recorded;
- counts the outcome, reports it (events, progress) and records a skip or failure.

Between two records :meth:`Engine.checkpoint` ends the run when its time budget is spent, and
renews the fleet-wide lease (one initial sync at a time). The creates and the links a step
records go through :mod:`tasks.initial.create` and :mod:`tasks.initial.handover`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol, TypeVar, cast

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import OperationalError

from clients import AuthenticationError, PermanentError, RetriableError
from ledger import InitialItemStatus, InitialSyncItem, initial_items, record_initial_outcome
from ledger.initial_sync import FINAL_ITEM_STATUSES
from mapping import RecordRejected
from tasks.initial.report import (
    ALREADY,
    CREATED,
    FAILED,
    LINKED,
    SKIPPED,
    InitialSyncReport,
    ItemEvent,
    Progress,
)
from wiring.runtime import Runtime

__all__ = [
    "ITEM_STATUS",
    "LOCK_NAME",
    "STOPPING_ERRORS",
    "Engine",
    "InitialSyncBusyError",
    "ItemOutcome",
    "Lease",
    "Step",
    "StopRunError",
    "adopted",
    "run_steps",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
S = TypeVar("S")

LOCK_NAME = "initial-sync"
"""One initial sync at a time, across every process of the fleet."""

ITEM_STATUS = {
    CREATED: InitialItemStatus.CREATED,
    LINKED: InitialItemStatus.LINKED,
    SKIPPED: InitialItemStatus.SKIPPED,
    FAILED: InitialItemStatus.FAILED,
}
"""The ledger status each final outcome is recorded with."""

STOPPING_ERRORS = (
    RetriableError,
    AuthenticationError,
    OperationalError,
    SoftTimeLimitExceeded,
)
"""Errors that end the run (the next run continues): an API or the ledger unreachable after
the clients' retries, refused credentials, the task's soft time limit."""


class InitialSyncBusyError(RuntimeError):
    """Another initial sync is running (it holds the fleet-wide lock)."""


class StopRunError(Exception):
    """End the run between two records (the next run continues); the message says why."""


@dataclasses.dataclass(frozen=True)
class ItemOutcome:
    """How one record ended, before it is counted and reported."""

    outcome: str
    number: str | None = None
    reason: str | None = None
    recorded: bool = False
    """Already written to the ledger (with the link, in one transaction)."""
    keep: bool = False
    """Leave the ledger row as it is (an intent whose outcome is unknown)."""


def adopted(row: InitialSyncItem | None) -> str:
    """A record found in Rackbeat: ours when our intent to create it is on record."""
    return CREATED if row is not None and row.status == InitialItemStatus.INTENT else LINKED


class Step(Protocol):
    """One kind of the initial sync; the engine runs the selected steps in their order."""

    @property
    def kind(self) -> str:
        """What ``--kinds`` calls it."""
        ...

    def run(self, engine: Engine) -> None:
        """Copy every record of the kind (a :class:`StopRunError` ends the run)."""
        ...


class _Identified(Protocol):
    @property
    def id(self) -> int: ...


R = TypeVar("R", bound=_Identified)


class Lease:
    """The fleet-wide lock, renewed while the run goes on (a Redis lock expires; a file lock
    is the kernel's). Renewal lets go and takes it again: if another run got it meanwhile,
    this run stops."""

    def __init__(self, runtime: Runtime, clock: Callable[[], float]) -> None:
        self._ttl = max(60.0, runtime.settings.task_time_limit_seconds)
        self._lock = runtime.locks(LOCK_NAME, self._ttl)
        self._clock = clock
        self._taken_at = 0.0

    def acquire(self) -> bool:
        taken = self._lock.acquire()
        self._taken_at = self._clock()
        return taken

    def renew(self) -> None:
        if self._clock() - self._taken_at < self._ttl / 3:
            return
        self._lock.release()
        if not self.acquire():
            raise StopRunError("another initial sync took over the lock")

    def release(self) -> None:
        self._lock.release()


def run_steps(
    runtime: Runtime,
    steps: Sequence[Step],
    report: InitialSyncReport,
    *,
    progress: Progress | None,
    deadline: float | None,
    clock: Callable[[], float],
) -> InitialSyncReport:
    """Run ``steps`` in order under the lease (a dry run takes none) and fill ``report``."""
    lease = None if report.dry_run else Lease(runtime, clock)
    if lease is not None and not lease.acquire():
        raise InitialSyncBusyError("another initial sync is running; try again when it ends")
    engine = Engine(runtime, report, progress=progress, deadline=deadline, clock=clock, lease=lease)
    try:
        for step in steps:
            step.run(engine)
    except StopRunError as stop:
        report.complete = False
        report.stopped = str(stop)
    finally:
        if lease is not None:
            lease.release()
    return report


class Engine:
    """One run: what the steps share, and the frame each record is copied in."""

    def __init__(
        self,
        runtime: Runtime,
        report: InitialSyncReport,
        *,
        progress: Progress | None,
        deadline: float | None,
        clock: Callable[[], float],
        lease: Lease | None,
    ) -> None:
        self.runtime = runtime
        self.report = report
        self.dry_run = report.dry_run
        self.progress = progress
        self.deadline = deadline
        self.clock = clock
        self.lease = lease
        self.token = f"initial-sync:{uuid.uuid4().hex[:12]}"
        """The task id of the attempt rows and claims this run writes."""
        self._begun: set[str] = set()
        self._shared: dict[object, object] = {}

    def shared(self, factory: Callable[[Engine], S]) -> S:
        """The run's one ``factory(engine)`` (built on first use): state steps share, such as
        the lists read once per run and the units and groups resolved so far."""
        if factory not in self._shared:
            self._shared[factory] = factory(self)
        return cast(S, self._shared[factory])

    def records(
        self,
        summary_kind: str,
        kind: str,
        records: Sequence[R],
        *,
        label: Callable[[R], str],
        copy: Callable[[R, InitialSyncItem | None], ItemOutcome],
    ) -> None:
        """Every record of a step's kind, in order, each its own :meth:`record`."""
        rows = self.rows(kind)
        self.begin(summary_kind, len(records))
        for item in records:
            self.checkpoint()
            source = str(item.id)
            self.record(
                summary_kind,
                kind,
                source,
                label=label(item),
                rows=rows,
                copy=functools.partial(copy, item, rows.get(source)),
            )

    def record(
        self,
        summary_kind: str,
        kind: str,
        source: str,
        *,
        label: str,
        rows: Mapping[str, InitialSyncItem],
        copy: Callable[[], ItemOutcome],
    ) -> ItemOutcome:
        """Run ``copy`` for one record unless it is done; count, report and record the end."""
        row = rows.get(source)
        if row is not None and row.status in FINAL_ITEM_STATUSES:
            outcome = ItemOutcome(ALREADY, number=row.number)
        else:
            outcome = self._attempt(kind, source, copy)
        self.report.summary[summary_kind].add(outcome.outcome)
        if self.dry_run or outcome.reason is not None:
            self.report.events.append(
                ItemEvent(
                    summary_kind, source, label, outcome.outcome, outcome.number, outcome.reason
                )
            )
        if self.progress is not None and summary_kind in self._begun:
            self.progress.step(summary_kind, outcome.outcome)
        return outcome

    def _attempt(self, kind: str, source: str, copy: Callable[[], ItemOutcome]) -> ItemOutcome:
        """``copy()``, its errors sorted by intent; a skip or failure is recorded."""
        try:
            outcome = copy()
        except StopRunError:
            raise
        except STOPPING_ERRORS as exc:
            raise StopRunError(f"{type(exc).__name__}: {exc}") from exc
        except RecordRejected as exc:
            outcome = ItemOutcome(FAILED, reason=str(exc))
        except PermanentError as exc:
            outcome = ItemOutcome(FAILED, reason=f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            # A bug or an unforeseen input must not end the run: the reason is recorded and
            # the traceback goes to the log.
            log.exception("initial sync: %s %s: unexpected error", kind, source)
            outcome = ItemOutcome(FAILED, reason=f"internal error: {type(exc).__name__}: {exc}")
        if (
            not self.dry_run
            and not (outcome.recorded or outcome.keep)
            and outcome.outcome in (SKIPPED, FAILED)
        ):
            with self.runtime.sessions.begin() as session:
                record_initial_outcome(
                    session,
                    kind,
                    source,
                    ITEM_STATUS[outcome.outcome],
                    number=outcome.number,
                    reason=outcome.reason,
                )
        return outcome

    def rows(self, kind: str, sources: Iterable[str] | None = None) -> dict[str, InitialSyncItem]:
        """The ``initial_sync_items`` rows of ``kind`` (of ``sources`` only, when given)."""
        with self.runtime.sessions() as session:
            return initial_items(session, kind, sources)

    def begin(self, kind: str, total: int) -> None:
        """``kind`` starts with ``total`` records (progress counts its records from now on)."""
        self._begun.add(kind)
        if self.progress is not None:
            self.progress.begin(kind, total)

    def checkpoint(self) -> None:
        """Between two records: stop when the time budget is spent; keep the lease."""
        if self.deadline is not None and self.clock() >= self.deadline:
            self.report.out_of_time = True
            raise StopRunError("the time budget of this run is spent; run it again to continue")
        if self.lease is not None:
            self.lease.renew()

    def guard(self, call: Callable[[], T]) -> T:
        """A read the whole kind needs: if it fails, the run stops."""
        try:
            return call()
        except (*STOPPING_ERRORS, PermanentError) as exc:
            raise StopRunError(f"{type(exc).__name__}: {exc}") from exc

"""One entity's sync, end to end: claim, load, dependencies, map, decide, write, record.

The sequence is the same for every kind (the kind's spec in ``kinds/`` supplies its steps):

1. **Claim** the ledger row (atomic; a row held by another live worker -> ``busy``).
2. **Load** the snapshot the poll stored; a manual enqueue of a key with none fetches it.
3. **Resolve** the PowerOffice Go id: the row's own, else the bulk index. When an earlier
   create ended ambiguously (intent recorded, no id), or no fresh index can vouch for an
   absence, **look it up first** (the client waits out replica lag) -- effectively-once.
4. **Map** (dependencies first) and **decide** create / update / skip.
5. **Write**: record the intent and commit *before* a create; PATCH only changed fields.
6. **Record** the outcome on the row and an attempt row; tell the task whether to retry.

Errors are sorted by intent: ``RecordRejected``, a permanent client error or a failed
dependency -> ``failed`` with the reason; an ambiguous write -> ``unknown``; anything
retriable -> ``pending``; on the last allowed attempt both become ``dead``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import OperationalError

from clients import AmbiguousWriteError, PermanentError, RateLimitedError, RetriableError
from clients.ratelimit import SlotUnavailableError
from kinds import registry
from kinds.errors import DependencyFailedError, DependencyPendingError, LockTimeoutError
from kinds.spec import EntityKind
from ledger import (
    EntityLink,
    Finish,
    RowOutcome,
    Status,
    claim,
    claim_current_version,
    claim_many,
    drop_link,
    end_attempts,
    finish_many,
    get_link,
    index_is_fresh,
    links_of,
    record_intent,
    record_intents,
    start_attempt,
    start_attempts,
    store_snapshots,
)
from mapping import (
    REASON_CREATE_ONLY,
    REASON_INVOICE_TRANSFERRED,
    REASON_NO_PATCHABLE_CHANGE,
    REASON_UNCHANGED,
    Create,
    MappedRecord,
    RecordRejected,
    Skip,
    Update,
    decide,
)
from tasks.snapshot import fetch_snapshot
from wiring.runtime import Runtime

__all__ = ["Budget", "Outcome", "SyncResult", "sync_entities", "sync_entity"]

log = logging.getLogger(__name__)

RETRIABLE = (
    RetriableError,
    DependencyPendingError,
    LockTimeoutError,
    SlotUnavailableError,
    SoftTimeLimitExceeded,
    OperationalError,
)
"""Errors after which the same sync may simply run again later."""


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


class _RetryError(Exception):
    """Internal: leave the row retriable (``status``) and tell the task to retry."""

    def __init__(self, status: Status, error: BaseException) -> None:
        self.status = status
        self.error = error
        super().__init__(str(error))


def sync_entity(
    runtime: Runtime,
    kind: str,
    key: str,
    token: str,
    *,
    final_attempt: bool = False,
    budget: Budget | None = None,
) -> SyncResult:
    """Bring (kind, key) up to date in PowerOffice Go; never raises for a record's problem.

    ``token`` is the Celery task id (kept across retries and redeliveries); ``final_attempt``
    turns a retriable outcome into ``dead``; ``budget`` is the time of the batch this sync
    runs for (as a dependency), which the soft time limit ends.
    """
    handler = _handler(kind)
    max_age = timedelta(seconds=runtime.settings.link_index_max_age_seconds)
    # One transaction: the claim, its attempt row, and what the ledger knows of the remote id
    # (a plain connection: this runs for every entity).
    with runtime.engine.begin() as conn:
        link = claim(conn, kind, key, token, stale_after=runtime.stale_claim_after)
        if link is not None:
            attempt_id = start_attempt(conn, link.id, token)
            known = link.remote_id or handler.known(conn, [key]).get(key)
            fresh = index_is_fresh(conn, handler.namespace, max_age=max_age)
    if link is None:
        with runtime.sessions() as session:
            existing = get_link(session, kind, key)
        if existing is not None:
            return SyncResult(kind, key, Outcome.BUSY, existing.status)
        # A key the ledger has never seen (a manual sync): fetch it from Rackbeat first, so
        # that a key Rackbeat does not have leaves no row behind (nothing to re-drive).
        fetched = fetch_snapshot(runtime, kind, key)
        if fetched is None:
            return SyncResult(
                kind, key, Outcome.MISSING, None, error=f"{kind} {key}: not in Rackbeat"
            )
        with runtime.sessions.begin() as session:
            store_snapshots(session, kind, [fetched])
            link = claim(session, kind, key, token, stale_after=runtime.stale_claim_after)
            if link is None:
                return SyncResult(kind, key, Outcome.BUSY, Status.IN_FLIGHT.value)
            attempt_id = start_attempt(session, link.id, token)
            known = handler.known(session, [key]).get(key)
            fresh = index_is_fresh(session, handler.namespace, max_age=max_age)
    run = _Run(
        runtime,
        handler,
        link,
        token,
        attempt_id,
        final_attempt,
        known=known,
        fresh=fresh,
        budget=budget,
    )
    return run.run()


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


def sync_entities(
    runtime: Runtime,
    kind: str,
    keys: Sequence[str],
    token: str,
    *,
    final_attempt: bool = False,
    budget_seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    dependencies: list[SyncResult] | None = None,
) -> list[SyncResult]:
    """:func:`sync_entity` for many keys of one kind, sharing the ledger's round trips.

    The same steps and guarantees per entity, in three phases:

    1. one transaction claims every row, opens their attempts and reads their known ids;
    2. each entity is mapped and decided (updates and dependencies are sent at once); the
       intents of all creates are recorded **in one commit before any create is sent**, then
       the creates are sent one by one;
    3. one transaction records every outcome and attempt.

    A worker killed in phase 2 leaves its creates "in doubt" exactly as one entity would: the
    redelivered batch reclaims the rows (same ``token``) and looks each one up before it may
    create. A key with no row yet, or held by another worker, goes through :func:`sync_entity`.
    Entities not started within ``budget_seconds``, or after the soft time limit fired, are
    released as ``pending`` with ``retry=True`` (the caller hands them to their own tasks);
    creates already planned are still sent until ``SEND_GRACE`` times the budget, and released
    unsent after it (their committed intent taken back in the same transaction as the outcome).

    The results are the batch's own, in the order of ``keys``. When ``dependencies`` is
    given, the results of the dependencies synced first that need another attempt are
    appended to it (for the caller to hand on as well).
    """
    return _sync_batch(
        runtime,
        kind,
        keys,
        token,
        final_attempt=final_attempt,
        budget=Budget(budget_seconds, clock),
        dependencies=dependencies,
    )


def _sync_batch(
    runtime: Runtime,
    kind: str,
    keys: Sequence[str],
    token: str,
    *,
    final_attempt: bool,
    budget: Budget,
    dependencies: list[SyncResult] | None,
) -> list[SyncResult]:
    handler = _handler(kind)
    wanted = list(dict.fromkeys(str(key) for key in keys))
    max_age = timedelta(seconds=runtime.settings.link_index_max_age_seconds)
    with runtime.engine.begin() as conn:
        links = claim_many(conn, kind, wanted, token, stale_after=runtime.stale_claim_after)
        attempts = start_attempts(conn, [link.id for link in links], token)
        known = handler.known(conn, [link.key for link in links if link.remote_id is None])
        fresh = bool(links) and index_is_fresh(conn, handler.namespace, max_age=max_age)
    # Never wait for a held dependency past the batch's own budget.
    wait = budget.left(DEPENDENCY_WAIT_SECONDS)
    resolved = _dependencies_or_none(
        runtime, handler, links, known, token, wait=wait, budget=budget, handed=dependencies
    )
    claimed = {link.key for link in links}
    results = {
        key: _unclaimed(runtime, kind, key, token, final_attempt=final_attempt, budget=budget)
        for key in wanted
        if key not in claimed
    }
    book: list[_Outcome] = []
    runs = [
        _Run(
            runtime,
            handler,
            link,
            token,
            attempts[link.id],
            final_attempt,
            known=link.remote_id or known.get(link.key),
            fresh=fresh,
            book=book,
            resolved=resolved,
            budget=budget,
        )
        for link in links
    ]
    planned: list[_Run] = []
    for run in runs:
        if budget.out_of_time():
            run.release(_late(budget, "not started"))
        elif budget.unavailable is not None:
            run.release(f"not started, an API looks unavailable ({budget.unavailable})")
        elif run.run() is _PLANNED:
            planned.append(run)
    _send_planned(runtime, token, planned, budget)
    for outcome, result in zip(book, _write_outcomes(runtime, book), strict=True):
        results[outcome.run.key] = result
    return [results[key] for key in wanted if key in results]


def _unclaimed(
    runtime: Runtime, kind: str, key: str, token: str, *, final_attempt: bool, budget: Budget
) -> SyncResult:
    """A key the batch could not claim (no row yet, or held): synced on its own, or handed on
    as it is once the soft time limit fired (there is no row of ours to release)."""
    if budget.expired:
        return SyncResult(
            kind,
            key,
            Outcome.RETRY,
            None,
            error=_late(budget, "not started"),
            retry=True,
            waiting=True,
        )
    return sync_entity(runtime, kind, key, token, final_attempt=final_attempt, budget=budget)


def _send_planned(runtime: Runtime, token: str, planned: Sequence[_Run], budget: Budget) -> None:
    """Commit the intents of the planned creates in one transaction, then send them."""
    if not planned:
        return
    if budget.expired:
        for run in planned:  # nothing of theirs is committed yet: simply let go
            run.release(_late(budget, "create not sent"))
        return
    with runtime.engine.begin() as conn:
        record_intents(conn, token, {run.link.id: run.intent_of_plan() for run in planned})
    for run in planned:
        run.intent_recorded = True
        if budget.out_of_time(SEND_GRACE):
            run.release(_late(budget, "create not sent"))
        elif budget.unavailable is not None:
            run.release(f"create not sent, an API looks unavailable ({budget.unavailable})")
        else:
            run.send_planned()


def _late(budget: Budget, what: str) -> str:
    """Why an entity was released untouched: the batch's budget, or the soft time limit."""
    if budget.expired:
        return f"{what} before the task's soft time limit"
    return f"{what} within the batch's time budget"


def _dependencies_or_none(
    runtime: Runtime,
    handler: EntityKind,
    links: Sequence[EntityLink],
    known: Mapping[str, str],
    token: str,
    *,
    wait: float,
    budget: Budget,
    handed: list[SyncResult] | None,
) -> dict[tuple[str, str], str]:
    """:func:`_dependencies_first`, which is only a shortcut: when it fails (other than the
    ledger being unreachable), each entity's own ``ensure`` resolves its dependencies."""
    try:
        return _dependencies_first(
            runtime, handler, links, known, token, wait=wait, budget=budget, handed=handed
        )
    except OperationalError:
        raise  # the ledger is unreachable: the whole batch comes back later
    except SoftTimeLimitExceeded:
        budget.expired = True  # the batch's entities are released, not started
        return {}
    except Exception:
        log.exception(
            "%s batch: resolving dependencies first failed; each entity does", handler.name
        )
        return {}


def _dependencies_first(
    runtime: Runtime,
    handler: EntityKind,
    links: Sequence[EntityLink],
    known: Mapping[str, str],
    token: str,
    *,
    wait: float = 0.0,
    budget: Budget,
    handed: list[SyncResult] | None = None,
) -> dict[tuple[str, str], str]:
    """The ids of the batch's dependencies (an invoice's customer and items), ``(kind, key)``
    -> id; those the ledger has a row but no id for are synced first, in batches of their own
    within the batch's ``budget``; those that need another attempt are appended to ``handed``.

    A dependency with no row at all is left to the entity's own ``ensure`` (it fetches it).
    """
    wanted: dict[tuple[str, str], None] = {}
    for link in links:
        if link.snapshot is None or link.remote_id is not None or link.key in known:
            continue  # no snapshot yet, or transferred already: no dependency is touched
        try:
            wanted.update(dict.fromkeys(handler.dependencies(link.snapshot)))
        except RecordRejected:
            continue  # its own run rejects it, naming the field
    if not wanted:
        return {}
    by_name: dict[str, list[str]] = {}
    for name, key in wanted:
        by_name.setdefault(name, []).append(key)
    pairs = [
        (member.name, key)
        for name, keys in by_name.items()
        for member in registry.members(name)
        for key in keys
    ]
    with runtime.sessions() as session:
        rows = {(row.kind, row.key): row for row in links_of(session, pairs)}
        ids: dict[tuple[str, str], str] = {}
        for name, keys in by_name.items():
            # The kinds of a group share one key space and namespace: the first one answers.
            known_ids = registry.members(name)[0].known(session, keys)
            ids |= {(name, key): remote for key, remote in known_ids.items()}
    resolved: dict[tuple[str, str], str] = {}
    pending: dict[str, list[str]] = {}
    for name, key in wanted:
        own = [rows[(m.name, key)] for m in registry.members(name) if (m.name, key) in rows]
        found = ids.get((name, key)) or next((r.remote_id for r in own if r.remote_id), None)
        if found is not None:
            resolved[(name, key)] = found
        elif own:
            pending.setdefault(own[0].kind, []).append(key)
    busy: list[tuple[str, str]] = []
    for kind, keys in pending.items():
        synced = _sync_batch(
            runtime,
            kind,
            keys,
            f"{token}/{kind}",
            final_attempt=False,
            budget=budget,
            dependencies=None,
        )
        resolved |= _ids_of(synced, busy=busy, handed=handed)
    if busy and wait > 0:
        resolved |= _wait_for_held(runtime, busy, seconds=wait)
    return resolved


def _ids_of(
    results: Sequence[SyncResult],
    *,
    busy: list[tuple[str, str]],
    handed: list[SyncResult] | None,
) -> dict[tuple[str, str], str]:
    """The ids of the dependencies synced; those held elsewhere go to ``busy``, those that
    need another attempt to ``handed``."""
    ids: dict[tuple[str, str], str] = {}
    for result in results:
        if result.status == Status.SYNCED.value and result.remote_id is not None:
            ids[(_as_dependency(result.kind), result.key)] = result.remote_id
        elif result.outcome == Outcome.BUSY:
            busy.append((result.kind, result.key))
        elif (result.retry or result.reopened) and handed is not None:
            handed.append(result)
    return ids


DEPENDENCY_WAIT_SECONDS = 5.0
"""How long a batch waits for dependencies another worker is syncing right now (a first push
syncs customers and invoices side by side) before its invoices go on to retry later."""


def _wait_for_held(
    runtime: Runtime, held: Sequence[tuple[str, str]], *, seconds: float, step: float = 0.1
) -> dict[tuple[str, str], str]:
    """The ids of ``held`` (kind, key) rows as their holders finish, for ``seconds`` at most."""
    found: dict[tuple[str, str], str] = {}
    waiting = set(held)
    deadline = time.monotonic() + seconds
    while waiting and time.monotonic() < deadline:
        time.sleep(step)
        with runtime.sessions() as session:
            rows = links_of(session, list(waiting))
        for row in rows:
            if row.status == Status.IN_FLIGHT:
                continue
            waiting.discard((row.kind, row.key))
            if row.remote_id is not None and row.status == Status.SYNCED:
                found[(_as_dependency(row.kind), row.key)] = row.remote_id
    return found


def _as_dependency(kind: str) -> str:
    """How a dependant names a dependency of ``kind``: its group (``item`` for a product or a
    BOM), else the kind itself."""
    return registry.get(kind).group or kind


def _handler(kind: str) -> EntityKind:
    return registry.get(kind)


UNAVAILABLE_AFTER = 3
"""Entities in a row whose API calls failed retriably, after which a batch starts no more
(see :attr:`Budget.unavailable`). Three: one failure in a burst of faults is common, three in a
row (each after the client's own retries) is an outage."""

SEND_GRACE = 1.5
"""Planned creates are sent until this many times a batch's budget has passed."""

_PLANNED = SyncResult("", "", "planned", None)
"""Returned by a batched run whose create waits for its intent to be committed."""


@dataclasses.dataclass
class _Outcome:
    """One row's outcome, to be written (at once, or with the rest of its batch): what the
    ledger row gets (``row``), and what the attempt row and the caller get."""

    run: _Run
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


def _write_outcomes(runtime: Runtime, outcomes: Sequence[_Outcome]) -> list[SyncResult]:
    """Write the outcomes and their attempt rows in one transaction.

    The remote id lands on the row itself; dependants look there (and in the bulk indexes), so
    there is no second copy to keep in step.
    """
    if not outcomes:
        return []
    restored = {o.run.link.id: o.run.link.intent for o in outcomes if o.run.restore_intent}
    with runtime.engine.begin() as conn:
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
    return [o.result(d) for o, d in zip(outcomes, done, strict=True)]


@dataclasses.dataclass
class _Run:
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
    book: list[_Outcome] | None = None
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

    @property
    def kind(self) -> str:
        return self.link.kind

    @property
    def key(self) -> str:
        return self.link.key

    def run(self) -> SyncResult:
        """Sync the entity; batched, a create stops at :data:`_PLANNED` (see ``send_planned``)."""
        return self._guarded(self._sync)

    def send_planned(self) -> SyncResult:
        """Send the create planned by :meth:`run`, once the batch committed its intent."""
        planned = self.planned
        assert planned is not None
        assert self.intent_recorded
        return self._guarded(lambda: self._send_create(planned))

    def intent_of_plan(self) -> str:
        assert self.planned is not None
        return self.planned.reference

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
        if self.budget is not None and result is not _PLANNED:
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
        except _RetryError as retry:
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

    def _sync(self) -> SyncResult:
        runtime, handler, link = self.runtime, self.handler, self.link
        snapshot: Mapping[str, Any] | None = link.snapshot
        if snapshot is None:
            fetched = fetch_snapshot(runtime, self.kind, self.key)
            if fetched is None:
                if link.remote_id is None and link.fingerprint is None:
                    # A row made only by a manual sync of a key Rackbeat never had (older
                    # versions made one): nothing was written anywhere, so nothing to keep.
                    with runtime.sessions.begin() as session:
                        drop_link(session, link.id)
                    return SyncResult(
                        self.kind,
                        self.key,
                        Outcome.MISSING,
                        None,
                        error=f"{self.kind} {self.key}: not in Rackbeat",
                    )
                return self._finish(
                    Status.FAILED, Outcome.MISSING, error=f"{self.kind} {self.key}: not in Rackbeat"
                )
            snapshot = fetched.snapshot
            with runtime.sessions.begin() as session:
                store_snapshots(session, self.kind, [fetched])
                claim_current_version(session, link.id, self.token)
        reference = handler.reference(self.key)
        remote_id = self.known
        # A create was sent before and never confirmed (ambiguous end, or a worker killed).
        in_doubt = link.intent is not None and link.remote_id is None
        if remote_id is None and (in_doubt or not self.fresh):
            # An earlier create may have landed, or no fresh bulk index can vouch that the
            # record is absent: look it up before any create.
            remote_id = handler.find(runtime, link, reference)
        # Found (by the lookup, or by a bulk index loaded since) after a create in doubt: it is
        # our own create that landed.
        adopted = in_doubt and remote_id is not None
        # An adopted record is our own earlier create: map it as a create (no update-only
        # dependencies such as a customer's PaymentTermId are needed to record it).
        mapped = handler.prepare(
            runtime, link, snapshot, None if adopted else remote_id, self._ensure
        )
        if adopted and remote_id is not None and isinstance(mapped, MappedRecord):
            # Our own earlier create did land: record it as written, send nothing.
            return self._finish(
                Status.SYNCED,
                Outcome.LINKED,
                remote_id=remote_id,
                fingerprint=mapped.fingerprint,
                written=mapped.body(),
                warnings=mapped.warnings,
                details=mapped.manual,
            )
        decision = decide(
            mapped,
            previous_fingerprint=link.fingerprint,
            previous_payload=link.written,
            remote_id=remote_id,
            create_only=handler.create_only,
        )
        if isinstance(decision, Skip):
            return self._skip(decision, remote_id, mapped)
        if isinstance(decision, Create):
            return self._create(decision)
        return self._update(decision, remote_id)

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

    def _create(self, decision: Create) -> SyncResult:
        if self.book is not None:
            # Batched: the batch records every create's intent in one commit, then sends.
            self.planned = decision
            return _PLANNED
        with self.runtime.engine.begin() as conn:
            record_intent(conn, self.link.id, self.token, decision.reference)
        self.intent_recorded = True
        return self._send_create(decision)

    def _send_create(self, decision: Create) -> SyncResult:
        remote_id = self.handler.create(self.runtime, decision)
        return self._finish(
            Status.SYNCED,
            Outcome.CREATED,
            remote_id=remote_id,
            fingerprint=decision.fingerprint,
            written=decision.body(),
            warnings=decision.warnings,
            details=decision.manual,
        )

    def _update(self, decision: Update, remote_id: str | None) -> SyncResult:
        assert remote_id is not None
        try:
            self.handler.update(self.runtime, remote_id, decision)
        except AmbiguousWriteError as exc:
            # A PATCH of absolute values is idempotent: simply send it again later.
            raise _RetryError(Status.PENDING, exc) from exc
        return self._finish(
            Status.SYNCED,
            Outcome.UPDATED,
            remote_id=remote_id,
            fingerprint=decision.fingerprint,
            written=decision.payload.to_wire(),
            warnings=decision.warnings,
            details=decision.manual,
        )

    # --- dependencies ---------------------------------------------------------------------

    def _ensure(self, name: str, key: str) -> str:
        """The PowerOffice Go id of a dependency (``name``: a kind, or a group such as
        ``item``), syncing it first when it has none yet; fetched from Rackbeat when the
        ledger has never seen it."""
        found = self.resolved.get((name, key))
        if found is not None:
            return found
        members = registry.members(name)
        with self.runtime.sessions() as session:
            known = members[0].known(session, [key]).get(key)
            links = [get_link(session, member.name, key) for member in members]
        if known is not None:
            return known
        # No session is held past this point: the nested sync writes (SQLite has one writer).
        for link in links:
            if link is not None:
                return link.remote_id or self._sync_dependency(link.kind, key)
        for member in members:
            fetched = fetch_snapshot(self.runtime, member.name, key)
            if fetched is not None:
                with self.runtime.sessions.begin() as session:
                    store_snapshots(session, member.name, [fetched])
                return self._sync_dependency(member.name, key)
        raise DependencyFailedError(f"{name} {key!r} is not in Rackbeat")

    def _sync_dependency(self, kind: str, key: str) -> str:
        result = sync_entity(
            self.runtime, kind, key, f"{self.token}/{kind}:{key}", budget=self.budget
        )
        if result.remote_id is not None and result.status == Status.SYNCED:
            return result.remote_id
        if result.status in (Status.FAILED, Status.DEAD, Status.SKIPPED):
            raise DependencyFailedError(f"{kind} {key}: {result.error or result.status}")
        raise DependencyPendingError(f"{kind} {key} is not synced yet ({result.outcome})")

    # --- recording ------------------------------------------------------------------------

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
            warnings=None if warnings is None else [_warning(w) for w in warnings],
            details=dict(details) if details is not None else None,
        )
        record = _Outcome(
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
        return _write_outcomes(self.runtime, [record])[0]

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


def _warning(value: Any) -> Any:
    to_json = getattr(value, "to_json", None)
    return to_json() if callable(to_json) else value

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

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from clients import PermanentError, RetriableError
from kinds import registry
from kinds.spec import EntityKind
from ledger import (
    EntityLink,
    Status,
    claim,
    claim_many,
    get_link,
    index_is_fresh,
    key_problem,
    ledger_key,
    put_remote_id,
    record_intents,
    start_attempt,
    start_attempts,
    store_snapshots,
)
from tasks.budget import SEND_GRACE, Budget, late
from tasks.dependencies import DEPENDENCY_WAIT_SECONDS, resolve_dependencies
from tasks.entity import EntityRun
from tasks.leases import holding_claims, not_proven, proven
from tasks.outcome import PLANNED, BookedOutcome, Outcome, SyncResult, write_outcomes
from tasks.replica_lag import lag_may_hide
from tasks.snapshot import fetch_snapshot
from wiring.heartbeat import Holding
from wiring.runtime import Runtime

__all__ = ["Budget", "Outcome", "SyncResult", "sync_entities", "sync_entity"]

log = logging.getLogger(__name__)


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
    if key_problem(key) is not None:
        return _unkeyable(runtime, kind, key)
    with holding_claims(runtime, token) as lease:
        return _sync_entity(
            runtime, kind, key, token, final_attempt=final_attempt, budget=budget, lease=lease
        )


def _sync_entity(
    runtime: Runtime,
    kind: str,
    key: str,
    token: str,
    *,
    final_attempt: bool,
    budget: Budget | None,
    lease: Holding,
) -> SyncResult:
    handler = _handler(kind)
    max_age = timedelta(seconds=runtime.settings.link_index_max_age_seconds)
    # One transaction: the claim, its attempt row, and what the ledger knows of the remote id
    # (a plain connection: this runs for every entity).
    with runtime.begin() as conn:
        link = claim(conn, kind, key, token, lease=runtime.lease)
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
            link = claim(session, kind, key, token, lease=runtime.lease)
            if link is None:
                return SyncResult(kind, key, Outcome.BUSY, Status.IN_FLIGHT.value)
            attempt_id = start_attempt(session, link.id, token)
            known = handler.known(session, [key]).get(key)
            fresh = index_is_fresh(session, handler.namespace, max_age=max_age)
    run = EntityRun(
        runtime,
        handler,
        link,
        token,
        attempt_id,
        final_attempt,
        known=known,
        fresh=fresh,
        budget=budget,
        nested=sync_entity,
        lease=lease,
    )
    return run.run()


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
    with holding_claims(runtime, token) as lease:
        return _sync_claimed_batch(
            runtime,
            kind,
            keys,
            token,
            final_attempt=final_attempt,
            budget=budget,
            dependencies=dependencies,
            lease=lease,
        )


def _sync_claimed_batch(
    runtime: Runtime,
    kind: str,
    keys: Sequence[str],
    token: str,
    *,
    final_attempt: bool,
    budget: Budget,
    dependencies: list[SyncResult] | None,
    lease: Holding,
) -> list[SyncResult]:
    handler = _handler(kind)
    wanted = list(dict.fromkeys(str(key) for key in keys))
    max_age = timedelta(seconds=runtime.settings.link_index_max_age_seconds)
    with runtime.begin() as conn:
        links = claim_many(conn, kind, wanted, token, lease=runtime.lease)
        attempts = start_attempts(conn, [link.id for link in links], token)
        known = handler.known(conn, [link.key for link in links if link.remote_id is None])
        fresh = bool(links) and index_is_fresh(conn, handler.namespace, max_age=max_age)
    looked = _look_up_in_doubt(
        runtime, handler, links, known, token=token, budget=budget, attempts=attempts
    )
    # Never wait for a held dependency past the batch's own budget.
    wait = budget.left(DEPENDENCY_WAIT_SECONDS)
    resolved = resolve_dependencies(
        runtime,
        handler,
        links,
        known,
        token,
        wait=wait,
        budget=budget,
        handed=dependencies,
        sync_batch=_sync_batch,
    )
    held = _read_ahead(runtime, handler, links, known)
    claimed = {link.key for link in links}
    results = {
        key: _unclaimed(runtime, kind, key, token, final_attempt=final_attempt, budget=budget)
        for key in wanted
        if key not in claimed
    }
    book: list[BookedOutcome] = []
    runs = [
        EntityRun(
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
            nested=sync_entity,
            held=held.get(link.key) if held is not None else None,
            held_read=held is not None,
            lease=lease,
            looked=link.key in looked,
        )
        for link in links
    ]
    planned: list[EntityRun] = []
    for run in runs:
        if budget.out_of_time():
            run.release(late(budget, "not started"))
        elif budget.unavailable is not None:
            run.release(f"not started, an API looks unavailable ({budget.unavailable})")
        elif run.run() is PLANNED:
            planned.append(run)
    _send_planned(runtime, token, planned, budget)
    for outcome, result in zip(book, write_outcomes(runtime, book), strict=True):
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
            error=late(budget, "not started"),
            retry=True,
            waiting=True,
        )
    return sync_entity(runtime, kind, key, token, final_attempt=final_attempt, budget=budget)


def _send_planned(
    runtime: Runtime, token: str, planned: Sequence[EntityRun], budget: Budget
) -> None:
    """Commit the intents of the planned creates in one transaction, then send them."""
    if not planned:
        return
    if budget.expired:
        for run in planned:  # nothing of theirs is committed yet: simply let go
            run.release(late(budget, "create not sent"))
        return
    with runtime.begin() as conn:
        record_intents(conn, token, {run.link.id: run.intent_of_plan() for run in planned})
    for run in planned:
        run.intent_recorded = True
        if budget.out_of_time(SEND_GRACE):
            run.release(late(budget, "create not sent"))
        elif budget.unavailable is not None:
            run.release(f"create not sent, an API looks unavailable ({budget.unavailable})")
        elif not proven(runtime, run.lease):
            run.release(not_proven(f"{run.kind} {run.key}: create"))
        else:
            run.send_planned()


def _unkeyable(runtime: Runtime, kind: str, key: str) -> SyncResult:
    """A key the ledger cannot hold as it is (an item number over its column): the record can
    never be synced, and the poll keeps it as a ``failed`` row under a shortened key
    (``ledger.ledger_key``). A sync naming the full key answers with that row's reason."""
    short = ledger_key(key)
    with runtime.sessions() as session:
        row = get_link(session, kind, short)
    reason = row.last_error if row is not None and row.last_error else None
    return SyncResult(
        kind,
        short,
        Outcome.FAILED,
        Status.FAILED.value,
        error=reason or f"{kind} {short}: {key_problem(key)}",
    )


def _look_up_in_doubt(
    runtime: Runtime,
    handler: EntityKind,
    links: Sequence[EntityLink],
    known: dict[str, str],
    *,
    token: str,
    budget: Budget,
    attempts: Mapping[int, int],
) -> set[str]:
    """Look up, in bulk, the batch's creates an earlier attempt left in doubt (a worker killed
    mid-batch leaves dozens): found ones are added to ``known``; the keys looked up (found or
    not) are returned, so that no entity looks itself up again (one replica-lag wait for the
    batch, not one per entity). Nothing when the kind has no bulk lookup or it failed.

    What the lookup proved is kept for the attempts after this one (an entity the batch hands
    on): a found id goes into the kind's bulk index, and an intent proved not to have landed is
    taken back, so that neither is looked up again."""
    by_id = {link.key: link.id for link in links}
    in_doubt = [
        link
        for link in links
        if link.intent is not None and link.remote_id is None and link.key not in known
    ]
    if not in_doubt:
        return set()
    doubt = {handler.reference(link.key): link.key for link in in_doubt}
    since = min(link.created_at for link in in_doubt)
    settle = lag_may_hide(runtime, [(link.id, attempts[link.id]) for link in in_doubt])
    try:
        found = handler.find_many(runtime, list(doubt), since=since, settle=settle)
    except (RetriableError, PermanentError) as exc:
        log.info("%s batch: looking up creates in doubt failed (%s)", handler.name, exc)
        return set()
    except SoftTimeLimitExceeded:
        # The rows are claimed: never leave them in flight. The batch starts nothing more and
        # releases every entity untouched (each looks itself up on its next attempt).
        budget.expired = True
        return set()
    if found is None:
        return set()
    landed = {reference: remote for reference, remote in found.items() if reference in doubt}
    for reference, remote in landed.items():
        known[doubt[reference]] = remote
    absent = {by_id[key]: None for reference, key in doubt.items() if reference not in landed}
    with runtime.sessions.begin() as session:
        for reference, remote in landed.items():
            put_remote_id(session, handler.namespace, reference, remote)
        record_intents(session, token, absent, strict=False)
    return set(doubt.values())


def _read_ahead(
    runtime: Runtime,
    handler: EntityKind,
    links: Sequence[EntityLink],
    known: Mapping[str, str],
) -> Mapping[str, Mapping[str, Any]] | None:
    """What PowerOffice Go holds for the batch's records that a bulk index knows but this
    ledger never wrote (a new ledger against a full PowerOffice Go), read in as few requests
    as the kind allows; None when there are none (or the read failed: each reads its own)."""
    if handler.create_only:
        return None
    ids = {
        link.key: link.remote_id or known[link.key]
        for link in links
        if link.written is None and (link.remote_id or link.key in known)
    }
    if not ids:
        return None
    try:
        return handler.held(runtime, ids)
    except (RetriableError, PermanentError) as exc:
        log.info("%s batch: reading ahead what PowerOffice Go holds failed (%s)", handler.name, exc)
        return None


def _handler(kind: str) -> EntityKind:
    return registry.get(kind)

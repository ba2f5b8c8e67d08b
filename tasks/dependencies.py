"""Dependencies first: an invoice batch's customers and items are resolved (or synced, in
batches of their own) before its invoices are mapped, within the batch's time budget."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import OperationalError

from kinds import registry
from kinds.spec import EntityKind
from ledger import EntityLink, Status, links_of
from mapping import RecordRejected
from tasks.budget import Budget
from tasks.outcome import Outcome, SyncResult
from wiring.runtime import Runtime

__all__ = ["DEPENDENCY_WAIT_SECONDS", "SyncBatch", "as_dependency", "resolve_dependencies"]

log = logging.getLogger(__name__)

SyncBatch = Callable[..., list[SyncResult]]
"""``tasks.pipeline``'s batch sync, handed in (the pipeline calls this module)."""


def resolve_dependencies(
    runtime: Runtime,
    handler: EntityKind,
    links: Sequence[EntityLink],
    known: Mapping[str, str],
    token: str,
    *,
    wait: float,
    budget: Budget,
    handed: list[SyncResult] | None,
    sync_batch: SyncBatch,
) -> dict[tuple[str, str], str]:
    """:func:`_dependencies_first`, which is only a shortcut: when it fails (other than the
    ledger being unreachable), each entity's own ``ensure`` resolves its dependencies.

    ``sync_batch`` is the pipeline's batch sync, used for dependencies that need syncing."""
    try:
        return _dependencies_first(
            runtime,
            handler,
            links,
            known,
            token,
            wait=wait,
            budget=budget,
            handed=handed,
            sync_batch=sync_batch,
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
    sync_batch: SyncBatch,
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
        synced = sync_batch(
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
            ids[(as_dependency(result.kind), result.key)] = result.remote_id
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
                found[(as_dependency(row.kind), row.key)] = row.remote_id
    return found


def as_dependency(kind: str) -> str:
    """How a dependant names a dependency of ``kind``: its group (``item`` for a product or a
    BOM), else the kind itself."""
    return registry.get(kind).group or kind

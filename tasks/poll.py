"""A poll of one kind: Rackbeat changes since the cursor -> ledger snapshots -> sync tasks.

The rules (``docs/pipeline.md``, "Cursor rules"):

- The **signpost** is the time the poll started; the cursor never moves past it, so a record
  changed during the poll is read again by the next one.
- Rackbeat is asked for records changed at or after ``cursor - overlap`` (inclusive, so equal
  timestamps at the boundary are read again; the content hash makes the re-read free).
- Records are stored in batches; each batch is **committed before** its changed keys are
  enqueued, so a worker never looks for a row that is not there yet; the rows are marked
  enqueued only after the messages are out (a transactional outbox: a crash in between leaves
  them unmarked, and the next poll's sweep enqueues them).
- The cursor moves to ``min(signpost, newest updated_at seen)`` only after every record up to
  it is committed and enqueued: after each batch while the records arrive in ascending
  ``updated_at`` (the client's order), else once at the end. A poll cut off mid-way (crash, time
  limit) keeps the progress of its committed batches, and the next poll reads on from there
  (nothing lost; a re-read record with unchanged content is not enqueued again).
- Before the first enqueue, stale bulk indexes are reloaded (``kinds.links``), and rows an
  earlier poll of the kind stored but never sent (a crash between its commit and its enqueue)
  are sent first. Rows whose messages were lost later are the sweep's (``tasks.sweep``).
- One poll per kind at a time, across every process (a shared lock, a lease renewed by the
  heartbeat while the poll runs, so a killed poll frees it within one lease): a second beat
  started by mistake only makes the second poll skip. A scheduled poll of a kind polled less
  than half a period ago skips too (messages that piled up while no worker ran).
- A record the ledger cannot store never stops the poll (``ledger.store_snapshots_isolated``):
  it becomes a ``failed`` row with its reason, counted in ``failed`` (or, when not even that
  row can be written, logged with its key and counted in ``unstored``), and the poll goes on;
  otherwise every poll of its kind would fail on it, forever.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import OperationalError

from clients import AuthenticationError, RetriableError
from kinds import registry
from kinds.errors import LockTimeoutError
from kinds.links import refresh_indexes
from ledger import (
    DEFAULT_CONNECTION,
    SnapshotRecord,
    StoreReport,
    describe_error,
    finish_poll_cycle,
    get_cursor,
    held_versions,
    last_poll_cycle,
    mark_enqueued,
    set_cursor,
    start_poll_cycle,
    store_snapshots_isolated,
    unsent_work,
    utcnow,
)
from tasks.base import PipelineTask, backoff
from tasks.connection_state import mark_refused, stopped_state
from tasks.enqueue import enqueue_sync
from tasks.names import POLL_TASK
from tasks.snapshot import snapshot_of
from tasks.webhooks import covered_by_webhooks, disconnection, send_unsent_webhook_events
from wiring import metrics
from wiring.runtime import Runtime

__all__ = ["POLL_BATCH_SIZE", "LockLostError", "PollReport", "poll", "poll_kind", "polled_recently"]

log = logging.getLogger(__name__)

POLL_BATCH_SIZE = 500
"""Records stored (and committed) per ledger transaction during a poll."""

Enqueue = Callable[[str, list[str]], int]
"""``enqueue(kind, keys) -> sent``: sends the keys' sync tasks (after the commit)."""


@dataclasses.dataclass(frozen=True)
class PollReport:
    """What one poll did."""

    kind: str
    skipped: bool = False
    seen: int = 0
    changed: int = 0
    enqueued: int = 0
    requeued: int = 0
    """Rows an earlier poll stored but never sent (a crash between its commit and enqueue)."""
    failed: int = 0
    """Records stored as ``failed`` rows (they cannot sync as they are; ``rbsync failures``)."""
    unstored: int = 0
    """Records not even a ``failed`` row could be written for (logged with their keys)."""
    cursor_from: datetime | None = None
    cursor_to: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON object (datetimes as ISO strings)."""
        data = dataclasses.asdict(self)
        for name in ("cursor_from", "cursor_to"):
            value = data[name]
            data[name] = value.isoformat() if value is not None else None
        return data


def _batches(records: Iterable[SnapshotRecord], size: int) -> Iterator[list[SnapshotRecord]]:
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch


@dataclasses.dataclass
class _Progress:
    """The newest ``updated_at`` committed so far, and whether records came in ascending order."""

    saved: datetime | None
    newest: datetime | None = None
    ascending: bool = True

    def see(self, batch: list[SnapshotRecord]) -> None:
        for record in batch:
            if record.updated_at is None:
                continue
            if self.newest is not None and record.updated_at < self.newest:
                self.ascending = False
            if self.newest is None or record.updated_at > self.newest:
                self.newest = record.updated_at

    def save(self, runtime: Runtime, kind: str, signpost: datetime) -> None:
        """After a batch is committed and enqueued: move the cursor when that is safe.

        Records come in ascending ``updated_at`` (the client's order): everything before the
        newest one seen is committed and enqueued, so a poll cut off later (time limit, crash)
        keeps this progress; records sharing the newest second are re-read (inclusive).
        """
        if not self.ascending or self.newest is None:
            return
        progress = min(signpost, self.newest)
        if self.saved is None or progress > self.saved:
            with runtime.sessions.begin() as session:
                set_cursor(session, kind, progress)
            self.saved = progress


def poll_kind(
    runtime: Runtime,
    kind: str,
    enqueue: Enqueue,
    *,
    now: Callable[[], datetime] = utcnow,
    batch_size: int = POLL_BATCH_SIZE,
) -> PollReport:
    """Poll ``kind`` once (see the module docstring); a held lock makes it skip."""
    registry.get(kind)  # an unknown kind fails here, before any lock or request
    settings = runtime.settings
    # A lease: the heartbeat extends it while this poll runs; a poll that dies frees it soon.
    lock = runtime.locks(f"poll:{kind}", settings.lease_seconds)
    if not lock.acquire():
        log.info("poll of %s skipped: another poll of it is running", kind)
        return PollReport(kind, skipped=True)

    def renew() -> None:
        if not lock.extend():
            raise LockLostError(f"poll:{kind}")

    try:
        with runtime.heartbeat.hold(f"poll:{kind}", renew):
            return _poll(runtime, kind, enqueue, now=now, batch_size=batch_size)
    finally:
        lock.release()


class LockLostError(Exception):
    """A poll's lock expired before its heartbeat could extend it."""


def polled_recently(runtime: Runtime, kind: str, *, now: datetime | None = None) -> float | None:
    """Seconds since the last poll of ``kind`` started, when less than half a poll period."""
    with runtime.sessions() as session:
        last = last_poll_cycle(session, kind)
    if last is None:
        return None
    age = ((now or utcnow()) - last.started_at).total_seconds()
    return age if 0 <= age < runtime.settings.poll_interval_seconds / 2 else None


def _poll(
    runtime: Runtime,
    kind: str,
    enqueue: Enqueue,
    *,
    now: Callable[[], datetime],
    batch_size: int,
) -> PollReport:
    settings = runtime.settings
    started = time.monotonic()
    signpost = now()
    with runtime.sessions.begin() as session:
        cursor = get_cursor(session, kind)
        cycle_id = start_poll_cycle(session, kind, signpost=signpost, cursor_from=cursor)
    seen = changed = enqueued = requeued = failed = unstored = 0
    indexes_ready = False

    def send(keys: list[str]) -> int:
        nonlocal indexes_ready
        if not keys:
            return 0
        if not indexes_ready:
            # Before anything is written: ids come from bulk loads, not one lookup per task.
            refresh_indexes(runtime, registry.get(kind).indexes, registry.index_loaders())
            indexes_ready = True
        sent = enqueue(kind, keys)
        with runtime.sessions.begin() as session:
            mark_enqueued(session, kind, keys)
        return sent

    try:
        with runtime.sessions() as session:
            unsent = [row.key for row in unsent_work(session, kind)]
        requeued = send(unsent)
        since = (
            None if cursor is None else cursor - timedelta(seconds=settings.poll_overlap_seconds)
        )
        records = (snapshot_of(record) for record in _changed(runtime, kind, since))
        progress = _Progress(saved=cursor)
        for batch in _batches(records, batch_size):
            with runtime.sessions.begin() as session:
                stored = store_snapshots_isolated(session, kind, batch, now=signpost)
            _log_poison(kind, stored)
            seen += len(batch)
            changed += len(stored.changed)
            failed += len(stored.failed)
            unstored += len(stored.unstored)
            progress.see(batch)
            enqueued += send(stored.changed)
            progress.save(runtime, kind, signpost)
        newest = progress.newest
        cursor_to = cursor if newest is None else min(signpost, newest)
        if cursor is not None and cursor_to is not None and cursor_to < cursor:
            cursor_to = cursor  # never backwards (an overlap re-read is older than the cursor)
        with runtime.sessions.begin() as session:
            set_cursor(session, kind, cursor_to)
            finish_poll_cycle(
                session,
                cycle_id,
                status="done",
                seen=seen,
                changed=changed,
                enqueued=enqueued + requeued,
                cursor_to=cursor_to,
            )
    except Exception as exc:
        with runtime.sessions.begin() as session:
            finish_poll_cycle(
                session,
                cycle_id,
                status="failed",
                seen=seen,
                changed=changed,
                enqueued=enqueued + requeued,
                cursor_to=cursor,
                # One line, never the SQL: `rbsync status` prints it (ledger.errors).
                error=describe_error(exc),
            )
        metrics.observe_poll(kind, "failed", time.monotonic() - started)
        raise
    metrics.observe_poll(kind, "done", time.monotonic() - started)
    return PollReport(
        kind,
        seen=seen,
        changed=changed,
        enqueued=enqueued,
        requeued=requeued,
        failed=failed,
        unstored=unstored,
        cursor_from=cursor,
        cursor_to=cursor_to,
    )


def _log_poison(kind: str, stored: StoreReport) -> None:
    """Say what the ledger could not hold as it was (the rows say it too, but for ``unstored``
    records this line is all there is)."""
    for key, fields in stored.cleaned:
        log.warning(
            "%s %s: characters the ledger cannot hold removed from %s", kind, key, ", ".join(fields)
        )
    for key, reason in stored.failed:
        log.warning("%s %s: stored as failed: %s", kind, key, reason)
    for key, reason in stored.unstored:
        log.error(
            "%s %.200s: not stored, and read again only when it changes in Rackbeat: %s",
            kind,
            key,
            reason,
        )


def _changed(runtime: Runtime, kind: str, since: datetime | None) -> Iterator[Any]:
    """Records of ``kind`` changed at or after ``since`` (everything when None).

    Versions the ledger already holds from the overlap window are passed to the client, which
    then neither completes nor yields them: a poll with no changes costs the list pages only.
    """
    client = runtime.rackbeat
    resource = registry.get(kind).rackbeat
    if since is None:
        yield from client.changed_since(resource, datetime(1970, 1, 1, tzinfo=utcnow().tzinfo))
        return
    with runtime.sessions() as session:
        held = held_versions(session, kind, since)
    yield from client.changed_since(resource, since, held=held)


@shared_task(bind=True, base=PipelineTask, name=POLL_TASK, ignore_result=True)
def poll(
    self: PipelineTask, kind: str, scheduled: bool = False, connection: str = DEFAULT_CONNECTION
) -> dict[str, Any]:
    """Poll ``kind`` and enqueue a sync per changed record (beat sends one per period,
    ``scheduled``: skipped when the kind was polled less than half a period ago)."""
    app = self.app
    settings = self.runtime.settings
    if scheduled and not self.request.retries:
        age = polled_recently(self.runtime, kind)
        if age is not None:
            log.info("poll of %s skipped: polled %.0f s ago", kind, age)
            return PollReport(kind, skipped=True).to_json()
    gone = disconnection(self.runtime)  # plugin.uninstalled: no poll until registered again
    gone = gone or stopped_state(self.runtime)  # paused by an operator, or broken
    if gone is not None:
        log.warning("poll of %s skipped: %s", kind, gone)
        return PollReport(kind, skipped=True).to_json()
    # Stored webhook deliveries whose message never went out: the sweep sends them too, but
    # without a beat (``rbsync sync --once``) only a poll comes round.
    send_unsent_webhook_events(self.runtime, app)
    covered = covered_by_webhooks(self.runtime, kind) if scheduled else None
    if covered is not None:
        log.info("poll of %s skipped: %s", kind, covered)
        return PollReport(kind, skipped=True).to_json()

    sent = 0

    def enqueue(kind_: str, keys: list[str]) -> int:
        # A poll that sends more than the bulk threshold is a backlog (a first push): its
        # syncs go on the bulk lane, which the poller never takes (tasks.enqueue.bulk_route).
        nonlocal sent
        sent += len(keys)
        return enqueue_sync(
            app,
            kind_,
            keys,
            connection=connection,
            batch_size=settings.sync_batch_size,
            bulk=sent > settings.bulk_threshold,
        )

    try:
        return poll_kind(self.runtime, kind, enqueue).to_json()
    except AuthenticationError as exc:
        mark_refused(self.runtime, exc, f"poll of {kind}")  # this connection alone stops
        raise
    except (RetriableError, OperationalError, LockTimeoutError, SoftTimeLimitExceeded) as exc:
        # Nothing is lost by a failed poll (the cursor stayed); run it again soon, bounded.
        retries = int(self.request.retries or 0)
        if retries >= settings.sync_max_retries:
            raise
        countdown = backoff(settings, retries)
        log.warning(
            "poll of %s failed (%s); retry %d in %.1f s",
            kind,
            describe_error(exc),
            retries + 1,
            countdown,
        )
        raise self.retry(exc=exc, countdown=countdown, max_retries=None) from exc

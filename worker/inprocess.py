"""A Celery worker inside this process: ``rbsync sync --once`` and the demo.

:func:`run_once` polls every kind once, then **drives every row that needs work to a final
state** in this run, and reports what the ledger says at the end. It runs a real Celery worker
(thread pool) on the configured broker, consuming a **private queue** that only this run
publishes to: a production worker fleet on the same Redis never takes this run's messages, and
this run never takes theirs. Completion is counted, not guessed: every message published to the
private queue counts one up, every task that ends on it counts one down.

The run, in rounds:

1. the polls (their changed keys go out in batches, as in production);
2. up to ``sync_max_retries`` re-drive rounds: every row of the kinds run that is ``pending`` or
   ``unknown`` (whether or not a message was ever sent for it: a run that stopped before
   sending leaves such rows) or ``in_flight`` under a claim gone stale is sent again, after a
   short backoff. Retriable outcomes are *not* retried through Celery here (``rbsync_hand_on``
   is off): an outage leaves rows ``pending`` -- never ``dead`` -- for the next run, and the run
   ends in bounded time. A round that settles nothing ends the rounds early.

The report's verdict comes from the ledger, not from task results: ``ok`` only when no row of
the kinds run is unsettled (anything but ``synced`` or ``skipped``), every poll ran, and the
run did not time out.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from celery import Celery
from celery import _state as celery_state
from celery.signals import before_task_publish, task_postrun
from celery.worker import WorkController
from kombu import Queue

from kinds import registry
from ledger import (
    DEFAULT_CONNECTION,
    Unsettled,
    describe_error,
    last_outcomes_since,
    links_attempted_since,
    unsettled,
    utcnow,
    work_to_drive,
)
from tasks.enqueue import enqueue_sync
from tasks.errors import TASK_FAILURES
from tasks.names import POLL_TASK
from tasks.sync import HAND_ON_SETTING
from wiring.settings import Settings
from worker.app import create_app

__all__ = ["OnceReport", "Outstanding", "in_process_worker", "run_once"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 3600.0
ROUND_BACKOFF_CAP_SECONDS = 30.0
"""The longest pause between two re-drive rounds: a one-shot run is watched by someone."""
WORKER_START_TIMEOUT_SECONDS = 60.0
WORKER_STOP_TIMEOUT_SECONDS = 60.0


@dataclasses.dataclass
class OnceReport:
    """What one ``run_once`` did, and what the ledger says at its end."""

    polls: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    """The poll report of every kind (``skipped`` when another poll held the kind's lock)."""
    entities: dict[tuple[str, str], dict[str, Any]] = dataclasses.field(default_factory=dict)
    """Every (kind, key) this run attempted, with its row's final status and error."""
    unsettled: list[Unsettled] = dataclasses.field(default_factory=list)
    """Every row of the kinds run that is not synced or skipped at the end (this run's or not)."""
    errors: list[str] = dataclasses.field(default_factory=list)
    """Tasks that raised for another reason than an entity's failure (a poll that could not
    reach Rackbeat, ...)."""
    rounds: int = 0
    """Re-drive rounds run after the polls."""
    timed_out: bool = False

    def counts(self) -> dict[str, dict[str, int]]:
        """``{kind: {status: n}}`` over the entities of this run."""
        table: dict[str, dict[str, int]] = {}
        for (kind, _key), result in sorted(self.entities.items()):
            status = str(result.get("status") or "unknown")
            table.setdefault(kind, {})
            table[kind][status] = table[kind].get(status, 0) + 1
        return table

    def unsettled_by_status(self) -> dict[str, list[Unsettled]]:
        """The unsettled rows grouped by status."""
        grouped: dict[str, list[Unsettled]] = {}
        for row in self.unsettled:
            grouped.setdefault(row.status, []).append(row)
        return grouped

    @property
    def ok(self) -> bool:
        """True when every row is synced or skipped, every poll ran and nothing timed out."""
        return not (self.timed_out or self.errors or self.unsettled)


class Outstanding:
    """Counts the messages of one queue that are published but not yet finished."""

    def __init__(self, queue: str, report: OnceReport) -> None:
        self.queue = queue
        self.report = report
        self._count = 0
        self._cond = threading.Condition()

    def on_publish(self, routing_key: str | None = None, **_kwargs: Any) -> None:
        if routing_key == self.queue:
            with self._cond:
                self._count += 1

    def on_postrun(
        self,
        task: Any = None,
        retval: Any = None,
        state: str | None = None,
        args: Any = None,
        **_kwargs: Any,
    ) -> None:
        delivery = getattr(getattr(task, "request", None), "delivery_info", None) or {}
        if delivery.get("routing_key") != self.queue:
            return
        name = getattr(task, "name", "")
        if state == "SUCCESS" and isinstance(retval, dict) and name == POLL_TASK:
            self.report.polls[str(retval["kind"])] = retval
        elif state == "FAILURE" and not isinstance(retval, TASK_FAILURES):
            # An entity's failure is in the ledger (and read from there at the end); anything
            # else that raised is an error of the run itself.
            # One line, never a database error's SQL and parameters (record content).
            error = describe_error(retval) if isinstance(retval, BaseException) else retval
            self.report.errors.append(f"{name}{tuple(args or ())}: {error}")
        with self._cond:
            self._count -= 1
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is outstanding; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._count > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 1.0))
            return True


@contextmanager
def in_process_worker(
    app: Celery, queue: str, *, concurrency: int, remote_control: bool = False
) -> Iterator[WorkController]:
    """A Celery worker (thread pool) consuming ``queue`` in a background thread.

    ``app`` becomes Celery's process-wide default app meanwhile: the thread pool resolves task
    names through the default app, not through the worker's. ``remote_control``: answer
    broadcasts (ping, inspect) like a standalone worker; a one-shot run needs none.
    """
    started = threading.Event()
    app.conf.worker_enable_remote_control = remote_control
    previous_default = getattr(celery_state, "default_app", None)
    app.set_default()

    class _Worker(WorkController):
        def on_consumer_ready(self, consumer: Any) -> None:  # noqa: ARG002
            started.set()

    worker = _Worker(
        app=app,
        pool_cls="threads",
        concurrency=concurrency,
        queues=[queue],
        hostname=f"rbsync-once-{uuid.uuid4().hex[:8]}@localhost",
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        loglevel="WARNING",
    )
    thread = threading.Thread(target=worker.start, name="rbsync-worker", daemon=True)
    thread.start()
    if not started.wait(WORKER_START_TIMEOUT_SECONDS):
        worker.stop(in_sighandler=False)
        raise RuntimeError("the in-process worker did not start within its time limit")
    try:
        yield worker
    finally:
        worker.stop(in_sighandler=False)
        thread.join(WORKER_STOP_TIMEOUT_SECONDS)
        celery_state.set_default_app(previous_default)  # type: ignore[arg-type] # None: unset


def _final_statuses(
    app: Celery, report: OnceReport, started: datetime, kinds: list[str], connection: str
) -> None:
    """Fill the report from the ledger: every row attempted since the run started (records
    synced only as another's dependency included) with its final state, and every row of
    ``kinds`` that is not settled, whoever left it so."""
    from wiring.runtime import runtime_for

    runtime = runtime_for(app, connection)
    with runtime.sessions() as session:
        outcomes = last_outcomes_since(session, started)
        for link in links_attempted_since(session, started):
            report.entities[(link.kind, link.key)] = {
                "kind": link.kind,
                "key": link.key,
                "outcome": outcomes.get(link.id),
                "status": link.status,
                "remote_id": link.remote_id,
                "error": link.last_error,
            }
        report.unsettled = unsettled(session, kinds)


def _work(app: Celery, kinds: list[str], connection: str) -> list[tuple[str, str]]:
    from wiring.runtime import runtime_for

    runtime = runtime_for(app, connection)
    with runtime.sessions() as session:
        return work_to_drive(session, kinds)


def _send(app: Celery, work: list[tuple[str, str]], batch_size: int, connection: str) -> None:
    by_kind: dict[str, list[str]] = {}
    for kind, key in work:
        by_kind.setdefault(kind, []).append(key)
    for kind, keys in by_kind.items():
        enqueue_sync(app, kind, keys, connection=connection, batch_size=batch_size)


def run_once(
    settings: Settings,
    *,
    kinds: Iterable[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    concurrency: int | None = None,
    sleep: Any = time.sleep,
    connection: str = DEFAULT_CONNECTION,
) -> OnceReport:
    """Poll each kind of ``connection`` once and drive every row that needs work to a final
    state, here."""
    wanted = list(kinds) if kinds is not None else registry.names()
    for kind in wanted:
        registry.get(kind)  # a ValueError naming the known kinds
    queue = f"rbsync.once.{uuid.uuid4().hex[:12]}"
    app = create_app(settings)
    app.conf.task_default_queue = queue
    app.conf.task_queues = (Queue(queue),)
    app.conf.task_routes = {}  # polls too: everything of this run stays on its private queue
    app.conf.worker_send_task_events = False
    app.conf.task_send_sent_event = False
    app.conf[HAND_ON_SETTING] = False  # retriable rows come back in this run's own rounds
    report = OnceReport()
    started = utcnow()
    deadline = time.monotonic() + timeout
    outstanding = Outstanding(queue, report)
    before_task_publish.connect(outstanding.on_publish, weak=False)
    task_postrun.connect(outstanding.on_postrun, weak=False)
    try:
        with in_process_worker(
            app, queue, concurrency=concurrency or settings.sync_once_concurrency
        ):
            with app.producer_or_acquire() as producer:
                for kind in wanted:
                    app.send_task(
                        POLL_TASK,
                        args=[kind],
                        kwargs={"connection": connection},
                        producer=producer,
                    )
            report.timed_out = not outstanding.wait_idle(deadline - time.monotonic())
            previous: list[tuple[str, str]] | None = None
            while not report.timed_out and report.rounds < settings.sync_max_retries:
                work = _work(app, wanted, connection)
                if not work or (previous is not None and set(work) >= set(previous)):
                    break  # all settled, or the last round settled nothing
                if previous is not None:
                    pause = min(
                        ROUND_BACKOFF_CAP_SECONDS,
                        settings.retry_backoff_seconds * 2 ** (report.rounds - 1),
                        max(0.0, deadline - time.monotonic()),
                    )
                    sleep(pause)
                report.rounds += 1
                log.info("sync --once: round %d, %d row(s) to drive", report.rounds, len(work))
                _send(app, work, settings.sync_batch_size, connection)
                report.timed_out = not outstanding.wait_idle(deadline - time.monotonic())
                previous = work
        _final_statuses(app, report, started, wanted, connection)
    finally:
        before_task_publish.disconnect(outstanding.on_publish)
        task_postrun.disconnect(outstanding.on_postrun)
        from wiring.runtime import set_runtime

        set_runtime(app, None)
    return report

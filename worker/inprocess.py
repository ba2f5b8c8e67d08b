"""A Celery worker inside this process: ``rbsync sync --once`` and the demo.

:func:`run_once` polls every kind once and processes all the work those polls produce -- and
the retries and re-enqueues that work produces -- to completion, then stops. It runs a real
Celery worker (thread pool) on the configured broker, consuming a **private queue** that only
this run publishes to: a production worker fleet on the same Redis never takes this run's
messages, and this run never takes theirs. Completion is counted, not guessed: every message
published to the private queue counts one up, every task that ends on it counts one down.
"""

from __future__ import annotations

import dataclasses
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

from ledger import Kind, links_attempted_since, links_of, utcnow
from tasks.enqueue import POLL_TASK, SYNC_BATCH_TASK, SYNC_TASK
from worker.app import create_app
from worker.settings import Settings

__all__ = ["FAILED_STATUSES", "OnceReport", "Outstanding", "in_process_worker", "run_once"]

FAILED_STATUSES = frozenset({"failed", "dead", "unknown", "pending", "in_flight"})
"""Final statuses that make ``sync --once`` exit 1 (work not done, or done wrong)."""

DEFAULT_TIMEOUT_SECONDS = 3600.0
WORKER_START_TIMEOUT_SECONDS = 60.0
WORKER_STOP_TIMEOUT_SECONDS = 60.0


@dataclasses.dataclass
class OnceReport:
    """What one ``run_once`` did."""

    polls: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    """The poll report of every kind (``skipped`` when another poll held the kind's lock)."""
    entities: dict[tuple[str, str], dict[str, Any]] = dataclasses.field(default_factory=dict)
    """The last sync result of every (kind, key) this run processed."""
    errors: list[str] = dataclasses.field(default_factory=list)
    """Tasks that raised (a poll that could not reach Rackbeat, ...)."""
    timed_out: bool = False

    def counts(self) -> dict[str, dict[str, int]]:
        """``{kind: {status: n}}`` over the entities of this run."""
        table: dict[str, dict[str, int]] = {}
        for (kind, _key), result in sorted(self.entities.items()):
            status = str(result.get("status") or "unknown")
            table.setdefault(kind, {})
            table[kind][status] = table[kind].get(status, 0) + 1
        return table

    @property
    def ok(self) -> bool:
        """True when nothing failed, nothing is left undone and every poll ran."""
        if self.timed_out or self.errors:
            return False
        return not any(str(r.get("status")) in FAILED_STATUSES for r in self.entities.values())


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
        if state == "SUCCESS" and isinstance(retval, dict):
            if name == SYNC_TASK:
                self.report.entities[(str(retval["kind"]), str(retval["key"]))] = retval
            elif name == SYNC_BATCH_TASK:
                # Each entity's final state is read from the ledger at the end (_final_statuses).
                kind = str(retval["kind"])
                for key, outcome, status in retval["entities"]:
                    self.report.entities[(kind, str(key))] = {
                        "kind": kind,
                        "key": str(key),
                        "outcome": outcome,
                        "status": status,
                    }
            elif name == POLL_TASK:
                self.report.polls[str(retval["kind"])] = retval
        elif state == "FAILURE":
            self.report.errors.append(f"{name}{tuple(args or ())}: {retval!r}")
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
def in_process_worker(app: Celery, queue: str, *, concurrency: int) -> Iterator[WorkController]:
    """A Celery worker (thread pool) consuming ``queue`` in a background thread.

    ``app`` becomes Celery's process-wide default app meanwhile: the thread pool resolves task
    names through the default app, not through the worker's.
    """
    started = threading.Event()
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


def _final_statuses(app: Celery, report: OnceReport, started: datetime) -> None:
    """Replace each entity's last task result by its row's final state in the ledger.

    A task result can be stale: a record synced as another's dependency (a customer before
    its invoice) answers its own task ``busy`` while the other holds it. And a record synced
    only as another's dependency has no task of its own: every row attempted since the run
    started is added.
    """
    from tasks.runtime import runtime_for

    runtime = runtime_for(app)
    with runtime.sessions() as session:
        for link in links_attempted_since(session, started):
            report.entities.setdefault((link.kind, link.key), {"kind": link.kind, "key": link.key})
        for link in links_of(session, list(report.entities)):
            result = report.entities[(link.kind, link.key)]
            result.update(
                status=link.status,
                remote_id=link.remote_id,
                error=link.last_error,
            )


def run_once(
    settings: Settings,
    *,
    kinds: Iterable[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    concurrency: int | None = None,
) -> OnceReport:
    """Poll each kind once and process everything that follows, in this process."""
    wanted = list(kinds) if kinds is not None else [k.value for k in Kind]
    unknown = sorted(set(wanted) - {k.value for k in Kind})
    if unknown:
        raise ValueError(f"unknown kind(s) {unknown}; expected {[k.value for k in Kind]}")
    queue = f"rbsync.once.{uuid.uuid4().hex[:12]}"
    app = create_app(settings)
    app.conf.task_default_queue = queue
    app.conf.task_queues = (Queue(queue),)
    app.conf.task_routes = {}  # polls too: everything of this run stays on its private queue
    app.conf.worker_send_task_events = False
    app.conf.task_send_sent_event = False
    report = OnceReport()
    started = utcnow()
    outstanding = Outstanding(queue, report)
    before_task_publish.connect(outstanding.on_publish, weak=False)
    task_postrun.connect(outstanding.on_postrun, weak=False)
    try:
        with in_process_worker(
            app, queue, concurrency=concurrency or settings.sync_once_concurrency
        ):
            with app.producer_or_acquire() as producer:
                for kind in wanted:
                    app.send_task(POLL_TASK, args=[kind], producer=producer)
            report.timed_out = not outstanding.wait_idle(timeout)
        _final_statuses(app, report, started)
    finally:
        before_task_publish.disconnect(outstanding.on_publish)
        task_postrun.disconnect(outstanding.on_postrun)
        from tasks.runtime import set_runtime

        set_runtime(app, None)
    return report

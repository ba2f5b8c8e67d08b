"""The Celery task ``rbsync.initial_sync(kinds=None, dry_run=False)``: the engine in slices.

A slice works for :data:`TASK_BUDGET_FRACTION` of the task time limit, then sends the next
slice, so a long copy is a chain of short tasks, none near the broker's visibility timeout.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import shared_task

from ledger import DEFAULT_CONNECTION
from tasks.base import PipelineTask, backoff
from tasks.initial.engine import InitialSyncBusyError
from tasks.initial.run import run_initial_sync
from tasks.names import INITIAL_SYNC_TASK

__all__ = ["INITIAL_SYNC_TASK", "TASK_BUDGET_FRACTION", "initial_sync"]

log = logging.getLogger(__name__)


TASK_BUDGET_FRACTION = 0.5
"""A task run stops after this share of the task time limit and sends its continuation: far
from the soft limit, so that no record is cut off half-way."""


@shared_task(bind=True, base=PipelineTask, name=INITIAL_SYNC_TASK, ignore_result=True)
def initial_sync(
    self: PipelineTask,
    kinds: list[str] | None = None,
    dry_run: bool = False,
    connection: str = DEFAULT_CONNECTION,
) -> dict[str, Any]:
    """Run (a slice of) the initial sync; the next slice is sent when the time budget ends it.

    A run that an unreachable API stopped is retried with backoff (a finite budget); one that
    finds another initial sync running ends at once, reporting that.
    """
    runtime = self.runtime
    settings = runtime.settings
    budget = settings.task_time_limit_seconds * TASK_BUDGET_FRACTION
    try:
        report = run_initial_sync(
            runtime, kinds=kinds, dry_run=dry_run, deadline=time.monotonic() + budget
        )
    except InitialSyncBusyError as exc:
        log.warning("initial sync not started: %s", exc)
        return {"busy": True, "error": str(exc)}
    result = report.to_json()
    summary = {k: v for k, v in result["summary"].items() if any(v.values())}
    log.info(
        "initial sync%s slice: complete=%s %s",
        " (dry run)" if dry_run else "",
        report.complete,
        summary,
    )
    if report.complete or dry_run:
        return result
    if report.out_of_time and report.progressed:
        self.app.send_task(
            INITIAL_SYNC_TASK,
            kwargs={"kinds": kinds, "dry_run": False, "connection": connection},
        )
        return result
    retries = int(self.request.retries or 0)
    countdown = backoff(settings, retries)
    log.warning(
        "initial sync stopped (%s); retry %d in %.0f s", report.stopped, retries + 1, countdown
    )
    raise self.retry(countdown=countdown, max_retries=settings.sync_max_retries)

"""A progress bar for work done by an in-process Celery worker (``sync --once``, the demo).

The total is not known up front: every finished poll adds the syncs it enqueued, every finished
sync advances the bar. Both come from Celery's ``task_postrun`` signal, so the pipeline needs
no hook of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["SyncProgress", "sync_progress"]


class SyncProgress:
    """Feeds a rich progress task from ``task_postrun``: polls add work, syncs complete it."""

    def __init__(self, progress: Progress, description: str) -> None:
        self.progress = progress
        self.task = progress.add_task(description, total=None)
        self.total = 0
        self.done = 0

    def on_postrun(
        self,
        task: Any = None,
        retval: Any = None,
        state: str | None = None,
        args: Any = None,
        **_: Any,
    ) -> None:
        """The ``task_postrun`` receiver: a sync that ended (SUCCESS, or FAILURE for an
        entity that needs a human) completes its entities; a poll adds what it enqueued."""
        from tasks.names import POLL_TASK, SYNC_BATCH_TASK, SYNC_TASK

        name = getattr(task, "name", "")
        if name == POLL_TASK and state == "SUCCESS" and isinstance(retval, dict):
            self.total += int(retval.get("enqueued", 0)) + int(retval.get("requeued", 0))
            self.progress.update(self.task, total=max(self.total, self.done))
        elif name in (SYNC_TASK, SYNC_BATCH_TASK) and state in ("SUCCESS", "FAILURE"):
            keys = args[1] if name == SYNC_BATCH_TASK and args and len(args) > 1 else [None]
            self.done += len(keys)
            self.progress.update(self.task, completed=self.done, total=max(self.total, self.done))


@contextmanager
def sync_progress(
    console: Console, description: str, *, enabled: bool = True
) -> Iterator[SyncProgress]:
    """Show a bar on ``console`` while the block runs an in-process worker."""
    from celery.signals import task_postrun

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=not enabled,
    )
    with progress:
        feed = SyncProgress(progress, description)
        task_postrun.connect(feed.on_postrun, weak=False)
        try:
            yield feed
        finally:
            task_postrun.disconnect(feed.on_postrun)

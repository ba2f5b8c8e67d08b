"""The progress bar of in-process work: polls add to the total, finished syncs advance it."""

from __future__ import annotations

import io
from types import SimpleNamespace

from celery.signals import task_postrun
from rich.console import Console

from worker.commands._progress import sync_progress


def _finish(name: str, retval: object, state: str = "SUCCESS") -> None:
    task_postrun.send(sender=None, task=SimpleNamespace(name=name), retval=retval, state=state)


def test_polls_set_the_total_and_syncs_advance_it() -> None:
    console = Console(file=io.StringIO(), width=100)
    with sync_progress(console, "syncing") as feed:
        _finish("rbsync.poll", {"kind": "product", "enqueued": 3, "requeued": 1})
        _finish("rbsync.sync", {"kind": "product", "key": "A"})
        _finish("rbsync.sync", {"kind": "product", "key": "B"})
        _finish("rbsync.sync", {"kind": "product", "key": "C"}, state="RETRY")
        _finish("rbsync.poll", {"kind": "bom", "enqueued": 1, "requeued": 0})
        task = feed.progress.tasks[0]
        assert (task.completed, task.total) == (2, 5)
    # Disconnected afterwards: later tasks do not touch it.
    _finish("rbsync.sync", {"kind": "product", "key": "D"})
    assert feed.done == 2
    assert "syncing" in console.file.getvalue()  # type: ignore[attr-defined]

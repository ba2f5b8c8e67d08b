"""How Flower shows an rbsync task: its arguments as ``kind='product', key='P-1'``.

Installed as Flower's ``format_task`` option, which gets a copy of each task before a page or the
task table renders it; the event state itself (what the Retry handler reads) is untouched.
"""

from __future__ import annotations

from typing import Any

from worker.flower.retry import NotRetriableError, bind_arguments


def readable_task(task: Any) -> Any:
    """Name the arguments of an rbsync task; leave any other task as Flower shows it."""
    try:
        identity = bind_arguments(task.name or "", task.args, task.kwargs)
    except NotRetriableError:
        return task
    task.args = ", ".join(f"{name}={value!r}" for name, value in identity.items())
    task.kwargs = "{}"
    return task

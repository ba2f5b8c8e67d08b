"""The Task base class: the runtime of this process, and the retry countdown policy."""

from __future__ import annotations

import random
import threading
from typing import Any

from celery import Task
from celery._state import get_current_app
from celery.signals import worker_process_init

from ledger import DEFAULT_CONNECTION
from wiring.runtime import Runtime, reset_runtimes, runtime_for, warm_up
from wiring.settings import Settings

__all__ = ["PipelineTask", "backoff", "retry_countdown"]


def retry_countdown(
    retries: int,
    *,
    base: float,
    ceiling: float,
    at_least: float | None = None,
    rand: random.Random | None = None,
) -> float:
    """Exponential backoff with full jitter: uniform in [base, min(ceiling, base * 2**n)].

    ``at_least`` (a server's Retry-After) raises the floor; the result never exceeds
    ``ceiling``, which the app keeps far below the broker's visibility timeout.
    """
    rng = rand or random.Random()  # noqa: S311 - jitter, not cryptography
    top = min(ceiling, base * (2**retries))
    countdown = rng.uniform(min(base, top), top)
    if at_least is not None:
        countdown = max(countdown, at_least)
    return min(countdown, ceiling)


def backoff(settings: Settings, retries: int, *, at_least: float | None = None) -> float:
    """:func:`retry_countdown` with the configured backoff (``RBSYNC_RETRY_BACKOFF_*``)."""
    return retry_countdown(
        retries,
        base=settings.retry_backoff_seconds,
        ceiling=settings.retry_backoff_max_seconds,
        at_least=at_least,
    )


class PipelineTask(Task[Any, Any]):
    """Base of the rbsync tasks: ``self.runtime`` is this process's wiring for the connection
    the task works for (every task but the sweep takes a ``connection`` keyword argument)."""

    abstract = True
    typing = True

    @property
    def connection(self) -> str:
        """The connection the running task works for (its ``connection`` keyword argument)."""
        kwargs = getattr(self.request, "kwargs", None) or {}
        return str(kwargs.get("connection") or DEFAULT_CONNECTION)

    @property
    def runtime(self) -> Runtime:
        """The wiring of this process for the task's connection (built on first use)."""
        return runtime_for(self.app, self.connection)


@worker_process_init.connect
def _forget_inherited_runtime(**_kwargs: Any) -> None:
    # A prefork child inherits the parent's objects; connections must be its own. It builds
    # them at once, in the background (this hook must return within billiard's start timeout).
    # The app is the one the worker runs (Celery's current app in the child), not an import of
    # worker.app: tasks/ never reaches back into worker/.
    app = get_current_app()
    reset_runtimes(app)
    threading.Thread(target=warm_up, args=(app,), name="rbsync-warm-up", daemon=True).start()

"""The beat schedule: one poll entry per registered kind, and the sweep.

Poll and sweep messages do not expire: during a long first push they wait behind sync batches
(each bounded by its time budget), and a message discarded as expired would leave its kind
unpolled for as long as the push lasts. Messages that piled up while no worker ran cost next
to nothing: a poll of a kind polled less than half a period ago, or whose lock is held, skips
(``tasks.poll``); a sweep whose lock is held skips. Overlap is prevented by those locks, not by
beat: two beat processes started by mistake only send two messages, and the second skips.
"""

from __future__ import annotations

from typing import Any

from kinds import registry
from tasks.names import POLL_TASK, RECONCILE_TASK, SWEEP_TASK
from wiring.settings import Settings

__all__ = ["RECONCILE_ENTRY", "SWEEP_ENTRY", "beat_schedule"]

SWEEP_ENTRY = "sweep"
RECONCILE_ENTRY = "reconcile"


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Celery's ``beat_schedule``: ``poll-<kind>`` every ``poll_interval_seconds``, and
    ``sweep`` every ``sweep_interval_seconds``, ``reconcile`` every
    ``reconcile_interval_seconds`` (none when 0)."""
    period = settings.poll_interval_seconds
    schedule: dict[str, dict[str, Any]] = {
        f"poll-{kind}": {
            "task": POLL_TASK,
            "schedule": period,
            "args": (kind,),
            "kwargs": {"scheduled": True},
        }
        for kind in registry.names()
    }
    schedule[SWEEP_ENTRY] = {"task": SWEEP_TASK, "schedule": settings.sweep_interval_seconds}
    if settings.reconcile_interval_seconds > 0:
        schedule[RECONCILE_ENTRY] = {
            "task": RECONCILE_TASK,
            "schedule": settings.reconcile_interval_seconds,
        }
    return schedule

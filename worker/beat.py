"""The beat schedule: one poll tick (``rbsync.dispatch``, fanned out to the connections that
are due, ``tasks.dispatch``), the sweep and the reconcile.

Poll and sweep messages do not expire: during a long first push they wait behind sync batches
(each bounded by its time budget), and a message discarded as expired would leave its kind
unpolled for as long as the push lasts. Messages that piled up while no worker ran cost next
to nothing: a poll of a kind polled less than half a period ago, or whose lock is held, skips
(``tasks.poll``); a sweep whose lock is held skips. Overlap is prevented by those locks, not by
beat: two beat processes started by mistake only send two messages, and the second skips.
"""

from __future__ import annotations

from typing import Any

from ledger import ALL
from tasks.dispatch import dispatch_interval
from tasks.names import DISPATCH_TASK, RECONCILE_TASK, SWEEP_TASK
from wiring.settings import Settings

__all__ = ["POLL_ENTRY", "RECONCILE_ENTRY", "SWEEP_ENTRY", "beat_schedule"]

POLL_ENTRY = "poll"
SWEEP_ENTRY = "sweep"
RECONCILE_ENTRY = "reconcile"


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Celery's ``beat_schedule``: ``poll`` (the tick: ``rbsync.dispatch``) every
    ``dispatch_interval_seconds`` (the poll interval when shorter), ``sweep`` every
    ``sweep_interval_seconds``, ``reconcile`` every ``reconcile_interval_seconds`` (none when
    0). The number of connections changes nothing here."""
    schedule: dict[str, dict[str, Any]] = {
        POLL_ENTRY: {
            "task": DISPATCH_TASK,
            "schedule": dispatch_interval(
                settings.poll_interval_seconds, settings.dispatch_interval_seconds
            ),
        },
        SWEEP_ENTRY: {"task": SWEEP_TASK, "schedule": settings.sweep_interval_seconds},
    }
    if settings.reconcile_interval_seconds > 0:
        schedule[RECONCILE_ENTRY] = {
            "task": RECONCILE_TASK,
            "schedule": settings.reconcile_interval_seconds,
            "kwargs": {"connection": ALL},  # one reconcile per active connection
        }
    return schedule

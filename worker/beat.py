"""The beat schedule: one poll entry per registered kind, each expiring after one period.

``expires`` revokes a poll message that waited a whole period unconsumed (a stopped worker must
not find a pile of stale polls when it comes back). Overlap is prevented by the poll task's own
lock (``wiring.locks``), not by beat: two beat processes started by mistake only send two
messages, and the second poll of a kind skips while the first holds its lock.
"""

from __future__ import annotations

from typing import Any

from kinds import registry
from tasks.names import POLL_TASK
from wiring.settings import Settings

__all__ = ["beat_schedule"]


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Celery's ``beat_schedule``: ``poll-<kind>`` every ``poll_interval_seconds``."""
    period = settings.poll_interval_seconds
    return {
        f"poll-{kind}": {
            "task": POLL_TASK,
            "schedule": period,
            "args": (kind,),
            "options": {"expires": period},
        }
        for kind in registry.names()
    }

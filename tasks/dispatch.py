"""``rbsync.dispatch``: beat's one poll tick, fanned out to the connections that are due.

Beat sends it every ``RBSYNC_DISPATCH_INTERVAL_SECONDS`` (5 s; the poll interval when that is
shorter), whatever the number of connections: the schedule does not grow with them. Each
active connection (``wiring.connections``: stored ones not paused or broken, and the
environment's ``default``) has a fixed phase within the poll period, derived from its name, and
is due at the tick whose window holds its phase: its polls (one ``rbsync.poll`` per kind,
``scheduled``) go out then. So 1,000 connections are polled evenly across the period rather
than all at once, each once per period.

A tick that never ran (beat down, the poll queue stuck) leaves the connections of its window
for the next period; a tick that runs twice over one window sends their polls twice, and the
second skips (a scheduled poll of a kind polled less than half a period ago does nothing).
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery import Celery, shared_task

from kinds import registry
from ledger import utcnow
from tasks.base import PipelineTask
from tasks.names import DISPATCH_TASK, POLL_TASK
from wiring.connections import connection_infos
from wiring.runtime import fleet_for

__all__ = ["DispatchReport", "dispatch", "due_connections", "phase", "send_polls"]

log = logging.getLogger(__name__)

ACTIVE = "active"


def phase(name: str, period: float) -> float:
    """Where in the poll period connection ``name`` is polled (seconds from the period's
    start; stable across processes and restarts: a CRC of the name)."""
    return zlib.crc32(name.encode()) / 2**32 * period


def due_connections(names: list[str], *, period: float, tick: float, now: datetime) -> list[str]:
    """The connections whose phase lies in the window ``(now - tick, now]`` of the period
    (all of them when the tick is as long as the period)."""
    if tick >= period:
        return list(names)
    end = now.timestamp() % period
    start = end - tick
    due = []
    for name in names:
        at = phase(name, period)
        if start < at <= end or (start < 0 and at > start + period):
            due.append(name)
    return due


@dataclass(frozen=True)
class DispatchReport:
    """What one tick did."""

    active: int
    due: list[str]
    inactive: int

    def to_json(self) -> dict[str, Any]:
        return {"active": self.active, "due": self.due, "inactive": self.inactive}


def send_polls(app: Celery, connections: list[str]) -> None:
    """One scheduled ``rbsync.poll`` per kind of each connection."""
    with app.producer_or_acquire() as producer:
        for connection in connections:
            for kind in registry.names():
                app.send_task(
                    POLL_TASK,
                    args=[kind],
                    kwargs={"scheduled": True, "connection": connection},
                    producer=producer,
                )


@shared_task(bind=True, base=PipelineTask, name=DISPATCH_TASK, ignore_result=True)
def dispatch(self: PipelineTask) -> dict[str, Any]:
    """Send the polls of the active connections that are due in this tick."""
    fleet = fleet_for(self.app)
    settings = fleet.settings
    infos = connection_infos(settings, fleet.sessions)
    active = [info.name for info in infos if info.state == ACTIVE]
    due = due_connections(
        active,
        period=settings.poll_interval_seconds,
        tick=dispatch_interval(settings.poll_interval_seconds, settings.dispatch_interval_seconds),
        now=utcnow(),
    )
    send_polls(self.app, due)
    if len(infos) > len(active):
        log.debug(
            "dispatch: %d connections paused or broken: %s",
            len(infos) - len(active),
            ", ".join(f"{i.name} ({i.state})" for i in infos if i.state != ACTIVE),
        )
    return DispatchReport(len(active), due, len(infos) - len(active)).to_json()


def dispatch_interval(poll_interval: float, dispatch_interval: float) -> float:
    """How often beat ticks: the dispatch interval, or the poll interval when shorter."""
    return min(poll_interval, dispatch_interval)

"""``rbsync.dispatch``: beat's one poll tick, fanned out to the connections that are due.

Beat sends it every ``RBSYNC_DISPATCH_INTERVAL_SECONDS`` (5 s; the poll interval when that is
shorter), whatever the number of connections: the schedule does not grow with them. Each
active connection (``wiring.connections``: stored ones not paused or broken, and the
environment's ``default``) has a fixed phase within the poll period, derived from its name, and
is due at the tick whose window holds its phase: its polls (one ``rbsync.poll`` per kind,
``scheduled``) go out then. So 1,000 connections are polled evenly across the period rather
than all at once, each once per period.

Each tick covers the time since the previous tick ran, not a fixed slice: the end of the last
window is kept in the ledger (``probe_answers``, key ``rbsync:dispatch:until``), and one tick
runs at a time (a lock). So a tick that runs late (its message waited behind others) or after
beat was down covers what was missed (at most one whole period: every connection once), and two
ticks never cover the same time; a poll sent twice all the same skips (a scheduled poll of a
kind polled less than half a period ago does nothing).
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import Celery, shared_task

from kinds import registry
from ledger import get_probe_answer, put_probe_answer, utcnow
from tasks.base import PipelineTask
from tasks.names import DISPATCH_TASK, POLL_TASK
from wiring.connections import connection_infos
from wiring.runtime import fleet_for

__all__ = ["DispatchReport", "dispatch", "due_connections", "phase", "send_polls"]

log = logging.getLogger(__name__)

ACTIVE = "active"

WINDOW_KEY = "rbsync:dispatch:until"
"""Where the end of the last tick's window is kept (ledger ``probe_answers``)."""


def phase(name: str, period: float) -> float:
    """Where in the poll period connection ``name`` is polled (seconds from the period's
    start; stable across processes and restarts: a CRC of the name)."""
    return zlib.crc32(name.encode()) / 2**32 * period


def due_connections(
    names: list[str], *, period: float, start: datetime, end: datetime
) -> list[str]:
    """The connections whose phase lies in the window ``(start, end]`` of the period (all of
    them when the window is a whole period or longer)."""
    if (end - start).total_seconds() >= period:
        return list(names)
    stop = end.timestamp() % period
    begin = stop - (end - start).total_seconds()
    due = []
    for name in names:
        at = phase(name, period)
        if begin < at <= stop or (begin < 0 and at > begin + period):
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
    period = settings.poll_interval_seconds
    tick = dispatch_interval(period, settings.dispatch_interval_seconds)
    lock = fleet.locks("dispatch", max(tick, 30.0))
    if not lock.acquire():
        return {"skipped": "another tick is running"}
    try:
        now = utcnow()
        with fleet.sessions() as session:
            known = get_probe_answer(session, WINDOW_KEY, now=now)
        start = now - timedelta(seconds=tick)
        if known is not None:
            start = max(datetime.fromisoformat(known), now - timedelta(seconds=period))
        infos = connection_infos(settings, fleet.sessions)
        active = [info.name for info in infos if info.state == ACTIVE]
        due = due_connections(active, period=period, start=start, end=now)
        send_polls(self.app, due)
        with fleet.sessions.begin() as session:
            put_probe_answer(
                session, WINDOW_KEY, now.isoformat(), expires_at=now + timedelta(days=365)
            )
    finally:
        lock.release()
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

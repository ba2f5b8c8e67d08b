"""``rbsync.sweep``: every few seconds, send again the work whose holder or message was lost.

Beat sends it every ``RBSYNC_SWEEP_INTERVAL_SECONDS`` (5 s) on the poll queue. One sweep runs
at a time (a lock, as for polls); each asks the ledger (``ledger.sweep``) for

- rows ``in_flight`` whose lease ran out: their worker died (a SIGKILL, a hard time limit, a
  pool child terminated when the broker connection dropped). Sent at once: the new message's
  claim takes the row over, and the create protocol's intent makes it look before it writes;
- waiting rows whose message was lost: past due by one lease while the sync queue is empty
  (a countdown held by a killed worker, a prefetched message of a dead one), or by
  ``RBSYNC_REQUEUE_AFTER_SECONDS`` while it is not (a long first push must not be doubled);
- waiting rows sent before the broker last started (a Redis restart without persistence).

So a killed worker's rows are back at work within a lease plus a sweep interval, not when the
broker's visibility timeout (an hour) or the next poll of their kind comes round.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from amqp.exceptions import ChannelError
from celery import Celery, shared_task

from ledger import mark_sent, overdue_work, utcnow
from tasks.base import PipelineTask
from tasks.enqueue import bulk_route, enqueue_sync
from tasks.names import SWEEP_TASK
from wiring.runtime import Wiring, fleet_for

__all__ = ["SweepReport", "broker_facts", "sweep", "sweep_once"]

log = logging.getLogger(__name__)

SWEEP_LIMIT = 10_000
"""Rows one sweep sends at most (the next sweep takes the rest)."""


@dataclasses.dataclass(frozen=True)
class SweepReport:
    """What one sweep did."""

    skipped: bool = False
    expired: int = 0
    lost: int = 0
    broker_restarted: int = 0
    queue_empty: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


BrokerFacts = Callable[[], tuple[bool | None, datetime | None]]
"""``() -> (sync queues empty?, broker start time)``; None where the broker cannot say."""


def sweep_once(
    wiring: Wiring,
    send: Callable[[str, str, list[str]], int],
    facts: BrokerFacts,
    *,
    now: Callable[[], datetime] = utcnow,
) -> SweepReport:
    """One sweep (see the module doc); a sweep already running makes it skip.

    ``wiring`` is the fleet (every connection's rows) or one connection's runtime;
    ``send(connection, kind, keys)`` sends the rows again.
    """
    settings = wiring.settings
    lock = wiring.locks("sweep", settings.lease_seconds)
    if not lock.acquire():
        return SweepReport(skipped=True)
    try:
        empty, started = facts()
        moment = now()
        grace = settings.lease_seconds if empty else settings.requeue_after_seconds
        with wiring.sessions() as session:
            rows = overdue_work(
                session,
                lost_before=moment - timedelta(seconds=grace),
                broker_started=started,
                now=moment,
                limit=SWEEP_LIMIT,
            )
        by_kind: dict[tuple[str, str], list[str]] = {}
        for row in rows:
            by_kind.setdefault((row.connection, row.kind), []).append(row.key)
        for (connection, kind), keys in by_kind.items():
            send(connection, kind, keys)
        with wiring.sessions.begin() as session:
            mark_sent(session, [row.id for row in rows], now=moment)
    finally:
        lock.release()
    counts = {why: sum(1 for row in rows if row.why == why) for why in ("expired", "lost")}
    report = SweepReport(
        expired=counts["expired"],
        lost=counts["lost"],
        broker_restarted=len(rows) - counts["expired"] - counts["lost"],
        queue_empty=empty,
    )
    if rows:
        log.warning(
            "sweep: sent again %d rows whose lease ran out, %d whose message was lost, "
            "%d sent before the broker restarted",
            report.expired,
            report.lost,
            report.broker_restarted,
        )
    return report


def broker_facts(app: Celery, *queues: str) -> tuple[bool | None, datetime | None]:
    """Whether every one of ``queues`` holds no message, and when the broker (Redis) last
    started.

    Either is None when the broker cannot say (the embedded broker keeps its messages in
    files, which survive its restarts: no start time).
    """
    depths: list[int | None] = []
    started: datetime | None = None
    with app.connection_for_write() as conn:
        channel: Any = conn.default_channel  # kombu's virtual channel (Redis, filesystem)
        for queue in queues:
            try:
                depths.append(int(channel.queue_declare(queue=queue, passive=True).message_count))
            except ChannelError:
                depths.append(0)  # never declared: no worker consumed it yet, nothing is in it
            except Exception as exc:
                log.info("sweep: the depth of %s is unknown (%s)", queue, type(exc).__name__)
                depths.append(None)
        client = getattr(channel, "client", None)
        info = getattr(client, "info", None)
        if callable(info):
            uptime = info("server").get("uptime_in_seconds")
            if uptime is not None:
                started = utcnow() - timedelta(seconds=int(uptime))
    # One queue holding messages says "not empty" whatever the others could not tell.
    empty = False if any(depths) else (None if None in depths else True)
    return empty, started


@shared_task(bind=True, base=PipelineTask, name=SWEEP_TASK, ignore_result=True)
def sweep(self: PipelineTask) -> dict[str, Any]:
    """Send again the rows whose lease ran out or whose message was lost (beat: every 5 s)."""
    app = self.app
    fleet = fleet_for(app)  # every connection's rows
    settings = fleet.settings
    # The sync lanes: the default queue and, when declared, the bulk lane (a backlog waiting
    # there is not lost, and must not be sent twice).
    queues = [str(app.conf.task_default_queue), *bulk_route(app).values()]

    def send(connection: str, kind: str, keys: list[str]) -> int:
        return enqueue_sync(
            app,
            kind,
            keys,
            connection=connection,
            batch_size=settings.sync_batch_size,
            bulk=len(keys) > settings.bulk_threshold,
        )

    from tasks.webhooks import send_unsent_webhook_events

    send_unsent_webhook_events(fleet, app)  # stored deliveries whose message is not out
    return sweep_once(fleet, send, lambda: broker_facts(app, *queues)).to_json()

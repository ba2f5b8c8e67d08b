"""What ``rbsync metrics serve`` exposes (docs/observability.md): the worker processes' own
metrics (``wiring.metrics``, added up from their files), and gauges read at scrape time from the
ledger, Redis and beat's tick.

Read at scrape time (nothing is cached, so a scrape says what is true now):

- from the ledger (:class:`LedgerCollector`): ``rbsync_entities{kind,status}`` (every kind and
  status, zeros included, so that an alert on a status sees it appear),
  ``rbsync_oldest_pending_age_seconds{kind}``, ``rbsync_cursor_lag_seconds{kind}``,
  ``rbsync_last_successful_poll_timestamp_seconds{kind}``, ``rbsync_poll_interval_seconds{kind}``,
  ``rbsync_connections{state}`` and ``rbsync_ledger_up``; over every connection (counts summed,
  the cursor lag and the last poll of the connection furthest behind);
- from Redis and beat's tick (:class:`BrokerCollector`): ``rbsync_queue_depth{queue}`` (a Redis
  broker only), ``rbsync_beat_last_tick_timestamp_seconds`` and ``rbsync_redis_up``.

A ledger or Redis that does not answer makes its ``*_up`` gauge 0 and leaves its other gauges
out of that scrape; the scrape itself still succeeds.
"""

from __future__ import annotations

import logging
import socketserver
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import redis
import sqlalchemy.exc
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from kinds import registry as kinds
from ledger import (
    ALL,
    Status,
    counts_by_kind_and_status,
    make_session_factory,
    oldest_active_by_kind,
    poll_progress,
    utcnow,
)
from ledger.webhooks import subscriptions
from tasks.names import QUEUES
from wiring.connections import connection_infos
from wiring.metrics import metrics_dir
from wiring.settings import Settings
from worker.health import last_beat_tick

if TYPE_CHECKING:
    from wiring.runtime import Runtime

__all__ = [
    "QUEUES",
    "BrokerCollector",
    "LedgerCollector",
    "build_registry",
    "cursor_lag_seconds",
    "make_metrics_server",
]

log = logging.getLogger(__name__)

KOMBU_PRIORITY_SEPARATOR = "\x06\x16"
KOMBU_PRIORITY_STEPS = (3, 6, 9)
"""Kombu's Redis transport keeps a message sent with a priority in ``<queue>\\x06\\x16<step>``;
rbsync sends none, but a depth that missed them would be wrong the day one does."""


def cursor_lag_seconds(
    position: datetime | None, last_done_start: datetime | None, now: datetime
) -> float | None:
    """How far behind Rackbeat a kind's reading is: now minus the point up to which every
    change is known to be read.

    That point is the cursor, or the start of the latest completed poll when it is later: the
    cursor stops at the newest record a poll saw, so when nothing changes in Rackbeat it stays
    put while every poll still reads up to its own start. None before any of the two exists.
    """
    marks = [mark for mark in (position, last_done_start) if mark is not None]
    if not marks:
        return None
    return max(0.0, (now - max(marks)).total_seconds())


def connection_states(settings: Settings, sessions: Any) -> dict[str, int]:
    """How many connections are in each state (``wiring.connections``; nothing decrypted)."""
    states: dict[str, int] = {}
    for info in connection_infos(settings, sessions):
        states[info.state] = states.get(info.state, 0) + 1
    return states


class LedgerCollector(Collector):
    """Gauges read from the ledger at every scrape."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        # Every connection's rows: the gauges are the deployment's (per kind, the worst
        # connection where a total makes no sense).
        self._sessions = make_session_factory(runtime.engine, ALL)

    def collect(self) -> Iterable[Metric]:
        runtime = self._runtime
        settings = runtime.settings
        up = GaugeMetricFamily("rbsync_ledger_up", "1 when the ledger answered this scrape.")
        try:
            with self._sessions() as session:
                counts = counts_by_kind_and_status(session)
                oldest = oldest_active_by_kind(session)
                progress = poll_progress(session)
                names = list(dict.fromkeys([*kinds.names(), *counts, *(p.kind for p in progress)]))
                webhooks = bool(subscriptions(session))
            states = connection_states(settings, self._sessions)
        except sqlalchemy.exc.SQLAlchemyError as exc:
            log.warning("metrics: the ledger did not answer: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        now = utcnow()
        up.add_metric([], 1)
        yield up
        yield self._entities(names, counts)
        pending = GaugeMetricFamily(
            "rbsync_oldest_pending_age_seconds",
            "Seconds the oldest row with work left (pending, in flight, unknown) has waited "
            "since its content was seen; 0 when there is none.",
            labels=["kind"],
        )
        for kind in names:
            since = oldest.get(kind)
            age = 0.0 if since is None else max(0.0, (now - since).total_seconds())
            pending.add_metric([kind], age)
        yield pending
        lag = GaugeMetricFamily(
            "rbsync_cursor_lag_seconds",
            "Now minus the point up to which every Rackbeat change of the kind is read (the "
            "cursor, or the start of the latest completed poll when later); the connection "
            "furthest behind.",
            labels=["kind"],
        )
        last_poll = GaugeMetricFamily(
            "rbsync_last_successful_poll_timestamp_seconds",
            "Unix time the latest completed poll of the kind ended.",
            labels=["kind"],
        )
        worst_lag: dict[str, float] = {}
        stalest: dict[str, datetime] = {}
        for row in progress:  # one per connection and kind: the worst connection counts
            seconds = cursor_lag_seconds(row.position, row.last_done_start, now)
            if seconds is not None:
                worst_lag[row.kind] = max(seconds, worst_lag.get(row.kind, 0.0))
            if row.last_done_end is not None:
                known = stalest.get(row.kind)
                stalest[row.kind] = min(row.last_done_end, known or row.last_done_end)
        for kind in names:
            if kind in worst_lag:
                lag.add_metric([kind], worst_lag[kind])
            if kind in stalest:
                last_poll.add_metric([kind], stalest[kind].timestamp())
        yield lag
        yield last_poll
        connections = GaugeMetricFamily(
            "rbsync_connections",
            "Connections by state: active, paused (by an operator), broken (credentials or a "
            "PowerOffice Go module refused; its polls stopped).",
            labels=["state"],
        )
        for state in ("active", "paused", "broken"):
            connections.add_metric([state], states.get(state, 0))
        yield connections
        interval = GaugeMetricFamily(
            "rbsync_poll_interval_seconds",
            "How often the kind is polled: RBSYNC_POLL_INTERVAL_SECONDS, or "
            "RBSYNC_WEBHOOK_POLL_INTERVAL_SECONDS once webhooks are registered.",
            labels=["kind"],
        )
        period = (
            settings.webhook_poll_interval_seconds if webhooks else settings.poll_interval_seconds
        )
        for kind in names:
            interval.add_metric([kind], period)
        yield interval

    @staticmethod
    def _entities(names: list[str], counts: dict[str, dict[str, int]]) -> Metric:
        family = GaugeMetricFamily(
            "rbsync_entities", "Ledger rows by kind and status.", labels=["kind", "status"]
        )
        statuses = list(dict.fromkeys([s.value for s in Status]))
        for kind in names:
            by_status = counts.get(kind, {})
            for status in dict.fromkeys([*statuses, *by_status]):
                family.add_metric([kind, status], by_status.get(status, 0))
        return family


class BrokerCollector(Collector):
    """Queue depths (a Redis broker) and beat's last tick, read at every scrape."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        broker = settings.broker_url or ""
        self._broker = (
            redis.Redis.from_url(broker) if broker.startswith(("redis://", "rediss://")) else None
        )

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "rbsync_redis_up", "1 when Redis (broker, beat's tick) answered this scrape."
        )
        try:
            depths = self._depths()
            tick = last_beat_tick(self._settings)
        except redis.RedisError as exc:
            log.warning("metrics: Redis did not answer: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        if depths is not None:
            depth = GaugeMetricFamily(
                "rbsync_queue_depth",
                "Messages waiting in the queue (not those a worker has taken).",
                labels=["queue"],
            )
            for queue, count in depths.items():
                depth.add_metric([queue], count)
            yield depth
        if tick is not None:
            beat = GaugeMetricFamily(
                "rbsync_beat_last_tick_timestamp_seconds",
                "Unix time beat last sent a message (it sends the sweep every "
                "RBSYNC_SWEEP_INTERVAL_SECONDS).",
            )
            beat.add_metric([], tick)
            yield beat

    def _depths(self) -> dict[str, int] | None:
        if self._broker is None:
            return None  # the embedded broker's files are not a queue to measure
        pipe = self._broker.pipeline(transaction=False)
        for queue in QUEUES:
            pipe.llen(queue)
            for step in KOMBU_PRIORITY_STEPS:
                pipe.llen(f"{queue}{KOMBU_PRIORITY_SEPARATOR}{step}")
        lengths = iter(pipe.execute())
        per_queue = 1 + len(KOMBU_PRIORITY_STEPS)
        return {queue: sum(next(lengths) for _ in range(per_queue)) for queue in QUEUES}


def build_registry(runtime: Runtime) -> CollectorRegistry:
    """The registry ``rbsync metrics serve`` exposes: the worker processes' files in
    ``metrics_dir``, the ledger's gauges and the broker's."""
    directory = metrics_dir(runtime.settings)
    directory.mkdir(parents=True, exist_ok=True)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    registry.register(LedgerCollector(runtime))
    registry.register(BrokerCollector(runtime.settings))
    return registry


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002
        return None  # one line per scrape would drown the logs


def make_metrics_server(runtime: Runtime, host: str, port: int) -> WSGIServer:
    """A threaded HTTP server answering every path (``/metrics``) with the exposition."""
    app = make_wsgi_app(build_registry(runtime))
    return make_server(host, port, app, _ThreadingServer, handler_class=_QuietHandler)

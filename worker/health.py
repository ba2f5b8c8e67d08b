"""Liveness of rbsync's processes, for ``rbsync health`` (compose healthchecks, Kubernetes
probes).

- **worker**: the node answers a broadcast over the broker and consumes every rbsync queue
  (``rbsync``, ``rbsync.poll``, ``rbsync.webhook``, ``rbsync.bulk``), or the ones asked for
  (the poller's: all but ``rbsync.bulk``).
  The answer comes from the worker's main process, so it says the worker is connected and
  taking messages, not that a sync is quick.
- **beat**: beat's last tick is recent. Beat records the time of every message it sends
  (:func:`install_beat_ticks`, the sweep goes out every ``RBSYNC_SWEEP_INTERVAL_SECONDS``) in
  Redis (``rbsync:beat:tick``; production) or in ``<data_dir>/beat.tick`` (embedded), and
  :func:`last_beat_tick` reads it back. It says nothing of whether a worker runs what beat sends.
- **receiver**: the webhook receiver's ``GET /healthz`` answers 200 (which it does while the
  ledger answers).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis

from clients.liveness import get_liveness
from tasks.names import QUEUES
from wiring.settings import Settings

if TYPE_CHECKING:
    from celery import Celery

__all__ = [
    "BEAT_TICK_KEY",
    "Check",
    "beat_max_age",
    "check_beat",
    "check_receiver",
    "check_worker",
    "default_node",
    "expand_node",
    "install_beat_ticks",
    "last_beat_tick",
    "record_beat_tick",
]

log = logging.getLogger(__name__)

BEAT_TICK_KEY = "rbsync:beat:tick"
BEAT_TICK_FILE = "beat.tick"
BEAT_TICK_TTL_SECONDS = 86400
"""The Redis key outlives a stopped beat by a day (then "never ticked" says the same)."""
MIN_BEAT_MAX_AGE_SECONDS = 30.0
BEAT_MAX_AGE_SWEEPS = 3
ANY_NODE = "*"
HTTP_OK = 200


@dataclasses.dataclass(frozen=True)
class Check:
    """One component's verdict."""

    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def default_node() -> str:
    """Celery's default node name on this host (``celery@<hostname>``)."""
    return f"celery@{socket.gethostname()}"


def expand_node(node: str) -> str:
    """A node name as a worker's ``--hostname`` gives it: ``%h`` is this host's name
    (``poller@%h``, the Procfile's and compose's poller), ``%%`` a percent sign."""
    return node.replace("%%", "\0").replace("%h", socket.gethostname()).replace("\0", "%")


def check_worker(
    app: Celery, node: str, *, timeout: float, queues: Collection[str] | None = None
) -> Check:
    """Whether ``node`` (or, with ``*``, any worker) answers and consumes ``queues`` (default:
    every rbsync queue; the poller consumes all but ``rbsync.bulk``)."""
    wanted = set(queues or QUEUES)
    destination = None if node == ANY_NODE else [node]
    try:
        answers = app.control.inspect(destination=destination, timeout=timeout).active_queues()
    except Exception as exc:  # a broker that refuses the connection, a timeout
        return Check("worker", False, f"the broker did not answer: {type(exc).__name__}: {exc}")
    answers = answers or {}
    if not answers:
        who = "no worker" if node == ANY_NODE else node
        return Check("worker", False, f"{who} answered within {timeout:g} s")
    lacking: dict[str, list[str]] = {}
    for name, active in sorted(answers.items()):
        consumed = {q.get("name") for q in active or ()}
        missing = sorted(wanted - consumed)
        if not missing:
            return Check("worker", True, f"{name} consumes {', '.join(sorted(wanted))}")
        lacking[name] = missing
    described = "; ".join(f"{n} does not consume {', '.join(m)}" for n, m in lacking.items())
    return Check("worker", False, described)


def beat_max_age(settings: Settings) -> float:
    """How old beat's last tick may be: three sweep intervals, at least 30 s."""
    return max(MIN_BEAT_MAX_AGE_SECONDS, BEAT_MAX_AGE_SWEEPS * settings.sweep_interval_seconds)


def _tick_file(settings: Settings) -> Path:
    return settings.data_dir / BEAT_TICK_FILE


def record_beat_tick(
    settings: Settings, now: float | None = None, *, client: redis.Redis | None = None
) -> None:
    """Record that beat sent a message now (Redis in production, a file when embedded).

    ``client``: a Redis client to reuse (beat's, made once); one is made for this call else."""
    stamp = time.time() if now is None else now
    if settings.redis_url:
        own = client is None
        conn = redis.Redis.from_url(settings.redis_url) if client is None else client
        try:
            conn.set(BEAT_TICK_KEY, repr(stamp), ex=BEAT_TICK_TTL_SECONDS)
        finally:
            if own:
                conn.close()
        return
    path = _tick_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(f".{os.getpid()}")
    scratch.write_text(repr(stamp))
    scratch.replace(path)


def last_beat_tick(settings: Settings) -> float | None:
    """When beat last sent a message (Unix time), or None if it never did (or long ago)."""
    if settings.redis_url:
        client = redis.Redis.from_url(settings.redis_url)
        try:
            value = client.get(BEAT_TICK_KEY)
        finally:
            client.close()
        return float(value) if value is not None else None
    try:
        return float(_tick_file(settings).read_text())
    except (FileNotFoundError, ValueError):
        return None


def check_beat(settings: Settings, *, max_age: float, now: float | None = None) -> Check:
    """Whether beat ticked within ``max_age`` seconds."""
    try:
        tick = last_beat_tick(settings)
    except redis.RedisError as exc:
        return Check("beat", False, f"Redis did not answer: {type(exc).__name__}: {exc}")
    if tick is None:
        return Check("beat", False, "beat never ticked (is `celery -A worker.app beat` running?)")
    age = (time.time() if now is None else now) - tick
    if age > max_age:
        return Check("beat", False, f"last tick {age:.0f} s ago (more than {max_age:g} s)")
    return Check("beat", True, f"last tick {max(age, 0.0):.0f} s ago")


def check_receiver(url: str, *, timeout: float) -> Check:
    """Whether the webhook receiver's ``/healthz`` answers 200."""
    answer = get_liveness(url, timeout=timeout)
    if answer.status is None:
        return Check("receiver", False, f"{url}: {answer.error}")
    if answer.status != HTTP_OK:
        return Check("receiver", False, f"{url} answered {answer.status}")
    return Check("receiver", True, f"{url} answered 200")


def install_beat_ticks(settings: Settings) -> None:
    """Make this process (beat) record a tick for every message it sends.

    Connected from ``beat_init``, so only the beat process records; a failure to record is
    logged and never stops beat from sending.
    """
    from celery.signals import before_task_publish

    # One client for beat's life (its pool reconnects after a Redis restart), not a new
    # connection for every message beat sends.
    client = redis.Redis.from_url(settings.redis_url) if settings.redis_url else None

    def _tick(**_: Any) -> None:
        try:
            record_beat_tick(settings, client=client)
        except (redis.RedisError, OSError) as exc:
            log.warning("beat: recording its tick failed: %s", type(exc).__name__)

    before_task_publish.connect(_tick, weak=False, dispatch_uid="rbsync-beat-tick")

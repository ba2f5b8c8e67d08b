"""The Celery app, built from the settings object (tasks live in ``tasks/``).

``create_app(settings)`` is the one place the broker, serialisation, acknowledgement, time
limits, retry ceilings and events are decided (``docs/pipeline.md`` explains each choice):

- JSON only; no result backend (the ledger is the record of every outcome).
- ``acks_late`` + ``task_reject_on_worker_lost`` + prefetch 1: a task whose worker dies is
  delivered again, never lost; the ledger's claim and the lookup before a create make the second
  run safe.
- Every countdown (``retry_backoff_max_seconds``) and the hard time limit stay far below the
  Redis visibility timeout, so Redis never redelivers a message that is merely waiting.
- Production: Redis broker (``RBSYNC_BROKER_URL``). Embedded (no broker configured): kombu's
  ``filesystem://`` transport under ``<data_dir>/broker``, shared by every process on this
  machine and needing no server.

``app`` below is built from the environment for ``celery -A worker.app worker|beat``; invalid
settings end that process with one line naming the variable (exit code 2), as in the CLI.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import (
    beat_init,
    celeryd_init,
    setup_logging,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)
from kombu import Queue

from tasks.names import (
    DEFAULT_QUEUE,
    DISPATCH_TASK,
    POLL_QUEUE,
    POLL_TASK,
    QUEUES,
    RECONCILE_TASK,
    SWEEP_TASK,
    WEBHOOK_QUEUE,
    WEBHOOK_TASK,
)
from wiring.runtime import CONNECTION_HOOK
from wiring.settings import Settings, SettingsInvalidError, env_name, load_settings
from worker.beat import beat_schedule
from worker.logs import redact_also

__all__ = [
    "DEFAULT_QUEUE",
    "EMBEDDED_POLLING_INTERVAL_SECONDS",
    "POLL_QUEUE",
    "TASK_MODULES",
    "app",
    "celery_config",
    "create_app",
    "embedded_broker_dir",
]

TASK_MODULES = (
    "tasks.dispatch",
    "tasks.poll",
    "tasks.sync",
    "tasks.sweep",
    "tasks.retry",
    "tasks.webhooks",
    "tasks.reconcile",
    "tasks.initial.task",
)
EMBEDDED_POLLING_INTERVAL_SECONDS = 0.05
"""How often an idle embedded worker looks for new message files."""
SOFT_TIME_LIMIT_FRACTION = 0.8
VISIBILITY_HEADROOM = 4
"""The visibility timeout must exceed the longest countdown and time limit this many times."""
EXIT_BAD_SETTINGS = 2
"""The exit code of ``celery -A worker.app ...`` with invalid settings (the CLI's, too)."""


def embedded_broker_dir(settings: Settings) -> Path:
    """Where the embedded broker keeps its message files."""
    return (settings.data_dir / "broker").resolve()


def _embedded_transport_options(settings: Settings) -> dict[str, Any]:
    root = embedded_broker_dir(settings)
    queue = root / "queue"
    processed = root / "processed"
    control = root / "control"
    for folder in (queue, processed, control):
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "processed_folder": str(processed),
        "control_folder": str(control),
        "store_processed": False,
        "polling_interval": EMBEDDED_POLLING_INTERVAL_SECONDS,
    }


def _check_ceilings(settings: Settings) -> None:
    # Redis re-delivers any message unacknowledged for the visibility timeout; a countdown or a
    # running task that long would be executed twice (docs/api-facts.md, "Celery and Redis 2").
    visibility = env_name("visibility_timeout_seconds")
    longest = max(settings.retry_backoff_max_seconds, settings.task_time_limit_seconds)
    if longest * VISIBILITY_HEADROOM > settings.visibility_timeout_seconds:
        limits = (env_name("retry_backoff_max_seconds"), env_name("task_time_limit_seconds"))
        raise SettingsInvalidError(
            f"bad settings: {visibility} ({settings.visibility_timeout_seconds:g}) must be at "
            f"least {VISIBILITY_HEADROOM}x the longest countdown or time limit ({longest:g} s, "
            f"the larger of {' and '.join(limits)})"
        )
    if settings.poll_time_limit_seconds > settings.visibility_timeout_seconds:
        raise SettingsInvalidError(
            f"bad settings: {env_name('poll_time_limit_seconds')} "
            f"({settings.poll_time_limit_seconds:g}) must not exceed {visibility} "
            f"({settings.visibility_timeout_seconds:g})"
        )


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery configuration for ``settings`` (a plain dict, easy to inspect in tests)."""
    _check_ceilings(settings)
    if settings.embedded:
        broker_url = "filesystem://"
        transport_options = _embedded_transport_options(settings)
    else:
        assert settings.broker_url is not None
        broker_url = settings.broker_url
        # kombu >= 5.7: sweep the unacked messages of dead workers back promptly (a fifth of
        # the visibility timeout, at most every 10 s).
        sweep = max(1, min(10, int(settings.visibility_timeout_seconds / 5)))
        transport_options = {
            "visibility_timeout": settings.visibility_timeout_seconds,
            "unacked_restore_interval": sweep,
            "unacked_restore_throttle": 1,  # the interval alone sets the sweep period
        }
    time_limit = settings.task_time_limit_seconds
    return {
        "broker_url": broker_url,
        "broker_transport_options": transport_options,
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "event_serializer": "json",
        "accept_content": ["json"],
        "result_backend": None,
        "task_ignore_result": True,
        "task_store_errors_even_if_ignored": False,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": time_limit,
        "task_soft_time_limit": time_limit * SOFT_TIME_LIMIT_FRACTION,
        "task_annotations": {
            name: {
                "time_limit": settings.poll_time_limit_seconds,
                "soft_time_limit": settings.poll_time_limit_seconds * SOFT_TIME_LIMIT_FRACTION,
            }
            for name in (POLL_TASK, RECONCILE_TASK)
        },
        "worker_soft_shutdown_timeout": settings.worker_soft_shutdown_seconds,
        "worker_enable_soft_shutdown_on_idle": True,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_send_task_events": settings.task_events,
        "task_send_sent_event": settings.task_events,
        "task_default_queue": DEFAULT_QUEUE,
        # The queues (``tasks.names.QUEUES``): syncs, polls, webhooks and a backlog's syncs.
        "task_queues": tuple(Queue(name) for name in QUEUES),
        "task_routes": {
            POLL_TASK: {"queue": POLL_QUEUE},
            SWEEP_TASK: {"queue": POLL_QUEUE},
            DISPATCH_TASK: {"queue": POLL_QUEUE},
            RECONCILE_TASK: {"queue": POLL_QUEUE},
            WEBHOOK_TASK: {"queue": WEBHOOK_QUEUE},
        },
        "worker_hijack_root_logger": False,
        "timezone": "UTC",
        "enable_utc": True,
        "beat_schedule": beat_schedule(settings),
        "rbsync_settings": settings,
        # A stored connection's credentials are redacted from the logs like the environment's.
        CONNECTION_HOOK: redact_also,
    }


def create_app(settings: Settings | None = None) -> Celery:
    """A Celery app configured from ``settings`` (the environment when None)."""
    settings = settings or load_settings()
    if settings.embedded:
        # Every process on the embedded broker publishes (polls enqueue syncs): its message
        # files must be written atomically or a worker may read one half-written and stop
        # (kombu issue #1551), and its broadcasts and events must not pile up for consumers
        # that are gone (a dead worker's pidbox queue). See worker.embedded_broker.
        from worker.embedded_broker import install_fixes

        install_fixes()
    celery_app = Celery("rbsync", include=list(TASK_MODULES), set_as_current=False)
    celery_app.conf.update(celery_config(settings))
    return celery_app


def _app_from_environment() -> Celery:
    try:
        return create_app()
    except SettingsInvalidError as exc:
        # Celery would print the traceback of the failed import, some sixty lines that bury
        # the one that matters: print that one (it names the variable) and stop.
        print(f"rbsync: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_SETTINGS) from None


def _json_logs_for_celery(settings: Settings) -> None:
    """With ``RBSYNC_LOG_FORMAT=json``, Celery's worker and beat log through rbsync's redacting
    JSON handler: a receiver of ``setup_logging`` replaces Celery's own logging set-up."""
    if settings.log_format != "json":
        return

    def _setup(loglevel: int | str | None = None, **_: Any) -> None:
        from worker.logs import configure_logging

        configure_logging(settings, level=loglevel or "INFO", task_tracebacks=True)

    setup_logging.connect(_setup, weak=False, dispatch_uid="rbsync-json-logs")


def _beat_records_its_ticks(settings: Settings) -> None:
    """Beat records the time of every message it sends (``rbsync health beat`` reads it)."""

    def _started(**_: Any) -> None:
        from worker.health import install_beat_ticks

        install_beat_ticks(settings)

    beat_init.connect(_started, weak=False, dispatch_uid="rbsync-beat-ticks")


def _workers_record_metrics(settings: Settings) -> None:
    """``celery worker`` processes record Prometheus metrics (``wiring.metrics``; served by
    ``rbsync metrics serve``).

    ``celeryd_init`` comes first in the worker's main process, before any child is forked and
    before anything could import prometheus_client: the metric directory is chosen there, and
    the files of processes that are gone are removed. Each prefork child (and a solo pool's
    process) runs a heartbeat; a threads pool runs it in the main process, once ready (a
    prefork parent does not: a thread there could hold prometheus_client's lock at a fork).
    A process about to exit drops its live-gauge files (``mark_process_dead``).
    """

    def _init(**_: Any) -> None:
        from wiring import metrics

        if metrics.enable(settings):
            metrics.remove_dead_process_files(metrics.metrics_dir(settings))

    def _child_started(**_: Any) -> None:
        from wiring import metrics

        metrics.start_heartbeat()

    def _ready(sender: Any = None, **_: Any) -> None:
        from celery.concurrency.prefork import TaskPool

        from wiring import metrics

        if not isinstance(getattr(sender, "pool", None), TaskPool):
            metrics.start_heartbeat()

    def _exiting(pid: int | None = None, **_: Any) -> None:
        from wiring import metrics

        metrics.process_exiting(pid)

    celeryd_init.connect(_init, weak=False, dispatch_uid="rbsync-metrics-init")
    worker_process_init.connect(_child_started, weak=False, dispatch_uid="rbsync-metrics-child")
    worker_ready.connect(_ready, weak=False, dispatch_uid="rbsync-metrics-ready")
    worker_process_shutdown.connect(_exiting, weak=False, dispatch_uid="rbsync-metrics-child-exit")
    worker_shutdown.connect(_exiting, weak=False, dispatch_uid="rbsync-metrics-exit")


app = _app_from_environment()
_json_logs_for_celery(app.conf.rbsync_settings)
_beat_records_its_ticks(app.conf.rbsync_settings)
_workers_record_metrics(app.conf.rbsync_settings)

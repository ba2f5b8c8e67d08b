"""The metrics worker processes record (Prometheus, multiprocess mode; docs/observability.md).

A Celery worker runs its tasks in prefork children, so each process writes its own values to
memory-mapped files in one directory (``PROMETHEUS_MULTIPROC_DIR``, :func:`metrics_dir`), and
``rbsync metrics serve`` adds them up at scrape time. prometheus_client chooses between
in-memory and file-backed values when it is imported, from that variable; the ``celery``
command imports it before any rbsync code runs (Flower's command plugin does), so
:func:`enable` sets the variable *and* makes prometheus_client's value class the file-backed
one (its ``values.ValueClass``, which every metric reads when it is created). Instruments are
built on first use, never at import, so every one of them is file-backed.

Only ``celery worker`` processes record (``worker.app`` calls :func:`enable` from Celery's
``celeryd_init``); in any other process every function here does nothing, so the CLI, beat,
Flower and the tests never write metric files. What is recorded:

- ``rbsync_syncs_total{kind,outcome}``: one per recorded attempt (``tasks.outcome``);
- ``rbsync_api_requests_total{api,method,status_class}``, ``rbsync_api_rate_limited_total{api}``
  (429s) and ``rbsync_rate_limiter_wait_seconds{api}``: every request on the wire, through the
  :class:`ApiMetrics` observer the clients are built with (``clients.observer``);
- ``rbsync_token_refreshes_total`` / ``rbsync_token_refresh_failures_total``: PowerOffice Go
  access-token requests;
- ``rbsync_poll_duration_seconds{kind,result}`` (``tasks.poll``);
- ``rbsync_worker_heartbeat_timestamp_seconds`` (the newest beat of any worker process) and
  ``rbsync_worker_processes`` (live ones), from a small thread in each process.

Labels are bounded: kinds, outcomes, the two APIs, HTTP methods and status classes; never an
entity key, a URL or a credential.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clients import NO_OBSERVER, ApiObserver
from wiring.settings import Settings

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "ENV_VAR",
    "HEARTBEAT_SECONDS",
    "ApiMetrics",
    "api_observer",
    "count_sync",
    "enable",
    "enabled",
    "metrics_dir",
    "observe_poll",
    "process_exiting",
    "remove_dead_process_files",
    "start_heartbeat",
    "status_class",
]

ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"
HEARTBEAT_SECONDS = 5.0
"""How often each worker process stamps ``rbsync_worker_heartbeat_timestamp_seconds``."""

LIMITER_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
POLL_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900)
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
HTTP_TOO_MANY_REQUESTS = 429
_PID_FILE = re.compile(r"^[a-z_]+_(\d+)\.db$")


def metrics_dir(settings: Settings) -> Path:
    """Where worker processes write their metric files (``RBSYNC_METRICS_DIR``, else
    ``<data_dir>/metrics``), absolute."""
    return (settings.metrics_dir or settings.data_dir / "metrics").resolve()


def status_class(status: int | None) -> str:
    """``2xx``..``5xx`` for an HTTP status, ``error`` when no answer came."""
    if status is None:
        return "error"
    if 100 <= status <= 599:
        return f"{status // 100}xx"
    return "other"


class _Instruments:
    """The process's instruments, built (and prometheus_client imported) on first use."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        # registry=None: the values live in the files; nothing in this process serves them.
        self.syncs: Counter = Counter(
            "rbsync_syncs",
            "Recorded sync attempts by kind and outcome.",
            ["kind", "outcome"],
            registry=None,
        )
        self.requests: Counter = Counter(
            "rbsync_api_requests",
            "API requests by API, method and status class (error: no answer).",
            ["api", "method", "status_class"],
            registry=None,
        )
        self.rate_limited: Counter = Counter(
            "rbsync_api_rate_limited",
            "API answers with status 429.",
            ["api"],
            registry=None,
        )
        self.limiter_wait: Histogram = Histogram(
            "rbsync_rate_limiter_wait_seconds",
            "Time a request waited for a slot of the shared rate limiter.",
            ["api"],
            buckets=LIMITER_WAIT_BUCKETS,
            registry=None,
        )
        self.token_refreshes: Counter = Counter(
            "rbsync_token_refreshes",
            "PowerOffice Go access-token requests.",
            registry=None,
        )
        self.token_failures: Counter = Counter(
            "rbsync_token_refresh_failures",
            "PowerOffice Go access-token requests that gave no token.",
            registry=None,
        )
        self.poll_duration: Histogram = Histogram(
            "rbsync_poll_duration_seconds",
            "Duration of polls that ran (not skipped), by kind and result (done, failed).",
            ["kind", "result"],
            buckets=POLL_DURATION_BUCKETS,
            registry=None,
        )
        self.heartbeat: Gauge = Gauge(
            "rbsync_worker_heartbeat_timestamp_seconds",
            "Unix time of the newest heartbeat of any worker process.",
            multiprocess_mode="max",
            registry=None,
        )
        self.processes: Gauge = Gauge(
            "rbsync_worker_processes",
            "Worker processes alive (each counts itself; removed when it exits).",
            multiprocess_mode="livesum",
            registry=None,
        )


@dataclass
class _State:
    enabled: bool = False
    instruments: _Instruments | None = None
    heartbeat_pid: int | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


_state = _State()


def enable(settings: Settings) -> bool:
    """Make this process record metrics into :func:`metrics_dir` (when ``metrics_enabled``).

    Call it before any instrument exists (they are built on first use) and before worker
    children fork: they inherit the variable and the file-backed value class. Returns whether
    metrics are on.
    """
    if not settings.metrics_enabled:
        return False
    directory = metrics_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[ENV_VAR] = str(directory)
    from prometheus_client import values

    if not getattr(values.ValueClass, "_multiprocess", False):
        # Imported before the variable was set: metrics created from now on are file-backed
        # (metrics created earlier, Flower's own, stay in memory and never reach the files).
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    _state.enabled = True
    return True


def enabled() -> bool:
    """Whether this process records metrics."""
    return _state.enabled


def _instruments() -> _Instruments:
    instruments = _state.instruments
    if instruments is None:
        with _state.lock:
            if _state.instruments is None:
                _state.instruments = _Instruments()
            instruments = _state.instruments
    return instruments


def count_sync(kind: str, outcome: str) -> None:
    """One recorded sync attempt of ``kind`` ended with ``outcome``."""
    if _state.enabled:
        _instruments().syncs.labels(kind, outcome).inc()


def observe_poll(kind: str, result: str, seconds: float) -> None:
    """A poll of ``kind`` that ran (``done`` or ``failed``) took ``seconds``."""
    if _state.enabled:
        _instruments().poll_duration.labels(kind, result).observe(seconds)


class ApiMetrics:
    """The :class:`clients.observer.ApiObserver` of one API: counts into the instruments."""

    def __init__(self, api: str) -> None:
        self._api = api
        instruments = _instruments()
        self._requests = instruments.requests
        self._wait = instruments.limiter_wait.labels(api)
        self._rate_limited = instruments.rate_limited.labels(api)
        self._token_refreshes = instruments.token_refreshes
        self._token_failures = instruments.token_failures
        self._children: dict[tuple[str, str], Any] = {}

    def waited(self, seconds: float) -> None:
        self._wait.observe(seconds)

    def answered(self, method: str, status: int | None) -> None:
        method = method.upper()
        key = (method if method in METHODS else "OTHER", status_class(status))
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._requests.labels(self._api, *key)
        child.inc()
        if status == HTTP_TOO_MANY_REQUESTS:
            self._rate_limited.inc()

    def token_fetched(self, ok: bool) -> None:
        self._token_refreshes.inc()
        if not ok:
            self._token_failures.inc()


def api_observer(api: str) -> ApiObserver:
    """The observer for a client of ``api`` (``rackbeat``, ``poweroffice``): counting when
    this process records metrics, else one that does nothing."""
    return ApiMetrics(api) if _state.enabled else NO_OBSERVER


def start_heartbeat(interval: float = HEARTBEAT_SECONDS) -> None:
    """Stamp the heartbeat gauge now and every ``interval`` seconds from a daemon thread, and
    count this process among the live ones. Once per process (a forked child starts its own)."""
    if not _state.enabled:
        return
    pid = os.getpid()
    with _state.lock:
        if _state.heartbeat_pid == pid:
            return
        _state.heartbeat_pid = pid
        _state.stop = threading.Event()
    instruments = _instruments()
    instruments.processes.set(1)
    instruments.heartbeat.set(time.time())
    stop = _state.stop

    def beat() -> None:
        while not stop.wait(interval):
            instruments.heartbeat.set(time.time())

    threading.Thread(target=beat, name="rbsync-metrics-heartbeat", daemon=True).start()


def process_exiting(pid: int | None = None) -> None:
    """Process ``pid`` (this one by default) is about to exit: stop its heartbeat and drop its
    live-gauge files (``rbsync_worker_processes`` no longer counts it). The heartbeat's last
    stamp stays: a heartbeat that stops moving is what the alert looks for."""
    if not _state.enabled:
        return
    if pid is None or pid == os.getpid():
        _state.stop.set()
    from prometheus_client import multiprocess

    directory = os.environ.get(ENV_VAR)
    if directory:
        with contextlib.suppress(OSError):
            multiprocess.mark_process_dead(pid or os.getpid(), directory)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def remove_dead_process_files(directory: Path) -> list[Path]:
    """Delete the metric files of processes that are gone (of an earlier run of the worker;
    a child that died without its ``process_exiting``); return them.

    Called when a worker starts, before its children fork. Its counters start again from the
    live processes' values, as a restarted exporter's do (``rate()`` and ``increase()`` read
    that as a counter reset). The directory must belong to processes of this host (and pid
    namespace): another container's pids cannot be told alive from here.
    """
    removed: list[Path] = []
    for path in sorted(directory.glob("*.db")):
        match = _PID_FILE.match(path.name)
        if match is None or _alive(int(match.group(1))):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed

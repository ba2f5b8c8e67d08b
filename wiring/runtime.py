"""The per-process wiring of the pipeline: settings, ledger, clients, locks; built once.

A worker process (each prefork child, or the in-process worker of ``rbsync sync --once``) builds
one :class:`Runtime` the first time a task needs it, from the settings the Celery app was
created with. Nothing here is built at import time, so a prefork parent never opens a
connection its children would inherit.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import redis
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledger import current_revision, head_revision, make_engine, make_session_factory, upgrade
from wiring.heartbeat import Heartbeat
from wiring.locks import LockFactory, file_locks, redis_locks
from wiring.settings import Settings

if TYPE_CHECKING:
    from celery import Celery

    from clients import PowerOfficeClient, RackbeatClient

__all__ = [
    "KindOptions",
    "LedgerNotMigratedError",
    "Runtime",
    "build_runtime",
    "reset_runtimes",
    "runtime_for",
    "set_runtime",
    "warm_up",
]

log = logging.getLogger(__name__)

_RUNTIME_ATTR = "_rbsync_runtime"
_build_lock = threading.Lock()


class LedgerNotMigratedError(RuntimeError):
    """The production ledger is not at the newest revision: run ``rbsync db upgrade``."""


@dataclass(frozen=True)
class KindOptions:
    """The settings the entity kinds' rules read, as plain values (never the Settings object)."""

    employee_map: Mapping[int, int]
    """R-INV-6: Rackbeat employee number -> PowerOffice Go employee number."""
    supplier_contact_group_name: str
    """R-SUP-9: the contact group every supplier is put in."""
    customer_number_from_rackbeat: bool
    """Send Rackbeat's customer number as PowerOffice Go's ``Number``."""


@dataclass
class Runtime:
    """Everything a task needs, built once per process."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    locks: LockFactory
    _stack: ExitStack = field(default_factory=ExitStack)
    _rackbeat: RackbeatClient | None = None
    _poweroffice: PowerOfficeClient | None = None
    _clients_lock: threading.Lock = field(default_factory=threading.Lock)
    dependency_ids: dict[tuple[str, str], int] = field(default_factory=dict)
    """Ids of shared dependencies (product groups, contact group, payment terms) this process
    already resolved: they never change once created, so no ledger read per record."""

    @functools.cached_property
    def options(self) -> KindOptions:
        """The plain values the entity kinds' rules need (built once: read per entity)."""
        return KindOptions(
            employee_map=dict(self.settings.employee_map),
            supplier_contact_group_name=self.settings.supplier_contact_group_name,
            customer_number_from_rackbeat=self.settings.customer_number_from_rackbeat,
        )

    @property
    def lease(self) -> timedelta:
        """How long a claim or a poll lock lasts unless its holder's heartbeat renews it."""
        return timedelta(seconds=self.settings.lease_seconds)

    @functools.cached_property
    def heartbeat(self) -> Heartbeat:
        """This process's heartbeat, renewing the leases it holds (``wiring.heartbeat``)."""
        heartbeat = Heartbeat(self.settings.lease_seconds)
        self._stack.callback(heartbeat.stop)
        return heartbeat

    @property
    def rackbeat(self) -> RackbeatClient:
        """The Rackbeat client of this process (built on first use)."""
        with self._clients_lock:
            if self._rackbeat is None:
                from wiring.clients import build_rackbeat_client

                self._rackbeat = self._stack.enter_context(
                    build_rackbeat_client(self.settings, sessions=self.sessions)
                )
            return self._rackbeat

    @property
    def poweroffice(self) -> PowerOfficeClient:
        """The PowerOffice Go client of this process (built on first use)."""
        with self._clients_lock:
            if self._poweroffice is None:
                from wiring.clients import build_poweroffice_client

                self._poweroffice = self._stack.enter_context(
                    build_poweroffice_client(self.settings)
                )
            return self._poweroffice

    def close(self) -> None:
        """Close the clients and the ledger's connections."""
        self._stack.close()
        self._rackbeat = None
        self._poweroffice = None
        self.engine.dispose()


def build_runtime(settings: Settings) -> Runtime:
    """Build the wiring for ``settings``; the embedded ledger is migrated on the way."""
    url = settings.ledger_url
    if settings.database_url is None:
        upgrade(url)  # embedded: a SQLite file of our own; keep it current without ceremony
    elif current_revision(url) != head_revision():
        raise LedgerNotMigratedError(
            "the ledger database is not at the newest schema revision; run `rbsync db upgrade`"
        )
    engine = make_engine(url)
    if settings.redis_url:
        locks = redis_locks(redis.Redis.from_url(settings.redis_url))
    else:
        locks = file_locks((settings.data_dir / "locks").resolve())
    return Runtime(
        settings=settings, engine=engine, sessions=make_session_factory(engine), locks=locks
    )


def runtime_for(app: Celery) -> Runtime:
    """The runtime of ``app`` in this process, built from ``app.conf.rbsync_settings``."""
    existing: Runtime | None = getattr(app, _RUNTIME_ATTR, None)
    if existing is not None:
        return existing
    with _build_lock:
        existing = getattr(app, _RUNTIME_ATTR, None)
        if existing is None:
            settings: Any = app.conf.get("rbsync_settings")
            if not isinstance(settings, Settings):
                raise RuntimeError("the Celery app was not built by worker.app.create_app")
            existing = build_runtime(settings)
            setattr(app, _RUNTIME_ATTR, existing)
        return existing


def set_runtime(app: Celery, runtime: Runtime | None) -> None:
    """Install (or with None, drop) the runtime of ``app`` (tests, the in-process worker)."""
    old: Runtime | None = getattr(app, _RUNTIME_ATTR, None)
    if old is not None and old is not runtime:
        old.close()
    setattr(app, _RUNTIME_ATTR, runtime)


def reset_runtimes(app: Celery) -> None:
    """Forget the runtime inherited over a fork (its sockets belong to the parent)."""
    setattr(app, _RUNTIME_ATTR, None)


def warm_up(app: Celery) -> None:
    """Build this process's runtime now -- a ledger connection, both clients -- so that the
    first task does not pay for it. Best effort: on failure the first task builds it again and
    reports the error where it belongs (the task, the ledger)."""
    try:
        runtime = runtime_for(app)
        with runtime.engine.connect():
            pass
        _ = runtime.rackbeat, runtime.poweroffice
    except Exception as exc:
        log.warning(
            "worker warm-up failed (%s); the first task builds the wiring again", type(exc).__name__
        )

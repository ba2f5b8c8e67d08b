"""The per-process wiring of the pipeline: settings, ledger, clients, locks; built once.

A worker process (each prefork child, or the in-process worker of ``rbsync sync --once``) builds
one :class:`Fleet` the first time a task needs it, from the settings the Celery app was created
with: the ledger's engine, the locks, the heartbeat, shared by every connection. Each connection
(``wiring.connections``) a task names gets its own :class:`Runtime` from it, built on first use:
its settings (the connection's credentials and company settings), ledger sessions and Core
connections scoped to it (``ledger.scope``), locks named for it, and its own API clients.
Nothing here is built at import time, so a prefork parent never opens a connection its children
would inherit.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

import redis
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledger import (
    ALL,
    DEFAULT_CONNECTION,
    current_revision,
    head_revision,
    make_engine,
    make_session_factory,
    scoped_connection,
    upgrade,
)
from wiring.heartbeat import Heartbeat
from wiring.locks import Lock, LockFactory, file_locks, redis_locks
from wiring.settings import Settings

if TYPE_CHECKING:
    from celery import Celery

    from clients import PowerOfficeClient, RackbeatClient

__all__ = [
    "CONNECTION_HOOK",
    "Fleet",
    "KindOptions",
    "LedgerNotMigratedError",
    "Runtime",
    "Wiring",
    "build_fleet",
    "build_runtime",
    "fleet_for",
    "reset_runtimes",
    "runtime_for",
    "set_runtime",
    "warm_up",
]

log = logging.getLogger(__name__)

_RUNTIME_ATTR = "_rbsync_runtime"

CONNECTION_HOOK = "rbsync_connection_hook"
"""``app.conf[CONNECTION_HOOK]``: called with each connection's settings when its runtime is
built in this process (the worker's log redactor learns a stored connection's credentials)."""

REFRESH_SECONDS = 30.0
"""A stored connection's settings are read again after this long: new credentials
(``rbsync connections add --replace``) reach running workers without a restart."""
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
    """Everything a task of one connection needs, built once per process and connection."""

    settings: Settings
    """The connection's settings: the deployment's, with its credentials and company settings."""
    engine: Engine
    sessions: sessionmaker[Session]
    """Ledger sessions that see and write only this connection's rows."""
    locks: LockFactory
    """Locks named for this connection (its polls never wait for another's)."""
    connection: str = DEFAULT_CONNECTION
    shared_heartbeat: Heartbeat | None = None
    """The process's heartbeat, when a :class:`Fleet` built this runtime."""
    fresh_until: float = float("inf")
    """When a :class:`Fleet` reads this connection's settings again (``time.monotonic``)."""
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
        if self.shared_heartbeat is not None:
            return self.shared_heartbeat
        heartbeat = Heartbeat(self.settings.lease_seconds)
        self._stack.callback(heartbeat.stop)
        return heartbeat

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A Core connection in a transaction, scoped to this connection (the hot path's
        repository functions read the scope from it, ``ledger.scope``)."""
        with self.engine.begin() as conn:
            yield scoped_connection(conn, self.connection)

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """:meth:`begin` without the transaction (reads)."""
        with self.engine.connect() as conn:
            yield scoped_connection(conn, self.connection)

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
                    build_poweroffice_client(self.settings, connection=self.connection)
                )
            return self._poweroffice

    def close_clients(self) -> None:
        """Close the API clients (the ledger's engine is the fleet's)."""
        self._stack.close()
        self._rackbeat = None
        self._poweroffice = None

    def close(self) -> None:
        """Close the clients and the ledger's connections."""
        self.close_clients()
        self.engine.dispose()


def named_locks(locks: LockFactory, connection: str) -> LockFactory:
    """``locks`` with names of ``connection`` (``default`` keeps the names it always had)."""
    if connection == DEFAULT_CONNECTION:
        return locks

    def make(name: str, ttl: float) -> Lock:
        return locks(f"connection:{connection}:{name}", ttl)

    return make


class Wiring(Protocol):
    """What a :class:`Fleet` (every connection) and a :class:`Runtime` (one) both offer: the
    sweep and the webhook outbox work with either."""

    @property
    def settings(self) -> Settings: ...

    @property
    def sessions(self) -> sessionmaker[Session]: ...

    @property
    def locks(self) -> LockFactory: ...


SettingsOf = Callable[[str], Settings]
"""A connection's name -> its settings (``wiring.connections``); raises for an unknown one."""


@dataclass
class Fleet:
    """What every connection of one process shares: the settings of the deployment, the
    ledger's engine, the locks and the heartbeat; and the connections' runtimes, built on
    first use."""

    settings: Settings
    engine: Engine
    locks: LockFactory
    settings_of: SettingsOf | None = None
    """Resolves a connection other than ``default`` (None: only ``default`` exists)."""
    _runtimes: dict[str, Runtime] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @functools.cached_property
    def sessions(self) -> sessionmaker[Session]:
        """Unscoped ledger sessions: every connection's rows (the sweep, status, metrics)."""
        return make_session_factory(self.engine, ALL)

    @functools.cached_property
    def heartbeat(self) -> Heartbeat:
        """This process's heartbeat, renewing every lease it holds (``wiring.heartbeat``)."""
        return Heartbeat(self.settings.lease_seconds)

    def runtime(self, connection: str = DEFAULT_CONNECTION) -> Runtime:
        """The runtime of ``connection`` in this process (built on first use; rebuilt when the
        connection's settings changed, looked at every ``REFRESH_SECONDS``)."""
        existing = self._runtimes.get(connection)
        now = time.monotonic()
        if existing is not None and (self.settings_of is None or now < existing.fresh_until):
            return existing
        with self._lock:
            existing = self._runtimes.get(connection)
            if existing is not None and now < existing.fresh_until:
                return existing
            settings = self._settings_of(connection)
            if existing is not None and existing.settings == settings:
                existing.fresh_until = now + REFRESH_SECONDS
                return existing
            if existing is not None:
                existing.close_clients()  # new credentials: new clients
            built = Runtime(
                settings=settings,
                engine=self.engine,
                sessions=make_session_factory(self.engine, connection),
                locks=named_locks(self.locks, connection),
                connection=connection,
                shared_heartbeat=self.heartbeat,
                fresh_until=now + REFRESH_SECONDS,
            )
            self._runtimes[connection] = built
            return built

    def _settings_of(self, connection: str) -> Settings:
        if self.settings_of is not None:
            return self.settings_of(connection)
        if connection != DEFAULT_CONNECTION:
            raise LookupError(f"unknown connection {connection!r}")
        return self.settings

    def forget(self, connection: str) -> None:
        """Drop ``connection``'s runtime (its settings changed: the next task builds it anew)."""
        with self._lock:
            runtime = self._runtimes.pop(connection, None)
        if runtime is not None:
            runtime.close_clients()

    def adopt(self, runtime: Runtime) -> None:
        """Use ``runtime`` for its connection (tests, the in-process worker)."""
        with self._lock:
            self._runtimes[runtime.connection] = runtime

    def close(self) -> None:
        """Close every runtime's clients, the heartbeat and the ledger's connections."""
        with self._lock:
            runtimes, self._runtimes = list(self._runtimes.values()), {}
        for runtime in runtimes:
            runtime.close_clients()
        if "heartbeat" in self.__dict__:
            self.heartbeat.stop()
        self.engine.dispose()


def _ledger(settings: Settings) -> tuple[Engine, LockFactory]:
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
    return engine, locks


def build_fleet(settings: Settings, settings_of: SettingsOf | None = None) -> Fleet:
    """The shared wiring for ``settings``; the embedded ledger is migrated on the way."""
    engine, locks = _ledger(settings)
    return Fleet(settings=settings, engine=engine, locks=locks, settings_of=settings_of)


def build_runtime(settings: Settings, connection: str = DEFAULT_CONNECTION) -> Runtime:
    """A runtime of its own (engine included) for one connection whose settings are
    ``settings``; the embedded ledger is migrated on the way (commands, tests)."""
    engine, locks = _ledger(settings)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine, connection),
        locks=named_locks(locks, connection),
        connection=connection,
    )


def fleet_for(app: Celery) -> Fleet:
    """The fleet of ``app`` in this process, built from ``app.conf.rbsync_settings``."""
    existing: Fleet | None = getattr(app, _RUNTIME_ATTR, None)
    if existing is not None:
        return existing
    with _build_lock:
        existing = getattr(app, _RUNTIME_ATTR, None)
        if existing is None:
            settings: Any = app.conf.get("rbsync_settings")
            if not isinstance(settings, Settings):
                raise RuntimeError("the Celery app was not built by worker.app.create_app")
            from wiring.connections import load_connection

            fleet = build_fleet(settings)
            hook: Any = app.conf.get(CONNECTION_HOOK)

            def settings_of(name: str) -> Settings:
                config = load_connection(settings, fleet.sessions, name)
                if callable(hook):
                    hook(config.settings)  # e.g. the log redactor learns its credentials
                return config.settings

            fleet.settings_of = settings_of
            existing = fleet
            setattr(app, _RUNTIME_ATTR, existing)
        return existing


def runtime_for(app: Celery, connection: str = DEFAULT_CONNECTION) -> Runtime:
    """The runtime of ``connection`` for ``app`` in this process."""
    return fleet_for(app).runtime(connection)


def set_runtime(app: Celery, runtime: Runtime | None) -> None:
    """Install ``runtime`` (and a fleet around it), or with None drop the fleet (tests, the
    in-process worker)."""
    old: Fleet | None = getattr(app, _RUNTIME_ATTR, None)
    if runtime is None:
        if old is not None:
            old.close()
        setattr(app, _RUNTIME_ATTR, None)
        return
    if old is not None and old.engine is not runtime.engine:
        old.close()
        old = None
    if old is None:
        old = Fleet(settings=runtime.settings, engine=runtime.engine, locks=runtime.locks)
        setattr(app, _RUNTIME_ATTR, old)
    old.adopt(runtime)


def reset_runtimes(app: Celery) -> None:
    """Forget the fleet inherited over a fork (its sockets belong to the parent)."""
    setattr(app, _RUNTIME_ATTR, None)


def warm_up(app: Celery) -> None:
    """Build this process's runtime now -- a ledger connection, both clients -- so that the
    first task does not pay for it. Best effort: on failure the first task builds it again and
    reports the error where it belongs (the task, the ledger)."""
    try:
        runtime = runtime_for(app)
        with runtime.connect():
            pass
        _ = runtime.rackbeat, runtime.poweroffice
    except Exception as exc:
        log.warning(
            "worker warm-up failed (%s); the first task builds the wiring again", type(exc).__name__
        )

"""Fixtures for the pipeline tests: settings pointing at the emulators, a runtime, a drain.

These tests run the pipeline's functions in this process (no broker): the poll's enqueue
collects keys in a list and :func:`drain` runs ``sync_entity`` on them until no work is left,
honouring "retry" outcomes a bounded number of times. The Celery side is tested in
``tests/worker`` and ``tests/e2e`` with a real worker process.

The ledger is the embedded SQLite file unless a module runs on both backends: with
``pytestmark = BOTH_LEDGERS`` every test of it runs on SQLite and on a private PostgreSQL
database (ids ``[sqlite]``, ``[postgresql]``); the ``settings``, ``make_settings`` and
``fresh_ledger`` fixtures then point at that backend.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from clients import set_testing
from kinds import registry
from ledger import upgrade
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from tasks.pipeline import SyncResult, sync_entities, sync_entity
from tasks.poll import PollReport, poll_kind
from wiring.runtime import Runtime, build_runtime
from wiring.settings import Settings

MAX_ROUNDS = 20

LEDGERS = ("sqlite", "postgresql")
BOTH_LEDGERS = pytest.mark.parametrize("ledger_backend", LEDGERS, indirect=True)
"""``pytestmark = BOTH_LEDGERS``: every test of the module runs on SQLite and on PostgreSQL."""


@pytest.fixture
def ledger_backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` (the embedded ledger), or ``postgresql`` under :data:`BOTH_LEDGERS`."""
    backend = str(getattr(request, "param", "sqlite"))
    assert backend in LEDGERS, backend
    return backend


@pytest.fixture
def fresh_ledger(
    ledger_backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[[], dict[str, Any]]:
    """``fresh_ledger()``: the settings overrides of a new, empty, migrated ledger of the
    test's backend (a SQLite file under ``tmp_path``, or a PostgreSQL database of its own)."""
    made = [0]

    def make() -> dict[str, Any]:
        made[0] += 1
        if ledger_backend == "sqlite":
            return {"data_dir": tmp_path / f"ledger-{made[0]}", "database_url": None}
        url = request.getfixturevalue("postgres_databases")()
        upgrade(url)
        return {"database_url": url}

    return make


@pytest.fixture
def _ledger_overrides(
    ledger_backend: str, fresh_ledger: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """The test's own ledger: the embedded default, or one PostgreSQL database."""
    return {} if ledger_backend == "sqlite" else fresh_ledger()


@pytest.fixture(autouse=True)
def _no_client_waits() -> Iterator[None]:
    set_testing(True)
    try:
        yield
    finally:
        set_testing(False)


def emulator_settings(
    rackbeat: RackbeatEmulatorHandle,
    poweroffice: PowerOfficeEmulatorHandle,
    data_dir: Path,
    **overrides: Any,
) -> Settings:
    """Settings that point every URL and credential at the two emulators."""
    values: dict[str, Any] = {
        "rackbeat_base_url": rackbeat.base_url,
        "rackbeat_api_token": rackbeat.token,
        "poweroffice_base_url": poweroffice.base_url,
        "poweroffice_token_url": poweroffice.token_url,
        "poweroffice_application_key": poweroffice.application_key,
        "poweroffice_client_key": poweroffice.client_key,
        "poweroffice_subscription_key": poweroffice.subscription_key,
        "data_dir": data_dir,
        "rackbeat_requests_per_second": 1000.0,
        "poweroffice_requests_per_second": 1000.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def make_settings(
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    tmp_path: Path,
    _ledger_overrides: dict[str, Any],
) -> Callable[..., Settings]:
    """``make_settings(**overrides)``: settings on the emulators and the test's ledger."""

    def make(**overrides: Any) -> Settings:
        return emulator_settings(
            rackbeat_emulator,
            poweroffice_emulator,
            tmp_path,
            **{**_ledger_overrides, **overrides},
        )

    return make


@pytest.fixture
def settings(
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    tmp_path: Path,
    _ledger_overrides: dict[str, Any],
) -> Settings:
    """Settings on the emulators, limits off; the embedded SQLite ledger, or under
    :data:`BOTH_LEDGERS` also a PostgreSQL one (no Redis either way)."""
    rackbeat_emulator.configure(rate_limit_enabled=False)
    poweroffice_emulator.configure(rate_limit_enabled=False)
    return emulator_settings(rackbeat_emulator, poweroffice_emulator, tmp_path, **_ledger_overrides)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = build_runtime(settings)
    try:
        yield rt
    finally:
        rt.close()


class Pipeline:
    """Poll and drain in this process; records every result.

    With ``batch_size`` > 1 the poll's keys run as ``sync_entities`` batches of one kind (as
    ``rbsync.sync_batch`` does), and what a batch hands on runs alone (as ``rbsync.sync``).
    """

    def __init__(self, runtime: Runtime, *, batch_size: int = 1) -> None:
        self.runtime = runtime
        self.batch_size = batch_size
        self.queue: deque[tuple[str, str, bool]] = deque()
        """(kind, key, alone): ``alone`` entries run one by one, like a handed-on retry."""
        self.results: list[SyncResult] = []
        self.polls: list[PollReport] = []
        self.batches: list[list[str]] = []

    def enqueue(self, kind: str, keys: list[str]) -> int:
        self.queue.extend((kind, key, self.batch_size <= 1) for key in keys)
        return len(keys)

    def poll(self, *kinds: str) -> list[PollReport]:
        reports = [poll_kind(self.runtime, k, self.enqueue) for k in (kinds or registry.names())]
        self.polls.extend(reports)
        return reports

    def _next_batch(self, kind: str, key: str) -> list[str]:
        keys = [key]
        while self.queue and len(keys) < self.batch_size:
            next_kind, next_key, alone = self.queue[0]
            if next_kind != kind or alone:
                break
            self.queue.popleft()
            keys.append(next_key)
        return keys

    def drain(self, *, max_retries: int = 3) -> list[SyncResult]:
        """Run every queued sync; retriable outcomes go round again (bounded)."""
        done: list[SyncResult] = []
        tries: dict[tuple[str, str], int] = {}
        for _ in range(MAX_ROUNDS * 1000):
            if not self.queue:
                break
            kind, key, alone = self.queue.popleft()
            if alone:
                attempt = tries.get((kind, key), 0)
                results = [
                    sync_entity(
                        self.runtime,
                        kind,
                        key,
                        f"test-{kind}-{key}",
                        final_attempt=attempt >= max_retries,
                    )
                ]
            else:
                keys = self._next_batch(kind, key)
                self.batches.append(keys)
                token = f"test-batch-{len(self.batches)}"
                handed: list[SyncResult] = []  # dependencies that need another attempt
                results = [
                    *sync_entities(self.runtime, kind, keys, token, dependencies=handed),
                    *handed,
                ]
            for result in results:
                done.append(result)
                if result.retry or result.reopened:
                    tries[(result.kind, result.key)] = tries.get((result.kind, result.key), 0) + 1
                    self.queue.append((result.kind, result.key, True))
        else:  # pragma: no cover - a bug in the pipeline
            raise AssertionError("the queue never drained")
        self.results.extend(done)
        return done

    def run(self, *kinds: str) -> list[SyncResult]:
        self.poll(*kinds)
        return self.drain()


@pytest.fixture
def pipeline(runtime: Runtime) -> Pipeline:
    return Pipeline(runtime)


@pytest.fixture
def batched(runtime: Runtime) -> Pipeline:
    """The poll's keys run in batches of 50 (``rbsync.sync_batch``)."""
    return Pipeline(runtime, batch_size=50)


Drain = Callable[[], list[SyncResult]]

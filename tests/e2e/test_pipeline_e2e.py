"""End to end with a real ``celery -A worker.app worker`` process.

Production mode (Redis broker, PostgreSQL ledger) and the embedded default (filesystem broker,
SQLite ledger), both against the two emulators over HTTP. The emulators' write counters are the
proof: every entity ends synced, skipped or failed with a reason, and nothing is duplicated --
also when the worker is SIGKILLed mid-create, creates are committed and then dropped, 5xx/429
come in bursts and reads lag behind writes.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kinds import registry
from ledger import Attempt, EntityLink, counts_by_kind_and_status, make_engine, make_session_factory
from sandbox.testing import (
    SEEDED_CREATES,
    SEEDED_SYNC,
    PowerOfficeEmulatorHandle,
    RackbeatEmulatorHandle,
)
from wiring.settings import Settings
from worker.app import create_app

BIN = Path(sys.executable).parent
CELERY = str(BIN / "celery")
RBSYNC = str(BIN / "rbsync")
KINDS = tuple(registry.names())
FINAL = ("synced", "skipped", "failed", "dead")
READY_SECONDS = 60.0
SETTLE_SECONDS = 150.0


def emulator_env(
    rb: RackbeatEmulatorHandle, po: PowerOfficeEmulatorHandle, data_dir: Path
) -> dict[str, str]:
    """Everything a worker needs, with short ceilings so that redelivery is quick."""
    return {
        "RACKBEAT_BASE_URL": rb.base_url,
        "RACKBEAT_API_TOKEN": rb.token,
        "POWEROFFICE_BASE_URL": po.base_url,
        "POWEROFFICE_TOKEN_URL": po.token_url,
        "POWEROFFICE_APPLICATION_KEY": po.application_key,
        "POWEROFFICE_CLIENT_KEY": po.client_key,
        "POWEROFFICE_SUBSCRIPTION_KEY": po.subscription_key,
        "RBSYNC_DATA_DIR": str(data_dir),
        "RBSYNC_RACKBEAT_REQUESTS_PER_SECOND": "1000",
        "RBSYNC_POWEROFFICE_REQUESTS_PER_SECOND": "1000",
        "RBSYNC_VISIBILITY_TIMEOUT_SECONDS": "16",
        "RBSYNC_TASK_TIME_LIMIT_SECONDS": "4",
        "RBSYNC_POLL_TIME_LIMIT_SECONDS": "16",
        "RBSYNC_RETRY_BACKOFF_SECONDS": "0.2",
        "RBSYNC_RETRY_BACKOFF_MAX_SECONDS": "2",
        "RBSYNC_SYNC_MAX_RETRIES": "10",
    }


class Deployment:
    """One configuration of rbsync: its environment, ledger and a way to send tasks."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = {**os.environ, **env}
        for name in ("RBSYNC_BROKER_URL", "RBSYNC_DATABASE_URL", "RBSYNC_REDIS_URL"):
            if name not in env:
                self.env.pop(name, None)
        self.workdir = workdir
        self.settings = Settings(_env_file=None, **_settings_values(env))  # type: ignore[call-arg]
        self.app = create_app(self.settings)
        self.engine = make_engine(self.settings.ledger_url)
        self.sessions = make_session_factory(self.engine)
        self.logs: list[Path] = []

    def upgrade(self) -> str:
        done = subprocess.run(
            [RBSYNC, "db", "upgrade"],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    @contextmanager
    def worker(self, name: str) -> Iterator[subprocess.Popen[bytes]]:
        """A real worker process (prefork, 2 children) until the block ends."""
        command = [
            CELERY, "-A", "worker.app", "worker", "--pool=prefork", "--concurrency=2",
            "--loglevel=INFO", "--without-mingle", "--without-gossip",
            f"--hostname={name}@localhost",
        ]  # fmt: skip
        with self._process(name, command, ready=b" ready.", stop_seconds=30) as process:
            yield process

    @contextmanager
    def beat(self, name: str) -> Iterator[subprocess.Popen[bytes]]:
        """A real beat process until the block ends."""
        command = [
            CELERY, "-A", "worker.app", "beat", "--loglevel=INFO",
            f"--schedule={self.workdir / name}.schedule",
        ]  # fmt: skip
        with self._process(name, command, ready=None, stop_seconds=10) as process:
            yield process

    @contextmanager
    def _process(
        self, name: str, command: list[str], *, ready: bytes | None, stop_seconds: float
    ) -> Iterator[subprocess.Popen[bytes]]:
        """``command`` in its own process group, logging to ``<name>.log``, until the block
        ends (SIGTERM, then SIGKILL); with ``ready``, once its log says so."""
        log_path = self.workdir / f"{name}.log"
        self.logs.append(log_path)
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                command,
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: SIGKILL takes the children too
            )
        try:
            if ready is not None:
                wait_for(
                    f"{name} to be ready",
                    lambda: process.poll() is None and ready in log_path.read_bytes(),
                    READY_SECONDS,
                    alive=process,
                )
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=stop_seconds)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)

    def poll(self, *kinds: str) -> None:
        with self.app.producer_or_acquire() as producer:
            for kind in kinds or KINDS:
                self.app.send_task("rbsync.poll", args=[kind], producer=producer)

    def counts(self) -> dict[str, dict[str, int]]:
        with self.sessions() as s:
            return counts_by_kind_and_status(s)

    def poll_cycles_done(self) -> int:
        with self.sessions() as s:
            return int(
                s.scalar(sa.text("SELECT count(*) FROM poll_cycles WHERE status = 'done'")) or 0
            )

    def diagnose(self) -> str:
        """Ledger counts, unsettled rows and the end of the worker logs (for a failure)."""
        with self.sessions() as s:
            rows = s.execute(
                sa.select(EntityLink.kind, EntityLink.key, EntityLink.status, EntityLink.last_error)
                .where(EntityLink.status.not_in(["synced", "skipped"]))
                .limit(10)
            ).all()
        tails = [log.read_text(errors="replace")[-3000:] for log in self.logs if log.exists()]
        return f"counts {self.counts()}\nnot synced {rows}\n" + "\n".join(tails)

    def settled(self, expected_rows: int) -> bool:
        counts = self.counts()
        total = sum(sum(c.values()) for c in counts.values())
        final = sum(n for c in counts.values() for status, n in c.items() if status in FINAL)
        return total == expected_rows and final == total

    def close(self) -> None:
        self.engine.dispose()


def _settings_values(env: dict[str, str]) -> dict[str, Any]:
    names = {
        "RACKBEAT_BASE_URL": "rackbeat_base_url",
        "RACKBEAT_API_TOKEN": "rackbeat_api_token",
        "POWEROFFICE_BASE_URL": "poweroffice_base_url",
        "POWEROFFICE_TOKEN_URL": "poweroffice_token_url",
        "POWEROFFICE_APPLICATION_KEY": "poweroffice_application_key",
        "POWEROFFICE_CLIENT_KEY": "poweroffice_client_key",
        "POWEROFFICE_SUBSCRIPTION_KEY": "poweroffice_subscription_key",
        "RBSYNC_DATABASE_URL": "database_url",
        "RBSYNC_BROKER_URL": "broker_url",
        "RBSYNC_REDIS_URL": "redis_url",
    }
    values: dict[str, Any] = {}
    for key, value in env.items():
        if key in names:
            values[names[key]] = value
        elif key.startswith("RBSYNC_"):
            values[key.removeprefix("RBSYNC_").lower()] = value
    return values


def wait_for(
    what: str,
    probe: Callable[[], Any],
    seconds: float = SETTLE_SECONDS,
    *,
    alive: subprocess.Popen[bytes] | None = None,
) -> Any:
    """Poll ``probe()`` until truthy; fail after ``seconds`` (or when ``alive`` exits)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        if alive is not None and alive.poll() is not None:
            pytest.fail(f"the process exited ({alive.returncode}) while waiting for {what}")
        time.sleep(0.25)
    pytest.fail(f"timed out after {seconds:g} s waiting for {what}")


def creates(po: PowerOfficeEmulatorHandle) -> dict[str, int]:
    return {k: v["created"] for k, v in po.counters()["writes"].items() if v["created"]}


def po_product(po: PowerOfficeEmulatorHandle, code: str) -> dict[str, Any]:
    return next(p for p in po.state()["resources"]["Products"] if p["Code"] == code)


def assert_no_duplicates(po: PowerOfficeEmulatorHandle) -> None:
    """Each natural key exists once in PowerOffice Go, and nothing was refused as a duplicate."""
    state = po.state()["resources"]
    codes = [p["Code"] for p in state["Products"]]
    assert len(codes) == len(set(codes))
    for resource in ("Customers", "Suppliers", "SalesOrders"):
        refs = [r["ExternalImportReference"] for r in state[resource]]
        assert len(refs) == len(set(refs)), resource
    assert po.counters()["duplicates_refused"] == 0


@pytest.fixture
def production(
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    postgres_url: str,
    redis_url: str,
    tmp_path: Path,
) -> Iterator[Deployment]:
    rackbeat_emulator.configure(rate_limit_enabled=False)
    poweroffice_emulator.configure(rate_limit_enabled=False)
    env = emulator_env(rackbeat_emulator, poweroffice_emulator, tmp_path / "data")
    env |= {
        "RBSYNC_BROKER_URL": redis_url,
        "RBSYNC_REDIS_URL": redis_url,
        "RBSYNC_DATABASE_URL": postgres_url,
    }
    deployment = Deployment(env, tmp_path)
    assert "at revision" in deployment.upgrade()
    try:
        yield deployment
    finally:
        deployment.close()


@pytest.fixture
def embedded(
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    tmp_path: Path,
) -> Iterator[Deployment]:
    rackbeat_emulator.configure(rate_limit_enabled=False)
    poweroffice_emulator.configure(rate_limit_enabled=False)
    deployment = Deployment(
        emulator_env(rackbeat_emulator, poweroffice_emulator, tmp_path / "data"), tmp_path
    )
    deployment.upgrade()
    try:
        yield deployment
    finally:
        deployment.close()


def _sync_change_and_idle(
    deployment: Deployment,
    rackbeat: RackbeatEmulatorHandle,
    poweroffice: PowerOfficeEmulatorHandle,
) -> None:
    with deployment.worker("e2e"):
        deployment.poll()
        wait_for("the seeded dataset to settle", lambda: deployment.settled(70))
        assert deployment.counts() == SEEDED_SYNC
        assert creates(poweroffice) == SEEDED_CREATES
        assert_no_duplicates(poweroffice)
        # The poll fanned its keys out in batches (rbsync.sync_batch): a task id or two for the
        # 50 products (the product batch; an invoice batch's dependencies first), not 50.
        # Each product's *first* attempt: an entity a slow batch released (its time budget,
        # on a loaded machine) goes on as a task of its own, which says nothing of the fan-out.
        with deployment.sessions() as s:
            first = (
                sa.select(sa.func.min(Attempt.id))
                .join(EntityLink, EntityLink.id == Attempt.link_id)
                .where(EntityLink.kind == "product")
                .group_by(Attempt.link_id)
                .scalar_subquery()
            )
            first_attempts = s.scalars(
                sa.select(Attempt.task_id).where(Attempt.id.in_(first))
            ).all()
        assert len(first_attempts) == 50
        assert len(set(first_attempts)) <= 3

        # An unchanged catalogue: five polls, not one PowerOffice Go request.
        poweroffice.reset_counters()
        done = deployment.poll_cycles_done()
        deployment.poll()
        wait_for("five more polls", lambda: deployment.poll_cycles_done() == done + 5)
        assert poweroffice.counters()["requests"] == {}

        # One changed field: one PATCH, of that field only (a hand edit of another field in
        # PowerOffice Go survives it).
        product = next(
            p for p in poweroffice.state()["resources"]["Products"] if p["Code"] == "10002"
        )
        with poweroffice.client() as po:
            po.patch(
                f"Products/{product['Id']}",
                json=[{"op": "replace", "path": "/Description", "value": "edited in PO"}],
                headers={"Content-Type": "application/json-patch+json"},
            ).raise_for_status()
        poweroffice.reset_counters()
        rackbeat.touch("products", "10002", name="Renamed in Rackbeat")
        deployment.poll("product")

        def renamed() -> bool:
            with deployment.sessions() as s:
                written = s.scalar(
                    sa.select(EntityLink.written).where(
                        EntityLink.kind == "product", EntityLink.key == "10002"
                    )
                )
            return bool(written and written.get("Name") == "Renamed in Rackbeat")

        wait_for("the renamed product to be written", renamed)
        assert poweroffice.counters()["requests"] == {"PATCH /v2/Products/{id}": 1}
        after = next(
            p for p in poweroffice.state()["resources"]["Products"] if p["Code"] == "10002"
        )
        assert (after["Name"], after["Description"]) == ("Renamed in Rackbeat", "edited in PO")


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_production_worker_syncs_updates_and_idles(
    production: Deployment,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    _sync_change_and_idle(production, rackbeat_emulator, poweroffice_emulator)


@pytest.mark.slow
def test_embedded_worker_syncs_updates_and_idles(
    embedded: Deployment,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    _sync_change_and_idle(embedded, rackbeat_emulator, poweroffice_emulator)


# --- faults: each ends with every entity settled and 0 duplicates in PowerOffice Go ----------

FAULTS: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {
    # A create is handled (the record exists), then the connection drops: 20 % of writes.
    "commit_then_drop_20pct": ([{"route": "POST /v2/*", "commit_then_drop_rate": 0.2}], {}),
    # A quarter of all requests answer 503, and 25 requests in a row answer 429.
    "5xx_and_429_bursts": (
        [{"route": "* /v2/*", "error_rate": 0.25, "status": 503}, {"route": "*", "burst_429": 25}],
        {},
    ),
    # Reads lag writes by a second, while creates are dropped after commit: the lookup after
    # an ambiguous create must wait the lag out or it would create a second record.
    "replica_lag": (
        [{"route": "POST /v2/*", "commit_then_drop_rate": 0.3}],
        {"replica_lag_seconds": 1.0},
    ),
}


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_faults_end_settled_without_duplicates(
    fault: str,
    production: Deployment,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    rules, knobs = FAULTS[fault]
    if knobs:
        poweroffice_emulator.configure(**knobs)
    poweroffice_emulator.set_faults(rules)
    with production.worker("faulty"):
        production.poll()
        try:
            wait_for(f"the dataset to settle under {fault}", lambda: production.settled(70))
        except pytest.fail.Exception:
            print(production.diagnose())
            raise
    assert production.counts() == SEEDED_SYNC, production.diagnose()
    assert creates(poweroffice_emulator) == SEEDED_CREATES
    assert_no_duplicates(poweroffice_emulator)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_worker_sigkilled_mid_create_and_restarted(
    production: Deployment,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    # Slow creates, so that the kill lands while product POSTs are in flight.
    poweroffice_emulator.set_faults([{"route": "POST /v2/Products", "latency_ms": 1500}])

    def creates_in_flight() -> bool:
        with production.sessions() as s:
            held = s.scalar(
                sa.select(sa.func.count())
                .select_from(EntityLink)
                .where(EntityLink.status == "in_flight", EntityLink.intent.is_not(None))
            )
        return bool(held)

    with production.worker("doomed") as doomed:
        production.poll("product")
        wait_for("a product create in flight", creates_in_flight, 60)
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
    poweroffice_emulator.clear_faults()
    with production.worker("restarted"):
        # The killed worker's messages come back after the visibility timeout (16 s here).
        wait_for("the products to settle after the kill", lambda: production.settled(50))
    assert production.counts() == {"product": {"synced": 50}}
    assert creates(poweroffice_emulator)["Products"] == 50
    assert_no_duplicates(poweroffice_emulator)
    with production.sessions() as s:
        retried = s.scalar(
            sa.select(sa.func.count()).select_from(EntityLink).where(EntityLink.attempts > 1)
        )
    assert retried >= 1  # at least one create was cut off by the kill and run again


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_a_killed_workers_rows_are_swept_back_within_a_lease(
    production: Deployment,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    """Issue 13: no waiting for the broker's visibility timeout (600 s here) or a poll (an hour
    here): the killed worker's leases run out (3 s) and beat's sweep (every second) sends its
    rows again, and its lost countdowns and prefetched messages with them."""
    production.env |= {
        "RBSYNC_VISIBILITY_TIMEOUT_SECONDS": "600",
        "RBSYNC_POLL_INTERVAL_SECONDS": "3600",
        "RBSYNC_LEASE_SECONDS": "3",
        "RBSYNC_SWEEP_INTERVAL_SECONDS": "1",
    }
    poweroffice_emulator.set_faults([{"route": "POST /v2/Products", "latency_ms": 1500}])

    def creates_in_flight() -> int:
        with production.sessions() as s:
            return int(
                s.scalar(
                    sa.select(sa.func.count())
                    .select_from(EntityLink)
                    .where(EntityLink.status == "in_flight", EntityLink.intent.is_not(None))
                )
                or 0
            )

    with production.worker("doomed") as doomed:
        production.poll("product")
        wait_for("a product create in flight", lambda: creates_in_flight() > 0, 60)
        os.killpg(doomed.pid, signal.SIGKILL)
        assert doomed.wait(timeout=10) == -signal.SIGKILL
    held_at_kill = creates_in_flight()
    assert held_at_kill > 0  # the fault was injected: rows were held by the killed worker
    poweroffice_emulator.clear_faults()
    killed_at = time.monotonic()
    with production.worker("survivor"), production.beat("beat"):
        wait_for("the products to settle after the kill", lambda: production.settled(50), 90)
    print(f"settled {time.monotonic() - killed_at:.1f} s after the kill")
    assert production.counts() == {"product": {"synced": 50}}
    assert creates(poweroffice_emulator)["Products"] == 50
    assert_no_duplicates(poweroffice_emulator)
    logs = b"".join(path.read_bytes() for path in production.logs)
    assert b"sweep: sent again" in logs  # the sweep, not a redelivery or a poll, brought them


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_two_beats_by_mistake_never_run_two_polls_of_a_kind_at_once(
    production: Deployment,
    rackbeat_emulator: RackbeatEmulatorHandle,
) -> None:
    # Slow product polls (each list page takes 1.5 s), scheduled every 0.5 s by two beats.
    rackbeat_emulator.set_faults([{"route": "GET /api/products", "latency_ms": 1500}])
    production.env["RBSYNC_POLL_INTERVAL_SECONDS"] = "0.5"
    beats = []
    with production.worker("beats"):
        for name in ("beat-a", "beat-b"):
            log_path = production.workdir / f"{name}.log"
            with log_path.open("ab") as log:
                beats.append(
                    subprocess.Popen(
                        [
                            CELERY, "-A", "worker.app", "beat", "--loglevel=INFO",
                            f"--schedule={production.workdir / name}.schedule",
                        ],
                        env=production.env,
                        cwd=production.workdir,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )  # fmt: skip
        try:
            wait_for("three finished product polls", lambda: product_cycles(production, 3), 90)
        finally:
            for beat in beats:
                os.killpg(beat.pid, signal.SIGTERM)
                beat.wait(timeout=30)
    cycles = product_cycles(production, 0)
    assert len(cycles) >= 3
    # Intervals of the product polls that ran never overlap: the second one always skipped.
    ordered = sorted(cycles)
    for (_, end), (start, _) in itertools.pairwise(ordered):
        assert end is not None
        assert end <= start
    sent = sum(
        (production.workdir / f"{b}.log")
        .read_text()
        .count("Sending due task poll (rbsync.dispatch)")
        for b in ("beat-a", "beat-b")
    )
    assert sent > len(cycles)  # more polls were sent than ran: the extra ones skipped


def product_cycles(deployment: Deployment, at_least: int) -> list[tuple[Any, Any]]:
    with deployment.sessions() as s:
        rows = s.execute(
            sa.text(
                "SELECT started_at, finished_at FROM poll_cycles "
                "WHERE kind = 'product' AND status = 'done'"
            )
        ).all()
    cycles = [(r[0], r[1]) for r in rows]
    return cycles if len(cycles) >= at_least else []

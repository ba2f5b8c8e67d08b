"""``rbsync metrics serve`` after real runs (a prefork ``celery worker`` and beat in production
mode, PostgreSQL, Redis, both emulators): every metric exists and agrees with the ledger and the
emulators' own counters; and a real Prometheus server, loading ``monitoring/alerts.yml``,
fires its alerts on a run whose PowerOffice Go refuses the keys and whose Rackbeat answers 429.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml
from prometheus_client.parser import text_string_to_metric_families
from test_pipeline_e2e import RBSYNC, Deployment, production, wait_for

from ledger import Attempt, EntityLink, PollCycle, Status
from sandbox.testing import (
    SEEDED_SYNC,
    PowerOfficeEmulatorHandle,
    RackbeatEmulatorHandle,
)
from worker.flower.testing import free_port, wait_for_port

__all__ = ["production"]  # the fixture, shared with test_pipeline_e2e

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "monitoring" / "alerts.yml"
PROMETHEUS = shutil.which("prometheus")

METRIC_NAMES = {
    "rbsync_entities": "gauge",
    "rbsync_syncs": "counter",
    "rbsync_api_requests": "counter",
    "rbsync_api_rate_limited": "counter",
    "rbsync_rate_limiter_wait_seconds": "histogram",
    "rbsync_token_refreshes": "counter",
    "rbsync_token_refresh_failures": "counter",
    "rbsync_cursor_lag_seconds": "gauge",
    "rbsync_oldest_pending_age_seconds": "gauge",
    "rbsync_poll_duration_seconds": "histogram",
    "rbsync_poll_interval_seconds": "gauge",
    "rbsync_queue_depth": "gauge",
    "rbsync_last_successful_poll_timestamp_seconds": "gauge",
    "rbsync_beat_last_tick_timestamp_seconds": "gauge",
    "rbsync_worker_heartbeat_timestamp_seconds": "gauge",
    "rbsync_worker_processes": "gauge",
    "rbsync_ledger_up": "gauge",
    "rbsync_redis_up": "gauge",
}
"""Every family ``rbsync metrics serve`` exposes (name without ``_total``) and its type."""

Samples = dict[str, list[tuple[dict[str, str], float]]]


@contextmanager
def metrics_server(deployment: Deployment) -> Iterator[str]:
    """``rbsync metrics serve`` on a free port until the block ends; yields its URL."""
    port = free_port()
    command = [RBSYNC, "metrics", "serve", "--port", str(port)]
    with deployment._process("metrics", command, ready=None, stop_seconds=10) as process:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/metrics"


def scrape(url: str) -> tuple[dict[str, str], Samples]:
    """(type by family name, samples by sample name) of one scrape."""
    text = httpx.get(url, timeout=30).text
    types: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return types, samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(
        value
        for found, value in samples.get(name, [])
        if all(found.get(k) == v for k, v in labels.items())
    )


def test_every_metric_exists_after_a_real_run_and_agrees_with_the_ledger(
    production: Deployment,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    production.env |= {
        "RBSYNC_SWEEP_INTERVAL_SECONDS": "1",
        "RBSYNC_POLL_INTERVAL_SECONDS": "3600",  # the test sends the polls; beat sweeps
    }
    with metrics_server(production) as url:
        with production.worker("worker"), production.beat("beat"):
            _live_run(production, url)
        # Every process has stopped: what they counted is final, and so is what the
        # emulators counted (a request after the first scrape would be in the emulators'
        # counts only).
        _, final = scrape(url)
    po_counters = poweroffice_emulator.counters()
    rb_counters = rackbeat_emulator.counters()
    # Every request the workers sent is one the emulators counted (the test's own go to
    # /_sandbox, which they do not count); the token requests, likewise.
    assert total(final, "rbsync_api_requests_total", api="poweroffice") == sum(
        po_counters["requests"].values()
    )
    assert total(final, "rbsync_api_requests_total", api="rackbeat") == sum(
        rb_counters["requests"].values()
    )
    assert total(final, "rbsync_api_requests_total", status_class="5xx") == 0
    assert total(final, "rbsync_token_refreshes_total") == po_counters["events"]["token_requests"]
    waits = total(final, "rbsync_rate_limiter_wait_seconds_count")
    assert waits == total(final, "rbsync_api_requests_total")  # one wait per request


def _live_run(production: Deployment, url: str) -> None:
    """Sync the seeded dataset, then check one scrape while the processes run."""
    production.poll()
    wait_for("the seeded dataset to settle", lambda: production.settled(70))
    time.sleep(1.5)  # every process's last counts are in their files
    # Beat may start after the small dataset has settled (seen: it sent its first sweep 0.3 s
    # after a scrape); its tick must be there before the scrape that checks it.
    wait_for(
        "beat's first tick",
        lambda: "rbsync_beat_last_tick_timestamp_seconds" in scrape(url)[0],
    )
    scraped_at = time.time()
    types, samples = scrape(url)
    with production.sessions() as s:
        attempts = {
            (kind, outcome): count
            for kind, outcome, count in s.execute(
                sa.select(EntityLink.kind, Attempt.outcome, sa.func.count())
                .join(EntityLink, Attempt.link_id == EntityLink.id)
                .group_by(EntityLink.kind, Attempt.outcome)
            )
        }
        polls = {
            kind: (count, finished)
            for kind, count, finished in s.execute(
                sa.select(PollCycle.kind, sa.func.count(), sa.func.max(PollCycle.finished_at))
                .where(PollCycle.status == "done")
                .group_by(PollCycle.kind)
            )
        }
    assert {name: types.get(name) for name in METRIC_NAMES} == METRIC_NAMES
    assert production.counts() == SEEDED_SYNC

    # Entities by kind and status: the ledger's counts, every other status at zero.
    for kind, by_status in SEEDED_SYNC.items():
        for status in Status:
            expected = by_status.get(status.value, 0)
            assert total(samples, "rbsync_entities", kind=kind, status=status.value) == expected
        assert total(samples, "rbsync_oldest_pending_age_seconds", kind=kind) == 0

    # One count per recorded attempt, by kind and outcome: the ledger's attempt rows.
    counted = {
        (labels["kind"], labels["outcome"]): value
        for labels, value in samples["rbsync_syncs_total"]
        if value
    }
    assert counted == attempts

    assert total(samples, "rbsync_token_refresh_failures_total") == 0
    assert total(samples, "rbsync_api_rate_limited_total") == 0

    # Polls: one duration per completed poll; the last one's end; every kind read up to date.
    for kind, (count, finished) in polls.items():
        assert total(samples, "rbsync_poll_duration_seconds_count", kind=kind, result="done") == (
            count
        )
        last = total(samples, "rbsync_last_successful_poll_timestamp_seconds", kind=kind)
        assert last == pytest.approx(finished.timestamp(), abs=0.001)
        assert 0 <= total(samples, "rbsync_cursor_lag_seconds", kind=kind) < 120
        assert total(samples, "rbsync_poll_interval_seconds", kind=kind) == 3600
    assert set(polls) == set(SEEDED_SYNC)

    # Redis: the three queues, drained; beat ticked within the last few seconds.
    depths = {labels["queue"]: value for labels, value in samples["rbsync_queue_depth"]}
    assert set(depths) == {"rbsync", "rbsync.poll", "rbsync.webhook", "rbsync.bulk"}
    assert depths["rbsync"] == 0
    tick = total(samples, "rbsync_beat_last_tick_timestamp_seconds")
    assert scraped_at - 10 < tick <= scraped_at + 1

    # The worker's two prefork children beat and count themselves.
    heartbeat = total(samples, "rbsync_worker_heartbeat_timestamp_seconds")
    assert scraped_at - 15 < heartbeat <= scraped_at + 1
    assert total(samples, "rbsync_worker_processes") == 2
    assert total(samples, "rbsync_ledger_up") == 1
    assert total(samples, "rbsync_redis_up") == 1


# --- the alert rules, evaluated by a real Prometheus ---------------------------------------


def _rules_firing_at_once(source: Path, target: Path) -> None:
    """``source``'s rules with every ``for:`` at 0 s: an expression that is true fires at the
    next evaluation (the test cannot wait the real five minutes)."""
    text = re.sub(r"(?m)^(\s+for:) .*$", r"\1 0s", source.read_text(encoding="utf-8"))
    target.write_text(text, encoding="utf-8")


def _alerts(prometheus: str) -> dict[str, list[dict[str, Any]]]:
    """The firing alerts by name."""
    answer = httpx.get(f"{prometheus}/api/v1/alerts", timeout=10).json()
    firing: dict[str, list[dict[str, Any]]] = {}
    for alert in answer["data"]["alerts"]:
        if alert["state"] == "firing":
            firing.setdefault(alert["labels"]["alertname"], []).append(alert["labels"])
    return firing


@contextmanager
def prometheus_server(workdir: Path, target: str, rules: Path) -> Iterator[str]:
    """A Prometheus scraping ``target`` every second, evaluating ``rules`` every second."""
    assert PROMETHEUS is not None
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(rules)],
                "scrape_configs": [
                    {"job_name": "rbsync", "static_configs": [{"targets": [target]}]}
                ],
            }
        ),
        encoding="utf-8",
    )
    command = [
        PROMETHEUS,
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    log_path = workdir / "prometheus.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.mark.skipif(PROMETHEUS is None, reason="no prometheus binary (apt-get install prometheus)")
def test_a_real_prometheus_fires_the_alerts_of_a_run_that_fails(
    production: Deployment,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    tmp_path: Path,
) -> None:
    production.env |= {
        "RBSYNC_SWEEP_INTERVAL_SECONDS": "1",
        "RBSYNC_POLL_INTERVAL_SECONDS": "3600",
        "RBSYNC_SYNC_MAX_RETRIES": "1",
    }
    rules = tmp_path / "alerts-at-once.yml"
    _rules_firing_at_once(ALERTS, rules)
    with (
        production.worker("alerts"),
        production.beat("beat"),
        metrics_server(production) as url,
        prometheus_server(
            tmp_path, url.removeprefix("http://").removesuffix("/metrics"), rules
        ) as prometheus,
    ):
        # Prometheus has the series at their starting values before anything fails (a rate
        # or a delta needs a sample from before the change).
        def scraped() -> bool:
            answer = httpx.get(
                f"{prometheus}/api/v1/query",
                params={"query": "count_over_time(rbsync_token_refresh_failures_total[1m])"},
                timeout=10,
            ).json()
            return bool(answer["data"]["result"]) and (
                float(answer["data"]["result"][0]["value"][1]) >= 3
            )

        wait_for("Prometheus to scrape rbsync three times", scraped, 60)
        assert "RbsyncEntitiesDeadOrFailed" not in _alerts(prometheus)
        # PowerOffice Go refuses the keys (invalid_client), and Rackbeat answers 429 a few times.
        poweroffice_emulator.set_faults(
            [{"route": "POST /OAuth/Token", "error_rate": 1.0, "status": 400}]
        )
        rackbeat_emulator.set_faults([{"route": "GET /api/products*", "burst_429": 3}])
        production.poll("product")
        wanted = {"RbsyncEntitiesDeadOrFailed", "RbsyncTokenRefreshFailing", "RbsyncRateLimited"}
        firing = wait_for(
            "the alerts to fire", lambda: (f := _alerts(prometheus)) and wanted <= set(f) and f, 90
        )
        still = _alerts(prometheus)
    counts = production.counts()
    print(f"ledger {counts}; firing {sorted(firing)}")
    assert counts["product"].get("failed", 0) + counts["product"].get("dead", 0) > 0
    dead_or_failed = {labels["kind"] for labels in firing["RbsyncEntitiesDeadOrFailed"]}
    assert "product" in dead_or_failed
    assert [labels["api"] for labels in firing["RbsyncRateLimited"]] == ["rackbeat"]
    # Beat ticks and the workers beat: those two stay quiet.
    assert "RbsyncBeatMissedSchedule" not in still
    assert "RbsyncNoWorkerHeartbeat" not in still

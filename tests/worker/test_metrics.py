"""``rbsync metrics serve``'s pieces (``worker/metrics.py``, ``wiring/metrics.py``): the endpoint
over an embedded ledger, the cursor lag, the status classes, the clean-up of dead processes'
files. The worker processes' own metrics, against real processes: tests/e2e/test_metrics_e2e.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kinds import registry
from ledger import SnapshotRecord, finish_poll_cycle, set_cursor, start_poll_cycle, store_snapshots
from wiring.metrics import remove_dead_process_files, status_class
from wiring.runtime import Runtime, build_runtime
from wiring.settings import Settings
from worker.health import record_beat_tick
from worker.metrics import cursor_lag_seconds, make_metrics_server

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def test_cursor_lag_is_measured_from_the_later_of_the_cursor_and_the_last_completed_poll() -> None:
    cursor = NOW - timedelta(hours=2)  # nothing changed in Rackbeat for two hours
    polled = NOW - timedelta(minutes=4)
    assert cursor_lag_seconds(cursor, polled, NOW) == 240.0
    assert cursor_lag_seconds(polled, cursor, NOW) == 240.0
    assert cursor_lag_seconds(cursor, None, NOW) == 7200.0
    assert cursor_lag_seconds(None, None, NOW) is None
    assert cursor_lag_seconds(NOW + timedelta(seconds=3), None, NOW) == 0.0  # a skewed clock


def test_status_classes() -> None:
    assert [status_class(s) for s in (200, 206, 301, 404, 429, 503, None, 600)] == [
        "2xx",
        "2xx",
        "3xx",
        "4xx",
        "4xx",
        "5xx",
        "error",
        "other",
    ]


def test_only_the_files_of_processes_that_are_gone_are_removed(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    names = [
        f"counter_{gone.pid}.db",
        f"gauge_livesum_{gone.pid}.db",
        f"counter_{os.getpid()}.db",
        f"histogram_{os.getpid()}.db",
        "notes.db",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    removed = remove_dead_process_files(tmp_path)
    assert sorted(p.name for p in removed) == sorted(names[:2])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[2:])


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    built = build_runtime(settings)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def endpoint(runtime: Runtime) -> Iterator[str]:
    server = make_metrics_server(runtime, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(httpx.get(url, timeout=10).text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def _value(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    [value] = [v for found, v in samples[name] if found == labels]
    return value


def test_the_endpoint_over_an_embedded_ledger(runtime: Runtime, endpoint: str) -> None:
    seen = datetime.now(UTC) - timedelta(minutes=10)
    with runtime.sessions.begin() as session:
        store_snapshots(
            session,
            "product",
            [SnapshotRecord(f"P{n}", {"n": n}, seen) for n in range(3)],
            now=seen,
        )
        store_snapshots(session, "customer", [SnapshotRecord("7", {"n": 7}, seen)], now=seen)
        cycle = start_poll_cycle(session, "product", signpost=seen, cursor_from=None)
        finish_poll_cycle(
            session,
            cycle,
            status="done",
            seen=3,
            changed=3,
            enqueued=3,
            cursor_to=seen - timedelta(hours=1),
            now=seen + timedelta(seconds=2),
        )
        set_cursor(session, "product", seen - timedelta(hours=1))
    record_beat_tick(runtime.settings, now=1_700_000_000.5)

    samples = _scrape(endpoint)

    assert _value(samples, "rbsync_ledger_up") == 1
    assert _value(samples, "rbsync_redis_up") == 1
    assert _value(samples, "rbsync_entities", kind="product", status="pending") == 3
    assert _value(samples, "rbsync_entities", kind="customer", status="pending") == 1
    assert _value(samples, "rbsync_entities", kind="product", status="dead") == 0
    assert {labels["kind"] for labels, _ in samples["rbsync_entities"]} == set(registry.names())
    assert 600 <= _value(samples, "rbsync_oldest_pending_age_seconds", kind="product") < 660
    assert _value(samples, "rbsync_oldest_pending_age_seconds", kind="supplier") == 0
    # The cursor is an hour older than the completed poll's start: the lag runs from the poll.
    assert 600 <= _value(samples, "rbsync_cursor_lag_seconds", kind="product") < 660
    assert [labels for labels, _ in samples["rbsync_cursor_lag_seconds"]] == [{"kind": "product"}]
    assert _value(
        samples, "rbsync_last_successful_poll_timestamp_seconds", kind="product"
    ) == pytest.approx((seen + timedelta(seconds=2)).timestamp())
    assert _value(samples, "rbsync_poll_interval_seconds", kind="invoice") == 300
    assert _value(samples, "rbsync_beat_last_tick_timestamp_seconds") == 1_700_000_000.5
    assert "rbsync_queue_depth" not in samples  # embedded: no Redis broker to measure


def test_a_ledger_that_does_not_answer_is_reported_not_raised(
    runtime: Runtime, endpoint: str
) -> None:
    runtime.engine.dispose()
    Path(runtime.settings.ledger_url.removeprefix("sqlite:///")).unlink()
    Path(runtime.settings.ledger_url.removeprefix("sqlite:///")).mkdir()  # not a database
    samples = _scrape(endpoint)
    assert _value(samples, "rbsync_ledger_up") == 0
    assert "rbsync_entities" not in samples
    assert _value(samples, "rbsync_redis_up") == 1


def test_the_gauges_cover_every_connection(tmp_path: Path) -> None:
    from ledger import make_session_factory
    from ledger.connections import ConnectionCredentials, add_connection, set_connection_state
    from ledger.secrets import SecretBox, generate_key

    key = generate_key()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path / "data", rackbeat_api_token="t", secret_key=key
    )
    runtime = build_runtime(settings)
    seen = datetime.now(UTC) - timedelta(minutes=10)
    acme = make_session_factory(runtime.engine, "acme")
    try:
        with acme.begin() as session:
            add_connection(
                session,
                "acme",
                credentials=ConnectionCredentials(rackbeat_token="rb", client_key="ck"),
                box=SecretBox.from_text(key),
            )
            set_connection_state(session, "acme", "broken", "PowerOffice Go refused the client")
        for sessions, count, behind in ((runtime.sessions, 3, 1), (acme, 2, 5)):
            with sessions.begin() as session:
                store_snapshots(
                    session,
                    "product",
                    [SnapshotRecord(f"P{n}", {"n": n}, seen) for n in range(count)],
                    now=seen,
                )
                set_cursor(session, "product", seen - timedelta(hours=behind))
        server = make_metrics_server(runtime, "127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            samples = _scrape(f"http://127.0.0.1:{server.server_port}/metrics")
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)
    finally:
        runtime.close()
    # The same item numbers in two companies: five rows, not three.
    assert _value(samples, "rbsync_entities", kind="product", status="pending") == 5
    # The connection furthest behind sets the lag (acme: five hours, no completed poll).
    lag = _value(samples, "rbsync_cursor_lag_seconds", kind="product")
    assert 5 * 3600 + 600 <= lag < 5 * 3600 + 660  # (the snapshot was read 10 minutes ago)
    assert _value(samples, "rbsync_connections", state="broken") == 1
    assert _value(samples, "rbsync_connections", state="active") == 1
    assert _value(samples, "rbsync_connections", state="paused") == 0

"""``worker.health``'s checks and the JSON log format, against real Redis, a real HTTP server and
a real formatter (the processes themselves: ``tests/e2e/test_health_e2e.py``)."""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from sandbox.server import serve_in_thread
from wiring.settings import Settings
from worker.flower.testing import free_port
from worker.health import (
    BEAT_TICK_KEY,
    beat_max_age,
    check_beat,
    check_receiver,
    last_beat_tick,
    record_beat_tick,
)
from worker.logs import configure_logging, reset_logging


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, **values)  # type: ignore[call-arg]


def test_beat_check_reads_the_tick_file_of_the_embedded_mode(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    never = check_beat(settings, max_age=30)
    assert (never.ok, never.detail) == (False, never.detail)
    assert "never ticked" in never.detail
    record_beat_tick(settings, now=1000.0)
    assert last_beat_tick(settings) == 1000.0
    assert check_beat(settings, max_age=30, now=1020.0).ok
    late = check_beat(settings, max_age=30, now=1031.0)
    assert not late.ok
    assert late.detail == "last tick 31 s ago (more than 30 s)"


@pytest.mark.redis
def test_beat_check_reads_the_tick_from_redis_in_production(tmp_path: Path, redis_url: str) -> None:
    import redis

    settings = _settings(tmp_path, redis_url=redis_url)
    assert not check_beat(settings, max_age=30).ok
    record_beat_tick(settings)
    assert check_beat(settings, max_age=30).ok
    assert not (tmp_path / "beat.tick").exists()  # Redis, not the file
    ttl = redis.Redis.from_url(redis_url).ttl(BEAT_TICK_KEY)
    assert 0 < ttl <= 86400


def test_beat_check_says_when_redis_does_not_answer(tmp_path: Path) -> None:
    settings = _settings(tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    result = check_beat(settings, max_age=30)
    assert not result.ok
    assert result.detail.startswith("Redis did not answer: ConnectionError")


def test_beat_may_be_three_sweeps_late_and_at_least_30_s(tmp_path: Path) -> None:
    assert beat_max_age(_settings(tmp_path, sweep_interval_seconds=5)) == 30
    assert beat_max_age(_settings(tmp_path, sweep_interval_seconds=20)) == 60


def test_receiver_check_wants_a_200(tmp_path: Path) -> None:
    answers = {"status": 200}

    async def healthz(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("x", status_code=answers["status"])

    app = Starlette(routes=[Route("/healthz", healthz)])
    with serve_in_thread(app) as server:
        url = f"{server.url}/healthz"
        assert check_receiver(url, timeout=5).ok
        answers["status"] = 503
        result = check_receiver(url, timeout=5)
        assert (result.ok, result.detail) == (False, f"{url} answered 503")
    gone = check_receiver(url, timeout=2)
    assert not gone.ok
    assert "ConnectError" in gone.detail


def _json_lines(settings: Settings, emit: Any) -> list[dict[str, Any]]:
    stream = io.StringIO()
    configure_logging(settings, level=logging.DEBUG, stream=stream, log_format="json")
    try:
        emit()
    finally:
        reset_logging()
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_entity_fields_and_no_secret(tmp_path: Path) -> None:
    secret = "rb-token-0123456789abcdef"
    settings = _settings(tmp_path, rackbeat_api_token=secret)
    log = logging.getLogger("tasks.outcome")

    def emit() -> None:
        log.info(
            "%s %s: %s",
            "product",
            "10001",
            "created",
            extra={"kind": "product", "key": "10001", "attempt": 2, "outcome": "created"},
        )
        try:
            raise RuntimeError(f"refused token {secret}\nsecond line")
        except RuntimeError:
            log.exception("customer 5004: Bearer abc.def-ghi refused")

    first, second = _json_lines(settings, emit)
    assert first["message"] == "product 10001: created"
    assert (first["kind"], first["key"], first["attempt"], first["outcome"]) == (
        "product",
        "10001",
        2,
        "created",
    )
    assert first["level"] == "INFO"
    assert first["logger"] == "tasks.outcome"
    assert "http_status" not in first  # absent fields stay out
    assert time.time() - _epoch(first["ts"]) < 60
    assert second["message"] == "customer 5004: Bearer ********** refused"
    assert "RuntimeError: refused token **********" in second["exc"]
    assert secret not in json.dumps([first, second])


def test_celery_task_lines_carry_the_task_id(tmp_path: Path) -> None:
    def emit() -> None:
        # Celery's "Task ... succeeded" line carries the task in ``data`` (celery.app.trace).
        context = {"name": "rbsync.sync_batch", "id": "abc-123"}
        logging.getLogger("celery.app.trace").info(
            "Task %(name)s[%(id)s] succeeded", context, extra={"data": context}
        )

    (line,) = _json_lines(_settings(tmp_path), emit)
    assert line["message"] == "Task rbsync.sync_batch[abc-123] succeeded"
    assert (line["task_id"], line["task"]) == ("abc-123", "rbsync.sync_batch")


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp).timestamp()


def test_a_node_name_expands_the_host_as_celery_does() -> None:
    import socket

    from worker.health import expand_node

    host = socket.gethostname()
    assert expand_node("poller@%h") == f"poller@{host}"
    assert expand_node("celery@box1") == "celery@box1"
    assert expand_node("odd%%h@%h") == f"odd%h@{host}"


def test_health_refuses_a_queue_rbsync_does_not_have(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from worker.cli import build_app

    result = CliRunner().invoke(
        build_app(),
        ["health", "worker", "--queues", "rbsync.poll,rbsync.pol"],
        env={"RBSYNC_DATA_DIR": str(tmp_path)},
    )
    reset_logging()
    assert result.exit_code == 2, result.output
    assert "not an rbsync queue: rbsync.pol" in result.output

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tasks.base import retry_countdown
from wiring.locks import FileLock, RedisLock
from wiring.settings import Settings
from worker.app import celery_config, create_app, embedded_broker_dir
from worker.beat import beat_schedule


def make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_production_config_is_json_late_ack_prefetch_one_with_ceilings(tmp_path: Path) -> None:
    settings = make(
        broker_url="redis://127.0.0.1:6379/9",
        database_url="postgresql://postgres@127.0.0.1/x",
        data_dir=tmp_path,
    )
    conf = celery_config(settings)
    assert conf["broker_url"] == "redis://127.0.0.1:6379/9"
    assert conf["broker_transport_options"] == {
        "visibility_timeout": 3600.0,
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
    }
    assert (conf["task_serializer"], conf["result_serializer"], conf["accept_content"]) == (
        "json",
        "json",
        ["json"],
    )
    assert conf["result_backend"] is None
    assert conf["task_ignore_result"] is True
    assert conf["task_acks_late"] is True
    assert conf["task_reject_on_worker_lost"] is True
    assert conf["worker_prefetch_multiplier"] == 1
    assert (conf["task_time_limit"], conf["task_soft_time_limit"]) == (300.0, 240.0)
    assert conf["worker_soft_shutdown_timeout"] == 30.0
    assert conf["worker_send_task_events"] is True
    assert conf["worker_cancel_long_running_tasks_on_connection_loss"] is True
    assert [q.name for q in conf["task_queues"]] == [
        "rbsync",
        "rbsync.poll",
        "rbsync.webhook",
        "rbsync.bulk",
    ]
    assert conf["task_routes"] == {
        "rbsync.poll": {"queue": "rbsync.poll"},
        "rbsync.sweep": {"queue": "rbsync.poll"},
        "rbsync.dispatch": {"queue": "rbsync.poll"},
        "rbsync.webhook": {"queue": "rbsync.webhook"},
        "rbsync.reconcile": {"queue": "rbsync.poll"},
    }
    # A reconcile reads whole collections: it has the poll's time limit, not a sync's.
    assert conf["task_annotations"]["rbsync.reconcile"] == {
        "time_limit": 900.0,
        "soft_time_limit": 720.0,
    }
    # every countdown and the time limit stay far below the visibility timeout
    assert max(settings.retry_backoff_max_seconds, conf["task_time_limit"]) * 4 <= 3600.0


def test_embedded_config_needs_no_server(tmp_path: Path) -> None:
    settings = make(data_dir=tmp_path)
    conf = celery_config(settings)
    assert conf["broker_url"] == "filesystem://"
    root = embedded_broker_dir(settings)
    assert root == (tmp_path / "broker").resolve()
    options = conf["broker_transport_options"]
    assert options["data_folder_in"] == options["data_folder_out"] == str(root / "queue")
    assert all((root / name).is_dir() for name in ("queue", "processed", "control"))
    assert settings.ledger_url == f"sqlite:///{(tmp_path / 'ledger.sqlite3').resolve()}"


def test_an_embedded_app_writes_message_files_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kombu.transport import filesystem

    from worker.embedded_broker import atomic_put

    def kombus_own_put(*args: object) -> None:  # as if nothing had patched kombu yet
        raise AssertionError("kombu's non-atomic _put was used")

    monkeypatch.setattr(filesystem.Channel, "_put", kombus_own_put)
    create_app(make(data_dir=tmp_path))
    assert filesystem.Channel._put is atomic_put  # kombu issue #1551 worked around


def test_a_countdown_near_the_visibility_timeout_is_refused(tmp_path: Path) -> None:
    settings = make(
        data_dir=tmp_path, visibility_timeout_seconds=1200, retry_backoff_max_seconds=600
    )
    with pytest.raises(ValueError, match="at least 4x the longest countdown"):
        celery_config(settings)


def test_beat_has_one_poll_tick_the_sweep_and_the_reconcile(tmp_path: Path) -> None:
    settings = make(
        data_dir=tmp_path,
        poll_interval_seconds=120,
        sweep_interval_seconds=7,
        reconcile_interval_seconds=3600,
    )
    schedule = beat_schedule(settings)
    # No expiry: a poll waiting behind a first push must run when a worker frees, not vanish.
    # One tick whatever the number of connections (tasks.dispatch fans it out).
    assert schedule == {
        "poll": {"task": "rbsync.dispatch", "schedule": 5.0},
        "sweep": {"task": "rbsync.sweep", "schedule": 7.0},
        "reconcile": {
            "task": "rbsync.reconcile",
            "schedule": 3600.0,
            "kwargs": {"connection": "*"},
        },
    }
    # Never longer than the poll interval: every connection is then due at every tick.
    short = beat_schedule(make(data_dir=tmp_path, poll_interval_seconds=2))
    assert short["poll"]["schedule"] == 2.0
    weekly = beat_schedule(make(data_dir=tmp_path))
    assert weekly["reconcile"]["schedule"] == 7 * 24 * 3600
    assert "reconcile" not in beat_schedule(make(data_dir=tmp_path, reconcile_interval_seconds=0))


def test_the_app_registers_the_task_names(tmp_path: Path) -> None:
    app = create_app(make(data_dir=tmp_path))
    app.loader.import_default_modules()
    assert {
        "rbsync.dispatch",
        "rbsync.poll",
        "rbsync.sync",
        "rbsync.sweep",
        "rbsync.retry",
        "rbsync.reconcile",
        "rbsync.initial_sync",
    } <= set(app.tasks)
    assert app.tasks["rbsync.sync"].max_retries is None  # the budget is ours (settings)


def test_retry_countdown_backs_off_with_jitter_under_the_ceiling() -> None:
    import random

    rng = random.Random(7)
    values = [retry_countdown(n, base=2, ceiling=600, rand=rng) for n in range(12)]
    assert all(2 <= v <= min(600, 2 * 2**n) for n, v in enumerate(values))
    assert retry_countdown(0, base=2, ceiling=600, at_least=30, rand=rng) == 30
    assert retry_countdown(3, base=2, ceiling=600, at_least=900, rand=rng) == 600


def test_redis_lock_is_exclusive_and_released_only_by_its_holder(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    first = RedisLock(client, "poll:product", ttl=30)
    second = RedisLock(client, "poll:product", ttl=30)
    assert first.acquire() is True
    assert second.acquire() is False
    second.release()  # not the holder: must not free the lock
    assert RedisLock(client, "poll:product", ttl=30).acquire() is False
    first.release()
    assert second.acquire() is True
    second.release()
    expiring = RedisLock(client, "poll:bom", ttl=0.05)
    assert expiring.acquire() is True
    assert client.pttl("rbsync:lock:poll:bom") <= 50


def test_file_lock_is_exclusive_and_dies_with_its_holder(tmp_path: Path) -> None:
    first = FileLock(tmp_path, "poll:product")
    assert first.acquire() is True
    assert FileLock(tmp_path, "poll:product").acquire() is False
    first.release()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, pathlib, time; from wiring.locks import FileLock;"
            f"lock = FileLock(pathlib.Path({str(tmp_path)!r}), 'poll:product');"
            "ok = lock.acquire();"
            "print(ok, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "True"
        assert FileLock(tmp_path, "poll:product").acquire() is False
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert FileLock(tmp_path, "poll:product").acquire() is True

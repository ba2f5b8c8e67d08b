"""A backlog's syncs go on their own lane (``rbsync.bulk``) on a Redis broker: the poller, which
never consumes it, takes another company's single change at once, whatever the backlog holds.
The sweep counts the lane as sync work waiting (a backlog there is not lost)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from celery import Celery
from kombu import Queue

from tasks.enqueue import bulk_route, enqueue_sync
from tasks.names import BULK_QUEUE
from tasks.sweep import broker_facts

EXPRESS = "rbsync-lane-test"
BULK = BULK_QUEUE


@pytest.fixture
def lanes(redis_url: str) -> Iterator[tuple[Celery, redis.Redis]]:
    app = Celery("bulk-lane-test", broker=redis_url, set_as_current=False)
    app.conf.task_default_queue = EXPRESS
    app.conf.task_queues = (Queue(EXPRESS), Queue(BULK))
    client = redis.Redis.from_url(redis_url)
    client.delete(EXPRESS, BULK)
    try:
        yield app, client
    finally:
        client.delete(EXPRESS, BULK)
        client.close()


def _kwargs_of(app: Celery, queue: str, count: int) -> list[str]:
    with app.connection_for_read() as conn:
        simple = conn.SimpleQueue(queue, no_ack=True)
        try:
            return [simple.get(timeout=5).headers["kwargsrepr"] for _ in range(count)]
        finally:
            simple.close()


@pytest.mark.redis
def test_a_backlog_goes_on_the_bulk_lane_and_a_single_change_does_not(
    lanes: tuple[Celery, redis.Redis],
) -> None:
    app, client = lanes
    # A big connection's first push is sent first, as a backlog...
    sent = enqueue_sync(
        app, "product", [f"P{n}" for n in range(120)], connection="big", batch_size=50, bulk=True
    )
    # ...then a small connection's one change.
    enqueue_sync(app, "invoice", ["7"], connection="small", batch_size=50)
    assert sent == 120
    assert client.llen(BULK) == 3  # 50 + 50 + 20
    assert client.llen(EXPRESS) == 1
    # What the poller (every queue but the bulk lane) takes: the small change, nothing else.
    assert _kwargs_of(app, EXPRESS, 1) == ["{'connection': 'small'}"]
    assert client.llen(EXPRESS) == 0
    assert _kwargs_of(app, BULK, 3) == ["{'connection': 'big'}"] * 3


@pytest.mark.redis
def test_the_sweep_sees_a_waiting_backlog_as_sync_work_waiting(
    lanes: tuple[Celery, redis.Redis],
) -> None:
    app, client = lanes
    assert broker_facts(app, EXPRESS, BULK)[0] is True
    enqueue_sync(app, "product", ["P1", "P2"], connection="big", batch_size=50, bulk=True)
    assert client.llen(EXPRESS) == 0
    # The express queue alone is empty, but the backlog is not lost: the sweep must wait
    # RBSYNC_REQUEUE_AFTER_SECONDS, not one lease, before it sends any row again.
    assert broker_facts(app, EXPRESS)[0] is True
    assert broker_facts(app, EXPRESS, BULK)[0] is False


def test_an_app_without_the_lane_keeps_a_backlog_on_its_own_queue() -> None:
    # `rbsync sync --once` runs everything on one private queue: a backlog stays on it.
    private = Celery("once-test", broker="memory://", set_as_current=False)
    private.conf.task_queues = (Queue("rbsync.once.abc"),)
    assert bulk_route(private) == {}
    declared = Celery("lanes-test", broker="memory://", set_as_current=False)
    declared.conf.task_queues = (Queue("rbsync"), Queue(BULK))
    assert bulk_route(declared) == {"queue": BULK}


def test_the_rbsync_app_declares_the_bulk_lane(tmp_path: object) -> None:
    from wiring.settings import Settings
    from worker.app import create_app

    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    app = create_app(settings)
    assert bulk_route(app) == {"queue": BULK}

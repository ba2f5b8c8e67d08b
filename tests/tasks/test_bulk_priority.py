"""A backlog's syncs go behind every other sync message on a Redis broker (the fairness of one
queue among connections: one company's first push never delays another's change)."""

from __future__ import annotations

import pytest
import redis
from celery import Celery

from tasks.enqueue import BULK_PRIORITY, enqueue_sync


@pytest.mark.redis
def test_a_backlog_is_consumed_after_the_messages_sent_later(redis_url: str) -> None:
    app = Celery("bulk-test", broker=redis_url, set_as_current=False)
    app.conf.task_default_queue = "rbsync-bulk-test"
    client = redis.Redis.from_url(redis_url)
    client.delete("rbsync-bulk-test", f"rbsync-bulk-test\x06\x16{BULK_PRIORITY}")
    try:
        # A big connection's first push is sent first, as a backlog...
        enqueue_sync(
            app,
            "product",
            [f"P{n}" for n in range(120)],
            connection="big",
            batch_size=50,
            bulk=True,
        )
        # ...then a small connection's one change.
        enqueue_sync(app, "invoice", ["7"], connection="small", batch_size=50)
        assert client.llen(f"rbsync-bulk-test\x06\x16{BULK_PRIORITY}") == 3
        assert client.llen("rbsync-bulk-test") == 1
        with app.connection_for_read() as conn:
            queue = conn.SimpleQueue("rbsync-bulk-test", no_ack=True)
            order = []
            for _ in range(4):
                message = queue.get(timeout=5)
                order.append(message.headers["kwargsrepr"])
            queue.close()
        assert order[0] == "{'connection': 'small'}"
        assert order[1:] == ["{'connection': 'big'}"] * 3
    finally:
        client.delete("rbsync-bulk-test", f"rbsync-bulk-test\x06\x16{BULK_PRIORITY}")

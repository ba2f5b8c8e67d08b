"""The webhook receiver over real HTTP: what it refuses, what it stores, what it sends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from celery import Celery

from ledger import upgrade
from ledger.webhooks import connection_disconnected, unsent_events
from tasks.names import WEBHOOK_QUEUE
from tasks.webhooks import send_unsent_webhook_events
from tests.e2e.test_pipeline_e2e import wait_for
from tests.worker.webhook_helpers import TOKEN, Receiver, receiver_over_http, subscribe
from wiring.runtime import Runtime, build_runtime
from wiring.settings import Settings
from worker.app import create_app

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _settings(postgres_url: str, broker_url: str, data_dir: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=postgres_url,
        broker_url=broker_url,
        redis_url=None,
        data_dir=data_dir,
        webhook_max_body_bytes=2048,
    )


@pytest.fixture
def runtime(postgres_url: str, redis_url: str, tmp_path: Path) -> Iterator[Runtime]:
    upgrade(postgres_url)
    runtime = build_runtime(_settings(postgres_url, redis_url, tmp_path))
    subscribe(runtime)
    try:
        yield runtime
    finally:
        runtime.close()


@pytest.fixture
def app(runtime: Runtime) -> Celery:
    return create_app(runtime.settings)


@pytest.fixture
def receiver(runtime: Runtime, app: Celery) -> Iterator[Receiver]:
    with receiver_over_http(runtime, app) as served:
        yield served


def _queued(app: Celery) -> int:
    with app.connection_for_write() as conn:
        return int(conn.default_channel.queue_declare(queue=WEBHOOK_QUEUE, passive=True)[1])


def test_a_missing_or_forged_token_is_refused_and_nothing_is_stored(receiver: Receiver) -> None:
    body = {"key_name": "number", "key": "10002"}
    assert receiver.deliver("product.updated", body, token=None).status_code == 401
    forged = TOKEN[:-1] + ("x" if TOKEN[-1] != "x" else "y")
    assert receiver.deliver("product.updated", body, token=forged).status_code == 401
    assert receiver.deliver("product.updated", body, token="").status_code == 401
    assert receiver.events() == []


def test_an_oversized_body_is_refused_and_nothing_is_stored(receiver: Receiver) -> None:
    big = {"key": "10002", "padding": "x" * 4096}
    assert receiver.deliver("product.updated", big).status_code == 413
    assert receiver.events() == []


def test_an_unhandled_event_is_answered_200_and_counted(receiver: Receiver) -> None:
    answer = receiver.deliver("order.created", {"key": 5})
    assert answer.status_code == 200
    assert receiver.events() == []
    health = receiver_health(receiver)
    assert health["unhandled_events"] == {"order.created": 1}


def receiver_health(receiver: Receiver) -> dict[str, object]:
    answer = httpx.get(receiver.url + "/healthz", timeout=10)
    assert answer.status_code == 200
    data: dict[str, object] = answer.json()
    return data


def test_a_delivery_is_stored_then_sent_with_key_as_string_or_int(
    receiver: Receiver, app: Celery
) -> None:
    assert receiver.deliver("product.updated", {"key_name": "number", "key": "AB/100"}).is_success
    assert receiver.deliver("customer.updated", {"key_name": "number", "key": 10001}).is_success
    events = receiver.events()
    assert [(e["event"], e["kind"], e["key"], e["action"]) for e in events] == [
        ("product.updated", "product", "AB/100", "sync"),
        ("customer.updated", "customer", "10001", "sync"),
    ]
    assert all(e["account_id"] == "7001" for e in events)
    # The message goes out after the answer; the row is marked once it is out.
    wait_for("both rows marked sent", lambda: all(e["sent_at"] for e in receiver.events()), 30)
    assert _queued(app) == 2


def test_a_body_without_a_key_is_refused(receiver: Receiver) -> None:
    assert receiver.deliver("product.updated", {"key_name": "number"}).status_code == 422
    assert receiver.deliver("product.updated", None, raw=b"not json").status_code == 422
    assert receiver.deliver("product.updated", {"key": True}).status_code == 422
    assert receiver.events() == []


def test_a_deletion_is_recorded_and_nothing_is_sent(receiver: Receiver, app: Celery) -> None:
    body = {"key_name": "number", "key": "converttolot", "converted_to_lot": True}
    assert receiver.deliver("product.deleted", body).is_success
    (event,) = receiver.events()
    assert (event["action"], event["key"], event["sent_at"]) == ("deleted", "converttolot", None)
    assert event["detail"]["converted_to_lot"] is True
    with receiver.runtime.sessions() as session:
        assert unsent_events(session) == []


def test_plugin_uninstalled_marks_the_connection_disconnected(receiver: Receiver) -> None:
    assert receiver.deliver("plugin.uninstalled", {}).is_success
    with receiver.runtime.sessions() as session:
        disconnection = connection_disconnected(session)
    assert disconnection is not None
    assert "plugin.uninstalled" in disconnection.reason


def test_with_the_broker_down_the_delivery_is_stored_and_sent_later(
    runtime: Runtime, postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    # A broker nobody listens on: the answer must not wait for it.
    down = create_app(_settings(postgres_url, "redis://127.0.0.1:1/0", tmp_path))
    with receiver_over_http(runtime, down) as receiver:
        assert receiver.deliver("product.updated", {"key": "10002"}).is_success
        # The send after the answer fails and leaves the row unsent.
        wait_for("the send to fail", lambda: _answers(receiver).get("send_failed") == 1, 60)
        assert receiver.events()[0]["sent_at"] is None
    up = create_app(runtime.settings)
    assert send_unsent_webhook_events(runtime, up, grace_seconds=0) == 1
    assert receiver.events()[0]["sent_at"] is not None
    assert _queued(up) == 1
    assert send_unsent_webhook_events(runtime, up, grace_seconds=0) == 0


def _answers(receiver: Receiver) -> dict[str, int]:
    answers = receiver_health(receiver)["answers"]
    assert isinstance(answers, dict)
    return answers

"""A real Flower process (``rbsync flower``'s server) against real Redis: auth, Retry, state.

The failed tasks here are published as the events a worker sends (``send_task_events``), so these
tests need no worker; ``tests/e2e/test_browser_retry.py`` does the same with a real worker.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from celery import Celery

from worker.app import DEFAULT_QUEUE
from worker.flower.testing import (
    TEST_WORKER_HOSTNAME,
    FlowerProcess,
    flower_process,
    free_port,
    send_task_events,
)

pytestmark = [pytest.mark.redis, pytest.mark.slow]

FLOWER_USER = "ops"
FLOWER_PASSWORD = "flower-pw-7f3a9c"
SECRETS = {
    "RACKBEAT_API_TOKEN": "rb-token-secret-51c2",
    "POWEROFFICE_APPLICATION_KEY": "po-app-key-secret-88d1",
    "POWEROFFICE_CLIENT_KEY": "po-client-key-secret-0b7e",
    "POWEROFFICE_SUBSCRIPTION_KEY": "po-sub-key-secret-a4f6",
}
RBSYNC = str(Path(sys.executable).with_name("rbsync"))
WAIT_SECONDS = 20.0


def _env(tmp_path: Path, redis_url: str) -> dict[str, str]:
    return {
        "RBSYNC_BROKER_URL": redis_url,
        "RBSYNC_FLOWER_BASIC_AUTH": f"{FLOWER_USER}:{FLOWER_PASSWORD}",
        "RBSYNC_FLOWER_DB": str(tmp_path / "state" / "flower"),
        "RBSYNC_DATA_DIR": str(tmp_path / "data"),
        **SECRETS,
    }


@pytest.fixture
def capp(redis_url: str) -> Iterator[Celery]:
    app = Celery("rbsync-test", broker=redis_url)
    yield app
    app.close()


@pytest.fixture
def flower(tmp_path: Path, redis_url: str) -> Iterator[FlowerProcess]:
    port = free_port()
    with flower_process(
        [RBSYNC, "flower", "--port", str(port)],
        port=port,
        env=_env(tmp_path, redis_url),
        log_path=tmp_path / "flower.log",
        cwd=tmp_path,
    ) as running:
        yield running


def _client(flower: FlowerProcess, *, auth: bool = True) -> httpx.Client:
    return httpx.Client(
        base_url=flower.base_url,
        auth=(FLOWER_USER, FLOWER_PASSWORD) if auth else None,
        timeout=10.0,
        follow_redirects=False,
    )


def _publish_until_seen(
    client: httpx.Client,
    capp: Celery,
    *,
    name: str,
    args: str,
    kwargs: str = "{}",
    state: str = "FAILURE",
    result: str = "None",
) -> str:
    """Publish a task's events until Flower has them (its event receiver binds after start)."""
    events = {"name": name, "args": args, "kwargs": kwargs, "state": state, "result": result}
    task_id = send_task_events(capp, **events)
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        info = client.get(f"/api/task/info/{task_id}")
        # Its name and arguments too: the "received" event that carries them may have been
        # published before Flower's receiver bound, while a later "failed" one arrived.
        if (
            info.status_code == 200
            and info.json().get("state") == state
            and info.json().get("name") == name
        ):
            return task_id
        time.sleep(0.3)
        send_task_events(capp, task_id=task_id, **events)
    pytest.fail(f"Flower did not see task {task_id} within {WAIT_SECONDS} s")


def _queued_messages(redis_url: str, queue: str = DEFAULT_QUEUE) -> list[dict[str, object]]:
    """The messages waiting in a kombu Redis queue, as (name, id, args, kwargs)."""
    client = redis.Redis.from_url(redis_url)
    try:
        raw = client.lrange(queue, 0, -1)
    finally:
        client.close()
    messages = []
    for item in raw:
        envelope = json.loads(item)
        args, kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        headers = envelope["headers"]
        messages.append(
            {"task": headers["task"], "id": headers["id"], "args": args, "kwargs": kwargs}
        )
    return messages


def _xsrf_field(page: str) -> str:
    match = re.search(r'name="_xsrf" value="([^"]+)"', page)
    assert match is not None, "the page has no XSRF form field"
    return match.group(1)


def _run_cli(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RBSYNC, "flower", "--port", str(free_port())],
        env={"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path), **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_rbsync_flower_refuses_to_start_without_basic_auth(tmp_path: Path) -> None:
    done = _run_cli(tmp_path, {"RBSYNC_BROKER_URL": "redis://127.0.0.1:6379/15"})
    assert done.returncode == 2
    assert "RBSYNC_FLOWER_BASIC_AUTH is not set" in done.stderr
    assert "--insecure-no-auth" in done.stderr


def test_rbsync_flower_refuses_a_malformed_credential_without_echoing_it(tmp_path: Path) -> None:
    done = _run_cli(tmp_path, {"RBSYNC_FLOWER_BASIC_AUTH": f"{FLOWER_USER}:ok,no-colon-secret"})
    assert done.returncode == 2
    assert "RBSYNC_FLOWER_BASIC_AUTH entry 2 is not 'user:password'" in done.stderr
    assert "no-colon-secret" not in done.stderr + done.stdout


def test_pages_and_api_need_the_configured_credentials(flower: FlowerProcess) -> None:
    with _client(flower, auth=False) as anonymous:
        assert anonymous.get("/tasks").status_code == 401
        assert anonymous.get("/api/tasks").status_code == 401
        wrong = anonymous.get("/tasks", auth=(FLOWER_USER, "wrong"))
        assert wrong.status_code == 401
        assert wrong.headers["WWW-Authenticate"] == 'Basic realm="flower"'
        # The container healthcheck needs no credentials, and learns nothing from it.
        assert anonymous.get("/healthcheck").text == "OK"
    with _client(flower) as client:
        assert client.get("/tasks").status_code == 200
        assert client.get("/api/tasks").status_code == 200


def test_failed_sync_task_page_has_retry_and_names_kind_and_key(
    flower: FlowerProcess, capp: Celery
) -> None:
    with _client(flower) as client:
        task_id = _publish_until_seen(client, capp, name="rbsync.sync", args="('product', 'P-1')")
        page = client.get(f"/task/{task_id}")
    assert page.status_code == 200
    assert 'id="rbsync-retry"' in page.text
    assert f'action="/rbsync/retry/{task_id}"' in page.text
    assert "kind=&#x27;product&#x27;, key=&#x27;P-1&#x27;" in page.text
    assert "rbsync.retry(kind=&#x27;product&#x27;, key=&#x27;P-1&#x27;)" in page.text


def test_the_task_list_shows_kind_and_key(flower: FlowerProcess, capp: Celery) -> None:
    with _client(flower) as client:
        task_id = _publish_until_seen(client, capp, name="rbsync.sync", args="('bom', 'B-12')")
        page = client.get("/tasks")
        table = client.get(
            "/tasks/datatable",
            params={
                "draw": 1,
                "start": 0,
                "length": 10,
                "search[value]": "B-12",
                "order[0][column]": 0,
                "order[0][dir]": "asc",
                "columns[0][data]": "name",
            },
        )
    assert '<th data-column="args">args</th>' in page.text
    rows = table.json()["data"]
    assert [(row["uuid"], row["name"], row["args"]) for row in rows] == [
        (task_id, "rbsync.sync", "kind='bom', key='B-12'")
    ]


def test_a_sync_that_returned_a_failed_ledger_status_has_retry(
    flower: FlowerProcess, capp: Celery
) -> None:
    # rbsync.sync records a record's problem and returns; its result names the ledger status.
    returned = "{'kind': 'product', 'key': 'P-7', 'outcome': 'failed', 'status': 'failed'}"
    with _client(flower) as client:
        task_id = _publish_until_seen(
            client,
            capp,
            name="rbsync.sync",
            args="('product', 'P-7')",
            state="SUCCESS",
            result=returned,
        )
        page = client.get(f"/task/{task_id}")
    assert 'id="rbsync-retry"' in page.text
    assert "rbsync.retry(kind=&#x27;product&#x27;, key=&#x27;P-7&#x27;)" in page.text


def test_no_retry_button_for_a_succeeded_or_foreign_task(
    flower: FlowerProcess, capp: Celery
) -> None:
    with _client(flower) as client:
        succeeded = _publish_until_seen(
            client,
            capp,
            name="rbsync.sync",
            args="('product', 'P-2')",
            state="SUCCESS",
            result="{'kind': 'product', 'key': 'P-2', 'outcome': 'created', 'status': 'synced'}",
        )
        foreign = _publish_until_seen(client, capp, name="other.task", args="(1,)")
        truncated = _publish_until_seen(
            client, capp, name="rbsync.sync", args="('product', 'P-3..."
        )
        pages = [client.get(f"/task/{task_id}") for task_id in (succeeded, foreign, truncated)]
    assert [page.status_code for page in pages] == [200, 200, 200]
    assert ['id="rbsync-retry"' in page.text for page in pages] == [False, False, False]


def test_retry_sends_rbsync_retry_by_name_with_kind_and_key(
    flower: FlowerProcess, capp: Celery, redis_url: str
) -> None:
    with _client(flower) as client:
        # kind positional, key by keyword: both are bound to the task's parameter names.
        task_id = _publish_until_seen(
            client, capp, name="rbsync.sync", args="('customer',)", kwargs="{'key': 1042}"
        )
        page = client.get(f"/task/{task_id}")
        response = client.post(f"/rbsync/retry/{task_id}", data={"_xsrf": _xsrf_field(page.text)})
        assert response.status_code == 303
        location = response.headers["Location"]
        after = client.get(location)
    sent = _queued_messages(redis_url)
    assert sent == [
        {
            "task": "rbsync.retry",
            "id": location.split("rbsync_retry_sent=")[1],
            "args": [],
            "kwargs": {"kind": "customer", "key": 1042},
        }
    ]
    assert location.startswith(f"/task/{task_id}?rbsync_retry_sent=")
    assert 'id="rbsync-retry-sent"' in after.text
    assert sent[0]["id"] in after.text


def test_retry_needs_the_xsrf_token_same_origin_and_credentials(
    flower: FlowerProcess, capp: Celery, redis_url: str
) -> None:
    with _client(flower) as client:
        task_id = _publish_until_seen(client, capp, name="rbsync.sync", args="('product', 'P-4')")
        token = _xsrf_field(client.get(f"/task/{task_id}").text)
        xsrf_cookie = client.cookies["_xsrf"]
        no_token = client.post(f"/rbsync/retry/{task_id}")
        cross_site = client.post(
            f"/rbsync/retry/{task_id}",
            data={"_xsrf": token},
            headers={"Sec-Fetch-Site": "cross-site"},
        )
        other_origin = client.post(
            f"/rbsync/retry/{task_id}",
            data={"_xsrf": token},
            headers={"Origin": "http://evil.example"},
        )
    with _client(flower, auth=False) as anonymous:
        # A valid token pair without credentials: refused by authentication, not by XSRF.
        anonymous.cookies.set("_xsrf", xsrf_cookie)
        no_auth = anonymous.post(f"/rbsync/retry/{task_id}", data={"_xsrf": token})
    assert [no_token.status_code, cross_site.status_code, other_origin.status_code] == [403] * 3
    assert no_auth.status_code == 401
    assert _queued_messages(redis_url) == []


def test_retry_of_a_task_whose_arguments_are_truncated_is_refused(
    flower: FlowerProcess, capp: Celery, redis_url: str
) -> None:
    with _client(flower) as client:
        task_id = _publish_until_seen(
            client, capp, name="rbsync.sync", args="('product', 'P-5-with-a-long-key..."
        )
        token = _xsrf_field(client.get("/tasks").text)
        refused = client.post(f"/rbsync/retry/{task_id}", data={"_xsrf": token})
        unknown = client.post(
            "/rbsync/retry/00000000-0000-0000-0000-000000000000", data={"_xsrf": token}
        )
    assert refused.status_code == 409
    assert "are not an exact literal (truncated?)" in refused.text
    assert unknown.status_code == 404
    assert _queued_messages(redis_url) == []


def test_retry_all_failed_sends_one_unfiltered_rbsync_retry(
    flower: FlowerProcess, redis_url: str
) -> None:
    with _client(flower) as client:
        tasks_page = client.get("/tasks")
        assert 'id="rbsync-retry-failed"' in tasks_page.text
        response = client.post("/rbsync/retry-failed", data={"_xsrf": _xsrf_field(tasks_page.text)})
        assert response.status_code == 303
        after = client.get(response.headers["Location"])
    sent = _queued_messages(redis_url)
    assert [(m["task"], m["args"], m["kwargs"]) for m in sent] == [("rbsync.retry", [], {})]
    assert response.headers["Location"] == f"/tasks?rbsync_retry_sent={sent[0]['id']}"
    assert "Retry of all failed entities sent as task" in after.text


def test_task_history_survives_a_restart(tmp_path: Path, redis_url: str, capp: Celery) -> None:
    env = _env(tmp_path, redis_url)
    port = free_port()
    launch = [RBSYNC, "flower", "--port", str(port)]
    log_path = tmp_path / "flower.log"
    with (
        flower_process(launch, port=port, env=env, log_path=log_path, cwd=tmp_path) as first,
        _client(first) as client,
    ):
        task_id = _publish_until_seen(client, capp, name="rbsync.sync", args="('supplier', 'S-9')")
    assert first.process.returncode == 0
    with (
        flower_process(launch, port=port, env=env, log_path=log_path, cwd=tmp_path) as second,
        _client(second) as client,
    ):
        page = client.get(f"/task/{task_id}")
    assert page.status_code == 200
    assert 'id="rbsync-retry"' in page.text
    assert "kind=&#x27;supplier&#x27;, key=&#x27;S-9&#x27;" in page.text


def test_no_secret_on_any_page_or_in_the_log(flower: FlowerProcess, capp: Celery) -> None:
    with _client(flower) as client:
        task_id = _publish_until_seen(client, capp, name="rbsync.sync", args="('product', 'P-6')")
        token = _xsrf_field(client.get(f"/task/{task_id}").text)
        client.post(f"/rbsync/retry/{task_id}", data={"_xsrf": token})
        paths = [
            "/",
            "/workers",
            "/tasks",
            f"/task/{task_id}",
            f"/worker/{TEST_WORKER_HOSTNAME}",
            "/broker",
            "/api/tasks",
            "/api/workers",
            f"/api/task/info/{task_id}",
            "/metrics",
            "/tasks/datatable?draw=1&start=0&length=10&order[0][column]=0&columns[0][data]=name",
        ]
        pages = {path: client.get(path).text for path in paths}
    texts = [*pages.values(), flower.log()]
    for secret in [*SECRETS.values(), FLOWER_PASSWORD]:
        assert [secret in text for text in texts] == [False] * len(texts), secret
    assert "Flower for rbsync on http://127.0.0.1:" in flower.log()
    assert f"(login as: {FLOWER_USER};" in flower.log()


def test_behind_a_url_prefix_pages_and_retry_live_under_it(tmp_path: Path, redis_url: str) -> None:
    port = free_port()
    with (
        flower_process(
            [RBSYNC, "flower", "--port", str(port), "--url-prefix", "/flower/"],
            port=port,
            env=_env(tmp_path, redis_url),
            log_path=tmp_path / "flower.log",
            cwd=tmp_path,
        ) as flower,
        _client(flower) as client,
    ):
        tasks_page = client.get("/flower/tasks")
        assert 'action="/flower/rbsync/retry-failed"' in tasks_page.text
        response = client.post(
            "/flower/rbsync/retry-failed", data={"_xsrf": _xsrf_field(tasks_page.text)}
        )
        unprefixed = client.get("/tasks")
    sent = _queued_messages(redis_url)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/flower/tasks?rbsync_retry_sent={sent[0]['id']}"
    assert unprefixed.status_code == 404


def test_insecure_no_auth_starts_open_warns_and_still_demands_the_xsrf_token(
    tmp_path: Path, redis_url: str
) -> None:
    env = _env(tmp_path, redis_url)
    del env["RBSYNC_FLOWER_BASIC_AUTH"]
    port = free_port()
    with (
        flower_process(
            [RBSYNC, "flower", "--port", str(port), "--insecure-no-auth"],
            port=port,
            env=env,
            log_path=tmp_path / "flower.log",
            cwd=tmp_path,
        ) as flower,
        _client(flower, auth=False) as anonymous,
    ):
        tasks_page = anonymous.get("/tasks")
        without_token = anonymous.post("/rbsync/retry-failed")
        with_token = anonymous.post(
            "/rbsync/retry-failed", data={"_xsrf": _xsrf_field(tasks_page.text)}
        )
    assert tasks_page.status_code == 200
    assert [without_token.status_code, with_token.status_code] == [403, 303]
    assert "Flower runs WITHOUT authentication (--insecure-no-auth)" in flower.log()
    assert "(login as: anyone, no login;" in flower.log()
    assert len(_queued_messages(redis_url)) == 1


# --- Flower's remote control (RBSYNC_FLOWER_CONTROL) and /metrics -------------------------

CONTROL_METHODS = frozenset(
    {
        "shutdown",
        "pool_restart",
        "pool_grow",
        "pool_shrink",
        "autoscale",
        "add_consumer",
        "cancel_consumer",
        "revoke",
        "rate_limit",
        "time_limit",
    }
)
"""The remote-control commands Flower's API broadcasts; Flower's own periodic broadcasts
(``enable_events``, the inspect calls ``stats``, ``active_queues``, ``revoked`` ...) are not."""
UNKNOWN_WORKER = "nobody@nowhere"
A_TASK_ID = "5f0c5a52-9a43-4d5e-8a51-0d3b3c0c0c0c"


def _control_requests(worker: str = UNKNOWN_WORKER) -> list[tuple[str, dict[str, str]]]:
    """One POST per endpoint of Flower's API that changes something (Flower 2.2's list)."""
    return [
        (f"/api/worker/shutdown/{worker}", {}),
        (f"/api/worker/pool/restart/{worker}", {}),
        (f"/api/worker/pool/grow/{worker}", {"n": "1"}),
        (f"/api/worker/pool/shrink/{worker}", {"n": "1"}),
        (f"/api/worker/pool/autoscale/{worker}", {"min": "1", "max": "2"}),
        (f"/api/worker/queue/add-consumer/{worker}", {"queue": "other"}),
        (f"/api/worker/queue/cancel-consumer/{worker}", {"queue": "rbsync"}),
        ("/api/task/apply/rbsync.retry", {}),
        ("/api/task/async-apply/rbsync.retry", {}),
        ("/api/task/send-task/rbsync.retry", {}),
        (f"/api/task/abort/{A_TASK_ID}", {}),
        ("/api/task/timeout/rbsync.sync", {"workername": worker, "soft": "1", "hard": "2"}),
        ("/api/task/rate-limit/rbsync.sync", {"workername": worker, "ratelimit": "1/s"}),
        (f"/api/task/revoke/{A_TASK_ID}", {"terminate": "true"}),
    ]


@contextmanager
def _broadcasts(redis_url: str) -> Iterator[Callable[[float], list[dict[str, Any]]]]:
    """Collect the remote-control commands published on the broker while the block runs.

    Kombu's Redis transport sends a broadcast (``celery.pidbox``) as a PUBLISH on
    ``/<db>.celery.pidbox``: nothing is stored, so the test subscribes before it acts.
    """
    client = redis.Redis.from_url(redis_url)
    db = client.connection_pool.connection_kwargs.get("db", 0)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.psubscribe(f"/{db}.*")
    seen: list[dict[str, Any]] = []

    def collect(wait: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.1)
            if message is None:
                continue
            body = json.loads(base64.b64decode(json.loads(message["data"])["body"]))
            if body.get("method") in CONTROL_METHODS:
                seen.append(body)
        return seen

    try:
        yield collect
    finally:
        pubsub.close()
        client.close()


@pytest.fixture
def flower_with_control(tmp_path: Path, redis_url: str) -> Iterator[FlowerProcess]:
    port = free_port()
    with flower_process(
        [RBSYNC, "flower", "--port", str(port)],
        port=port,
        env={**_env(tmp_path, redis_url), "RBSYNC_FLOWER_CONTROL": "true"},
        log_path=tmp_path / "flower.log",
        cwd=tmp_path,
    ) as running:
        yield running


def test_metrics_need_the_credentials(flower: FlowerProcess) -> None:
    with _client(flower, auth=False) as anonymous:
        refused = anonymous.get("/metrics")
        wrong = anonymous.get("/metrics", auth=(FLOWER_USER, "wrong"))
    with _client(flower) as client:
        metrics = client.get("/metrics")
    assert [refused.status_code, wrong.status_code] == [401, 401]
    assert refused.headers["WWW-Authenticate"] == 'Basic realm="flower"'
    assert "flower_" not in refused.text
    assert metrics.status_code == 200
    assert "flower_events_total" in metrics.text


def test_by_default_flower_control_is_refused_and_nothing_reaches_the_broker(
    flower: FlowerProcess, capp: Celery, redis_url: str
) -> None:
    with _broadcasts(redis_url) as broadcasts, _client(flower) as client:
        answers = {
            path: client.post(path, data=data).status_code for path, data in _control_requests()
        }
        with _client(flower, auth=False) as anonymous:
            anonymous_answer = anonymous.post(f"/api/task/revoke/{A_TASK_ID}").status_code
        started = _publish_until_seen(
            client, capp, name="rbsync.sync", args="('product', 'P-8')", state="STARTED"
        )
        task_page = client.get(f"/task/{started}")
        sent = broadcasts(2.0)
    assert answers == {path: 403 for path, _ in _control_requests()}
    assert anonymous_answer == 401
    assert sent == []
    assert _queued_messages(redis_url) == []
    # The UI offers none of it either: no Terminate on a running task.
    assert task_page.status_code == 200
    assert 'id="task-terminate"' not in task_page.text
    assert "Flower's remote control is off" in flower.log()


def test_rbsync_retry_still_works_with_flower_control_off(
    flower: FlowerProcess, capp: Celery, redis_url: str
) -> None:
    with _client(flower) as client:
        task_id = _publish_until_seen(client, capp, name="rbsync.sync", args="('product', 'P-9')")
        page = client.get(f"/task/{task_id}")
        assert 'id="rbsync-retry"' in page.text
        retried = client.post(f"/rbsync/retry/{task_id}", data={"_xsrf": _xsrf_field(page.text)})
        tasks_page = client.get("/tasks")
        assert 'id="rbsync-retry-failed"' in tasks_page.text
        all_failed = client.post(
            "/rbsync/retry-failed", data={"_xsrf": _xsrf_field(tasks_page.text)}
        )
    assert [retried.status_code, all_failed.status_code] == [303, 303]
    assert [m["task"] for m in _queued_messages(redis_url)] == ["rbsync.retry", "rbsync.retry"]


def test_rbsync_flower_control_true_restores_flowers_remote_control(
    flower_with_control: FlowerProcess, capp: Celery, redis_url: str
) -> None:
    flower = flower_with_control
    with _broadcasts(redis_url) as broadcasts, _client(flower) as client:
        revoked = client.post(f"/api/task/revoke/{A_TASK_ID}", data={"terminate": "true"})
        sent_task = client.post("/api/task/send-task/rbsync.retry", json={"kwargs": {}})
        # Past rbsync's gate, Flower's own checks answer (no such worker here).
        shutdown = client.post(f"/api/worker/shutdown/{UNKNOWN_WORKER}")
        started = _publish_until_seen(
            client, capp, name="rbsync.sync", args="('product', 'P-10')", state="STARTED"
        )
        task_page = client.get(f"/task/{started}")
        deadline = time.monotonic() + WAIT_SECONDS
        while not broadcasts(0.2) and time.monotonic() < deadline:
            pass
        sent = broadcasts(0.5)
    assert [revoked.status_code, sent_task.status_code, shutdown.status_code] == [200, 200, 404]
    assert [(m["method"], m["arguments"]["task_id"]) for m in sent] == [("revoke", A_TASK_ID)]
    assert [m["id"] for m in _queued_messages(redis_url)] == [sent_task.json()["task-id"]]
    assert 'id="task-terminate"' in task_page.text

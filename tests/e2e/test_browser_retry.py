"""Flower's Retry button in a real headless browser (Debian chromium driven by Playwright).

Skips only when ``/usr/bin/chromium`` is absent; CI installs it (``scripts/ci-extras``).
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from worker.app import DEFAULT_QUEUE
from worker.flower.testing import (
    FlowerProcess,
    flower_process,
    free_port,
    running_process,
    send_task_events,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RBSYNC = str(Path(sys.executable).with_name("rbsync"))
FLOWER_USER = "ops"
FLOWER_PASSWORD = "browser-pw-2e8b71"
BASIC = "Basic " + base64.b64encode(f"{FLOWER_USER}:{FLOWER_PASSWORD}".encode()).decode()
UI_TIMEOUT_MS = 15_000
WAIT_SECONDS = 20.0

pytestmark = [
    pytest.mark.browser,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]


@pytest.fixture
def playwright() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


def _browser(playwright: Any, user_data_dir: Path, *, password: str = FLOWER_PASSWORD) -> Any:
    """A fresh chromium profile that answers Flower's basic-auth prompt with ``password``."""
    return playwright.chromium.launch_persistent_context(
        str(user_data_dir),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        http_credentials={"username": FLOWER_USER, "password": password},
    )


@pytest.fixture
def flower(tmp_path: Path, redis_url: str) -> Iterator[FlowerProcess]:
    port = free_port()
    env = {
        "RBSYNC_BROKER_URL": redis_url,
        "RBSYNC_FLOWER_BASIC_AUTH": f"{FLOWER_USER}:{FLOWER_PASSWORD}",
        "RBSYNC_DATA_DIR": str(tmp_path / "data"),
    }
    with flower_process(
        [RBSYNC, "flower", "--port", str(port)],
        port=port,
        env=env,
        log_path=tmp_path / "flower.log",
        cwd=tmp_path,
    ) as running:
        yield running


def _queued(redis_url: str, queue: str) -> list[tuple[str, str, list[Any], dict[str, Any]]]:
    client = redis.Redis.from_url(redis_url)
    try:
        raw = client.lrange(queue, 0, -1)
    finally:
        client.close()
    found = []
    for item in raw:
        envelope = json.loads(item)
        args, kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        found.append((envelope["headers"]["task"], envelope["headers"]["id"], args, kwargs))
    return found


def _failed_task_seen_by_flower(page: Any, capp: Celery, flower: FlowerProcess) -> str:
    """Publish a failed ``rbsync.sync('product', 'P-1')`` until Flower's task page has it."""
    task_id = send_task_events(capp, name="rbsync.sync", args="('product', 'P-1')")
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        # Flower's API answers 401 without a challenge, so send the credentials up front.
        response = page.request.get(
            f"{flower.base_url}/api/task/info/{task_id}", headers={"Authorization": BASIC}
        )
        # Its name too: the "received" event carrying it may predate Flower's receiver.
        if (
            response.status == 200
            and response.json().get("state") == "FAILURE"
            and response.json().get("name") == "rbsync.sync"
        ):
            return task_id
        time.sleep(0.3)
        send_task_events(capp, name="rbsync.sync", args="('product', 'P-1')", task_id=task_id)
    pytest.fail(f"Flower did not see task {task_id} within {WAIT_SECONDS} s")


def test_a_wrong_password_does_not_log_in(
    playwright: Any, flower: FlowerProcess, tmp_path: Path
) -> None:
    context = _browser(playwright, tmp_path / "profile", password="not-the-password")
    try:
        page = context.new_page()
        response = page.goto(f"{flower.base_url}/tasks")
        body = page.inner_text("body")
    finally:
        context.close()
    assert response is not None
    assert response.status == 401
    assert body == "Access denied"


def test_log_in_open_the_failed_task_and_click_retry(
    playwright: Any, flower: FlowerProcess, tmp_path: Path, redis_url: str
) -> None:
    capp = Celery("browser-test", broker=redis_url)
    context = _browser(playwright, tmp_path / "profile")
    try:
        page = context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        task_id = _failed_task_seen_by_flower(page, capp, flower)

        page.goto(f"{flower.base_url}/tasks")
        page.click("button[data-task-state='FAILURE']")
        page.click(f"a[href='/task/{task_id}']")
        page.wait_for_url(f"**/task/{task_id}")
        arguments = page.inner_text("xpath=//dt[text()='Arguments']/following-sibling::dd")
        page.click("#rbsync-retry")
        page.wait_for_selector("#rbsync-retry-sent")
        sent_text = page.inner_text("#rbsync-retry-sent")
        url_after = page.url
    finally:
        context.close()
        capp.close()
    queued = _queued(redis_url, DEFAULT_QUEUE)
    assert arguments == "kind='product', key='P-1'"
    assert [(name, args, kwargs) for name, _id, args, kwargs in queued] == [
        ("rbsync.retry", [], {"kind": "product", "key": "P-1"})
    ]
    new_id = queued[0][1]
    assert sent_text == f"Retry sent as task {new_id}"
    assert url_after == f"{flower.base_url}/task/{task_id}?rbsync_retry_sent={new_id}"


# --- the whole way: a real worker fails a sync, the browser retries it, the entity is synced ---

CELERY = str(Path(sys.executable).with_name("celery"))
WORKER_NAME = "e2e-worker@localhost"
SYNC_WAIT_SECONDS = 90.0
SECRETS = {
    "RACKBEAT_API_TOKEN": "rb-e2e-token-secret-7d21",
    "POWEROFFICE_APPLICATION_KEY": "po-e2e-app-secret-93aa",
    "POWEROFFICE_CLIENT_KEY": "po-e2e-client-secret-11fe",
    "POWEROFFICE_SUBSCRIPTION_KEY": "po-e2e-sub-secret-5c0d",
}
DATABASE_PASSWORD = "db-e2e-secret-4b9f"  # the test server trusts loopback: any password works
PRODUCT_CREATE = "POST /v2/Products"


def _wait_for(what: str, probe: Any, seconds: float = SYNC_WAIT_SECONDS) -> Any:
    """Poll ``probe()`` until it returns something truthy; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out after {seconds} s waiting for {what}")


def _task_info(page: Any, flower: FlowerProcess, task_id: str) -> dict[str, Any] | None:
    response = page.request.get(
        f"{flower.base_url}/api/task/info/{task_id}", headers={"Authorization": BASIC}
    )
    return dict(response.json()) if response.status == 200 else None


def _failed_sync_of(page: Any, flower: FlowerProcess, key: str) -> str | None:
    """The id of an ``rbsync.sync`` task for ``key`` that Flower lists as FAILURE."""
    response = page.request.get(
        f"{flower.base_url}/api/tasks?taskname=rbsync.sync&state=FAILURE",
        headers={"Authorization": BASIC},
    )
    for task_id, task in response.json().items():
        if f"'{key}'" in task["args"]:
            return str(task_id)
    return None


def _succeeded_syncs_of(page: Any, flower: FlowerProcess, key: str) -> list[str]:
    """The ids of the ``rbsync.sync`` tasks for ``key`` that Flower lists as SUCCESS."""
    response = page.request.get(
        f"{flower.base_url}/api/tasks?taskname=rbsync.sync&state=SUCCESS",
        headers={"Authorization": BASIC},
    )
    return [str(i) for i, task in response.json().items() if f"'{key}'" in task["args"]]


def _poweroffice_codes(poweroffice: Any) -> set[str]:
    products = poweroffice.state()["resources"]["Products"]
    return {str(product.get("Code")) for product in products}


def _simple_product_number(rackbeat: Any) -> str:
    numbers = [str(p["number"]) for p in rackbeat.state()["products"]]
    return next(n for n in numbers if n.replace("-", "").isalnum())


@pytest.mark.postgres
def test_a_failed_sync_retried_from_the_browser_ends_synced(
    playwright: Any,
    tmp_path: Path,
    postgres_url: str,
    redis_url: str,
    rackbeat_emulator: Any,
    poweroffice_emulator: Any,
) -> None:
    from ledger.migrate import upgrade

    rackbeat_emulator.configure(token=SECRETS["RACKBEAT_API_TOKEN"])
    poweroffice_emulator.configure(
        application_key=SECRETS["POWEROFFICE_APPLICATION_KEY"],
        client_key=SECRETS["POWEROFFICE_CLIENT_KEY"],
        subscription_key=SECRETS["POWEROFFICE_SUBSCRIPTION_KEY"],
    )
    # The cause of the failure: PowerOffice Go refuses every new product.
    poweroffice_emulator.set_faults([{"route": PRODUCT_CREATE, "error_rate": 1.0, "status": 400}])
    key = _simple_product_number(rackbeat_emulator)
    database_url = postgres_url.replace("://postgres@", f"://postgres:{DATABASE_PASSWORD}@")
    upgrade(database_url)
    env = {
        "RBSYNC_DATABASE_URL": database_url,
        "RBSYNC_BROKER_URL": redis_url,
        "RBSYNC_REDIS_URL": redis_url,
        "RBSYNC_DATA_DIR": str(tmp_path / "data"),
        "RBSYNC_FLOWER_BASIC_AUTH": f"{FLOWER_USER}:{FLOWER_PASSWORD}",
        "RACKBEAT_BASE_URL": rackbeat_emulator.base_url,
        "POWEROFFICE_BASE_URL": poweroffice_emulator.base_url,
        "POWEROFFICE_TOKEN_URL": poweroffice_emulator.token_url,
        **SECRETS,
    }
    port = free_port()
    worker_command = [
        CELERY, "-A", "worker.app", "worker", "--pool=solo", "--loglevel=INFO",
        "--task-events", "--without-mingle", "--without-gossip", f"--hostname={WORKER_NAME}",
    ]  # fmt: skip
    capp = Celery("e2e-sender", broker=redis_url)
    pages: dict[str, str] = {}
    with (
        flower_process(
            [RBSYNC, "flower", "--port", str(port)],
            port=port,
            env=env,
            log_path=tmp_path / "flower.log",
            cwd=tmp_path,
        ) as flower,
        running_process(worker_command, env=env, log_path=tmp_path / "worker.log", cwd=tmp_path),
    ):
        context = _browser(playwright, tmp_path / "profile")
        try:
            page = context.new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            # Flower must be listening to events before the worker runs the task.
            _failed_task_seen_by_flower(page, capp, flower)
            capp.send_task("rbsync.sync", args=["product", key], queue=DEFAULT_QUEUE)
            # The sync may run twice (a first fetch of the record re-opens the row); the task
            # to retry is the one that left the row failed.
            sync_id = _wait_for(
                "the worker to leave the entity failed",
                lambda: _failed_sync_of(page, flower, key),
            )
            succeeded_before = _succeeded_syncs_of(page, flower, key)
            # As an operator would: the tasks list, its Failed filter, the entity's task.
            page.goto(f"{flower.base_url}/tasks")
            page.click("button[data-task-state='FAILURE']")
            page.fill("input[type='search']", key)
            page.click(f"a[href='/task/{sync_id}']")
            page.wait_for_url(f"**/task/{sync_id}")
            arguments = page.inner_text("xpath=//dt[text()='Arguments']/following-sibling::dd")
            exception = page.inner_text("xpath=//dt[text()='Exception']/following-sibling::dd")
            pages["task"] = page.content()

            poweroffice_emulator.clear_faults()  # fix the cause first, then retry
            page.click("#rbsync-retry")
            page.wait_for_selector("#rbsync-retry-sent")
            pages["after-retry"] = page.content()
            _wait_for(
                "the product in PowerOffice Go",
                lambda: key in _poweroffice_codes(poweroffice_emulator),
            )
            # The re-driven sync is a SUCCESS in Flower: the task states follow the ledger.
            _wait_for(
                "the re-driven sync to show SUCCESS",
                lambda: len(_succeeded_syncs_of(page, flower, key)) > len(succeeded_before),
            )

            for path in ("/", "/tasks", f"/worker/{WORKER_NAME}", "/broker", "/api/tasks"):
                pages[path] = page.goto(f"{flower.base_url}{path}").text()
        finally:
            context.close()
            capp.close()
    logs = {
        "flower": (tmp_path / "flower.log").read_text(),
        "worker": (tmp_path / "worker.log").read_text(),
    }

    assert arguments == f"kind='product', key='{key}'"
    assert exception.startswith(f"EntityFailedError('product', '{key}', 'failed', ")
    assert "400" in exception
    assert key in _poweroffice_codes(poweroffice_emulator)
    assert "Retry sent as task" in pages["after-retry"]
    # The worker's Config tab was rendered, with the settings masked.
    worker_page = pages[f"/worker/{WORKER_NAME}"]
    assert "rbsync_settings" in worker_page
    assert "rackbeat_api_token=&#x27;**********&#x27;" in worker_page
    for secret in [*SECRETS.values(), FLOWER_PASSWORD, DATABASE_PASSWORD]:
        leaks = [name for name, text in {**pages, **logs}.items() if secret in text]
        assert leaks == [], f"a secret is in {leaks}"

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
from worker.flower.testing import FlowerProcess, flower_process, free_port, send_task_events

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
        if response.status == 200 and response.json().get("state") == "FAILURE":
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

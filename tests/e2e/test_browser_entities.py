"""Flower's entity page in a real headless browser (Debian chromium driven by Playwright): a real
worker fails a customer against the PowerOffice Go emulator, the operator finds it by its
number, reads PowerOffice Go's refusal, fixes the cause and presses Resync; the reloaded page
shows the new attempt and the row synced.

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
from celery import Celery

from ledger import EntityLink, attempts_of, get_link, make_engine, make_session_factory
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from worker.app import DEFAULT_QUEUE
from worker.flower.testing import flower_process, free_port, running_process, send_task_events

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
BIN = Path(sys.executable).parent
FLOWER_USER = "ops"
FLOWER_PASSWORD = "entity-browser-pw-41d7"
BASIC = "Basic " + base64.b64encode(f"{FLOWER_USER}:{FLOWER_PASSWORD}".encode()).decode()
SECRETS = {
    "RACKBEAT_API_TOKEN": "rb-entity-e2e-token-secret-2a90",
    "POWEROFFICE_APPLICATION_KEY": "po-entity-e2e-app-secret-5b31",
    "POWEROFFICE_CLIENT_KEY": "po-entity-e2e-client-secret-c8e4",
    "POWEROFFICE_SUBSCRIPTION_KEY": "po-entity-e2e-sub-secret-07d6",
}
DATABASE_PASSWORD = "db-entity-e2e-secret-9f13"  # the test server trusts loopback
WORKER_NAME = "entity-e2e@localhost"
UI_TIMEOUT_MS = 15_000
WAIT_SECONDS = 90.0
SQUATTER_NUMBER_AFTER = 19_999

pytestmark = [
    pytest.mark.browser,
    pytest.mark.redis,
    pytest.mark.postgres,
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


def _wait_for(what: str, probe: Any, seconds: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out after {seconds} s waiting for {what}")


def _link(database_url: str, key: str) -> EntityLink | None:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            return get_link(session, "customer", key)
    finally:
        engine.dispose()


def _outcomes(database_url: str, key: str) -> list[str | None]:
    """The outcomes of the customer's attempts, newest first (None: still running)."""
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            return [a.outcome for a in attempts_of(session, "customer", key)]
    finally:
        engine.dispose()


def _attempts_done(database_url: str, key: str, count: int) -> bool:
    """Whether the customer has ``count`` attempts and none is still running."""
    outcomes = _outcomes(database_url, key)
    return len(outcomes) == count and None not in outcomes


def _ended(database_url: str, key: str, status: str) -> bool:
    """Whether the customer's row is in ``status`` with no attempt still running."""
    link = _link(database_url, key)
    return link is not None and link.status == status and link.claim_token is None


def test_find_a_failed_customer_read_poweroffices_refusal_resync_it_and_see_it_synced(
    playwright: Any,
    tmp_path: Path,
    postgres_url: str,
    redis_url: str,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    from ledger.migrate import upgrade

    rackbeat_emulator.configure(token=SECRETS["RACKBEAT_API_TOKEN"])
    poweroffice_emulator.configure(
        application_key=SECRETS["POWEROFFICE_APPLICATION_KEY"],
        client_key=SECRETS["POWEROFFICE_CLIENT_KEY"],
        subscription_key=SECRETS["POWEROFFICE_SUBSCRIPTION_KEY"],
    )
    key = str(rackbeat_emulator.state()["customers"][0]["number"])
    # The cause: another contact in PowerOffice Go already has this customer's number, which
    # rbsync sends as Number (RBSYNC_CUSTOMER_NUMBER_FROM_RACKBEAT): PowerOffice Go refuses.
    with poweroffice_emulator.client() as po:
        squatter = po.post("Customers", json={"Name": "Squatter AS", "Number": int(key)})
        squatter.raise_for_status()
        squatter_id = squatter.json()["Id"]
    database_url = postgres_url.replace("://postgres@", f"://postgres:{DATABASE_PASSWORD}@")
    upgrade(database_url)
    env = {
        "RBSYNC_DATABASE_URL": database_url,
        "RBSYNC_BROKER_URL": redis_url,
        "RBSYNC_REDIS_URL": redis_url,
        "RBSYNC_DATA_DIR": str(tmp_path / "data"),
        "RBSYNC_FLOWER_BASIC_AUTH": f"{FLOWER_USER}:{FLOWER_PASSWORD}",
        "RBSYNC_CUSTOMER_NUMBER_FROM_RACKBEAT": "true",
        "RACKBEAT_BASE_URL": rackbeat_emulator.base_url,
        "POWEROFFICE_BASE_URL": poweroffice_emulator.base_url,
        "POWEROFFICE_TOKEN_URL": poweroffice_emulator.token_url,
        **SECRETS,
    }
    port = free_port()
    worker = [
        str(BIN / "celery"), "-A", "worker.app", "worker", "--pool=solo", "--loglevel=INFO",
        "--task-events", "--without-mingle", "--without-gossip", f"--hostname={WORKER_NAME}",
    ]  # fmt: skip
    capp = Celery("entity-e2e-sender", broker=redis_url)
    seen: dict[str, Any] = {}
    with (
        flower_process(
            [str(BIN / "rbsync"), "flower", "--port", str(port)],
            port=port,
            env=env,
            log_path=tmp_path / "flower.log",
            cwd=tmp_path,
        ) as flower,
        running_process(worker, env=env, log_path=tmp_path / "worker.log", cwd=tmp_path),
    ):
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            http_credentials={"username": FLOWER_USER, "password": FLOWER_PASSWORD},
        )
        try:
            page = context.new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)

            def flower_sees(task_id: str) -> bool:
                response = page.request.get(
                    f"{flower.base_url}/api/task/info/{task_id}", headers={"Authorization": BASIC}
                )
                return response.status == 200 and response.json().get("name") is not None

            # Flower must receive events before the worker runs the sync (for its task page);
            # events published before its receiver bound are lost, so publish until seen.
            probe_events = {"name": "rbsync.poll", "args": "('customer',)", "state": "SUCCESS"}
            probe = send_task_events(capp, **probe_events)

            def receiving() -> bool:
                if flower_sees(probe):
                    return True
                send_task_events(capp, task_id=probe, **probe_events)
                return False

            _wait_for("Flower's event receiver", receiving)
            failed_sync = capp.send_task("rbsync.sync", args=["customer", key], queue=DEFAULT_QUEUE)
            _wait_for("the customer to fail", lambda: _ended(database_url, key, "failed"))
            failed_attempts = len(_outcomes(database_url, key))

            # As an operator would: the Entities tab, the customer's number, its row.
            page.goto(f"{flower.base_url}/tasks")
            page.click("#rbsync-nav-entities")
            page.select_option("#rbsync-search-kind", "customer")
            page.fill("#rbsync-search-key", key)
            page.click("#rbsync-search-submit")
            page.wait_for_selector("#rbsync-entity-results")
            seen["row"] = page.inner_text("tr.rbsync-entity-row")
            page.screenshot(path=str(tmp_path / "search.png"), full_page=True)
            page.click(f"#rbsync-entity-results a:text-is('{key}')")
            page.wait_for_url(f"**/rbsync/entities/customer/{key}")
            seen["status"] = page.inner_text("#rbsync-entity-status")
            seen["attempts"] = page.locator("tr.rbsync-attempt").all_inner_texts()
            seen["error"] = page.inner_text("tr.rbsync-attempt .rbsync-attempt-error")
            seen["http"] = page.inner_text("tr.rbsync-attempt .rbsync-attempt-http-status")
            page.screenshot(path=str(tmp_path / "failed.png"), full_page=True)

            # The fix, in PowerOffice Go: the other contact gets another number. Then Resync.
            with poweroffice_emulator.client() as po:
                po.patch(
                    f"Customers/{squatter_id}",
                    content=json.dumps(
                        [{"op": "replace", "path": "/Number", "value": SQUATTER_NUMBER_AFTER}]
                    ),
                    headers={"Content-Type": "application/json-patch+json"},
                ).raise_for_status()
            page.click("#rbsync-resync")
            page.wait_for_selector("#rbsync-resync-sent")
            seen["sent"] = page.inner_text("#rbsync-resync-sent")
            _wait_for("the resynced customer to sync", lambda: _ended(database_url, key, "synced"))
            page.click("#rbsync-reload")
            page.wait_for_selector("#rbsync-entity-status")
            seen["status_after"] = page.inner_text("#rbsync-entity-status")
            seen["outcomes_after"] = page.locator(".rbsync-attempt-outcome").all_inner_texts()
            seen["remote_id"] = page.inner_text("#rbsync-entity-remote-id")
            seen["written"] = page.inner_text("#rbsync-entity-written")
            page.screenshot(path=str(tmp_path / "synced.png"), full_page=True)

            # Resync of a synced entity whose content did not change: no PowerOffice Go request.
            poweroffice_emulator.reset_counters()
            page.click("#rbsync-resync")
            page.wait_for_selector("#rbsync-resync-sent")
            _wait_for(
                "the second resync's attempt",
                lambda: _attempts_done(database_url, key, failed_attempts + 2),
            )
            page.click("#rbsync-reload")
            page.wait_for_selector("#rbsync-entity-status")
            seen["outcomes_again"] = page.locator(".rbsync-attempt-outcome").all_inner_texts()
            seen["po_requests_again"] = poweroffice_emulator.counters()["total_requests"]

            # The failed task's page in Flower links to the entity.
            _wait_for("Flower to have the failed sync", lambda: flower_sees(failed_sync.id))
            page.goto(f"{flower.base_url}/task/{failed_sync.id}")
            page.click(f"a.rbsync-entity-link:text-is('Entity customer {key}')")
            page.wait_for_url(f"**/rbsync/entities/customer/{key}")
            pages = {"entity": page.content()}
        finally:
            context.close()
            capp.close()
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in ("flower", "worker")}

    assert key in seen["row"]
    assert "failed" in seen["row"]
    assert "Number is already in use" in seen["row"]
    assert seen["status"] == "failed"
    assert len(seen["attempts"]) == failed_attempts >= 1
    assert seen["http"] == "400"
    # PowerOffice Go's own words, as its API answered them.
    assert (
        f"Number is already in use. '{key}' is used on (contact) Id = {squatter_id}."
        in (seen["error"])
    )
    assert seen["sent"].startswith("Resync sent as task ")
    assert "reload this page" in seen["sent"]
    assert seen["status_after"] == "synced"
    assert seen["outcomes_after"] == ["created"] + ["failed"] * failed_attempts
    customers = poweroffice_emulator.state()["resources"]["Customers"]
    (created,) = [c for c in customers if c.get("Number") == int(key)]
    assert seen["remote_id"] == str(created["Id"])
    assert f'"Number": {key}' in seen["written"]
    assert seen["outcomes_again"] == ["unchanged", "created"] + ["failed"] * failed_attempts
    assert seen["po_requests_again"] == 0
    for secret in [*SECRETS.values(), FLOWER_PASSWORD, DATABASE_PASSWORD]:
        leaks = [name for name, text in {**pages, **logs}.items() if secret in text]
        leaks += [name for name, text in seen.items() if secret in str(text)]
        assert leaks == [], f"a secret is in {leaks}"

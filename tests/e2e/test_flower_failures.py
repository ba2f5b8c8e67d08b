"""Flower's *Failed* list is the ledger's: a real worker, a real Flower, PostgreSQL and Redis.

A batch whose entities end failed is a FAILURE task naming exactly those keys; its Retry
re-drives exactly those (with the records as Rackbeat has them now). A sync of a key Rackbeat
does not have is a FAILURE too, with no ledger row and no Retry. Entities that synced are
SUCCESS. (``tests/e2e/test_browser_retry.py`` clicks the same through a browser.)
"""

from __future__ import annotations

import ast
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from celery import Celery

from ledger import counts_by_kind_and_status, get_link, make_engine, make_session_factory
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from worker.app import DEFAULT_QUEUE
from worker.flower.testing import flower_process, free_port, running_process, send_task_events

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

BIN = Path(sys.executable).parent
USER, PASSWORD = "ops", "failed-tab-pw-31c9"
WAIT_SECONDS = 90.0
BAD = ("10003", "10006")
CUSTOMERS = [str(n) for n in range(10001, 10009)]


def _wait_for(what: str, probe: Any, seconds: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out after {seconds} s waiting for {what}")


def _tasks(client: httpx.Client, name: str, state: str) -> dict[str, Any]:
    response = client.get("/api/tasks", params={"taskname": name, "state": state})
    return dict(response.json()) if response.status_code == 200 else {}


def _xsrf(page: str) -> str:
    match = re.search(r'name="_xsrf" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def test_the_failed_tab_lists_exactly_the_entities_that_need_a_human(
    tmp_path: Path,
    postgres_url: str,
    redis_url: str,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    from ledger.migrate import upgrade

    rackbeat_emulator.configure(rate_limit_enabled=False)
    poweroffice_emulator.configure(rate_limit_enabled=False)
    for key in BAD:  # no such country: each is refused by the mapping (R-CUST-3), named
        rackbeat_emulator.touch("customers", int(key), address_country="Atlantis")
    upgrade(postgres_url)
    env = {
        **os.environ,
        "RBSYNC_DATABASE_URL": postgres_url,
        "RBSYNC_BROKER_URL": redis_url,
        "RBSYNC_REDIS_URL": redis_url,
        "RBSYNC_DATA_DIR": str(tmp_path / "data"),
        "RBSYNC_FLOWER_BASIC_AUTH": f"{USER}:{PASSWORD}",
        "RACKBEAT_BASE_URL": rackbeat_emulator.base_url,
        "RACKBEAT_API_TOKEN": rackbeat_emulator.token,
        "POWEROFFICE_BASE_URL": poweroffice_emulator.base_url,
        "POWEROFFICE_TOKEN_URL": poweroffice_emulator.token_url,
        "POWEROFFICE_APPLICATION_KEY": poweroffice_emulator.application_key,
        "POWEROFFICE_CLIENT_KEY": poweroffice_emulator.client_key,
        "POWEROFFICE_SUBSCRIPTION_KEY": poweroffice_emulator.subscription_key,
    }
    port = free_port()
    worker = [
        str(BIN / "celery"), "-A", "worker.app", "worker", "--pool=solo", "--loglevel=INFO",
        "--task-events", "--without-mingle", "--without-gossip", "--hostname=failed-tab@localhost",
    ]  # fmt: skip
    capp = Celery("failed-tab-sender", broker=redis_url)
    with (
        flower_process(
            [str(BIN / "rbsync"), "flower", "--port", str(port)],
            port=port,
            env=env,
            log_path=tmp_path / "flower.log",
            cwd=tmp_path,
        ) as flower,
        running_process(worker, env=env, log_path=tmp_path / "worker.log", cwd=tmp_path),
        httpx.Client(base_url=flower.base_url, auth=(USER, PASSWORD), timeout=10.0) as client,
    ):
        # Flower must be receiving events before the worker runs the tasks. Events published
        # before its receiver bound are lost, so the probe's are published again until seen.
        probe = send_task_events(capp, name="rbsync.poll", args="('product',)", state="SUCCESS")

        def receiving() -> bool:
            if client.get(f"/api/task/info/{probe}").is_success:
                return True
            events = {"name": "rbsync.poll", "args": "('product',)", "state": "SUCCESS"}
            send_task_events(capp, task_id=probe, **events)
            return False

        _wait_for("Flower's event receiver", receiving)

        capp.send_task("rbsync.sync_batch", args=["customer", CUSTOMERS], queue=DEFAULT_QUEUE)
        capp.send_task("rbsync.sync", args=["product", "NOPE-999"], queue=DEFAULT_QUEUE)
        batches = _wait_for(
            "the batch to fail in Flower",
            lambda: _tasks(client, "rbsync.sync_batch", "FAILURE"),
        )
        missing = _wait_for(
            "the sync of a key Rackbeat lacks to fail in Flower",
            lambda: _tasks(client, "rbsync.sync", "FAILURE"),
        )
        ((batch_id, batch),) = batches.items()
        ((missing_id, missing_task),) = missing.items()
        assert batch["exception"].startswith("BatchFailedError('customer', ['10003', '10006'], ")
        assert "Atlantis" in batch["exception"]
        assert missing_task["exception"] == "NotInRackbeatError('product', 'NOPE-999')"

        batch_page = client.get(f"/task/{batch_id}")
        assert 'id="rbsync-retry"' in batch_page.text
        token = _xsrf(batch_page.text)
        # No Retry for a key Rackbeat does not have: nothing to re-drive.
        assert 'id="rbsync-retry"' not in client.get(f"/task/{missing_id}").text
        refused = client.post(f"/rbsync/retry/{missing_id}", data={"_xsrf": token})
        assert refused.status_code == 409

        # The operator fixes both records in Rackbeat, then presses the batch's Retry.
        for key in BAD:
            rackbeat_emulator.touch("customers", int(key), address_country="NO")
        sent = client.post(f"/rbsync/retry/{batch_id}", data={"_xsrf": token})
        assert sent.status_code == 303
        retried = _wait_for(
            "the re-driven syncs to succeed",
            lambda: (
                [
                    task
                    for task in _tasks(client, "rbsync.sync", "SUCCESS").values()
                    if ast.literal_eval(task["args"])[1] in BAD
                ]
                if len(_tasks(client, "rbsync.sync", "SUCCESS")) >= len(BAD)
                else None
            ),
        )
        retry_tasks = _tasks(client, "rbsync.retry", "SUCCESS")
    capp.close()

    assert sorted(ast.literal_eval(t["args"])[1] for t in retried) == sorted(BAD)
    ((retry_task,),) = [list(retry_tasks.values())]
    assert ast.literal_eval(retry_task["kwargs"]) == {"kind": "customer", "keys": list(BAD)}
    engine = make_engine(postgres_url)
    try:
        with make_session_factory(engine)() as session:
            assert counts_by_kind_and_status(session) == {"customer": {"synced": 8}}
            assert get_link(session, "product", "NOPE-999") is None
    finally:
        engine.dispose()
    customers = poweroffice_emulator.state()["resources"]["Customers"]
    assert len(customers) == len({c["ExternalImportReference"] for c in customers}) == 8

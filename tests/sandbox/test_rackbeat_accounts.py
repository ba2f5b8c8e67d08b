"""The Rackbeat emulator's accounts over HTTP: each token sees its own account's records only,
the same numbers live apart, limits and webhooks are per account, admin routes are scoped."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.server import serve_in_thread
from sandbox.testing_rackbeat import RackbeatEmulatorHandle
from tests.e2e.test_pipeline_e2e import wait_for

ITEM = "AB%252F100"  # the double-encoded item number AB/100, in every seed-1 data set


def _get(handle: RackbeatEmulatorHandle, token: str, path: str) -> httpx.Response:
    return httpx.get(
        f"{handle.base_url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def test_two_accounts_hold_the_same_item_numbers_apart(
    rackbeat_emulator: RackbeatEmulatorHandle,
) -> None:
    rb = rackbeat_emulator
    rb.configure(rate_limit_enabled=False)
    other = rb.add_account("token-b", account_id=5001, seed=1)
    assert other.account_id == 5001
    with rb.client() as a, other.client() as b:
        first = a.get(f"products/{ITEM}").json()["product"]
        second = b.get(f"products/{ITEM}").json()["product"]
        assert first["number"] == second["number"] == "AB/100"
        assert first["name"] == second["name"]

        # A change in one account is not seen in the other.
        b.put(f"products/{ITEM}", json={"name": "Renamed in B"}).raise_for_status()
        assert a.get(f"products/{ITEM}").json()["product"]["name"] == first["name"]
        assert b.get(f"products/{ITEM}").json()["product"]["name"] == "Renamed in B"

        # The same new number may be created in both; a duplicate is refused per account.
        body = {"number": "NEW-1", "name": "Ny vare", "group": 1010, "sales_price": 10.0}
        group = a.get("product-groups").json()["product_groups"][0]["number"]
        body["group"] = group
        assert a.post("products", json=body).status_code == 201
        assert b.get("products/NEW-1").status_code == 404
        assert b.post("products", json=body).status_code == 201
        assert b.post("products", json=body).status_code == 422

    assert rb.counters()["writes"]["products"]["created"] == 2
    assert other.counters()["writes"]["products"] == {
        "created": 1,
        "updated": 1,
        "deleted": 0,
        "duplicates_refused": 1,
    }
    assert rb.account(4711).counters()["writes"]["products"]["created"] == 1
    b_names = {p["number"]: p["name"] for p in other.state()["products"]}
    a_names = {p["number"]: p["name"] for p in rb.state()["products"]}
    assert b_names["AB/100"] == "Renamed in B"
    assert a_names["AB/100"] == first["name"]


def test_a_token_sees_only_its_own_account(rackbeat_emulator: RackbeatEmulatorHandle) -> None:
    rb = rackbeat_emulator
    empty = rb.add_account("token-empty", empty=True, company_name="Tomt Lager AS")
    small = rb.add_account("token-small", seed=7, scale=10)
    assert _get(rb, "token-empty", "products").json()["total"] == 0
    assert _get(rb, "token-empty", "customers").json()["total"] == 0
    assert _get(rb, "token-small", "products").json()["total"] == 10
    assert _get(rb, rb.token, "products").json()["total"] == 50
    assert _get(rb, "token-empty", f"products/{ITEM}").status_code == 404

    who = {t: _get(rb, t, "self").json()["user_account"] for t in (rb.token, "token-empty")}
    assert who[rb.token]["id"] == 4711
    assert who["token-empty"] == {
        "id": empty.account_id,
        "company_name": "Tomt Lager AS",
        "address": who[rb.token]["address"],
    }
    listed = {a["account_id"]: a for a in rb.accounts()}
    assert list(listed) == [4711, empty.account_id, small.account_id]
    assert listed[4711]["default"] is True
    assert listed[small.account_id]["records"]["products"] == 10
    assert listed[empty.account_id]["records"]["products"] == 0

    # Removed, its token opens nothing any more.
    rb.remove_account(small.account_id)
    assert _get(rb, "token-small", "products").status_code == 401
    assert rb.admin.delete("accounts/4711").status_code == 400


def test_the_rate_limit_is_per_account_token(rackbeat_emulator: RackbeatEmulatorHandle) -> None:
    rb = rackbeat_emulator
    rb.configure(rate_limit_per_minute=2)
    other = rb.add_account("token-b", empty=True)
    assert [_get(rb, rb.token, "units").status_code for _ in range(3)] == [206, 206, 429]
    assert [_get(rb, other.token, "units").status_code for _ in range(3)] == [206, 206, 429]
    assert other.counters()["events"]["rate_limited"] == 1
    assert rb.counters()["events"]["rate_limited"] == 2
    assert other.summary()["rate_limited"] == 1


def test_admin_routes_are_scoped_to_an_account(rackbeat_emulator: RackbeatEmulatorHandle) -> None:
    rb = rackbeat_emulator
    rb.configure(rate_limit_enabled=False)
    other = rb.add_account("token-b", seed=1)
    touched = other.touch("products", "AB/100", name="Touched in B")
    assert touched["product"]["name"] == "Touched in B"
    assert _get(rb, rb.token, f"products/{ITEM}").json()["product"]["name"] != "Touched in B"

    # Requests are counted for their account, and in the emulator's totals.
    rb.reset_counters()
    for _ in range(3):
        _get(rb, other.token, "units")
    _get(rb, rb.token, "units")
    assert other.counters()["requests"] == {"GET /api/units": 3}
    assert rb.account(4711).counters()["requests"] == {"GET /api/units": 1}
    assert rb.counters()["requests"] == {"GET /api/units": 4}
    since = time.time() - 60
    by_account = rb.requests_by_account(since)
    assert other.account_id == 4712  # the next free id
    assert {k: v["requests"] for k, v in by_account.items()} == {"4711": 1, "4712": 3}
    assert other.window(since)["statuses"] == {"206": 3}
    assert rb.window(since)["requests"] == 4

    # A fault for one account leaves the other alone.
    other.set_faults([{"route": "GET /api/*", "error_rate": 1.0, "status": 503}])
    assert _get(rb, other.token, "units").status_code == 503
    assert _get(rb, rb.token, "units").status_code == 206
    assert [r["tenant"] for r in rb.faults()] == [str(other.account_id)]
    assert rb.account(4711).faults() == []
    other.clear_faults()
    assert _get(rb, other.token, "units").status_code == 206

    # Reset one account: its data back to its seed; the other keeps its change.
    rb.touch("products", "AB/100", name="Touched in A")
    other.reset()
    assert other.counters()["total_requests"] == 0
    assert _get(rb, other.token, f"products/{ITEM}").json()["product"]["name"] != "Touched in B"
    assert _get(rb, rb.token, f"products/{ITEM}").json()["product"]["name"] == "Touched in A"
    assert other.reset(empty=True)["records"]["products"] == 0

    # Unknown accounts and clashing tokens are refused; a whole reset removes the accounts.
    assert rb.admin.get("state", params={"account": "999999"}).status_code == 404
    assert rb.admin.post("accounts", json={"token": rb.token}).status_code == 400
    assert rb.admin.post("accounts", json={"account_id": other.account_id}).status_code == 400
    assert rb.admin.patch("config", json={"token": other.token}).status_code == 400
    rb.reset()
    assert [a["account_id"] for a in rb.accounts()] == [4711]
    assert _get(rb, other.token, "units").status_code == 401


class _Sink:
    """A webhook receiver that records what it was sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    async def receive(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            self.received.append({"headers": dict(request.headers), "body": body})
        return JSONResponse({})


@pytest.fixture
def sink() -> Iterator[tuple[_Sink, str]]:
    target = _Sink()
    server = serve_in_thread(Starlette(routes=[Route("/hook", target.receive, methods=["POST"])]))
    try:
        yield target, f"http://{server.host}:{server.port}/hook"
    finally:
        server.stop()


def test_webhook_deliveries_carry_their_accounts_id(
    rackbeat_emulator: RackbeatEmulatorHandle, sink: tuple[_Sink, str]
) -> None:
    rb = rackbeat_emulator
    target, url = sink
    other = rb.add_account("token-b", account_id=6001, seed=1)
    hooks: dict[str, dict[str, Any]] = {}
    for name, handle in (("a", rb), ("b", other)):
        with handle.client() as client:
            answer = client.post("webhooks", json={"event": "product.updated", "url": url})
            assert answer.status_code == 201
            hooks[name] = answer.json()["webhook"]
        with handle.client() as client:
            # Each account lists its own webhooks only.
            assert [w["id"] for w in client.get("webhooks").json()["webhooks"]] == [
                hooks[name]["id"]
            ]
    rb.touch("products", "AB/100", name="A")
    other.touch("products", "AB/100", name="B")
    assert other.emit("plugin.uninstalled", None) == 0
    wait_for("two deliveries", lambda: len(target.received) == 2, 30)
    by_account = {d["headers"]["rackbeat-account-id"]: d for d in target.received}
    assert set(by_account) == {"4711", "6001"}
    assert by_account["4711"]["headers"]["rackbeat-webhook-token"] == hooks["a"]["token"]
    assert by_account["6001"]["headers"]["rackbeat-webhook-token"] == hooks["b"]["token"]
    assert by_account["6001"]["body"] == {"key_name": "number", "key": "AB/100"}
    wait_for(
        "the deliveries counted",
        lambda: other.counters()["events"].get("webhook_delivered") == 1,
        10,
    )
    assert rb.counters()["events"]["webhook_delivered"] == 2


def test_an_empty_account_stays_empty_on_its_reset(
    rackbeat_emulator: RackbeatEmulatorHandle,
) -> None:
    rb = rackbeat_emulator
    idle = rb.add_account(empty=True)
    assert idle.reset()["records"]["products"] == 0
    assert idle.reset(seed=1, scale=5)["records"]["products"] == 5
    base = rb.add_account(scale=0)  # scale 0: groups, units, customers... but no products
    assert base.summary()["records"]["customers"] == 8
    assert base.summary()["records"]["products"] == 0

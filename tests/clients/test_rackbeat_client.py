"""RackbeatClient against the Rackbeat emulator over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from clients.errors import (
    AmbiguousWriteError,
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
)
from clients.http import build_http_client
from clients.models import (
    RackbeatCustomerCreate,
    RackbeatProductCreate,
    RackbeatProductGroupCreate,
    RackbeatSupplierCreate,
    RackbeatSupplierGroupCreate,
    RackbeatUnitCreate,
    invoice_email_of,
)
from clients.rackbeat import (
    BOOKED_INVOICES,
    CUSTOMERS,
    LOTS,
    PRODUCTS,
    SUPPLIERS,
    RackbeatClient,
    item_segment,
)
from clients.retry import RetryPolicy, set_testing
from sandbox.testing import RackbeatEmulatorHandle


def _client(emulator: RackbeatEmulatorHandle, **options: object) -> RackbeatClient:
    http = build_http_client(base_url=emulator.base_url)
    return RackbeatClient(http, token=emulator.token, **options)  # type: ignore[arg-type]


@pytest.fixture
def rackbeat(rackbeat_emulator: RackbeatEmulatorHandle) -> Iterator[RackbeatClient]:
    with _client(rackbeat_emulator, page_size=7) as client:
        yield client


def _touch(
    emulator: RackbeatEmulatorHandle, resource: str, number: str | int, **fields: object
) -> datetime:
    """Change a record as a Rackbeat user would; its new ``updated_at``."""
    (record,) = emulator.touch(resource, number, **fields).values()
    return datetime.fromisoformat(record["updated_at"])


def test_lists_stream_every_page(
    rackbeat_emulator: RackbeatEmulatorHandle, rackbeat: RackbeatClient
) -> None:
    numbers = [product.number for product in rackbeat.iter_products()]
    state_numbers = {p["number"] for p in rackbeat_emulator.state()["products"]}
    assert len(numbers) == 50
    assert set(numbers) == state_numbers
    # 50 products at 7 a page: 8 requests, each answered 206 Partial Content.
    counters = rackbeat_emulator.counters()
    assert counters["requests"] == {"GET /api/products": 8}
    assert counters["statuses"] == {"206": 8}


def test_every_list_the_sync_needs(
    rackbeat_emulator: RackbeatEmulatorHandle, rackbeat: RackbeatClient
) -> None:
    state = rackbeat_emulator.state()
    booked = [i["number"] for i in state["customer_invoices"] if i["is_booked"]]
    assert [g.number for g in rackbeat.iter_product_groups()] == [
        g["number"] for g in state["product_groups"]
    ]
    assert [u.number for u in rackbeat.iter_units()] == [u["number"] for u in state["units"]]
    assert [lot.number for lot in rackbeat.iter_lots()] == [lot["number"] for lot in state["lots"]]
    assert [c.number for c in rackbeat.iter_customers()] == [
        c["number"] for c in state["customers"]
    ]
    assert [s.number for s in rackbeat.iter_suppliers()] == [
        s["number"] for s in state["suppliers"]
    ]
    assert [i.number for i in rackbeat.iter_booked_invoices()] == booked
    assert len(booked) < len(state["customer_invoices"])
    assert [o.number for o in rackbeat.iter_orders()] == [o["number"] for o in state["orders"]]
    assert [t.number for t in rackbeat.iter_payment_terms()] == [
        t["number"] for t in state["payment_terms"]
    ]
    assert [e.number for e in rackbeat.iter_employees()] == [
        e["number"] for e in state["employees"]
    ]


@pytest.mark.parametrize("number", ["AB/100", "KABEL 3M", "X+Y"])
def test_item_numbers_with_special_characters(rackbeat: RackbeatClient, number: str) -> None:
    product = rackbeat.get(PRODUCTS, number)
    assert product.number == number
    assert product.urlfriendly_number == item_segment(number)


def test_whoami_returns_the_account_and_user(rackbeat: RackbeatClient) -> None:
    answer = rackbeat.whoami()
    assert set(answer) >= {"user_account", "user"}
    assert isinstance(answer["user_account"]["id"], int)


def test_a_missing_record_is_not_found_and_find_says_none(rackbeat: RackbeatClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        rackbeat.get(PRODUCTS, "NO/SUCH")
    assert caught.value.status == 404
    assert caught.value.path == "/api/products/NO%252FSUCH"
    assert rackbeat.find(CUSTOMERS, 999999) is None


def test_a_bom_comes_with_its_component_lines(
    rackbeat_emulator: RackbeatEmulatorHandle, rackbeat: RackbeatClient
) -> None:
    lot = rackbeat.get(LOTS, "BOM-1000")
    stored = next(lot for lot in rackbeat_emulator.state()["lots"] if lot["number"] == "BOM-1000")
    assert [line.component_number for line in lot.lines] == [
        line["product_id"] for line in stored["lines"]
    ]


def test_a_customer_without_invoice_email_comes_with_its_contacts(
    rackbeat: RackbeatClient,
) -> None:
    listed = {c.number: c for c in rackbeat.iter_customers()}
    via_contact = [
        c
        for c in listed.values()
        if c.invoice_email is None and any(k.cc_invoice for k in c.contacts)
    ]
    assert via_contact, "the seeded data has customers whose invoice e-mail is on a contact"
    customer = rackbeat.get(CUSTOMERS, via_contact[0].number)
    expected = next(k.contact_email for k in customer.contacts if k.cc_invoice)
    assert invoice_email_of(customer) == expected
    assert customer.contacts == via_contact[0].contacts
    # A customer with its own invoice_email needs no contacts request.
    own = next(c for c in listed.values() if c.invoice_email is not None)
    assert own.contacts == []


def test_changed_since_with_an_honoured_filter_is_ascending_and_complete(
    rackbeat_emulator: RackbeatEmulatorHandle, rackbeat: RackbeatClient
) -> None:
    touched = []
    for second, number in enumerate(["X+Y", "10001", "AB/100", "KABEL 3M"]):
        rackbeat_emulator.configure(frozen_time=f"2030-01-01 00:00:{second:02d}")
        touched.append(_touch(rackbeat_emulator, "products", number, name=f"renamed {second}"))
    since = touched[0]
    assert rackbeat.filter_honoured(PRODUCTS) is True
    changed = list(rackbeat.changed_since(PRODUCTS, since))
    assert [p.number for p in changed] == ["X+Y", "10001", "AB/100", "KABEL 3M"]
    assert [p.name for p in changed] == [f"renamed {n}" for n in range(4)]
    later = list(rackbeat.changed_since(PRODUCTS, since + timedelta(seconds=2)))
    assert [p.number for p in later] == ["AB/100", "KABEL 3M"]


def test_changed_since_pages_through_many_records_at_one_timestamp(
    rackbeat_emulator: RackbeatEmulatorHandle,
) -> None:
    rackbeat_emulator.configure(frozen_time="2030-06-01 12:00:00")
    numbers = [p["number"] for p in rackbeat_emulator.state()["products"]][:11]
    for number in numbers:
        rackbeat_emulator.touch("products", number)
    with _client(rackbeat_emulator, page_size=3) as client:
        changed = [
            p.number for p in client.changed_since(PRODUCTS, datetime(2030, 6, 1, 12, tzinfo=UTC))
        ]
    assert sorted(changed) == sorted(numbers)
    assert len(changed) == 11


def test_changed_since_falls_back_to_a_scan_when_the_filter_is_ignored(
    rackbeat_emulator: RackbeatEmulatorHandle, rackbeat: RackbeatClient
) -> None:
    rackbeat_emulator.configure(ignore_updated_at_filter=["products"])
    rackbeat_emulator.configure(frozen_time="2030-01-01 00:00:05")
    rackbeat_emulator.touch("products", "KABEL 3M")
    rackbeat_emulator.configure(frozen_time="2030-01-01 00:00:01")
    first = _touch(rackbeat_emulator, "products", "AB/100")
    assert rackbeat.filter_honoured(PRODUCTS) is False
    changed = list(rackbeat.changed_since(PRODUCTS, first))
    assert [p.number for p in changed] == ["AB/100", "KABEL 3M"]
    requests = rackbeat_emulator.counters()["requests"]
    # One probe, a cheap scan of 50 products at 7 a page (8 pages), two full fetches.
    assert requests == {"GET /api/products": 1 + 8, "GET /api/products/{number}": 2}


def test_changed_since_skips_the_versions_the_caller_holds(
    rackbeat_emulator: RackbeatEmulatorHandle, rackbeat: RackbeatClient
) -> None:
    without_invoice_email = [
        c["number"] for c in rackbeat_emulator.state()["customers"] if not c.get("invoice_email")
    ][:2]
    rackbeat_emulator.configure(frozen_time="2030-02-01 00:00:00")
    held_at = _touch(rackbeat_emulator, "customers", without_invoice_email[0])
    _touch(rackbeat_emulator, "customers", without_invoice_email[1], name="Changed AS")
    rackbeat_emulator.reset_counters()
    changed = list(
        rackbeat.changed_since(CUSTOMERS, held_at, held={str(without_invoice_email[0]): held_at})
    )
    assert [c.number for c in changed] == [without_invoice_email[1]]
    requests = rackbeat_emulator.counters()["requests"]
    # The held customer is not completed: only the changed one's contacts are read.
    assert requests["GET /api/customers/{number}/contacts"] == 1


def test_the_scan_fallback_does_not_fetch_held_versions(
    rackbeat_emulator: RackbeatEmulatorHandle, rackbeat: RackbeatClient
) -> None:
    rackbeat_emulator.configure(ignore_updated_at_filter=["products"])
    rackbeat_emulator.configure(frozen_time="2030-01-01 00:00:01")
    held_at = _touch(rackbeat_emulator, "products", "AB/100")
    _touch(rackbeat_emulator, "products", "KABEL 3M")
    assert rackbeat.filter_honoured(PRODUCTS) is False
    rackbeat_emulator.reset_counters()
    changed = list(rackbeat.changed_since(PRODUCTS, held_at, held={"AB/100": held_at}))
    assert [p.number for p in changed] == ["KABEL 3M"]
    assert rackbeat_emulator.counters()["requests"]["GET /api/products/{number}"] == 1


def test_booked_invoices_changed_since(
    rackbeat_emulator: RackbeatEmulatorHandle, rackbeat: RackbeatClient
) -> None:
    booked = [i for i in rackbeat_emulator.state()["customer_invoices"] if i["is_booked"]]
    rackbeat_emulator.configure(frozen_time="2031-01-01 00:00:00")
    touched = _touch(rackbeat_emulator, "customer-invoices", booked[0]["number"])
    changed = list(rackbeat.changed_since(BOOKED_INVOICES, touched))
    assert [invoice.number for invoice in changed] == [booked[0]["number"]]


def test_the_kind_registry_refuses_an_unknown_kind() -> None:
    from kinds import registry

    with pytest.raises(ValueError, match="unknown kind 'widget'; expected one of product, bom"):
        registry.get("widget")


def test_initial_sync_writes(
    rackbeat_emulator: RackbeatEmulatorHandle, rackbeat: RackbeatClient
) -> None:
    unit = rackbeat.create_unit(RackbeatUnitCreate(name="Each"))
    group = rackbeat.create_product_group(
        RackbeatProductGroupCreate(number=3000, name="Fra PowerOffice", vat_domestic=25)
    )
    product = rackbeat.create_product(
        RackbeatProductCreate(
            number="PO/1 +A",
            group=group.number,
            name="Importert",
            sales_price=100.5,
            unit_id=unit.number,
        )
    )
    supplier_group = rackbeat.create_supplier_group(RackbeatSupplierGroupCreate(name="Poweroffice"))
    supplier = rackbeat.create_supplier(
        RackbeatSupplierCreate(
            number=29001, company_name="Leverandør AS", supplier_group_id=supplier_group.number
        )
    )
    customer = rackbeat.create_customer(
        RackbeatCustomerCreate(number=19001, company_name="Kunde AS", invoice_email="f@kunde.no")
    )
    assert rackbeat.get(PRODUCTS, "PO/1 +A").name == "Importert"
    assert product.group is not None
    assert product.group.number == 3000
    assert rackbeat.get(SUPPLIERS, supplier.number).display_name == "Leverandør AS"
    assert rackbeat.get(CUSTOMERS, customer.number).invoice_email == "f@kunde.no"
    writes = rackbeat_emulator.counters()["writes"]
    assert {name: counts["created"] for name, counts in writes.items()} == {
        "customers": 1,
        "product-groups": 1,
        "products": 1,
        "supplier-groups": 1,
        "suppliers": 1,
        "units": 1,
    }


def test_a_refused_write_is_an_invalid_request_with_the_reason(rackbeat: RackbeatClient) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        rackbeat.create_customer(RackbeatCustomerCreate(number=10001, company_name="Dup AS"))
    assert caught.value.status == 422
    assert caught.value.method == "POST"
    assert '"errors"' in caught.value.body_excerpt


def test_a_dropped_create_is_ambiguous_and_the_record_can_be_looked_up(
    rackbeat_emulator: RackbeatEmulatorHandle, rackbeat: RackbeatClient
) -> None:
    rackbeat_emulator.set_faults(
        [{"route": "POST /api/customers", "commit_then_drop_rate": 1.0, "times": 1}]
    )
    with pytest.raises(AmbiguousWriteError):
        rackbeat.create_customer(RackbeatCustomerCreate(number=19002, company_name="Drop AS"))
    # Not retried by the client: exactly one POST reached the emulator, and it took effect.
    assert rackbeat_emulator.counters()["requests"]["POST /api/customers"] == 1
    assert rackbeat.get(CUSTOMERS, 19002).display_name == "Drop AS"


def test_429_is_retried_after_retry_after(
    rackbeat_emulator: RackbeatEmulatorHandle,
) -> None:
    set_testing(False)
    waits: list[float] = []
    rackbeat_emulator.set_faults([{"route": "GET /api/units", "burst_429": 2}])
    with _client(rackbeat_emulator, retry=RetryPolicy(sleep=waits.append)) as client:
        assert len(list(client.iter_units())) == 7
    assert len(waits) == 2
    assert all(1.0 <= wait <= 1.25 for wait in waits)
    assert rackbeat_emulator.counters()["statuses"] == {"206": 1, "429": 2}


def test_429_after_the_budget_carries_the_server_hint(
    rackbeat_emulator: RackbeatEmulatorHandle,
) -> None:
    rackbeat_emulator.set_faults([{"route": "GET /api/units", "burst_429": 10}])
    with (
        _client(rackbeat_emulator, retry=RetryPolicy(attempts=3)) as client,
        pytest.raises(RateLimitedError) as caught,
    ):
        list(client.iter_units())
    assert caught.value.retry_after == 1.0
    assert rackbeat_emulator.counters()["statuses"] == {"429": 3}


def test_5xx_on_a_read_is_retried(
    rackbeat_emulator: RackbeatEmulatorHandle, rackbeat: RackbeatClient
) -> None:
    rackbeat_emulator.set_faults(
        [{"route": "GET /api/suppliers", "error_rate": 1.0, "status": 503, "times": 2}]
    )
    assert len(list(rackbeat.iter_suppliers())) == 5
    assert rackbeat_emulator.counters()["statuses"] == {"503": 2, "206": 1}


def test_a_wrong_token_is_an_authentication_error_that_does_not_show_it(
    rackbeat_emulator: RackbeatEmulatorHandle,
) -> None:
    wrong = "wrong-token-0123456789"
    http = build_http_client(base_url=rackbeat_emulator.base_url)
    with RackbeatClient(http, token=wrong) as client, pytest.raises(AuthenticationError) as caught:
        client.get(PRODUCTS, "10001")
    assert caught.value.status == 401
    assert wrong not in str(caught.value)


def test_consumer_headers_are_sent() -> None:
    import httpx

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"unit": {"number": 1, "name": "Each"}})

    http = build_http_client(
        base_url="http://rackbeat.test/api/", transport=httpx.MockTransport(handler)
    )
    with RackbeatClient(
        http, token="t0ken-abcdef", consumer_name="Acme", consumer_contact="it@acme.no"
    ) as client:
        client.create_unit(RackbeatUnitCreate(name="Each"))
    headers = seen[0].headers
    assert headers["Consumer-Name"] == "Acme"
    assert headers["Consumer-Contact"] == "it@acme.no"
    assert headers["Authorization"] == "Bearer t0ken-abcdef"
    assert headers["Content-Type"] == "application/json"


def test_a_record_changing_while_we_page_does_not_hide_another(
    rackbeat_emulator: RackbeatEmulatorHandle,
) -> None:
    numbers = [p["number"] for p in rackbeat_emulator.state()["products"]][:5]
    stamps = []
    for second, number in enumerate(numbers):
        rackbeat_emulator.configure(frozen_time=f"2030-02-01 00:00:{second:02d}")
        stamps.append(_touch(rackbeat_emulator, "products", number))
    with _client(rackbeat_emulator, page_size=2) as client:
        changes = client.changed_since(PRODUCTS, stamps[0])
        first = next(changes)
        # The first record changes again mid-scan and moves to the end of the sorted list;
        # offset paging would now skip the record that slid back onto page one.
        rackbeat_emulator.configure(frozen_time="2030-02-01 00:00:09")
        _touch(rackbeat_emulator, "products", numbers[0])
        rest = [product.number for product in changes]
    assert first.number == numbers[0]
    assert rest == [*numbers[1:], numbers[0]]


def test_a_filter_probe_in_redis_serves_every_client_of_the_credential(
    rackbeat_emulator: RackbeatEmulatorHandle, redis_url: str
) -> None:
    # Each worker process has its own client: with the answer in Redis only the first probes,
    # so a poll of an unchanged catalogue costs one request whichever worker runs it.
    import redis

    from clients import RedisProbeStore, credential_bucket

    shared = redis.Redis.from_url(redis_url)
    bucket = credential_bucket("rackbeat", rackbeat_emulator.token)
    first = _client(rackbeat_emulator, probes=RedisProbeStore(shared, bucket))
    second = _client(rackbeat_emulator, probes=RedisProbeStore(shared, bucket))
    other = _client(rackbeat_emulator, probes=RedisProbeStore(shared, "rackbeat:other"))
    with first, second, other:
        assert first.filter_honoured(PRODUCTS) is True
        assert second.filter_honoured(PRODUCTS) is True
        assert rackbeat_emulator.counters()["requests"] == {"GET /api/products": 1}
        assert other.filter_honoured(PRODUCTS) is True  # another credential probes its own
        assert rackbeat_emulator.counters()["requests"] == {"GET /api/products": 2}
        ttl = shared.pttl(f"rbsync:rackbeat:filter-probe:{bucket}:products")
        assert 0 < ttl <= 3600 * 1000


def test_a_filter_probe_store_that_fails_means_probing_again(
    rackbeat_emulator: RackbeatEmulatorHandle,
) -> None:
    import redis

    from clients import RedisProbeStore

    class Down:
        def get(self, *_: object, **__: object) -> None:
            raise redis.ConnectionError("down")

        set = get

    store = RedisProbeStore(Down(), "b")  # type: ignore[arg-type]
    with _client(rackbeat_emulator, probes=store) as client:
        assert client.filter_honoured(PRODUCTS) is True
        assert client.filter_honoured(PRODUCTS) is True
    assert rackbeat_emulator.counters()["requests"] == {"GET /api/products": 2}


def test_the_key_scan_reads_keys_and_stamps_many_a_page(
    rackbeat_emulator: RackbeatEmulatorHandle, rackbeat: RackbeatClient
) -> None:
    state = rackbeat_emulator.state()
    rackbeat_emulator.reset_counters()
    scanned = dict(rackbeat.scan(PRODUCTS, page_size=20))
    assert set(scanned) == {str(p["number"]) for p in state["products"]}
    first = state["products"][0]
    assert scanned[str(first["number"])] == datetime.fromisoformat(first["updated_at"])
    assert rackbeat_emulator.counters()["requests"]["GET /api/products"] == 3  # 50 keys
    booked = dict(rackbeat.scan(BOOKED_INVOICES))
    assert set(booked) == {str(i["number"]) for i in state["customer_invoices"] if i["is_booked"]}


def test_a_scan_page_size_the_server_refuses_falls_back_to_the_clients(
    rackbeat_emulator: RackbeatEmulatorHandle, rackbeat: RackbeatClient
) -> None:
    scanned = list(rackbeat.scan(PRODUCTS, page_size=5000))  # the emulator allows 1000
    assert len(scanned) == len(rackbeat_emulator.state()["products"])

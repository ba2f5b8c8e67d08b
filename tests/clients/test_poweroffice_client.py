"""PowerOfficeClient against the PowerOffice Go emulator over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from clients.errors import (
    AmbiguousWriteError,
    AuthenticationError,
    InvalidRequestError,
    MalformedResponseError,
    RateLimitedError,
)
from clients.http import build_http_client
from clients.models import (
    ContactAddressPost,
    ContactGroupPost,
    CustomerPost,
    PaymentTermPost,
    ProductGroupPost,
    ProductPost,
    SalesOrderCompletePost,
    SalesOrderLinePost,
    SupplierPost,
)
from clients.poweroffice import PowerOfficeClient
from clients.ratelimit import InProcessRateLimiter
from clients.retry import ReplicaLagPolicy, RetryPolicy, set_testing
from clients.tokens import InProcessTokenCache
from mapping import patch_operations
from sandbox.testing import PowerOfficeEmulatorHandle


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _client(emulator: PowerOfficeEmulatorHandle, **options: object) -> PowerOfficeClient:
    limiter = options.pop("limiter", None)
    http = build_http_client(base_url=emulator.base_url, limiter=limiter)  # type: ignore[arg-type]
    return PowerOfficeClient(
        http,
        application_key=emulator.application_key,
        client_key=emulator.client_key,
        subscription_key=emulator.subscription_key,
        token_url=emulator.token_url,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def emulator(poweroffice_emulator: PowerOfficeEmulatorHandle) -> PowerOfficeEmulatorHandle:
    """The emulator with its gateway limit off: these tests are about everything else."""
    poweroffice_emulator.configure(rate_limit_enabled=False)
    return poweroffice_emulator


@pytest.fixture
def po(emulator: PowerOfficeEmulatorHandle) -> Iterator[PowerOfficeClient]:
    with _client(emulator, page_size=7) as client:
        yield client


def _statuses(emulator: PowerOfficeEmulatorHandle) -> dict[str, int]:
    return dict(emulator.counters()["statuses"])


def _token_requests(emulator: PowerOfficeEmulatorHandle) -> int:
    return int(emulator.counters()["events"].get("token_requests", 0))


def _group(po: PowerOfficeClient, code: str = "1010") -> int:
    return po.create_product_group(
        ProductGroupPost(code=code, name=f"Varer {code}", standard_sales_account=3000)
    ).id


# --- authentication -------------------------------------------------------------------------


def test_one_token_serves_many_calls(emulator: PowerOfficeEmulatorHandle) -> None:
    with _client(emulator) as po:
        for _ in range(5):
            po.client_integration_information()
        assert po.token_requests == 1
    assert _token_requests(emulator) == 1


def test_authenticate_fetches_the_token_the_calls_then_use(
    emulator: PowerOfficeEmulatorHandle,
) -> None:
    with _client(emulator) as po:
        po.authenticate()
        assert _token_requests(emulator) == 1
        assert emulator.counters()["total_requests"] == 1  # the token request, nothing else
        po.authenticate()
        po.client_integration_information()
    assert _token_requests(emulator) == 1


def test_authenticate_raises_the_token_endpoints_error(
    emulator: PowerOfficeEmulatorHandle,
) -> None:
    http = build_http_client(base_url=emulator.base_url)
    po = PowerOfficeClient(
        http,
        application_key=emulator.application_key,
        client_key="not-the-client-key",
        subscription_key=emulator.subscription_key,
        token_url=emulator.token_url,
        retry=RetryPolicy(attempts=1),
    )
    with po, pytest.raises(AuthenticationError) as refused:
        po.authenticate()
    assert refused.value.method == "POST"
    assert refused.value.path.endswith("/OAuth/Token")


def test_token_is_renewed_before_it_expires(emulator: PowerOfficeEmulatorHandle) -> None:
    emulator.configure(token_expires_in=60)
    clock = FakeClock()
    with _client(emulator, tokens=InProcessTokenCache(clock=clock)) as po:
        po.client_integration_information()
        # 50 s later the 60 s token is due (renewal margin: a fifth of its life), not expired.
        clock.now += 50
        emulator.advance_clock(50)
        po.client_integration_information()
    assert _token_requests(emulator) == 2
    assert "401" not in _statuses(emulator)


def test_a_401_refreshes_once_and_replays(emulator: PowerOfficeEmulatorHandle) -> None:
    emulator.configure(token_expires_in=60)
    with _client(emulator) as po:
        po.client_integration_information()
        emulator.advance_clock(61)  # the server expires the token; our clock does not know
        info = po.client_integration_information()
    assert info.client_name == "Sandkasse Demo AS"
    assert _token_requests(emulator) == 2
    assert emulator.counters()["requests"]["GET /v2/ClientIntegrationInformation"] == 3
    assert _statuses(emulator)["401"] == 1


def test_a_second_401_after_the_refresh_is_permanent(
    emulator: PowerOfficeEmulatorHandle,
) -> None:
    def always_expired(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/OAuth/Token"):
            return httpx.Response(200, json={"access_token": "tok-abcdef", "expires_in": 1200})
        return httpx.Response(401, json={"statusCode": 401, "message": "Invalid token"})

    transport = httpx.MockTransport(always_expired)
    http = build_http_client(base_url="http://po.test/v2", transport=transport)
    with (
        PowerOfficeClient(
            http,
            application_key="app-key-123456",
            client_key="client-key-123456",
            subscription_key="sub-key-123456",
            token_url="http://po.test/OAuth/Token",
        ) as po,
        pytest.raises(AuthenticationError) as caught,
    ):
        po.client_integration_information()
    assert caught.value.status == 401
    assert po.token_requests == 2


def test_wrong_keys_are_an_authentication_error(emulator: PowerOfficeEmulatorHandle) -> None:
    http = build_http_client(base_url=emulator.base_url)
    wrong = "00000000-wrong-client-key"
    with (
        PowerOfficeClient(
            http,
            application_key=emulator.application_key,
            client_key=wrong,
            subscription_key=emulator.subscription_key,
            token_url=emulator.token_url,
        ) as po,
        pytest.raises(AuthenticationError) as caught,
    ):
        po.iter_products().__next__()
    assert caught.value.status == 400
    assert "invalid_client" in caught.value.body_excerpt
    assert wrong not in str(caught.value)


# --- lists and paging ----------------------------------------------------------------------


def test_paging_across_many_pages(emulator: PowerOfficeEmulatorHandle) -> None:
    emulator.reset(seed=3, scale=1)
    expected = sorted(p["Code"] for p in emulator.state()["resources"]["Products"])
    emulator.reset_counters()
    with _client(emulator, page_size=7) as po:
        codes = sorted(p.code or "" for p in po.iter_products())
    assert codes == expected
    pages = len(expected) // 7 + 1  # the last page is short, or an empty 204 after a full one
    assert emulator.counters()["requests"]["GET /v2/Products"] == pages


def test_an_empty_list_is_204_and_yields_nothing(
    emulator: PowerOfficeEmulatorHandle, po: PowerOfficeClient
) -> None:
    assert list(po.iter_sales_orders()) == []
    assert _statuses(emulator)["204"] == 1


def test_filters_are_passed_through(po: PowerOfficeClient) -> None:
    po.create_product_group(ProductGroupPost(code="A", name="A", product_type="Service"))
    po.create_product_group(ProductGroupPost(code="B", name="B", product_type="Product"))
    assert [g.code for g in po.iter_product_groups(type="Service")] == ["A"]


# --- creates, updates ----------------------------------------------------------------------


def test_creates_answer_200_for_products_and_201_for_the_rest(
    emulator: PowerOfficeEmulatorHandle, po: PowerOfficeClient
) -> None:
    group_id = _group(po)
    product = po.create_product(
        ProductPost(code="AB/100", name="Widget", product_group_id=group_id)
    )
    customer = po.create_customer(
        CustomerPost(
            name="Acme AS",
            external_import_reference="rackbeat-customer-10001",
            mail_address=ContactAddressPost(zip_code="0150", city="Oslo", country_code="NO"),
        )
    )
    supplier = po.create_supplier(
        SupplierPost(
            name="Parts AS", number=20001, external_import_reference="rackbeat-supplier-20001"
        )
    )
    term = po.create_payment_term(PaymentTermPost(name="21 dager", credit_days=21))
    group = po.create_contact_group(ContactGroupPost(name="PowerOffice"))
    order = po.create_sales_order(
        SalesOrderCompletePost(
            customer_id=customer.id,
            sales_order_status="Draft",
            external_import_reference="rackbeat-invoice-2001",
            sales_order_lines=(
                SalesOrderLinePost(line_type="Text", description="Takk", sort_order=0),
                SalesOrderLinePost(
                    line_type="Normal", product_code="AB/100", quantity=2, sort_order=1
                ),
            ),
        )
    )
    assert product.product_group_id == group_id
    assert customer.mail_address is not None
    assert customer.mail_address.city == "Oslo"
    assert supplier.number == 20001
    assert term.credit_days == 21
    assert group.name == "PowerOffice"
    complete = po.get_sales_order(order.id)
    assert [line.line_type for line in complete.sales_order_lines or []] == ["Text", "Normal"]
    requests = emulator.counters()["requests"]
    assert requests["POST /v2/Products"] == 1
    statuses = _statuses(emulator)
    # ProductGroups, Customers, Suppliers, PaymentTerms, ContactGroups, SalesOrders: 201.
    assert statuses["201"] == 6


def test_patch_sends_only_the_changed_fields(
    emulator: PowerOfficeEmulatorHandle, po: PowerOfficeClient
) -> None:
    group_id = _group(po)
    other_group = _group(po, "2020")
    created = po.create_product(
        ProductPost(code="AB/100", name="Widget", product_group_id=group_id, unit_price=10.0)
    )
    written = ProductPost(
        code="AB/100", name="Widget", product_group_id=group_id, unit_price=10.0
    ).to_wire()
    desired = ProductPost(
        code="AB/100", name="Widget v2", product_group_id=other_group, unit_price=10.0
    ).to_wire()
    operations = patch_operations("Products", written, desired)
    assert [(op.path, op.value) for op in operations] == [
        ("/Name", "Widget v2"),
        ("/ProductGroupId", other_group),
    ]
    po.patch("Products", created.id, operations)
    updated = po.get_product(created.id)
    assert updated.name == "Widget v2"
    assert updated.product_group_code == "2020"
    assert updated.unit_price == 10.0
    assert emulator.counters()["requests"]["PATCH /v2/Products/{id}"] == 1


def test_a_refused_create_is_an_invalid_request(po: PowerOfficeClient) -> None:
    reference = "rackbeat-customer-10001"
    po.create_customer(CustomerPost(name="Acme AS", external_import_reference=reference))
    with pytest.raises(InvalidRequestError) as caught:
        po.create_customer(CustomerPost(name="Acme 2 AS", external_import_reference=reference))
    assert caught.value.status == 400
    assert "already in use" in caught.value.body_excerpt


def test_a_dropped_create_is_ambiguous_then_found_by_lookup(
    emulator: PowerOfficeEmulatorHandle, po: PowerOfficeClient
) -> None:
    group_id = _group(po)
    emulator.set_faults([{"route": "POST /v2/Products", "commit_then_drop_rate": 1.0, "times": 1}])
    with pytest.raises(AmbiguousWriteError) as caught:
        po.create_product(ProductPost(code="X+Y", name="Plus", product_group_id=group_id))
    assert caught.value.method == "POST"
    assert caught.value.status is None
    found = po.find_product("X+Y")
    assert found is not None
    assert found.name == "Plus"
    assert emulator.counters()["writes"]["Products"]["created"] == 1


def test_a_5xx_on_a_create_is_ambiguous_and_not_retried(
    emulator: PowerOfficeEmulatorHandle, po: PowerOfficeClient
) -> None:
    emulator.set_faults([{"route": "POST /v2/Customers", "error_rate": 1.0, "status": 502}])
    with pytest.raises(AmbiguousWriteError) as caught:
        po.create_customer(CustomerPost(name="Acme AS"))
    assert caught.value.status == 502
    assert emulator.counters()["requests"]["POST /v2/Customers"] == 1


# --- retries and the rate limit ------------------------------------------------------------


def test_5xx_on_a_read_is_retried(
    emulator: PowerOfficeEmulatorHandle, po: PowerOfficeClient
) -> None:
    emulator.set_faults([{"route": "GET /v2/PaymentTerms", "error_rate": 1.0, "times": 2}])
    assert [t.credit_days for t in po.iter_payment_terms()] == [10, 14, 30]
    assert emulator.counters()["requests"]["GET /v2/PaymentTerms"] == 3


def test_429_waits_for_the_gateway_hint(emulator: PowerOfficeEmulatorHandle) -> None:
    set_testing(False)
    waits: list[float] = []
    emulator.set_faults([{"route": "GET /v2/VatCodes", "burst_429": 1}])
    with _client(emulator, retry=RetryPolicy(sleep=waits.append)) as po:
        assert len(list(po.iter_vat_codes())) == 10
    assert len(waits) == 1
    assert 1.0 <= waits[0] <= 1.25


def test_429_without_retry_after_header_reads_the_body(
    emulator: PowerOfficeEmulatorHandle,
) -> None:
    emulator.configure(retry_after_header=False)
    emulator.set_faults([{"route": "GET /v2/VatCodes", "burst_429": 5}])
    with (
        _client(emulator, retry=RetryPolicy(attempts=2)) as po,
        pytest.raises(RateLimitedError) as caught,
    ):
        list(po.iter_vat_codes())
    assert caught.value.retry_after == 1.0
    assert "Try again in 1 seconds" in caught.value.body_excerpt


def test_the_client_limiter_keeps_the_gateway_quiet(
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    # The gateway's real limit (10/s) is on; 25 requests in a burst through our limiter at
    # 8/s (a wide margin: this machine is shared) meet no 429.
    limiter = InProcessRateLimiter(8.0)
    with _client(poweroffice_emulator, limiter=limiter) as po:
        for _ in range(24):
            po.client_integration_information()
    statuses = _statuses(poweroffice_emulator)
    assert "429" not in statuses
    assert statuses["200"] == 25  # 24 calls and the token request


# --- lookups and indexes -------------------------------------------------------------------


def test_lookups_by_each_key(po: PowerOfficeClient) -> None:
    group_id = _group(po)
    po.create_product(ProductPost(code="KABEL 3M", name="Kabel", product_group_id=group_id))
    customer = po.create_customer(
        CustomerPost(
            name="Acme AS", number=10001, external_import_reference="rackbeat-customer-10001"
        )
    )
    supplier = po.create_supplier(
        SupplierPost(
            name="Parts AS", number=20001, external_import_reference="rackbeat-supplier-20001"
        )
    )
    before = datetime.now(UTC) - timedelta(seconds=1)
    order = po.create_sales_order(
        SalesOrderCompletePost(
            customer_id=customer.id, external_import_reference="rackbeat-invoice-2001"
        )
    )
    po.create_contact_group(ContactGroupPost(name="PowerOffice"))
    assert po.find_product("KABEL 3M") is not None
    assert po.find_product("KABEL") is None
    assert po.find_product_group("1010") is not None
    assert po.find_customer("rackbeat-customer-10001") == customer
    assert po.find_customer_by_number(10001) == customer
    assert po.find_supplier("rackbeat-supplier-20001") == supplier
    assert po.find_supplier_by_number(20001) == supplier
    found = po.find_sales_order("rackbeat-invoice-2001", changed_after=before)
    assert found is not None
    assert found.id == order.id
    assert po.find_sales_order("rackbeat-invoice-9999", changed_after=before) is None
    term = po.find_payment_term(14)
    assert term is not None
    assert term.name == "14 dager"
    assert po.find_payment_term(45) is None
    contact_group = po.find_contact_group("poweroffice")
    assert contact_group is not None
    assert contact_group.name == "PowerOffice"


def test_absent_answers_wait_out_replica_lag(emulator: PowerOfficeEmulatorHandle) -> None:
    set_testing(False)
    emulator.configure(replica_lag_seconds=1.0)
    # The policy's sleep moves the emulator's clock instead of waiting.
    lag = ReplicaLagPolicy(rereads=4, wait_seconds=0.4, sleep=emulator.advance_clock)
    with _client(emulator, replica_lag=lag) as po:
        group_id = _group(po)
        po.create_product(ProductPost(code="LAG-1", name="Lagging", product_group_id=group_id))
        assert po.find_product("LAG-1", settle=False) is None
        found = po.find_product("LAG-1")
    assert found is not None
    assert found.code == "LAG-1"
    # Three reads saw nothing (0, 0.4, 0.8 s after the write); the fourth at 1.2 s found it.
    assert emulator.counters()["requests"]["GET /v2/Products"] == 1 + 4


def test_scanned_lookups_wait_out_replica_lag_too(emulator: PowerOfficeEmulatorHandle) -> None:
    # Contact groups and payment terms are found by a scan, not a filter; after a create in
    # doubt they must also wait out the lag, or a second one is created (names are not unique).
    set_testing(False)
    emulator.configure(replica_lag_seconds=1.0)
    lag = ReplicaLagPolicy(rereads=4, wait_seconds=0.4, sleep=emulator.advance_clock)
    with _client(emulator, replica_lag=lag) as po:
        po.create_contact_group(ContactGroupPost(name="Lagging group"))
        po.create_payment_term(PaymentTermPost(name="45 dager", credit_days=45))
        assert po.find_contact_group("lagging group", settle=False) is None
        assert po.find_payment_term(45, settle=False) is None
        group = po.find_contact_group("lagging group")
        term = po.find_payment_term(45)
    assert group is not None
    assert group.name == "Lagging group"
    assert term is not None
    assert term.credit_days == 45


def test_a_lookup_checks_what_an_ignored_filter_returned(
    emulator: PowerOfficeEmulatorHandle, po: PowerOfficeClient
) -> None:
    emulator.configure(ignored_filters=["Customers.externalImportReference"])
    po.create_customer(
        CustomerPost(name="Other AS", external_import_reference="rackbeat-customer-1")
    )
    assert po.find_customer("rackbeat-customer-2", settle=False) is None
    mine = po.create_customer(
        CustomerPost(name="Mine AS", external_import_reference="rackbeat-customer-2")
    )
    assert po.find_customer("rackbeat-customer-2", settle=False) == mine


def test_bulk_indexes_load_whole_pages_of_ids(emulator: PowerOfficeEmulatorHandle) -> None:
    emulator.reset(seed=5, scale=2)
    resources = emulator.state()["resources"]
    emulator.reset_counters()
    with _client(emulator, index_page_size=150) as po:
        products = po.product_ids_by_code()
        groups = po.product_group_ids_by_code()
        customers = po.customer_ids_by_reference()
        suppliers = po.supplier_ids_by_reference()
    assert products == {p["Code"]: p["Id"] for p in resources["Products"]}
    assert groups == {g["Code"]: g["Id"] for g in resources["ProductGroups"]}
    assert customers == {
        c["ExternalImportReference"]: c["Id"]
        for c in resources["Customers"]
        if c["ExternalImportReference"]
    }
    assert suppliers == {
        s["ExternalImportReference"]: s["Id"]
        for s in resources["Suppliers"]
        if s["ExternalImportReference"]
    }
    requests = emulator.counters()["requests"]
    assert requests["GET /v2/Products"] == len(resources["Products"]) // 150 + 1


def test_many_products_by_code_in_few_requests(emulator: PowerOfficeEmulatorHandle) -> None:
    emulator.reset(seed=5, scale=2)
    codes = [p["Code"] for p in emulator.state()["resources"]["Products"]]
    emulator.reset_counters()
    with _client(emulator) as po:
        found = po.find_products([*codes, "NOT-THERE"])
    assert sorted(found) == sorted(codes)
    assert emulator.counters()["requests"]["GET /v2/Products"] == 2


def test_records_read_a_whole_collection_raw_a_page_at_a_time(
    emulator: PowerOfficeEmulatorHandle,
) -> None:
    emulator.reset(seed=5, scale=2)
    products = emulator.state()["resources"]["Products"]
    emulator.reset_counters()
    with _client(emulator) as po:
        read = list(po.records("Products", page_size=40))
        ours = list(po.records("SalesOrders", {"onlyCreatedByCurrentIntegration": "true"}))
    assert [r["Id"] for r in read] == [p["Id"] for p in products]
    assert read[0]["Code"] == products[0]["Code"]
    assert ours == []  # the seeded orders were typed in by a bookkeeper
    requests = emulator.counters()["requests"]
    assert requests["GET /v2/Products"] == len(products) // 40 + 1


def test_ids_by_reference_scans_once_for_many_references(po: PowerOfficeClient) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    made = {
        f"ref-{n}": po.create_customer(
            CustomerPost(name=f"Scan {n}", external_import_reference=f"ref-{n}")
        ).id
        for n in range(3)
    }
    found = po.ids_by_reference(
        "Customers", ["ref-0", "ref-2", "ref-absent"], changed_after=before, settle=False
    )
    assert found == {"ref-0": str(made["ref-0"]), "ref-2": str(made["ref-2"])}
    # Nothing changed after a later moment: the scan is bounded by the time filter.
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert po.ids_by_reference("Customers", ["ref-0"], changed_after=later, settle=False) == {}


def test_ids_by_reference_refuses_a_match_without_a_usable_id() -> None:
    def answers(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/OAuth/Token"):
            return httpx.Response(200, json={"access_token": "tok-abcdef", "expires_in": 1200})
        if request.url.params.get("PageNumber", "1") != "1":
            return httpx.Response(204)
        return httpx.Response(200, json=[{"ExternalImportReference": "ref-1", "Id": None}])

    http = build_http_client(base_url="http://po.test/v2", transport=httpx.MockTransport(answers))
    po = PowerOfficeClient(
        http,
        application_key="app-key-123456",
        client_key="client-key-123456",
        subscription_key="sub-key-123456",
        token_url="http://po.test/OAuth/Token",
    )
    # "Absent" would create the record a second time: the scan fails instead.
    with po, pytest.raises(MalformedResponseError, match="ref-1"):
        po.ids_by_reference("SalesOrders", ["ref-1"], changed_after=datetime.now(UTC), settle=False)

"""The answer to a write is read tolerantly: a write that happened never looks failed.

Both clients on ``httpx.MockTransport``: each write method gets a 2xx whose body is not what
the wire model expects (a number where an object was, unexpected types, optional fields
missing, extra fields, no key at all). What the caller needs -- the key -- comes back; the
fields that do not match are a warning naming the resource, the key and the field (never a
value); an answer without its key is an :class:`AmbiguousWriteError` (the record was created,
its key is unknown: look it up), never a :class:`MalformedResponseError`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest

from clients.errors import AmbiguousWriteError
from clients.http import build_http_client
from clients.models import (
    ContactGroupPost,
    CustomerPost,
    PatchOperation,
    PaymentTermPost,
    ProductGroupPost,
    ProductPost,
    RackbeatCustomerCreate,
    RackbeatProductCreate,
    RackbeatProductGroupCreate,
    RackbeatSupplierCreate,
    RackbeatSupplierGroupCreate,
    RackbeatUnitCreate,
    SalesOrderCompletePost,
    SupplierPost,
)
from clients.poweroffice import PowerOfficeClient
from clients.rackbeat import PRODUCTS, RackbeatClient

RB_TOKEN = "rb-token-0123456789"
PO_KEYS = ("app-key-0123456789", "client-key-0123456789", "sub-key-0123456789")
PO_ACCESS_TOKEN = "po-access-0123456789"

Answer = Callable[[httpx.Request], httpx.Response]


class Api:
    """A mock API: answers per ``"METHOD path"``; records every request it saw."""

    def __init__(self, answers: Mapping[str, Answer]) -> None:
        self.answers = dict(answers)
        self.seen: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        route = f"{request.method} {request.url.path}"
        self.seen.append(route)
        answer = self.answers.get(route)
        if answer is None:
            return httpx.Response(404, json={"message": f"no route {route}"})
        return answer(request)


def _json(status: int, body: Any) -> Answer:
    return lambda request: httpx.Response(status, json=body)


def _raw(status: int, content: bytes) -> Answer:
    return lambda request: httpx.Response(status, content=content)


def _rackbeat(api: Api) -> RackbeatClient:
    http = build_http_client(
        base_url="http://rackbeat.test/api/", transport=httpx.MockTransport(api)
    )
    return RackbeatClient(http, token=RB_TOKEN)


def _poweroffice(api: Api) -> PowerOfficeClient:
    api.answers["POST /OAuth/Token"] = _json(
        200, {"access_token": PO_ACCESS_TOKEN, "expires_in": 3600}
    )
    http = build_http_client(base_url="http://po.test/v2/", transport=httpx.MockTransport(api))
    application_key, client_key, subscription_key = PO_KEYS
    return PowerOfficeClient(
        http,
        application_key=application_key,
        client_key=client_key,
        subscription_key=subscription_key,
        token_url="http://po.test/OAuth/Token",
    )


def _no_secret_in(text: str) -> None:
    for secret in (RB_TOKEN, PO_ACCESS_TOKEN, *PO_KEYS):
        assert secret not in text


# --- Rackbeat: one case per write method ------------------------------------------------------


RB_WRITES: dict[str, tuple[str, str, Callable[[RackbeatClient], Any], Any]] = {
    # name: (resource path, envelope key, the write, the key the caller needs)
    "unit": ("units", "unit", lambda c: c.create_unit(RackbeatUnitCreate(name="Each")), 7),
    "product_group": (
        "product-groups",
        "product_group",
        lambda c: c.create_product_group(RackbeatProductGroupCreate(number=1010, name="Widgets")),
        1010,
    ),
    "product": (
        "products",
        "product",
        lambda c: c.create_product(
            RackbeatProductCreate(number="SKU-1", group=1010, name="Widget", sales_price=10)
        ),
        "SKU-1",
    ),
    "supplier_group": (
        "supplier-groups",
        "supplier_group",
        lambda c: c.create_supplier_group(RackbeatSupplierGroupCreate(name="Poweroffice")),
        3,
    ),
    "supplier": (
        "suppliers",
        "supplier",
        lambda c: c.create_supplier(RackbeatSupplierCreate(number=20001, company_name="Lev AS")),
        20001,
    ),
    "customer": (
        "customers",
        "customer",
        lambda c: c.create_customer(RackbeatCustomerCreate(number=10001, company_name="Kunde AS")),
        10001,
    ),
}

RB_MALFORMED: dict[str, dict[str, Any]] = {
    # Fields of the wrong type for each answer's model, plus a field nobody documented.
    "unit": {"name": {"en": "Each"}, "surprise": [1, 2]},
    "product_group": {"name": ["Widgets"], "has_inventory": "perhaps", "vat_domestic": "high"},
    "product": {
        "name": ["Widget"],
        "sales_price": "ten kroner",
        "updated_at": {"when": "now"},
        "unit": "pieces",
        "surprise": True,
    },
    "supplier_group": {"name": {"no": "Poweroffice"}},
    "supplier": {"company_name": ["Lev AS"], "payment_terms_id": "soon", "updated_at": "yesterday"},
    "customer": {"contacts": "none", "general_discount_percentage": "some", "locale": ["nb"]},
}


def _rb_answer(which: str, /, **fields: Any) -> dict[str, Any]:
    _path, item_key, _write, key = RB_WRITES[which]
    return {item_key: {"number": key, **fields}}


@pytest.mark.parametrize("name", sorted(RB_WRITES))
def test_rackbeat_a_create_answer_with_unexpected_types_returns_the_key_and_warns(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    path, item_key, write, key = RB_WRITES[name]
    bad = RB_MALFORMED[name]
    # A re-read of the created record (kinds the sync snapshots) answers it as documented.
    full = {"number": key, "name": "as stored"}
    api = Api(
        {
            f"POST /api/{path}": _json(201, _rb_answer(name, **bad)),
            f"GET /api/{path}/{key}": _json(200, {item_key: full}),
        }
    )
    with caplog.at_level(logging.WARNING, logger="clients"), _rackbeat(api) as client:
        record = write(client)

    assert record.number == key
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    text = warning.getMessage()
    assert path in text
    assert repr(key) in text or str(key) in text
    for field in bad:
        if field != "surprise":  # an unknown field is ignored, as on every read
            assert field in text
    # Field names, never values: the body may hold personal data or anything at all.
    assert "ten kroner" not in text
    assert "perhaps" not in text
    _no_secret_in(caplog.text)
    assert api.seen.count(f"POST /api/{path}") == 1


def test_rackbeat_a_product_answer_with_group_as_a_number_is_read_as_that_group(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The incident: POST products answered "group": 1010 (the write shape) instead of the
    # group object; the product was created and was recorded as failed.
    api = Api({"POST /api/products": _json(201, _rb_answer("product", group=1010, unit_id=3))})
    with caplog.at_level(logging.WARNING, logger="clients"), _rackbeat(api) as client:
        product = RB_WRITES["product"][2](client)

    assert product.number == "SKU-1"
    assert product.group is not None
    assert product.group.number == 1010
    assert product.unit_id == 3
    assert api.seen == ["POST /api/products"]  # the answer was enough: no re-read
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_rackbeat_a_product_read_with_group_and_unit_as_numbers_is_read_as_them() -> None:
    # The lookup after an ambiguous create reads the same shape: it must not fail either.
    api = Api(
        {
            "GET /api/products/SKU-1": _json(
                200, {"product": {"number": "SKU-1", "group": "1010", "unit": 3}}
            )
        }
    )
    with _rackbeat(api) as client:
        product = client.find(PRODUCTS, "SKU-1")

    assert product is not None
    assert (product.group.number, product.unit.number) == (1010, 3)


@pytest.mark.parametrize("name", sorted(RB_WRITES))
def test_rackbeat_a_create_answer_with_only_its_key_or_extra_fields_is_fine(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    path, _item_key, write, key = RB_WRITES[name]
    api = Api({f"POST /api/{path}": _json(201, _rb_answer(name, self="x", added_in_2027={}))})
    with caplog.at_level(logging.WARNING, logger="clients"), _rackbeat(api) as client:
        record = write(client)

    assert record.number == key
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("name", sorted(RB_WRITES))
@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda env: _json(201, {env: {"name": "no number"}}), id="no-number"),
        pytest.param(lambda env: _json(201, {env: {"number": None}}), id="null-number"),
        pytest.param(lambda env: _json(201, {env: {"number": {"n": 1}}}), id="number-object"),
        pytest.param(lambda env: _json(201, {"something_else": {}}), id="no-envelope"),
        pytest.param(lambda env: _json(201, [1, 2]), id="array"),
        pytest.param(lambda env: _raw(201, b""), id="empty"),
        pytest.param(lambda env: _raw(201, b"<html>Created</html>"), id="not-json"),
    ],
)
def test_rackbeat_a_create_answer_without_its_key_is_an_ambiguous_write(
    name: str, answer: Callable[[str], Answer], caplog: pytest.LogCaptureFixture
) -> None:
    path, item_key, write, _key = RB_WRITES[name]
    api = Api({f"POST /api/{path}": answer(item_key)})
    with _rackbeat(api) as client, pytest.raises(AmbiguousWriteError) as caught:
        write(client)

    assert caught.value.method == "POST"
    assert caught.value.status == 201
    assert path in str(caught.value)
    _no_secret_in(str(caught.value) + caplog.text)
    assert api.seen == [f"POST /api/{path}"]  # never sent twice


def test_rackbeat_an_answer_that_is_the_bare_record_is_read() -> None:
    api = Api({"POST /api/customers": _json(201, {"number": 10001, "name": "Kunde AS"})})
    with _rackbeat(api) as client:
        customer = RB_WRITES["customer"][2](client)
    assert customer.number == 10001


def test_rackbeat_a_malformed_answer_is_completed_by_one_read_of_the_record() -> None:
    api = Api(
        {
            "POST /api/products": _json(201, _rb_answer("product", sales_price="ten")),
            "GET /api/products/SKU-1": _json(
                200,
                {
                    "product": {
                        "number": "SKU-1",
                        "name": "Widget",
                        "sales_price": 10.0,
                        "group": {"number": 1010, "has_inventory": True},
                    }
                },
            ),
        }
    )
    with _rackbeat(api) as client:
        product = RB_WRITES["product"][2](client)

    assert (product.name, product.sales_price, product.group.number) == ("Widget", 10.0, 1010)  # type: ignore[union-attr]
    assert api.seen == ["POST /api/products", "GET /api/products/SKU-1"]


def test_rackbeat_when_the_read_after_a_malformed_answer_fails_the_answer_still_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The read lags the write (404) or fails: the record was created all the same.
    api = Api({"POST /api/customers": _json(201, _rb_answer("customer", locale=["nb"]))})
    with caplog.at_level(logging.WARNING, logger="clients"), _rackbeat(api) as client:
        customer = RB_WRITES["customer"][2](client)

    assert customer.number == 10001
    assert customer.locale is None
    assert api.seen == ["POST /api/customers", "GET /api/customers/10001"]
    assert "customers" in caplog.text


# --- PowerOffice Go: one case per write method ------------------------------------------------

_LINE = {"ProductCode": "SKU-1", "Quantity": 1}
PO_WRITES: dict[str, tuple[str, Callable[[PowerOfficeClient], Any], Any]] = {
    # name: (resource path, the write, the Id the caller needs)
    "product": ("Products", lambda c: c.create_product(ProductPost(code="SKU-1", name="W")), 11),
    "product_group": (
        "ProductGroups",
        lambda c: c.create_product_group(ProductGroupPost(code="1010", name="Widgets")),
        12,
    ),
    "customer": ("Customers", lambda c: c.create_customer(CustomerPost(name="Kunde AS")), 13),
    "supplier": ("Suppliers", lambda c: c.create_supplier(SupplierPost(name="Lev AS")), 14),
    "sales_order": (
        "SalesOrders/Complete",
        lambda c: c.create_sales_order(
            SalesOrderCompletePost.model_validate({"CustomerNo": 10001, "SalesOrderLines": [_LINE]})
        ),
        "0b8e5a1c-0000-4000-8000-000000000015",
    ),
    "payment_term": (
        "PaymentTerms",
        lambda c: c.create_payment_term(PaymentTermPost(name="30 dager", credit_days=30)),
        16,
    ),
    "contact_group": (
        "ContactGroups",
        lambda c: c.create_contact_group(ContactGroupPost(name="PowerOffice")),
        17,
    ),
}

PO_MALFORMED: dict[str, dict[str, Any]] = {
    "product": {"Code": {"v": "SKU-1"}, "UnitPrice": "ten kroner", "ProductType": "Gadget"},
    "product_group": {"Name": ["Widgets"], "IsArchived": "perhaps"},
    "customer": {"MailAddress": "Storgata 1", "ContactGroupIds": "all", "Number": "ten"},
    "supplier": {"Number": [1], "Payout": "perhaps", "LastChangedDateTimeOffset": {"x": 1}},
    "sales_order": {"SalesOrderLines": "many", "NetAmount": "ten kroner"},
    "payment_term": {"CreditDays": "thirty", "IsActive": "perhaps"},
    "contact_group": {"Name": {"nb": "PowerOffice"}},
}


@pytest.mark.parametrize("name", sorted(PO_WRITES))
def test_poweroffice_a_create_answer_with_unexpected_types_returns_the_id_and_warns(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    path, write, ident = PO_WRITES[name]
    bad = PO_MALFORMED[name]
    api = Api({f"POST /v2/{path}": _json(201, {"Id": ident, **bad, "Surprise": 1})})
    with caplog.at_level(logging.WARNING, logger="clients"), _poweroffice(api) as client:
        record = write(client)

    assert record.id == ident
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    text = warning.getMessage()
    assert path in text
    assert str(ident) in text
    for field in bad:
        assert field in text
    assert "ten kroner" not in text
    assert "perhaps" not in text
    _no_secret_in(caplog.text)
    assert api.seen.count(f"POST /v2/{path}") == 1


@pytest.mark.parametrize("name", sorted(PO_WRITES))
def test_poweroffice_a_create_answer_with_only_its_id_or_extra_fields_is_fine(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    path, write, ident = PO_WRITES[name]
    api = Api({f"POST /v2/{path}": _json(200, {"id": ident, "AddedIn2027": {"x": 1}})})
    with caplog.at_level(logging.WARNING, logger="clients"), _poweroffice(api) as client:
        record = write(client)

    assert record.id == ident
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("name", sorted(PO_WRITES))
@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(_json(201, {"Name": "no id"}), id="no-id"),
        pytest.param(_json(201, {"Id": None, "Name": "null id"}), id="null-id"),
        pytest.param(_json(201, {"Id": {"value": 5}}), id="id-object"),
        pytest.param(_json(201, [{"Id": 5}]), id="array"),
        pytest.param(_raw(201, b""), id="empty"),
        pytest.param(_raw(200, b"Created"), id="not-json"),
    ],
)
def test_poweroffice_a_create_answer_without_its_id_is_an_ambiguous_write(
    name: str, answer: Answer, caplog: pytest.LogCaptureFixture
) -> None:
    path, write, _ident = PO_WRITES[name]
    api = Api({f"POST /v2/{path}": answer})
    with _poweroffice(api) as client, pytest.raises(AmbiguousWriteError) as caught:
        write(client)

    assert caught.value.method == "POST"
    assert caught.value.status in (200, 201)
    assert path in str(caught.value)
    _no_secret_in(str(caught.value) + caplog.text)
    assert api.seen.count(f"POST /v2/{path}") == 1


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(_raw(204, b""), id="no-content"),
        pytest.param(_raw(200, b"OK"), id="not-json"),
        pytest.param(_json(200, {"Id": "eleven", "Code": ["x"]}), id="malformed"),
    ],
)
def test_poweroffice_a_patch_answer_is_never_read(answer: Answer) -> None:
    api = Api({"PATCH /v2/Products/11": answer})
    with _poweroffice(api) as client:
        client.patch("Products", 11, [PatchOperation(op="replace", path="/Name", value="W")])
    assert api.seen.count("PATCH /v2/Products/11") == 1


def test_poweroffice_a_lookup_after_a_write_reads_past_a_malformed_field(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # After an ambiguous create the pipeline looks the record up; it needs its Id alone.
    found = [{"Id": 11, "Code": "SKU-1", "UnitPrice": "ten kroner", "ProductType": "Gadget"}]
    api = Api({"GET /v2/Products": _json(200, found)})
    with caplog.at_level(logging.WARNING, logger="clients"), _poweroffice(api) as client:
        product = client.find_product("SKU-1", settle=False)

    assert product is not None
    assert product.id == 11
    assert "UnitPrice" in caplog.text
    assert "ten kroner" not in caplog.text


def test_poweroffice_a_lookup_whose_record_has_no_id_is_still_an_error() -> None:
    # Answering "absent" would create the record a second time.
    from clients.errors import MalformedResponseError

    api = Api({"GET /v2/Products": _json(200, [{"Code": "SKU-1"}])})
    with _poweroffice(api) as client, pytest.raises(MalformedResponseError):
        client.find_product("SKU-1", settle=False)


def test_the_mock_api_answers_as_configured() -> None:
    # The helper itself: an unconfigured route is a 404, and bodies go through as given.
    api = Api({"GET /x": _json(200, {"a": 1})})
    assert json.loads(api(httpx.Request("GET", "http://t/x")).content) == {"a": 1}
    assert api(httpx.Request("GET", "http://t/y")).status_code == 404

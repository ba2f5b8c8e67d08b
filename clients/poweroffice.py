"""The PowerOffice Go v2 client: OAuth, paging, creates, JSON-Patch updates, lookups, indexes.

Built on an injected ``httpx.Client`` whose base URL is the v2 API (``.../v2``); the token
endpoint is a separate absolute URL. Authentication is :class:`PowerOfficeAuth`, an
``httpx.Auth`` flow: it attaches the subscription key and a cached bearer token, and on a 401
drops that token, fetches a new one and replays the request exactly once. The token cache
(:mod:`clients.tokens`) renews before expiry and, with Redis, once for the whole fleet.

Lists page with ``PageNumber``/``PageSize`` and end on 204, an empty page or a short one.
Lookups (``codes``, ``externalImportReference``, ``customerNos``/``supplierNos``, the
sales-order scan) re-read for replica lag before they answer "absent" (``settle=False`` skips
that). The bulk index loaders fetch only ``Id`` and the key field, a whole page at a time, so a
full sync needs no lookup per record.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from clients.answers import ambiguous_answer, read_created, salvage
from clients.errors import (
    AuthenticationError,
    ClientError,
    InvalidRequestError,
    MalformedResponseError,
    NotFoundError,
)
from clients.http import Scrubber, send
from clients.models import (
    ClientIntegrationInformation,
    ContactGroup,
    ContactGroupPost,
    Customer,
    CustomerPost,
    GeneralLedgerAccount,
    OutboundModel,
    PatchOperation,
    PaymentTerm,
    PaymentTermPost,
    Product,
    ProductGroup,
    ProductGroupPost,
    ProductPost,
    SalesOrder,
    SalesOrderCompletePost,
    Supplier,
    SupplierPost,
    VatCode,
)
from clients.observer import NO_OBSERVER, ApiObserver
from clients.paging import PageNumberPaginator, PaginationLoopError
from clients.retry import ReplicaLagPolicy, RetryPolicy
from clients.tokens import InProcessTokenCache, TokenCache

__all__ = [
    "BULK_PAGE_SIZE",
    "DEFAULT_INDEX_PAGE_SIZE",
    "DEFAULT_PAGE_SIZE",
    "MAX_FILTER_URL_CHARS",
    "PowerOfficeAuth",
    "PowerOfficeClient",
    "format_offset",
    "wire_field",
]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


def wire_field(record: Mapping[str, Any], name: str) -> Any:
    """A field by wire name; PowerOffice Go's key case is not significant."""
    if name in record:
        return record[name]
    lowered = name.lower()
    for key, value in record.items():
        if key.lower() == lowered:
            return value
    return None


DEFAULT_PAGE_SIZE = 1000
"""Records per page for full records (the API's default is 5000, its maximum 20000)."""

DEFAULT_INDEX_PAGE_SIZE = 5000
"""Records per page for the bulk index loaders, which fetch two small fields per record."""

BULK_PAGE_SIZE = 20000
"""Records per page of a whole-collection read (reconciliation): the API's maximum."""

MAX_FILTER_URL_CHARS = 1500
"""Longer ``codes=`` / ``customerNos=`` values are split: PowerOffice Go reportedly answers a
URL over ~2000 characters with a misleading 404 (docs/api-facts.md, PowerOffice Go 3)."""

SUBSCRIPTION_HEADER = "Ocp-Apim-Subscription-Key"
JSON_PATCH = "application/json-patch+json"


def format_offset(moment: datetime) -> str:
    """An ISO 8601 date-time with offset, as ``...DateTimeOffsetGreaterThan`` filters take."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


class PowerOfficeAuth(httpx.Auth):
    """Subscription key + cached bearer token; on 401, one refresh and one replay."""

    requires_response_body = True  # the 401 is read and released before the token request

    def __init__(
        self,
        *,
        subscription_key: str,
        tokens: TokenCache,
        fetch: Callable[[], tuple[str, float]],
    ) -> None:
        self._subscription_key = subscription_key
        self._tokens = tokens
        self._fetch = fetch

    def token(self) -> str:
        """The cached access token, fetched first when due."""
        return self._tokens.get(self._fetch)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[SUBSCRIPTION_HEADER] = self._subscription_key
        token = self._tokens.get(self._fetch)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            log.info("PowerOffice Go refused the access token: fetching a new one, replaying once")
            self._tokens.invalidate(token)
            token = self._tokens.get(self._fetch)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request


class PowerOfficeClient:
    """PowerOffice Go v2 over one ``httpx.Client``; options keyword-only with named defaults."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        application_key: str,
        client_key: str,
        subscription_key: str,
        token_url: str,
        tokens: TokenCache | None = None,
        retry: RetryPolicy | None = None,
        replica_lag: ReplicaLagPolicy | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        index_page_size: int = DEFAULT_INDEX_PAGE_SIZE,
        observer: ApiObserver = NO_OBSERVER,
    ) -> None:
        basic = base64.b64encode(f"{application_key}:{client_key}".encode()).decode()
        self._http = http
        self._token_url = token_url
        self._basic = f"Basic {basic}"
        self._subscription_key = subscription_key
        self._scrub = Scrubber([application_key, client_key, subscription_key, basic])
        self._retry = retry or RetryPolicy()
        self._lag = replica_lag or ReplicaLagPolicy()
        self._page_size = page_size
        self._index_page_size = index_page_size
        self._auth = PowerOfficeAuth(
            subscription_key=subscription_key,
            tokens=tokens or InProcessTokenCache(),
            fetch=self._fetch_token,
        )
        self._observer = observer
        self.token_requests = 0
        """Token requests this client made (for benchmarks and tests)."""

    @property
    def replica_lag_seconds(self) -> float:
        """How long after a write a lookup re-reads an absence (the replica-lag policy)."""
        return self._lag.window_seconds

    def close(self) -> None:
        """Close the underlying ``httpx.Client`` and its connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- plumbing -------------------------------------------------------------------------

    def _fetch_token(self) -> tuple[str, float]:
        """``POST`` the client-credentials grant; ``(access_token, expires_in)``. The observer
        hears of every request and whether it gave a token."""
        try:
            fetched = self._request_token()
        except ClientError:
            self._observer.token_fetched(False)
            raise
        self._observer.token_fetched(True)
        return fetched

    def _request_token(self) -> tuple[str, float]:
        request = self._http.build_request(
            "POST",
            self._token_url,
            data={"grant_type": "client_credentials"},
            headers={"Authorization": self._basic, SUBSCRIPTION_HEADER: self._subscription_key},
        )
        self.token_requests += 1
        try:
            response = send(self._http, request, scrub=self._scrub)
        except (InvalidRequestError, NotFoundError) as exc:
            # 400 invalid_client: the keys do not match this environment; not a data problem.
            raise AuthenticationError(
                "the token endpoint refused the credentials",
                method=exc.method,
                path=exc.path,
                status=exc.status,
                request_id=exc.request_id,
                body_excerpt=exc.body_excerpt,
            ) from exc
        try:
            body = response.json()
            token = str(body["access_token"])
            expires_in = float(body.get("expires_in") or 0)
        except (ValueError, KeyError, TypeError) as exc:
            raise MalformedResponseError(
                "the token answer has no access_token", method="POST", path=request.url.path
            ) from exc
        if expires_in <= 0:
            raise MalformedResponseError(
                "the token answer has no positive expires_in", method="POST", path=request.url.path
            )
        self._scrub.add(token)
        return token, expires_in

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        content_type: str | None = None,
    ) -> httpx.Response:
        def attempt() -> httpx.Response:
            headers = {"Content-Type": content_type} if content_type else None
            request = self._http.build_request(
                method, path, params=params, json=json, headers=headers
            )
            return send(self._http, request, scrub=self._scrub, auth=self._auth)

        return self._retry.call(attempt)

    def _json(self, response: httpx.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise MalformedResponseError(
                "the body is not JSON",
                method=response.request.method,
                path=response.request.url.path,
                status=response.status_code,
            ) from exc

    def _parse(self, model: type[M], data: Any, *, method: str, path: str) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            ident = data.get("Id", data.get("id")) if isinstance(data, Mapping) else None
            raise MalformedResponseError(
                f"{model.__name__} {ident!r} does not match the documented shape: "
                f"{exc.errors(include_url=False, include_input=False)}",
                method=method,
                path=path,
            ) from exc

    def _pages(
        self,
        path: str,
        params: Mapping[str, str | int] | None = None,
        *,
        page_size: int | None = None,
    ) -> Iterator[list[Mapping[str, Any]]]:
        """The raw records of a list, one page at a time."""
        paginator = PageNumberPaginator(page_size=page_size or self._page_size)
        while True:
            query = {
                **(params or {}),
                "PageNumber": paginator.page,
                "PageSize": paginator.page_size,
            }
            response = self._call("GET", path, params=query)
            body = self._json(response)
            items = body if body is not None else []
            if not isinstance(items, list):
                raise MalformedResponseError(
                    "the list is not a JSON array", method="GET", path=path
                )
            if items:
                yield items
            first = items[0] if items else None
            first_key = wire_field(first, "Id") if isinstance(first, Mapping) else None
            try:
                more = paginator.advance(
                    status=response.status_code, item_count=len(items), first_key=first_key
                )
            except PaginationLoopError as exc:
                raise MalformedResponseError(str(exc), method="GET", path=path) from exc
            if not more:
                return

    def _iter(
        self, path: str, model: type[M], params: Mapping[str, str | int] | None = None
    ) -> Iterator[M]:
        for items in self._pages(path, params):
            for item in items:
                yield self._parse(model, item, method="GET", path=path)

    def _iter_for_lookup(
        self, path: str, model: type[M], params: Mapping[str, str | int] | None = None
    ) -> Iterator[M]:
        """Like :meth:`_iter`, for lookups: the caller needs a record's ``Id`` (after a create
        in doubt, to know whether it landed), so a field that does not match the model is
        ignored with a warning instead of failing the lookup. A record without a usable
        ``Id`` still fails it: answering "absent" would create the record twice."""
        for items in self._pages(path, params):
            for item in items:
                try:
                    found = salvage(model, item)
                except ValidationError:
                    # No usable Id: the strict parse raises with the documented story.
                    yield self._parse(model, item, method="GET", path=path)
                    continue
                if found.ignored:
                    log.warning(
                        "PowerOffice Go GET %s: record %r does not match %s; these fields "
                        "were ignored: %s",
                        path,
                        getattr(found.record, "id", None),
                        model.__name__,
                        found.describe(),
                    )
                yield found.record

    def _get(self, path: str, model: type[M]) -> M:
        response = self._call("GET", path)
        return self._parse(model, self._json(response), method="GET", path=path)

    def _create(self, path: str, model: type[M], payload: OutboundModel) -> M:
        """POST a record; the record created, read tolerantly (:mod:`clients.answers`): the
        caller needs its ``Id``, and without one the create is ambiguous."""
        response = self._call("POST", path, json=payload.to_wire())
        where = response.request.url.path
        status = response.status_code
        if status == 204 or not response.content:
            raise ambiguous_answer(
                "an empty body", api="PowerOffice Go", method="POST", path=where, status=status
            )
        try:
            data = response.json()
        except ValueError:
            raise ambiguous_answer(
                "a body that is not JSON",
                api="PowerOffice Go",
                method="POST",
                path=where,
                status=status,
            ) from None
        created = read_created(
            model, data, key="id", api="PowerOffice Go", method="POST", path=where, status=status
        )
        return created.record

    def _first(
        self,
        path: str,
        model: type[M],
        params: Mapping[str, str | int],
        matches: Callable[[M], bool],
        *,
        settle: bool,
    ) -> M | None:
        """The first record the filter returns that really matches: a deployment that ignores
        a filter answers with everything, so what comes back is checked, not trusted."""

        def lookup() -> M | None:
            for item in self._iter_for_lookup(path, model, params):
                if matches(item):
                    return item
            return None

        return self._lag.settle(lookup) if settle else lookup()

    # --- lists ----------------------------------------------------------------------------

    def iter_products(self, **filters: str | int) -> Iterator[Product]:
        """Every product (``filters``: the spec's query filters, e.g. ``productGroupCodes``)."""
        return self._iter("Products", Product, filters)

    def iter_product_groups(self, **filters: str | int) -> Iterator[ProductGroup]:
        return self._iter("ProductGroups", ProductGroup, filters)

    def iter_customers(self, **filters: str | int) -> Iterator[Customer]:
        return self._iter("Customers", Customer, filters)

    def iter_suppliers(self, **filters: str | int) -> Iterator[Supplier]:
        return self._iter("Suppliers", Supplier, filters)

    def iter_sales_orders(self, **filters: str | int) -> Iterator[SalesOrder]:
        return self._iter("SalesOrders", SalesOrder, filters)

    def iter_payment_terms(self, **filters: str | int) -> Iterator[PaymentTerm]:
        return self._iter("PaymentTerms", PaymentTerm, filters)

    def iter_contact_groups(self, **filters: str | int) -> Iterator[ContactGroup]:
        return self._iter("ContactGroups", ContactGroup, filters)

    def iter_general_ledger_accounts(self, **filters: str | int) -> Iterator[GeneralLedgerAccount]:
        return self._iter("GeneralLedgerAccounts", GeneralLedgerAccount, filters)

    def iter_vat_codes(self, **filters: str | int) -> Iterator[VatCode]:
        return self._iter("VatCodes", VatCode, filters)

    def authenticate(self) -> None:
        """Make sure an access token is at hand: fetched from the token URL when none is cached.

        Every call does this on its way; calling it first tells a failing token endpoint (its
        own URL, the credentials) apart from a failing API (the base URL): ``rbsync check``
        names the setting at fault. Retried like any call; the token itself is never returned.
        """
        self._retry.call(self._auth.token)

    def client_integration_information(self) -> ClientIntegrationInformation:
        """Connectivity and privileges (``GET /ClientIntegrationInformation``)."""
        return self._get("ClientIntegrationInformation", ClientIntegrationInformation)

    # --- one record -----------------------------------------------------------------------

    def get_product(self, product_id: int) -> Product:
        return self._get(f"Products/{product_id}", Product)

    def get_product_group(self, group_id: int) -> ProductGroup:
        return self._get(f"ProductGroups/{group_id}", ProductGroup)

    def get_customer(self, customer_id: int) -> Customer:
        return self._get(f"Customers/{customer_id}", Customer)

    def get_supplier(self, supplier_id: int) -> Supplier:
        return self._get(f"Suppliers/{supplier_id}", Supplier)

    def get_sales_order(self, order_id: str) -> SalesOrder:
        """A sales order with its lines (``GET /SalesOrders/{id}/Complete``)."""
        return self._get(f"SalesOrders/{order_id}/Complete", SalesOrder)

    # --- creates --------------------------------------------------------------------------

    def create_product(self, payload: ProductPost) -> Product:
        """``POST /Products`` (answers 200, not 201)."""
        return self._create("Products", Product, payload)

    def create_product_group(self, payload: ProductGroupPost) -> ProductGroup:
        return self._create("ProductGroups", ProductGroup, payload)

    def create_customer(self, payload: CustomerPost) -> Customer:
        return self._create("Customers", Customer, payload)

    def create_supplier(self, payload: SupplierPost) -> Supplier:
        return self._create("Suppliers", Supplier, payload)

    def create_sales_order(self, payload: SalesOrderCompletePost) -> SalesOrder:
        """``POST /SalesOrders/Complete``: a draft with its lines, in one call."""
        return self._create("SalesOrders/Complete", SalesOrder, payload)

    def create_payment_term(self, payload: PaymentTermPost) -> PaymentTerm:
        return self._create("PaymentTerms", PaymentTerm, payload)

    def create_contact_group(self, payload: ContactGroupPost) -> ContactGroup:
        return self._create("ContactGroups", ContactGroup, payload)

    # --- updates (JSON-Patch) -------------------------------------------------------------

    def patch(
        self, resource: str, record_id: int | str, operations: Iterable[PatchOperation]
    ) -> None:
        """``PATCH /{resource}/{id}`` with the given ``replace`` operations.

        The operations come from the mapping (``mapping.patch_operations``: only the fields
        that changed since the last written payload, on the resource's PatchDto paths).
        """
        body = [operation.to_wire() for operation in operations]
        self._call("PATCH", f"{resource}/{record_id}", json=body, content_type=JSON_PATCH)

    # --- lookups --------------------------------------------------------------------------

    def find_product(self, code: str, *, settle: bool = True) -> Product | None:
        """The product with this ``Code`` (``GET /Products?codes=``), or ``None``."""
        return self._first(
            "Products", Product, {"codes": code}, lambda p: p.code == code, settle=settle
        )

    def find_product_group(self, code: str, *, settle: bool = True) -> ProductGroup | None:
        """The product group with this ``Code`` (``GET /ProductGroups?codes=``), or ``None``."""
        return self._first(
            "ProductGroups", ProductGroup, {"codes": code}, lambda g: g.code == code, settle=settle
        )

    def find_customer(self, reference: str, *, settle: bool = True) -> Customer | None:
        """The customer with this ``ExternalImportReference``, or ``None``."""
        return self._first(
            "Customers",
            Customer,
            {"externalImportReference": reference},
            lambda c: c.external_import_reference == reference,
            settle=settle,
        )

    def find_customer_by_number(self, number: int, *, settle: bool = True) -> Customer | None:
        """The customer with this ``Number`` (``customerNos``), or ``None``."""
        return self._first(
            "Customers",
            Customer,
            {"customerNos": str(number)},
            lambda c: c.number == number,
            settle=settle,
        )

    def find_supplier(self, reference: str, *, settle: bool = True) -> Supplier | None:
        """The supplier with this ``ExternalImportReference``, or ``None``."""
        return self._first(
            "Suppliers",
            Supplier,
            {"externalImportReference": reference},
            lambda s: s.external_import_reference == reference,
            settle=settle,
        )

    def find_supplier_by_number(self, number: int, *, settle: bool = True) -> Supplier | None:
        """The supplier with this ``Number`` (``supplierNos``), or ``None``."""
        return self._first(
            "Suppliers",
            Supplier,
            {"supplierNos": str(number)},
            lambda s: s.number == number,
            settle=settle,
        )

    def find_sales_order(
        self, reference: str, *, changed_after: datetime, settle: bool = True
    ) -> SalesOrder | None:
        """The draft this integration created with ``ExternalImportReference == reference``.

        ``GET /SalesOrders`` has no reference filter: the orders this integration changed
        after ``changed_after`` (just before the create was attempted) are scanned instead.
        """
        params: dict[str, str | int] = {
            "onlyCreatedByCurrentIntegration": "true",
            "lastChangedDateTimeOffsetGreaterThan": format_offset(changed_after),
        }
        return self._first(
            "SalesOrders",
            SalesOrder,
            params,
            lambda o: o.external_import_reference == reference,
            settle=settle,
        )

    def find_payment_term(self, credit_days: int, *, settle: bool = True) -> PaymentTerm | None:
        """An active payment term with these credit days (R-CUST-9), or ``None``.

        A scan (the API has no filter for it); like every lookup it re-reads for replica lag
        before answering "absent" unless ``settle`` is False.
        """

        def lookup() -> PaymentTerm | None:
            for term in self._iter_for_lookup("PaymentTerms", PaymentTerm):
                if term.credit_days == credit_days and term.is_active is not False:
                    return term
            return None

        return self._lag.settle(lookup) if settle else lookup()

    def find_contact_group(self, name: str, *, settle: bool = True) -> ContactGroup | None:
        """The contact group with this name (R-SUP-9; compared case-insensitively).

        A scan; re-read for replica lag before answering "absent" unless ``settle`` is False.
        """
        wanted = name.casefold()

        def lookup() -> ContactGroup | None:
            for group in self._iter_for_lookup("ContactGroups", ContactGroup):
                if group.name is not None and group.name.casefold() == wanted:
                    return group
            return None

        return self._lag.settle(lookup) if settle else lookup()

    def find_products(self, codes: Iterable[str], *, settle: bool = False) -> dict[str, Product]:
        """Many products by code in as few requests as the URL length allows; with ``settle``,
        the codes not found are re-read for replica lag (once for all) before they count as
        absent."""

        def lookup(wanted_codes: list[str]) -> dict[str, Product]:
            found: dict[str, Product] = {}
            for chunk in _chunks(wanted_codes):
                wanted = set(chunk)
                for product in self._iter("Products", Product, {"codes": ",".join(chunk)}):
                    if product.code in wanted:
                        found[product.code] = product
            return found

        codes = list(codes)
        return self._lag.settle_many(lookup, codes) if settle else lookup(codes)

    def ids_by_reference(
        self,
        resource: str,
        references: Iterable[str],
        *,
        changed_after: datetime,
        filters: Mapping[str, str | int] | None = None,
        settle: bool = True,
    ) -> dict[str, str]:
        """``ExternalImportReference`` -> ``Id`` (as text: a sales order's is a GUID) of the
        ``resource`` records (Customers, Suppliers, SalesOrders) with one of ``references``,
        among those changed after ``changed_after``: one scan answers many lookups (a batch's
        creates in doubt), where one lookup per reference would wait out replica lag once each.
        With ``settle``, the references not found are re-read (once for all) before they count
        as absent.

        A matching record without a usable ``Id`` fails the scan: answering "absent" for it
        would create the record twice.
        """
        params: dict[str, str | int] = {
            **(filters or {}),
            "lastChangedDateTimeOffsetGreaterThan": format_offset(changed_after),
            "Fields": "Id,ExternalImportReference",
        }

        def lookup(wanted_references: list[str]) -> dict[str, str]:
            wanted = set(wanted_references)
            found: dict[str, str] = {}
            for items in self._pages(resource, params, page_size=self._index_page_size):
                for item in items:
                    reference = wire_field(item, "ExternalImportReference")
                    if reference is None or str(reference) not in wanted:
                        continue
                    ident = wire_field(item, "Id")
                    usable = isinstance(ident, int | str) and not isinstance(ident, bool)
                    if not usable or not str(ident).strip():
                        raise MalformedResponseError(
                            f"a record with ExternalImportReference {reference!r} has no usable Id",
                            method="GET",
                            path=resource,
                        )
                    found[str(reference)] = str(ident)
            return found

        wanted = list(references)
        return self._lag.settle_many(lookup, wanted) if settle else lookup(wanted)

    # --- bulk indexes ---------------------------------------------------------------------

    def records(
        self,
        resource: str,
        filters: Mapping[str, str | int] | None = None,
        *,
        page_size: int = BULK_PAGE_SIZE,
    ) -> Iterator[Mapping[str, Any]]:
        """Every record of the list ``resource`` as its raw wire body, ``page_size`` a request
        (the API's maximum by default: 100,000 products are five requests and a last one).

        For a whole-collection comparison (``rbsync reconcile``): nothing is parsed into a
        model, so a field PowerOffice Go added or shaped otherwise cannot fail the read.
        """
        for items in self._pages(resource, filters, page_size=page_size):
            for item in items:
                if not isinstance(item, Mapping):
                    raise MalformedResponseError(
                        "a list item is not a JSON object", method="GET", path=resource
                    )
                yield item

    def _index(self, path: str, key_field: str) -> dict[str, int]:
        index: dict[str, int] = {}
        params = {"Fields": f"Id,{key_field}"}
        for items in self._pages(path, params, page_size=self._index_page_size):
            for item in items:
                key = wire_field(item, key_field)
                ident = wire_field(item, "Id")
                if key is not None and ident is not None:
                    index[str(key)] = int(ident)
        return index

    def product_ids_by_code(self) -> dict[str, int]:
        """Every product's ``Code -> Id``."""
        return self._index("Products", "Code")

    def product_group_ids_by_code(self) -> dict[str, int]:
        """Every product group's ``Code -> Id``."""
        return self._index("ProductGroups", "Code")

    def customer_ids_by_reference(self) -> dict[str, int]:
        """Every customer's ``ExternalImportReference -> Id`` (those that have one)."""
        return self._index("Customers", "ExternalImportReference")

    def supplier_ids_by_reference(self) -> dict[str, int]:
        """Every supplier's ``ExternalImportReference -> Id`` (those that have one)."""
        return self._index("Suppliers", "ExternalImportReference")


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    """Unique values in groups whose comma-joined length stays under the URL budget."""
    chunk: list[str] = []
    length = 0
    for value in dict.fromkeys(values):
        if chunk and length + len(quote(value, safe="")) + 1 > MAX_FILTER_URL_CHARS:
            yield chunk
            chunk, length = [], 0
        chunk.append(value)
        length += len(quote(value, safe="")) + 1
    if chunk:
        yield chunk

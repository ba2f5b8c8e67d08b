"""The Rackbeat REST client: streaming lists, change detection, the initial-sync writes.

Built on an injected ``httpx.Client`` (see :func:`clients.http.build_http_client`), whose base
URL is Rackbeat's ``.../api/``. Every call goes through :func:`clients.http.send` (errors by
recovery intent) inside the :class:`~clients.retry.RetryPolicy`.

Lists stream page by page (``limit`` = :data:`DEFAULT_PAGE_SIZE`; 206 is success) and never
hold a catalogue in memory. :meth:`RackbeatClient.changed_since` finds what changed since a
moment, in one of two ways per endpoint, chosen by a probe rather than a hard-coded list:

- the endpoint honours ``updated_at_from``: pages sorted by ``updated_at`` ascending, read as
  a keyset (each page restarts one second before the newest timestamp seen, duplicates
  dropped), so a record that changes while we page cannot shift another one out of sight;
- it ignores the filter (a probe with a timestamp in the future still returns records): a
  cheap scan with ``fields=number,updated_at``, then a full fetch of only the changed records,
  yielded in ascending ``updated_at`` order.

Inferred choices live in one place each: :func:`item_segment` (double URL-encoding of item
numbers), :func:`format_since` (``YYYY-MM-DD HH:MM:SS`` in UTC) and :data:`NAIVE_TIMEZONE`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from clients.answers import ambiguous_answer, read_created
from clients.errors import (
    ClientError,
    InvalidRequestError,
    MalformedResponseError,
    NotFoundError,
)
from clients.http import Scrubber, send
from clients.models import (
    InboundModel,
    OutboundModel,
    RackbeatCustomer,
    RackbeatCustomerContact,
    RackbeatCustomerCreate,
    RackbeatCustomerInvoice,
    RackbeatEmployee,
    RackbeatLot,
    RackbeatLotLine,
    RackbeatOrder,
    RackbeatPaymentTerms,
    RackbeatProduct,
    RackbeatProductCreate,
    RackbeatProductGroup,
    RackbeatProductGroupCreate,
    RackbeatSupplier,
    RackbeatSupplierCreate,
    RackbeatSupplierGroupCreate,
    RackbeatUnit,
    RackbeatUnitCreate,
)
from clients.paging import PaginationLoopError, RackbeatPaginator, has_last_page
from clients.probes import InProcessProbeStore, ProbeStore
from clients.retry import RetryPolicy

__all__ = [
    "BOOKED_INVOICES",
    "CUSTOMERS",
    "DEFAULT_PAGE_SIZE",
    "EMPLOYEES",
    "LOTS",
    "NAIVE_TIMEZONE",
    "ORDERS",
    "PAYMENT_TERMS",
    "PRODUCTS",
    "PRODUCT_GROUPS",
    "SCAN_PAGE_SIZE",
    "SUPPLIERS",
    "SUPPLIER_GROUPS",
    "UNITS",
    "RackbeatClient",
    "RackbeatResource",
    "RackbeatSupplierGroup",
    "RackbeatWebhook",
    "format_since",
    "item_segment",
]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

DEFAULT_PAGE_SIZE = 200
"""200, as the official SDK's ``all()`` pages; the maximum is unsure (docs/api-facts.md,
Rackbeat 3)."""

SCAN_PAGE_SIZE = 1000
"""Records per page of a key scan (``fields=number,updated_at``: a few bytes a record). One
SDK states "(max 1000, min 1)" (api-facts.md, Rackbeat 3); a server that refuses it with a 422
is scanned at :data:`DEFAULT_PAGE_SIZE` instead."""

NAIVE_TIMEZONE = UTC
"""A Rackbeat timestamp without an offset is read as UTC [inferred: no source states the zone;
docs/api-facts.md, Rackbeat 6]."""

PROBE_AHEAD = timedelta(days=365 * 100)
"""The filter probe asks for records changed a century from now: an honouring endpoint has none
(far ahead, so that a clock set forward, as in a sandbox, cannot make records qualify)."""

PROBE_TTL_SECONDS = 3600.0
"""How long a probe's answer is trusted before the endpoint is probed again."""

KEYSET_OVERLAP = timedelta(seconds=1)
"""Each keyset page restarts this far before the newest ``updated_at`` seen: timestamps have
second resolution, and ``updated_at_from`` may be inclusive or exclusive (not documented)."""


class RackbeatSupplierGroup(InboundModel):
    """A supplier group (``GET supplier-groups``): ``number`` and ``name``."""

    number: int
    name: str | None = None


Completion = Literal["lot_lines", "customer_contacts"]
"""What a record of a resource needs besides its own endpoint to be complete."""


class RackbeatWebhook(InboundModel):
    """A webhook registered with Rackbeat. ``token`` comes only in the answer that created it
    (a secret: store it, never print it)."""

    id: int
    event: str
    url: str
    is_active: bool = True
    failures_since_last_success: int = 0
    token: SecretStr | None = None


@dataclass(frozen=True)
class RackbeatResource:
    """One Rackbeat collection: its path, envelope keys, model and fixed list filters.

    ``string_key``: keyed by an item number (a path segment, double-encoded) rather than an
    integer number. ``complete``: what a record needs fetched besides itself (a BOM's lines, a
    customer's contacts when it has no invoice e-mail). An entity kind names the resource it
    is polled from (``kinds/``); the client knows nothing of kinds.
    """

    path: str
    list_key: str
    item_key: str
    model: type[InboundModel]
    string_key: bool = False
    filters: tuple[tuple[str, str], ...] = ()
    scan_fields: str = "number,updated_at"
    complete: Completion | None = None


PRODUCTS = RackbeatResource("products", "products", "product", RackbeatProduct, string_key=True)
LOTS = RackbeatResource("lots", "lots", "lot", RackbeatLot, string_key=True, complete="lot_lines")
CUSTOMERS = RackbeatResource(
    "customers", "customers", "customer", RackbeatCustomer, complete="customer_contacts"
)
BOOKED_INVOICES = RackbeatResource(
    "customer-invoices",
    "customer_invoices",
    "customer_invoice",
    RackbeatCustomerInvoice,
    filters=(("is_booked", "true"),),
    scan_fields="number,updated_at,is_booked",
)
SUPPLIERS = RackbeatResource("suppliers", "suppliers", "supplier", RackbeatSupplier)
PRODUCT_GROUPS = RackbeatResource(
    "product-groups", "product_groups", "product_group", RackbeatProductGroup
)
UNITS = RackbeatResource("units", "units", "unit", RackbeatUnit)
SUPPLIER_GROUPS = RackbeatResource(
    "supplier-groups", "supplier_groups", "supplier_group", RackbeatSupplierGroup
)
# The singular key is inferred from the SDK's plural rule (api-facts.md, Rackbeat 2), like the
# emulator's; the sync only lists payment terms.
PAYMENT_TERMS = RackbeatResource(
    "payment-terms", "payment_terms", "payment_term", RackbeatPaymentTerms
)
EMPLOYEES = RackbeatResource("employees", "employees", "employee", RackbeatEmployee)
ORDERS = RackbeatResource("orders", "orders", "order", RackbeatOrder)
WEBHOOKS = RackbeatResource("webhooks", "webhooks", "webhook", RackbeatWebhook)
ENTITY_RESOURCES = frozenset({PRODUCTS, LOTS, CUSTOMERS, BOOKED_INVOICES, SUPPLIERS})
"""The resources whose records the sync keeps snapshots of (a create's answer is read back
complete when fields had to be dropped)."""


def item_segment(number: str) -> str:
    """A product / BOM number as a path segment: double URL-encoded (api-facts.md, Rackbeat 5).

    ``AB/100`` -> ``AB%252F100``; the server decodes once for routing and once for the number.
    Equal to the ``urlfriendly_number`` Rackbeat serves, so either may be used.
    """
    return quote(quote(number, safe=""), safe="")


def format_since(moment: datetime) -> str:
    """``updated_at_from``'s documented format, ``YYYY-MM-DD HH:MM:SS``, in UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=NAIVE_TIMEZONE)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=NAIVE_TIMEZONE)


_NEVER = datetime.min.replace(tzinfo=UTC)
_UNDATED = datetime.max.replace(tzinfo=UTC)
"""Stands for "no ``updated_at``" in the keyset's memory of what was yielded."""


def _matches(item: Mapping[str, Any], filters: tuple[tuple[str, str], ...]) -> bool:
    """Whether a scanned item passes the resource's fixed filters (when it carries the field)."""
    return all(str(item[name]).lower() == value for name, value in filters if name in item)


def _key_of(record: BaseModel) -> str:
    return str(getattr(record, "number", ""))


class _BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>``, kept out of the client's default headers."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


class RackbeatClient:
    """Rackbeat over one ``httpx.Client``; every option keyword-only, with named defaults."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        token: str,
        consumer_name: str = "rbsync",
        consumer_contact: str = "ops@rbsync.invalid",
        retry: RetryPolicy | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        probe_ttl_seconds: float = PROBE_TTL_SECONDS,
        probes: ProbeStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._auth = _BearerAuth(token)
        self._scrub = Scrubber([token])
        self._retry = retry or RetryPolicy()
        self._page_size = page_size
        self._probe_ttl = probe_ttl_seconds
        self._headers = {
            "Consumer-Name": consumer_name,
            "Consumer-Contact": consumer_contact,
            "Content-Type": "application/json",
        }
        self._probes = probes if probes is not None else InProcessProbeStore(clock=clock)

    def close(self) -> None:
        """Close the underlying ``httpx.Client`` and its connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- plumbing -------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        def attempt() -> httpx.Response:
            request = self._http.build_request(
                method, url, params=params, json=json, headers=self._headers
            )
            return send(self._http, request, scrub=self._scrub, auth=self._auth)

        return self._retry.call(attempt)

    def _call(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
    ) -> Any:
        """A read: the body as JSON."""
        response = self._send(method, url, params=params)
        try:
            return response.json()
        except ValueError as exc:
            raise MalformedResponseError(
                "the body is not JSON",
                method=method,
                path=url,
                status=response.status_code,
                body_excerpt=self._scrub(response.text[:200]),
            ) from exc

    def _parse(self, model: type[M], data: Any, *, method: str, path: str) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            key = data.get("number") if isinstance(data, Mapping) else None
            raise MalformedResponseError(
                f"{model.__name__} {key!r} does not match the documented shape: "
                f"{exc.errors(include_url=False, include_input=False)}",
                method=method,
                path=path,
            ) from exc

    def _items(self, resource: RackbeatResource, envelope: Any) -> list[Any]:
        """The records of one list page (the envelope's plural key)."""
        items = envelope.get(resource.list_key) if isinstance(envelope, Mapping) else None
        if not isinstance(items, list):
            raise MalformedResponseError(
                f"the list has no {resource.list_key!r} array", method="GET", path=resource.path
            )
        return items

    def _pages(
        self,
        resource: RackbeatResource,
        params: Mapping[str, str | int] | None = None,
        *,
        limit: int | None = None,
    ) -> Iterator[list[Any]]:
        """The raw items of a list, one page at a time (``limit`` a page: the client's own
        page size unless given)."""
        size = limit or self._page_size
        paginator = RackbeatPaginator(limit=size)
        while True:
            query = {**dict(resource.filters), **(params or {})}
            query.update(page=paginator.page, limit=size)
            envelope = self._call("GET", resource.path, params=query)
            items = self._items(resource, envelope)
            yield items
            try:
                more = paginator.advance(envelope, len(items))
            except PaginationLoopError as exc:
                raise MalformedResponseError(str(exc), method="GET", path=resource.path) from exc
            if not more:
                return

    def _iter(
        self, resource: RackbeatResource, params: Mapping[str, str | int] | None = None
    ) -> Iterator[Any]:
        for items in self._pages(resource, params):
            for item in items:
                yield self._parse(resource.model, item, method="GET", path=resource.path)

    def _one_path(self, resource: RackbeatResource, key: str | int) -> str:
        segment = item_segment(str(key)) if resource.string_key else quote(str(key), safe="")
        return f"{resource.path}/{segment}"

    def _get_one(self, resource: RackbeatResource, key: str | int) -> Any:
        path = self._one_path(resource, key)
        envelope = self._call("GET", path)
        data = envelope.get(resource.item_key) if isinstance(envelope, Mapping) else None
        if not isinstance(data, Mapping):
            raise MalformedResponseError(
                f"no {resource.item_key!r} object", method="GET", path=path
            )
        return self._parse(resource.model, data, method="GET", path=path)

    def _create(self, resource: RackbeatResource, payload: OutboundModel) -> Any:
        """POST a record; the record created, read tolerantly (:mod:`clients.answers`).

        The answer is only read for what the caller needs: the record's ``number``. Without
        it the create is ambiguous (:class:`~clients.errors.AmbiguousWriteError`). When fields
        of a synced kind had to be ignored, the record is read back once, so that the caller
        (the initial sync's snapshot) gets it whole; if that read fails, the answer serves.
        """
        path = resource.path
        response = self._send("POST", path, json=payload.to_wire())
        status = response.status_code
        try:
            envelope = response.json()
        except ValueError:
            raise ambiguous_answer(
                "a body that is not JSON", api="Rackbeat", method="POST", path=path, status=status
            ) from None
        data = envelope.get(resource.item_key) if isinstance(envelope, Mapping) else None
        if data is None and isinstance(envelope, Mapping) and "number" in envelope:
            data = envelope  # the record without its envelope: read it all the same
        created = read_created(
            resource.model,
            data,
            key="number",
            api="Rackbeat",
            method="POST",
            path=path,
            status=status,
        )
        if not created.ignored or resource not in ENTITY_RESOURCES:
            return created.record
        key = created.record.number  # type: ignore[attr-defined]
        try:
            return self._get_one(resource, key)
        except ClientError as exc:
            log.warning(
                "Rackbeat %s %r: reading the created record back failed (%s); "
                "using what the create answered",
                path,
                key,
                type(exc).__name__,
            )
            return created.record

    # --- lists ----------------------------------------------------------------------------

    def whoami(self) -> Mapping[str, Any]:
        """``GET self``: the account and user the token belongs to (a connectivity check).

        The body is ``{"user_account": {...}, "user": {...}}``; it is returned as sent.
        """
        answer = self._call("GET", "self")
        if not isinstance(answer, Mapping):
            raise MalformedResponseError(
                "the body is not a JSON object", method="GET", path="self", status=200
            )
        return answer

    def iter_products(self, **params: str | int) -> Iterator[RackbeatProduct]:
        """Every product, page by page (``params`` are extra query filters)."""
        return self._iter(PRODUCTS, params)

    def iter_lots(self, *, with_lines: bool = True, **params: str | int) -> Iterator[RackbeatLot]:
        """Every BOM; with its component lines (fetched when the list does not embed them)."""
        for lot in self._iter(LOTS, params):
            yield self._with_lines(lot) if with_lines else lot

    def iter_lot_lines(self, number: str) -> Iterator[RackbeatLotLine]:
        """The component lines of one BOM (``GET lots/{number}/lines``)."""
        resource = RackbeatResource(
            f"lots/{item_segment(number)}/lines", "lines", "line", RackbeatLotLine
        )
        for items in self._pages(resource):
            for item in items:
                yield self._parse(RackbeatLotLine, item, method="GET", path=resource.path)

    def iter_product_groups(self, **params: str | int) -> Iterator[RackbeatProductGroup]:
        return self._iter(PRODUCT_GROUPS, params)

    def iter_units(self, **params: str | int) -> Iterator[RackbeatUnit]:
        return self._iter(UNITS, params)

    def iter_customers(
        self, *, with_contacts: bool = True, **params: str | int
    ) -> Iterator[RackbeatCustomer]:
        """Every customer; with its contacts when it has no ``invoice_email`` (R-CUST-6)."""
        for customer in self._iter(CUSTOMERS, params):
            yield self._with_contacts(customer) if with_contacts else customer

    def iter_customer_contacts(self, number: int) -> Iterator[RackbeatCustomerContact]:
        resource = RackbeatResource(
            f"customers/{number}/contacts",
            "customer_contacts",
            "customer_contact",
            RackbeatCustomerContact,
        )
        return self._iter(resource)

    def iter_suppliers(self, **params: str | int) -> Iterator[RackbeatSupplier]:
        return self._iter(SUPPLIERS, params)

    def iter_supplier_groups(self, **params: str | int) -> Iterator[RackbeatSupplierGroup]:
        return self._iter(SUPPLIER_GROUPS, params)

    def iter_booked_invoices(self, **params: str | int) -> Iterator[RackbeatCustomerInvoice]:
        """Booked customer invoices (``is_booked=true``), the source of R-INV."""
        return self._iter(BOOKED_INVOICES, params)

    def iter_orders(self, **params: str | int) -> Iterator[RackbeatOrder]:
        return self._iter(ORDERS, params)

    def iter_payment_terms(self, **params: str | int) -> Iterator[RackbeatPaymentTerms]:
        return self._iter(PAYMENT_TERMS, params)

    def iter_employees(self, **params: str | int) -> Iterator[RackbeatEmployee]:
        return self._iter(EMPLOYEES, params)

    # --- one record -----------------------------------------------------------------------

    def get(self, resource: RackbeatResource, key: str | int) -> Any:
        """One record of ``resource`` by its number, complete (BOM lines, customer contacts).

        Raises :class:`~clients.errors.NotFoundError` when Rackbeat has no such record.
        """
        return self._complete(resource, self._get_one(resource, key))

    def find(self, resource: RackbeatResource, key: str | int) -> Any:
        """Like :meth:`get`, but ``None`` when the record does not exist."""
        try:
            return self.get(resource, key)
        except NotFoundError:
            return None

    def _complete(self, resource: RackbeatResource, record: Any) -> Any:
        if resource.complete == "lot_lines":
            return self._with_lines(record)
        if resource.complete == "customer_contacts":
            return self._with_contacts(record)
        return record

    def _with_lines(self, lot: RackbeatLot) -> RackbeatLot:
        if lot.lines:
            return lot
        lines = list(self.iter_lot_lines(lot.number))
        return lot.model_copy(update={"lines": lines}) if lines else lot

    def _with_contacts(self, customer: RackbeatCustomer) -> RackbeatCustomer:
        # R-CUST-6 falls back to a contact with cc_invoice: only needed without invoice_email.
        if customer.invoice_email is not None or customer.contacts:
            return customer
        contacts = list(self.iter_customer_contacts(customer.number))
        return customer.model_copy(update={"contacts": contacts}) if contacts else customer

    # --- change detection -----------------------------------------------------------------

    def filter_honoured(self, resource: RackbeatResource) -> bool:
        """Whether ``resource``'s endpoint honours ``updated_at_from`` (probed; the answer is kept
        an hour in the client's ``probes`` store, shared by the fleet when that is Redis).

        The probe asks for records changed a century from now: an endpoint that honours the
        filter has none; one that ignores it answers with records.
        """
        cached = self._probes.get(resource.path)
        if cached is not None:
            return cached
        future = datetime.now(UTC) + PROBE_AHEAD
        query: dict[str, str | int] = {
            **dict(resource.filters),
            "updated_at_from": format_since(future),
            "fields": "number",
            "limit": 1,
            "page": 1,
        }
        try:
            envelope = self._call("GET", resource.path, params=query)
        except ClientError as exc:
            # The probe's far-future date would only puzzle whoever reads the error.
            raise exc.at(f"{resource.path} (filter probe)") from exc
        honoured = not self._items(resource, envelope) and not envelope.get("total")
        if not honoured:
            log.info("Rackbeat %s ignores updated_at_from: scanning instead", resource.path)
        self._probes.put(resource.path, honoured, self._probe_ttl)
        return honoured

    def changed_since(
        self,
        resource: RackbeatResource,
        since: datetime,
        *,
        held: Mapping[str, datetime] | None = None,
    ) -> Iterator[Any]:
        """Every record of ``resource`` whose ``updated_at`` is at or after ``since``, complete.

        Ascending ``updated_at`` order. A record may be yielded by a later poll again (the
        caller's overlap and content fingerprint make that free); within one call, never twice.
        ``held`` maps keys to the ``updated_at`` the caller already has: such a record is
        neither completed (contacts, BOM lines) nor fetched (scan fallback) nor yielded, so a
        poll that re-reads its overlap window costs the list pages alone.
        """
        if since.tzinfo is None:
            since = since.replace(tzinfo=NAIVE_TIMEZONE)
        known = held or {}
        records = (
            self._changed_by_filter(resource, since)
            if self.filter_honoured(resource)
            else self._changed_by_scan(resource, since, known)
        )
        for record in records:
            if known and known.get(_key_of(record)) == _aware(getattr(record, "updated_at", None)):
                continue
            yield self._complete(resource, record)

    def _changed_by_filter(self, resource: RackbeatResource, since: datetime) -> Iterator[Any]:
        cursor = since
        seen: dict[str, datetime] = {}
        page = 1
        while True:
            query: dict[str, str | int] = {
                **dict(resource.filters),
                "updated_at_from": format_since(cursor - KEYSET_OVERLAP),
                "order_by": "updated_at",
                "order_direction": "ASC",
                "limit": self._page_size,
                "page": page,
            }
            envelope = self._call("GET", resource.path, params=query)
            items = self._items(resource, envelope)
            advanced = False
            for item in items:
                record = self._parse(resource.model, item, method="GET", path=resource.path)
                updated = _aware(getattr(record, "updated_at", None))
                if updated is not None and updated < since:
                    continue
                key = _key_of(record)
                if seen.get(key, _NEVER) == (updated or _UNDATED):
                    continue
                yield record
                seen[key] = updated or _UNDATED
                if updated is not None and updated > cursor:
                    cursor, advanced = updated, True
            if len(items) < self._page_size or has_last_page(
                envelope, page, len(items), self._page_size
            ):
                return
            # Restart just before the newest timestamp (keyset); only a page that moved
            # nothing forward (all one timestamp) steps on by offset.
            page = 1 if advanced else page + 1
            horizon = cursor - KEYSET_OVERLAP
            seen = {k: v for k, v in seen.items() if v >= horizon}

    def scan(
        self, resource: RackbeatResource, *, page_size: int = SCAN_PAGE_SIZE
    ) -> Iterator[tuple[str, datetime | None]]:
        """``(key, updated_at)`` of every record of ``resource`` that passes its fixed filters:
        the cheap field-limited scan (``fields=`` :attr:`RackbeatResource.scan_fields`),
        ``page_size`` keys a request. A server that refuses the page size (422) on the first
        page is scanned at the client's page size instead."""
        params = {"fields": resource.scan_fields}
        try:
            first = True
            for items in self._pages(resource, params, limit=page_size):
                first = False
                yield from _scanned(items, resource)
        except InvalidRequestError:
            if not first or page_size <= self._page_size:
                raise
            log.info(
                "Rackbeat %s refused limit=%d: scanning at %d",
                resource.path,
                page_size,
                self._page_size,
            )
            for items in self._pages(resource, params):
                yield from _scanned(items, resource)

    def _changed_by_scan(
        self, resource: RackbeatResource, since: datetime, held: Mapping[str, datetime]
    ) -> Iterator[Any]:
        changed: list[tuple[datetime, str]] = []
        for items in self._pages(resource, {"fields": resource.scan_fields}):
            for item in items:
                if not isinstance(item, Mapping) or item.get("number") is None:
                    continue
                if not _matches(item, resource.filters):
                    continue
                stamp = _parse_stamp(item.get("updated_at"))
                key = str(item["number"])
                if stamp is not None and held.get(key) == stamp:
                    continue  # the caller has this version: no fetch
                if stamp is None or stamp >= since:
                    changed.append((stamp or since, key))
        changed.sort()
        for _, key in changed:
            try:
                yield self._get_one(resource, key)
            except NotFoundError:
                # Deleted between the scan and the fetch: nothing to sync.
                log.info("Rackbeat %s %s vanished during the scan", resource.path, key)

    # --- writes (initial sync, R-INIT-1..4) -----------------------------------------------

    # --- webhooks ---------------------------------------------------------------------------

    def create_webhook(self, event: str, url: str) -> RackbeatWebhook:
        """``POST webhooks``: create (answer with a token) or update the webhook of this event
        and URL (Rackbeat updates an existing one: no token then)."""
        path = WEBHOOKS.path
        response = self._send("POST", path, json={"event": event, "url": url, "is_active": True})
        try:
            envelope = response.json()
        except ValueError as exc:
            raise MalformedResponseError(
                "the body is not JSON", method="POST", path=path, status=response.status_code
            ) from exc
        data = envelope.get(WEBHOOKS.item_key) if isinstance(envelope, Mapping) else None
        return self._parse(RackbeatWebhook, data, method="POST", path=path)

    def iter_webhooks(self, event: str | None = None) -> Iterator[RackbeatWebhook]:
        """``GET webhooks`` (``event=``: only that event's)."""
        params: dict[str, str | int] = {"event": event} if event else {}
        return self._iter(WEBHOOKS, params)

    def delete_webhook(self, webhook_id: int) -> None:
        """``DELETE webhooks/{id}``; one already gone (404) is not an error."""
        try:
            self._send("DELETE", f"{WEBHOOKS.path}/{int(webhook_id)}")
        except NotFoundError:
            return

    def create_unit(self, payload: RackbeatUnitCreate) -> RackbeatUnit:
        result: RackbeatUnit = self._create(UNITS, payload)
        return result

    def create_product_group(self, payload: RackbeatProductGroupCreate) -> RackbeatProductGroup:
        result: RackbeatProductGroup = self._create(PRODUCT_GROUPS, payload)
        return result

    def create_product(self, payload: RackbeatProductCreate) -> RackbeatProduct:
        result: RackbeatProduct = self._create(PRODUCTS, payload)
        return result

    def create_supplier_group(self, payload: RackbeatSupplierGroupCreate) -> RackbeatSupplierGroup:
        result: RackbeatSupplierGroup = self._create(SUPPLIER_GROUPS, payload)
        return result

    def create_supplier(self, payload: RackbeatSupplierCreate) -> RackbeatSupplier:
        result: RackbeatSupplier = self._create(SUPPLIERS, payload)
        return result

    def create_customer(self, payload: RackbeatCustomerCreate) -> RackbeatCustomer:
        result: RackbeatCustomer = self._create(CUSTOMERS, payload)
        return result


def _scanned(items: list[Any], resource: RackbeatResource) -> Iterator[tuple[str, datetime | None]]:
    for item in items:
        if not isinstance(item, Mapping) or item.get("number") is None:
            continue
        if _matches(item, resource.filters):
            yield str(item["number"]), _parse_stamp(item.get("updated_at"))


def _parse_stamp(value: Any) -> datetime | None:
    """A Rackbeat timestamp in either documented form (ISO 8601, or ``YYYY-MM-DD HH:MM:SS``)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return _aware(datetime.fromisoformat(text))
    except ValueError:
        return None

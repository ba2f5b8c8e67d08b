"""The optional initial sync, PowerOffice Go -> Rackbeat (R-INIT-1..4): what is copied, how.

- :func:`plan_product` and :func:`plan_contact` decide, from the data alone, what becomes of
  one PowerOffice Go record: skipped (and why), linked to the Rackbeat record with its number,
  failed, or created. :func:`unit_codes_to_copy`, :func:`product_group_of` and the ``matching_*``
  functions decide which units and groups a product needs and which Rackbeat ones are "the same".
- The ``*_create_for`` functions take a PowerOffice Go inbound model (``parse_poweroffice_*``
  reads one from a dict) and return the strict Rackbeat create body.

Reading Rackbeat's lists, creating, and recording the outcome are the caller's job
(``tasks.initial``): every decision here is made over values passed in.
"""

from __future__ import annotations

import enum
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

from clients.models import (
    Customer,
    Product,
    ProductGroup,
    ProductType,
    RackbeatCustomerCreate,
    RackbeatProductCreate,
    RackbeatProductGroupCreate,
    RackbeatSupplierCreate,
    RackbeatSupplierGroupCreate,
    RackbeatUnitCreate,
    Supplier,
    UnitOfMeasureCode,
)
from mapping.context import RecordContext, parse_record
from mapping.tables import (
    COPY_ARCHIVED,
    INITIAL_SUPPLIER_GROUP_NAME,
    UNIT_ENGLISH_NAMES,
    normalise_unit_name,
)

__all__ = [
    "REASON_ARCHIVED",
    "REASON_NO_PRODUCT_GROUP",
    "InitialAction",
    "InitialPlan",
    "customer_create_for",
    "fold_name",
    "is_copied",
    "matching_product_group",
    "matching_unit",
    "named",
    "parse_poweroffice_customer",
    "parse_poweroffice_product",
    "parse_poweroffice_product_group",
    "parse_poweroffice_supplier",
    "plan_contact",
    "plan_product",
    "product_create_for",
    "product_group_create_for",
    "product_group_of",
    "product_number",
    "product_unit_code",
    "supplier_create_for",
    "supplier_group_create",
    "unit_codes_to_copy",
    "unit_create_for",
    "unit_name_for",
]

REASON_ARCHIVED: Final = "archived in PowerOffice Go"
REASON_NO_PRODUCT_GROUP: Final = (
    "the product has no product group in PowerOffice Go (Rackbeat needs one)"
)


class InitialAction(enum.Enum):
    """What the initial sync does with one PowerOffice Go record, before any write."""

    SKIP = "skip"
    LINK = "link"
    FAIL = "fail"
    CREATE = "create"


@dataclass(frozen=True, slots=True)
class InitialPlan:
    """:class:`InitialAction` and, for a skip or a failure, why."""

    action: InitialAction
    reason: str | None = None


_CREATE = InitialPlan(InitialAction.CREATE)
_LINK = InitialPlan(InitialAction.LINK)


def is_copied(
    record: Product | Customer | Supplier, *, copy_archived: bool = COPY_ARCHIVED
) -> bool:
    """R-INIT-1..4: whether the initial sync copies a record at all (archived ones: no)."""
    return copy_archived or not record.is_archived


def product_number(product: Product) -> str:
    """R-INIT-1: the Rackbeat number of a product, its trimmed ``Code`` (the link key)."""
    return (product.code or "").strip()


def plan_product(
    product: Product,
    *,
    group: ProductGroup | None,
    existing: Container[str],
    copy_archived: bool = COPY_ARCHIVED,
) -> InitialPlan:
    """R-INIT-1: one product, given its PowerOffice Go ``group`` and Rackbeat's numbers.

    Archived: skipped. Rackbeat has its number: linked as it is (its Rackbeat group and unit
    are left alone). No group: it fails, since Rackbeat requires one. Otherwise it is created
    (its group and unit are the caller's to resolve first).
    """
    if not is_copied(product, copy_archived=copy_archived):
        return InitialPlan(InitialAction.SKIP, REASON_ARCHIVED)
    if product_number(product) in existing:
        return _LINK
    if group is None:
        return InitialPlan(InitialAction.FAIL, REASON_NO_PRODUCT_GROUP)
    return _CREATE


def plan_contact(
    record: Customer | Supplier,
    kind: str,
    *,
    existing: Container[int],
    copy_archived: bool = COPY_ARCHIVED,
) -> InitialPlan:
    """R-INIT-3 / R-INIT-4: one supplier or customer (``kind``), given Rackbeat's numbers.

    Archived: skipped. Without a ``Number``: skipped, since the number is the link key of both
    the resume and the ongoing sync. Rackbeat has the number: linked as it is (a supplier is
    not moved into the ``Poweroffice`` group). Otherwise it is created.
    """
    if not is_copied(record, copy_archived=copy_archived):
        return InitialPlan(InitialAction.SKIP, REASON_ARCHIVED)
    if record.number is None or record.number <= 0:
        reason = f"no {kind} number in PowerOffice Go (the number is the link)"
        return InitialPlan(InitialAction.SKIP, reason)
    if record.number in existing:
        return _LINK
    return _CREATE


def product_unit_code(product: Product) -> str | None:
    """R-INIT-2: the unit code a product uses (trimmed, upper case), None when it has none."""
    code = (product.unit_of_measure_code or "").strip().upper()
    return code or None


def unit_codes_to_copy(
    products: Iterable[Product], *, copy_archived: bool = COPY_ARCHIVED
) -> list[str]:
    """R-INIT-2: the unit codes the copied products use, each once, sorted."""
    codes = {
        code
        for product in products
        if is_copied(product, copy_archived=copy_archived) and (code := product_unit_code(product))
    }
    return sorted(codes)


def product_group_of(product: Product, groups: Mapping[int, ProductGroup]) -> ProductGroup | None:
    """R-INIT-1: the PowerOffice Go group of a product: by its group id, else by its group code."""
    if product.product_group_id is not None:
        found = groups.get(product.product_group_id)
        if found is not None:
            return found
    if product.product_group_code:
        for group in groups.values():
            if group.code == product.product_group_code:
                return group
    return None


def fold_name(name: str | None) -> str:
    """The form names are compared in: trimmed, case-folded, inner spaces collapsed."""
    return normalise_unit_name(name or "")


class _Named(Protocol):
    @property
    def name(self) -> str | None: ...


class _Numbered(_Named, Protocol):
    @property
    def number(self) -> int: ...


N = TypeVar("N", bound=_Named)
G = TypeVar("G", bound=_Numbered)


def named(candidates: Iterable[N], name: str | None) -> N | None:
    """R-INIT-2 / R-INIT-3: the first candidate called ``name`` (see :func:`fold_name`).

    Stops at the first match, so a paged list is read no further than needed.
    """
    wanted = fold_name(name)
    return next((c for c in candidates if fold_name(c.name) == wanted), None)


def matching_unit(payload: RackbeatUnitCreate, units: Iterable[N]) -> N | None:
    """R-INIT-2: the Rackbeat unit a unit code links to: the one with its English name."""
    return named(units, payload.name)


def matching_product_group(payload: RackbeatProductGroupCreate, groups: Iterable[G]) -> G | None:
    """R-INIT-1: the Rackbeat group a PowerOffice Go group links to: the one with the same
    number; for a group without a code (auto-numbered), the one with the same name."""
    if payload.number is None:
        return named(groups, payload.name)
    return next((g for g in groups if g.number == payload.number), None)


def parse_poweroffice_product(raw: Mapping[str, Any] | Product) -> Product:
    """A PowerOffice Go product (``ProductDto``); bad data -> RecordRejected."""
    return parse_record(Product, raw, kind="poweroffice_product", key_field="Id")


def parse_poweroffice_product_group(raw: Mapping[str, Any] | ProductGroup) -> ProductGroup:
    """A PowerOffice Go product group (``ProductGroupDto``); bad data -> RecordRejected."""
    return parse_record(ProductGroup, raw, kind="poweroffice_product_group", key_field="Id")


def parse_poweroffice_supplier(raw: Mapping[str, Any] | Supplier) -> Supplier:
    """A PowerOffice Go supplier (``SupplierDto``); bad data -> RecordRejected."""
    return parse_record(Supplier, raw, kind="poweroffice_supplier", key_field="Id")


def parse_poweroffice_customer(raw: Mapping[str, Any] | Customer) -> Customer:
    """A PowerOffice Go customer (``CustomerDto``); bad data -> RecordRejected."""
    return parse_record(Customer, raw, kind="poweroffice_customer", key_field="Id")


def unit_name_for(code: str, names: Mapping[UnitOfMeasureCode, str] = UNIT_ENGLISH_NAMES) -> str:
    """R-INIT-2: the English name a PowerOffice Go unit code gets in Rackbeat (``EA`` -> Each)."""
    ctx = RecordContext("unit", code)
    try:
        unit = UnitOfMeasureCode(code.strip().upper())
    except ValueError:
        ctx.reject("UnitOfMeasureCode", f"{code!r} is not a PowerOffice Go unit code")
    name = names.get(unit)
    if name is None:
        ctx.reject("UnitOfMeasureCode", f"no English name configured for {unit.value}")
    return name


def unit_create_for(code: str) -> RackbeatUnitCreate:
    """R-INIT-2: ``POST units`` for a unit code; the unit is created in English."""
    return RackbeatUnitCreate(name=unit_name_for(code))


def _group_number(ctx: RecordContext, code: str | None) -> int | None:
    text = ctx.text("Code", code)
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) < 1 or len(text) > 9:
        ctx.reject("Code", f"{code!r} cannot be a Rackbeat group number (a positive integer)")
    return int(text)


def product_group_create_for(group: ProductGroup) -> RackbeatProductGroupCreate:
    """R-INIT-1: the Rackbeat product group for a PowerOffice Go one.

    A numeric ``Code`` becomes the group's ``number`` (so that the ongoing sync's lookup by
    ``str(group.number)`` finds it again); a service group has no inventory.
    """
    ctx = RecordContext("poweroffice_product_group", str(group.id))
    number = _group_number(ctx, group.code)
    name = ctx.text("Name", group.name, max_length=191) or (
        str(number) if number is not None else None
    )
    if name is None:
        ctx.reject("Name", "the product group has neither name nor code")
    return ctx.build(
        RackbeatProductGroupCreate,
        {
            "number": number,
            "name": name,
            "has_inventory": group.product_type != ProductType.SERVICE,
            "is_sellable": True,
        },
    )


def product_create_for(
    product: Product, *, group_number: int, unit_number: int | None = None
) -> RackbeatProductCreate:
    """R-INIT-1: ``POST products`` for a PowerOffice Go product.

    ``group_number`` is the Rackbeat group it goes into and ``unit_number`` the Rackbeat unit
    created for its unit code (R-INIT-2). ``Code`` becomes the Rackbeat ``number`` (R-PROD-2,
    the natural key), so the ongoing sync links the two without a duplicate.
    """
    ctx = RecordContext("poweroffice_product", str(product.id))
    number = ctx.code("Code", product.code, max_length=191)
    if number is None:
        ctx.reject("Code", "the product has no code (the Rackbeat number)")
    name = ctx.text("Name", product.name, max_length=191) or number
    return ctx.build(
        RackbeatProductCreate,
        {
            "number": number,
            "group": group_number,
            "name": name,
            "description": ctx.description("Description", product.description, max_length=None),
            "sales_price": ctx.amount("UnitPrice", product.unit_price, allow_negative=True) or 0.0,
            "recommended_cost_price": ctx.amount(
                "UnitCost", product.unit_cost, allow_negative=True
            ),
            "barcode": ctx.text("Gtin", product.gtin),
            "unit_id": unit_number,
        },
    )


def supplier_group_create(name: str = INITIAL_SUPPLIER_GROUP_NAME) -> RackbeatSupplierGroupCreate:
    """R-INIT-3: the Rackbeat supplier group ``Poweroffice``, created once."""
    return RackbeatSupplierGroupCreate(name=name)


def _contact_name(ctx: RecordContext, record: Customer | Supplier) -> str:
    name = ctx.text("Name", record.name, max_length=191)
    if name is None:
        parts = [p for p in (record.first_name, record.last_name) if p and p.strip()]
        name = ctx.text("FirstName", " ".join(p.strip() for p in parts), max_length=191)
    if name is None:
        ctx.reject("Name", "the contact has neither Name nor FirstName/LastName")
    return name


def _address_fields(ctx: RecordContext, record: Customer | Supplier) -> dict[str, Any]:
    address = record.mail_address
    if address is None:
        return {}
    return {
        "address_street": ctx.text("MailAddress.AddressLine1", address.address_line1),
        "address_street2": ctx.text("MailAddress.AddressLine2", address.address_line2),
        "address_zipcode": ctx.text("MailAddress.ZipCode", address.zip_code),
        "address_city": ctx.text("MailAddress.City", address.city),
        "address_country": ctx.text("MailAddress.CountryCode", address.country_code),
    }


def _currency(record: Customer | Supplier) -> str | None:
    code = (record.currency_code or "").strip().upper()
    return code if len(code) == 3 and code.isascii() and code.isalpha() else None


def supplier_create_for(supplier: Supplier, *, supplier_group_id: int) -> RackbeatSupplierCreate:
    """R-INIT-3: ``POST suppliers`` for a PowerOffice Go supplier, in the ``Poweroffice`` group."""
    ctx = RecordContext("poweroffice_supplier", str(supplier.id))
    return ctx.build(
        RackbeatSupplierCreate,
        {
            "number": supplier.number if supplier.number and supplier.number > 0 else None,
            "company_name": _contact_name(ctx, supplier),
            "company_vat": ctx.text("OrganizationNumber", supplier.organization_number),
            **_address_fields(ctx, supplier),
            "contact_email": ctx.text("EmailAddress", supplier.email_address),
            "contact_phone": ctx.text("PhoneNumber", supplier.phone_number),
            "currency": _currency(supplier),
            "supplier_group_id": supplier_group_id,
        },
    )


def customer_create_for(customer: Customer) -> RackbeatCustomerCreate:
    """R-INIT-4: ``POST customers`` for a PowerOffice Go customer."""
    ctx = RecordContext("poweroffice_customer", str(customer.id))
    return ctx.build(
        RackbeatCustomerCreate,
        {
            "number": customer.number if customer.number and customer.number > 0 else None,
            "company_name": _contact_name(ctx, customer),
            "company_vat": ctx.text("OrganizationNumber", customer.organization_number),
            **_address_fields(ctx, customer),
            "contact_email": ctx.text("EmailAddress", customer.email_address),
            "contact_phone": ctx.text("PhoneNumber", customer.phone_number),
            "currency": _currency(customer),
            "general_discount_percentage": ctx.amount(
                "Allowance", customer.allowance, allow_negative=True
            ),
            "invoice_email": ctx.text("InvoiceEmailAddress", customer.invoice_email_address),
        },
    )

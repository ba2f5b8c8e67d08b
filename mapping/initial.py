"""The optional initial sync, PowerOffice Go -> Rackbeat (R-INIT-1..4): Rackbeat-side records.

Each function takes a PowerOffice Go inbound model (``parse_poweroffice_*`` reads one from a
dict) and returns the strict Rackbeat create body. Looking up what already exists on the
Rackbeat side (same number: link, do not duplicate) is the caller's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
from mapping.tables import INITIAL_SUPPLIER_GROUP_NAME, UNIT_ENGLISH_NAMES

__all__ = [
    "customer_create_for",
    "parse_poweroffice_customer",
    "parse_poweroffice_product",
    "parse_poweroffice_product_group",
    "parse_poweroffice_supplier",
    "product_create_for",
    "product_group_create_for",
    "supplier_create_for",
    "supplier_group_create",
    "unit_create_for",
    "unit_name_for",
]


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
    number = ctx.text("Code", product.code, max_length=191)
    if number is None:
        ctx.reject("Code", "the product has no code (the Rackbeat number)")
    name = ctx.text("Name", product.name, max_length=191) or number
    return ctx.build(
        RackbeatProductCreate,
        {
            "number": number,
            "group": group_number,
            "name": name,
            "description": ctx.text("Description", product.description),
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

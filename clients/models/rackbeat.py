"""Rackbeat wire models (docs/api-facts.md, "Rackbeat").

Inbound models are tolerant: unknown keys are ignored, blank strings read as absent, numbers
arrive as strings or numbers, and where the spec is unsure of a name both spellings are
accepted (``name`` / ``company_name``, ``their_reference`` / ``other_reference`` /
``your_reference``, ``product_id`` / ``child_id`` / ``item.number``). Field names are
Rackbeat's own snake_case. Outbound ``…Create`` models are the strict bodies of the optional
initial sync (R-INIT-1..4), PowerOffice Go -> Rackbeat.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import AliasChoices, BeforeValidator, Field

from clients.models._base import InboundModel, LooseDate, LooseDateTime, OutboundModel

__all__ = [
    "RackbeatCustomer",
    "RackbeatCustomerContact",
    "RackbeatCustomerCreate",
    "RackbeatCustomerInvoice",
    "RackbeatCustomerRef",
    "RackbeatEmployee",
    "RackbeatInvoiceLine",
    "RackbeatItemRef",
    "RackbeatLot",
    "RackbeatLotLine",
    "RackbeatOrder",
    "RackbeatOrderLine",
    "RackbeatOrderRef",
    "RackbeatPaymentTerms",
    "RackbeatProduct",
    "RackbeatProductCreate",
    "RackbeatProductGroup",
    "RackbeatProductGroupCreate",
    "RackbeatSupplier",
    "RackbeatSupplierCreate",
    "RackbeatSupplierGroupCreate",
    "RackbeatUnit",
    "RackbeatUnitCreate",
    "invoice_email_of",
]


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


Text = Annotated[str | None, BeforeValidator(_blank_to_none)]
"""A free-text field: blank reads as absent."""


def _null_to_empty(value: Any) -> Any:
    return [] if value is None else value


T = TypeVar("T")
Lines = Annotated[list[T], BeforeValidator(_null_to_empty)]
"""A list the API may send as ``null``: read as empty."""


def _number_to_ref(value: Any) -> Any:
    """A reference sent as its bare number reads as ``{"number": n}``.

    ``group`` is written as the group's number (docs/api-facts.md, "Rackbeat 7. Records") and
    answers have been seen to echo that shape (``"group": 1010``) where reads embed the
    object; both mean the same group, and a create that happened must not look failed over it.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        return {"number": value}
    return value


Ref = Annotated[T | None, BeforeValidator(_number_to_ref)]
"""An embedded record (group, unit, payment terms) that may come as its bare number."""


class RackbeatUnit(InboundModel):
    """A unit (``GET units``); ``product.unit`` embeds the same shape."""

    number: int | None = None
    name: Text = None


class RackbeatProductGroup(InboundModel):
    """A product group (``GET product-groups``; embedded as ``product.group``)."""

    number: int
    name: Text = None
    has_inventory: bool | None = None
    is_sellable: bool | None = None
    vat_domestic: float | None = None
    vat_eu: float | None = None
    vat_abroad: float | None = None
    vat_domestic_exempt: float | None = None


class RackbeatItemRef(InboundModel):
    """An embedded item reference (``line.item``): products and BOMs have string numbers."""

    number: Text = None
    type: Text = None
    name: Text = None


class _ItemFields(InboundModel):
    """The fields products and BOMs share (R-PROD-1..10, R-BOM-1)."""

    number: str = Field(min_length=1)
    urlfriendly_number: Text = None
    type: Text = None
    name: Text = None
    description: Text = None
    barcode: Text = None
    sales_price: float | None = None
    recommended_sales_price: float | None = None
    cost_price: float | None = None
    recommended_cost_price: float | None = None
    inventory_enabled: bool | None = None
    is_barred: bool | None = None
    group_id: int | None = None
    group: Ref[RackbeatProductGroup] = None
    unit_id: int | None = None
    unit: Ref[RackbeatUnit] = None
    created_at: LooseDateTime = None
    updated_at: LooseDateTime = None
    deleted_at: LooseDateTime = None


class RackbeatProduct(_ItemFields):
    """A product (``GET products``)."""


class RackbeatLotLine(InboundModel):
    """A BOM component line; the component number comes under one of three names."""

    id: int | None = None
    product_id: Text = None
    child_id: Text = None
    child_type: Text = None
    item: RackbeatItemRef | None = None
    name: Text = None
    quantity: float | None = None
    unit_price: float | None = None
    line_price: float | None = None

    @property
    def component_number(self) -> str | None:
        """The component's item number: ``item.number``, else ``child_id``, else ``product_id``."""
        if self.item is not None and self.item.number is not None:
            return self.item.number
        return self.child_id if self.child_id is not None else self.product_id


class RackbeatLot(_ItemFields):
    """A bill of materials (``GET lots``); maps like a product (R-BOM-1)."""

    lines: Lines[RackbeatLotLine] = Field(
        default_factory=list, validation_alias=AliasChoices("lines", "lot_lines")
    )


class RackbeatPaymentTerms(InboundModel):
    """Payment terms (``GET payment-terms``; embedded as ``payment_terms``)."""

    number: int | None = None
    name: Text = None
    description: Text = None
    type: Text = None
    maturity_days: int | None = Field(None, ge=0, le=32767)


class RackbeatCustomerContact(InboundModel):
    """A customer contact (``GET customers/{n}/contacts``)."""

    number: int | None = None
    name: Text = None
    role: Text = None
    contact_email: Text = None
    contact_phone: Text = None
    cc_order: bool | None = None
    cc_offer: bool | None = None
    cc_invoice: bool | None = None
    cc_delivery_note: bool | None = None


class RackbeatCustomer(InboundModel):
    """A customer (``GET customers``). The name comes as ``name`` or ``company_name``."""

    number: int
    name: Text = None
    company_name: Text = None
    company_vat: Text = None
    ean: Text = None
    address_street: Text = None
    address_street2: Text = None
    address_zipcode: Text = None
    address_city: Text = None
    address_country: Text = None
    contact_email: Text = None
    contact_phone: Text = None
    invoice_email: Text = None
    locale: Text = None
    currency: Text = None
    vat_zone: Text = None
    general_discount_percentage: float | None = None
    payment_terms_id: int | None = None
    payment_terms: Ref[RackbeatPaymentTerms] = None
    contacts: Lines[RackbeatCustomerContact] = Field(
        default_factory=list, validation_alias=AliasChoices("contacts", "customer_contacts")
    )
    is_barred: bool | None = None
    created_at: LooseDateTime = None
    updated_at: LooseDateTime = None

    @property
    def display_name(self) -> str | None:
        """R-CUST-1: ``name``, else ``company_name``."""
        return self.name if self.name is not None else self.company_name


def invoice_email_of(customer: RackbeatCustomer) -> str | None:
    """R-CUST-6: the customer's invoice e-mail, the ONE place this choice is made.

    Rackbeat's public sources show no dedicated field; the emulator serves ``invoice_email``.
    Failing that, the first contact with ``cc_invoice: true`` and an e-mail address is used.
    """
    if customer.invoice_email is not None:
        return customer.invoice_email.strip()
    for contact in customer.contacts:
        if contact.cc_invoice and contact.contact_email is not None:
            return contact.contact_email.strip()
    return None


class RackbeatSupplier(InboundModel):
    """A supplier (``GET suppliers``). The name comes as ``company_name`` or ``name``."""

    number: int
    company_name: Text = None
    name: Text = None
    company_vat: Text = None
    address_street: Text = None
    address_street2: Text = None
    address_zipcode: Text = None
    address_city: Text = None
    address_country: Text = None
    contact_email: Text = None
    contact_phone: Text = None
    locale: Text = None
    currency: Text = None
    vat_zone: Text = None
    payment_terms_id: int | None = None
    payment_terms: Ref[RackbeatPaymentTerms] = None
    supplier_group_id: int | None = None
    created_at: LooseDateTime = None
    updated_at: LooseDateTime = None

    @property
    def display_name(self) -> str | None:
        """R-SUP-1: ``company_name``, else ``name``."""
        return self.company_name if self.company_name is not None else self.name


class RackbeatEmployee(InboundModel):
    """An employee (``GET employees``; embedded as ``our_reference``)."""

    number: int | None = None
    name: Text = None
    initials: Text = None
    contact_email: Text = None
    contact_phone: Text = None


class RackbeatCustomerRef(InboundModel):
    """A customer embedded in an order or invoice."""

    number: int
    name: Text = None
    company_name: Text = None


class RackbeatOrderRef(InboundModel):
    """An order embedded in an invoice (R-INV-9 reads its number)."""

    number: int


class RackbeatOrderLine(InboundModel):
    """A line of an order or a customer invoice (the same lineable model on both)."""

    id: int | None = None
    child_id: Text = None
    child_type: Text = None
    item: RackbeatItemRef | None = None
    name: Text = None
    quantity: float | None = None
    line_price: float | None = None
    discount_percentage: float | None = None
    vat_percentage: float | None = None

    @property
    def item_number(self) -> str | None:
        """R-INV-10: ``item.number``, else ``child_id``."""
        if self.item is not None and self.item.number is not None:
            return self.item.number
        return self.child_id


RackbeatInvoiceLine = RackbeatOrderLine
"""A customer-invoice line has the order line's shape."""


class _DocumentFields(InboundModel):
    """Header fields orders and customer invoices share."""

    number: int
    customer: RackbeatCustomerRef | None = None
    customer_id: int | None = None
    heading: Text = None
    note: Text = None
    currency: Text = None
    currency_rate: float | None = None
    our_reference: RackbeatEmployee | None = None
    their_reference: Text = Field(
        None,
        validation_alias=AliasChoices("their_reference", "other_reference", "your_reference"),
    )
    is_booked: bool | None = None
    booked_at: LooseDateTime = None
    total_subtotal: float | None = None
    total_total: float | None = None
    lines: Lines[RackbeatOrderLine] = Field(default_factory=list)
    created_at: LooseDateTime = None
    updated_at: LooseDateTime = None

    @property
    def customer_number(self) -> int | None:
        """The customer's number: ``customer.number``, else ``customer_id``."""
        return self.customer.number if self.customer is not None else self.customer_id


class RackbeatCustomerInvoice(_DocumentFields):
    """A customer invoice (``GET customer-invoices``): the source of R-INV-1..11."""

    order: RackbeatOrderRef | None = None
    order_id: int | None = None
    invoice_date: LooseDate = None
    due_date: LooseDate = None
    is_paid: bool | None = None

    @property
    def order_number(self) -> int | None:
        """R-INV-9: ``order.number``, else ``order_id``."""
        return self.order.number if self.order is not None else self.order_id


class RackbeatOrder(_DocumentFields):
    """A sales order (``GET orders``); status is a set of booleans."""

    is_invoiced: bool | None = None
    is_cancelled: bool | None = None
    is_archived: bool | None = None
    order_date: LooseDate = None


# --- outbound: initial sync (R-INIT-1..4) -------------------------------------------------


class RackbeatUnitCreate(OutboundModel):
    """``POST units`` (R-INIT-2: the English name of a PowerOffice Go unit code)."""

    name: str = Field(min_length=1, max_length=191)


class RackbeatProductGroupCreate(OutboundModel):
    """``POST product-groups`` (R-INIT-1: the group a copied product goes into)."""

    number: int | None = Field(None, ge=1)
    name: str = Field(min_length=1, max_length=191)
    has_inventory: bool | None = None
    is_sellable: bool | None = None
    vat_domestic: float | None = Field(None, ge=0, le=100)


class RackbeatProductCreate(OutboundModel):
    """``POST products`` (R-INIT-1); ``number``, ``group``, ``name``, ``sales_price`` required."""

    number: str = Field(min_length=1, max_length=191)
    group: int
    name: str = Field(min_length=1, max_length=191)
    sales_price: float
    recommended_cost_price: float | None = None
    description: str | None = None
    barcode: str | None = None
    unit_id: int | None = None


class RackbeatSupplierGroupCreate(OutboundModel):
    """``POST supplier-groups`` (R-INIT-3: the group named ``Poweroffice``)."""

    name: str = Field(min_length=1, max_length=191)
    number: int | None = Field(None, ge=1)


class _ContactCreateFields(OutboundModel):
    number: int | None = Field(None, ge=1)
    company_name: str = Field(min_length=1, max_length=191)
    company_vat: str | None = None
    address_street: str | None = None
    address_street2: str | None = None
    address_zipcode: str | None = None
    address_city: str | None = None
    address_country: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")


class RackbeatSupplierCreate(_ContactCreateFields):
    """``POST suppliers`` (R-INIT-3), into the ``Poweroffice`` supplier group."""

    supplier_group_id: int | None = None


class RackbeatCustomerCreate(_ContactCreateFields):
    """``POST customers`` (R-INIT-4)."""

    general_discount_percentage: float | None = Field(None, ge=-1000, le=100)
    invoice_email: str | None = None

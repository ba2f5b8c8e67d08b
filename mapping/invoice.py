"""Booked customer invoices, Rackbeat -> PowerOffice Go sales order drafts (R-INV-1..11).

An invoice is transferred once (create only): ``decide(..., create_only=True)``. Its customer
and the products on its lines must be synced first: :func:`invoice_links` names them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from clients.models import (
    LineType,
    RackbeatCustomerInvoice,
    SalesOrderCompletePost,
    SalesOrderStatus,
)
from mapping.context import RecordContext, parse_record
from mapping.decision import MappedRecord, Skip
from mapping.fingerprint import fingerprint
from mapping.references import invoice_line_reference, invoice_reference
from mapping.supplier import currency_code
from mapping.tables import MAX_DESCRIPTION_LENGTH, MAX_TEXT_LENGTH

__all__ = [
    "REASON_NOT_BOOKED",
    "InvoiceLinks",
    "invoice_links",
    "map_invoice",
    "parse_invoice",
]

REASON_NOT_BOOKED: Final = "invoice not booked"
"""R-INV-1: only booked ("Fakturerad") invoices are transferred."""


def parse_invoice(raw: Mapping[str, Any] | RackbeatCustomerInvoice) -> RackbeatCustomerInvoice:
    """A Rackbeat customer invoice from the ledger's snapshot (or as is); bad data rejects."""
    return parse_record(RackbeatCustomerInvoice, raw, kind="invoice", key_field="number")


@dataclass(frozen=True, slots=True)
class InvoiceLinks:
    """What must exist in PowerOffice Go before the invoice can be written."""

    customer_number: int
    product_codes: tuple[str, ...]


def _line_number(ctx: RecordContext, index: int, value: str | None) -> str:
    number = ctx.code(f"lines[{index}].item.number", value, max_length=100)
    if number is None:
        ctx.reject(f"lines[{index}].item.number", "the line names no product number")
    return number


def invoice_links(record: RackbeatCustomerInvoice) -> InvoiceLinks:
    """The customer number and the distinct product codes (in line order) of an invoice."""
    ctx = RecordContext("invoice", str(record.number))
    customer = record.customer_number
    if customer is None:
        ctx.reject("customer.number", "the invoice names no customer")
    codes = [_line_number(ctx, i, line.item_number) for i, line in enumerate(record.lines)]
    return InvoiceLinks(customer_number=customer, product_codes=tuple(dict.fromkeys(codes)))


def map_invoice(
    record: RackbeatCustomerInvoice,
    *,
    customer_id: int,
    employee_map: Mapping[int, int] | None = None,
) -> MappedRecord | Skip:
    """R-INV-1..11: a booked invoice as a ``SalesOrderCompletePost`` draft.

    ``customer_id`` is the PowerOffice Go ``Id`` of the invoice's customer; ``employee_map``
    maps a Rackbeat employee number (``our_reference.number``) to a PowerOffice Go employee
    number (R-INV-6). Lines carry product codes; PowerOffice Go resolves them. The draft is
    never sent (R-INV-2): there is no delivery field on it, and nothing here calls
    ``createAndSendInvoice``.
    """
    key = str(record.number)
    ctx = RecordContext("invoice", key)
    if not record.is_booked:  # R-INV-1
        return Skip(reason=REASON_NOT_BOOKED)
    order_date = record.invoice_date  # R-INV-4
    if order_date is None and record.booked_at is not None:
        order_date = record.booked_at.date()
    if order_date is None:
        ctx.warn(
            "missing_date",
            "neither invoice_date nor booked_at: PowerOffice Go uses the send date",
            field="invoice_date",
        )
    employee_number: int | None = None  # R-INV-6
    if record.our_reference is not None and record.our_reference.number is not None:
        employee_number = (employee_map or {}).get(record.our_reference.number)
        if employee_number is None:
            ctx.warn(
                "unmapped_employee",
                f"employee {record.our_reference.number} has no PowerOffice Go employee; "
                "our reference left out",
                field="our_reference.number",
            )
    lines: list[dict[str, Any]] = []
    note = ctx.description("note", record.note, max_length=MAX_DESCRIPTION_LENGTH)
    if note is not None:  # R-INV-11
        lines.append({"line_type": LineType.TEXT, "description": note})
    for index, line in enumerate(record.lines):  # R-INV-10
        quantity = ctx.amount(f"lines[{index}].quantity", line.quantity, allow_negative=True)
        if quantity is None:
            ctx.reject(f"lines[{index}].quantity", "the line has no quantity")
        lines.append(
            {
                "line_type": LineType.NORMAL,
                "product_code": _line_number(ctx, index, line.item_number),
                "description": ctx.description(
                    f"lines[{index}].name", line.name, max_length=MAX_DESCRIPTION_LENGTH
                ),
                "quantity": quantity,
                "allowance": ctx.percent(
                    f"lines[{index}].discount_percentage", line.discount_percentage
                ),
                "product_unit_price": ctx.amount(
                    f"lines[{index}].line_price", line.line_price, allow_negative=True
                ),
            }
        )
    for sort_order, fields in enumerate(lines):
        fields["sort_order"] = sort_order
        fields["external_import_reference"] = invoice_line_reference(record.number, sort_order)
    order_number = record.order_number
    payload = ctx.build(
        SalesOrderCompletePost,
        {
            "customer_id": customer_id,
            "sales_order_status": SalesOrderStatus.DRAFT,  # R-INV-1
            "imported_order_no": record.number,  # R-INV-3
            "sales_order_date": order_date,
            "currency_code": currency_code(ctx, "currency", record.currency),  # R-INV-5
            "sales_person_employee_number": employee_number,
            "customer_reference": ctx.text(  # R-INV-7
                "their_reference", record.their_reference, max_length=MAX_TEXT_LENGTH
            ),
            "purchase_order_reference": ctx.text(  # R-INV-8
                "heading", record.heading, max_length=MAX_TEXT_LENGTH
            ),
            "contract_no": str(order_number) if order_number is not None else None,  # R-INV-9
            "external_import_reference": invoice_reference(record.number),
            "sales_order_lines": lines,
        },
    )
    return MappedRecord(
        kind="invoice",
        key=key,
        reference=invoice_reference(record.number),
        payload=payload,
        fingerprint=fingerprint(payload),
        warnings=tuple(ctx.warnings),
    )

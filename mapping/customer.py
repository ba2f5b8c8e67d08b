"""Customers, Rackbeat -> PowerOffice Go (R-CUST-1..9)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clients.models import (
    CustomerPost,
    InvoiceDeliveryType,
    PaymentTermPost,
    RackbeatCustomer,
    invoice_email_of,
)
from mapping.address import RackbeatAddress, mail_address, org_number
from mapping.context import RecordContext, parse_record
from mapping.decision import MappedRecord
from mapping.fingerprint import fingerprint
from mapping.references import customer_reference
from mapping.tables import MAX_TEXT_LENGTH

__all__ = [
    "customer_payment_days",
    "invoice_delivery_type",
    "map_customer",
    "parse_customer",
    "payment_term_for",
    "payment_term_to_resolve",
]


def parse_customer(raw: Mapping[str, Any] | RackbeatCustomer) -> RackbeatCustomer:
    """A Rackbeat customer from the ledger's snapshot (or as is); bad data -> RecordRejected."""
    return parse_record(RackbeatCustomer, raw, kind="customer", key_field="number")


def invoice_delivery_type(invoice_email: str | None) -> InvoiceDeliveryType:
    """R-CUST-7: ``PdfByEmail`` ("EPOST") with an invoice e-mail, else ``Print`` ("UTSKRIFT")."""
    return InvoiceDeliveryType.PDF_BY_EMAIL if invoice_email else InvoiceDeliveryType.PRINT


def _invoice_email_field(record: RackbeatCustomer) -> str:
    """Where :func:`~clients.models.invoice_email_of` took the invoice e-mail from (R-CUST-6),
    for a warning: ``invoice_email``, else the first ``cc_invoice`` contact's address."""
    if record.invoice_email is not None:
        return "invoice_email"
    return "contacts[cc_invoice].contact_email"


def customer_payment_days(record: RackbeatCustomer) -> int | None:
    """R-CUST-9: the customer's credit days (``payment_terms.maturity_days``), if any."""
    if record.payment_terms is None:
        return None
    return record.payment_terms.maturity_days


def payment_term_to_resolve(
    record: RackbeatCustomer,
    *,
    remote_id: str | None,
    unchanged: bool,
    written: Mapping[str, Any] | None,
) -> int | None:
    """R-CUST-9 on update: the credit days whose ``/PaymentTerms`` entry must be resolved, or
    None when no term is needed.

    A create carries the days themselves (``PaymentTerm``); a PATCH takes ``PaymentTermId``
    only, so an update of a customer whose days changed since what was last written needs the
    term's id. An unchanged customer, a new one, or unchanged days need none -- so an unchanged
    customer costs no request at all.
    """
    if remote_id is None or unchanged:
        return None
    days = customer_payment_days(record)
    if days is None or days == (written or {}).get("PaymentTerm"):
        return None
    return days


def payment_term_for(days: int) -> PaymentTermPost:
    """R-CUST-9: the ``/PaymentTerms`` entry to create when none has these credit days."""
    return PaymentTermPost(name=f"{days} dager", credit_days=days)


def map_customer(
    record: RackbeatCustomer,
    *,
    payment_term_id: int | None = None,
    number_from_rackbeat: bool = False,
) -> MappedRecord:
    """R-CUST-1..9: a Rackbeat customer as ``CustomerPost``.

    ``PaymentTerm`` (days) is what a create sends; a PATCH only accepts ``PaymentTermId``, so
    for an update the caller passes ``payment_term_id`` (the ``/PaymentTerms`` entry with those
    credit days, created from :func:`payment_term_for` when missing). ``number_from_rackbeat``
    (setting ``customer_number_from_rackbeat``) also sends ``Number``.
    """
    key = str(record.number)
    ctx = RecordContext("customer", key)
    # R-CUST-1: name, else company_name. Not ``record.display_name``: a name blank only to
    # the eye (a zero-width space) must fall back to company_name as an absent one does.
    name = ctx.text("name", record.name, max_length=MAX_TEXT_LENGTH) or ctx.text(
        "company_name", record.company_name, max_length=MAX_TEXT_LENGTH
    )
    if name is None:
        ctx.reject("name", "the customer has neither name nor company_name")
    address, country = mail_address(  # R-CUST-3
        ctx,
        RackbeatAddress(
            street=record.address_street,
            street2=record.address_street2,
            zipcode=record.address_zipcode,
            city=record.address_city,
            country=record.address_country,
        ),
    )
    orgnr = org_number(ctx, "company_vat", record.company_vat, country_hint=country)  # R-CUST-4
    invoice_email = ctx.email(  # R-CUST-6: an address that is not one counts as none
        _invoice_email_field(record),
        invoice_email_of(record),
        consequence="invoices go by print (R-CUST-7)",
    )
    payload = ctx.build(
        CustomerPost,
        {
            "name": name,
            "phone_number": ctx.text(  # R-CUST-2
                "contact_phone", record.contact_phone, max_length=MAX_TEXT_LENGTH
            ),
            "mail_address": address,
            "organization_number": orgnr.number if orgnr is not None else None,
            "email_address": ctx.email("contact_email", record.contact_email),  # R-CUST-5
            "invoice_email_address": invoice_email,
            "invoice_delivery_type": invoice_delivery_type(invoice_email),  # R-CUST-7
            "allowance": ctx.percent(  # R-CUST-8
                "general_discount_percentage", record.general_discount_percentage
            ),
            "payment_term": customer_payment_days(record),  # R-CUST-9 (create)
            "payment_term_id": payment_term_id,  # R-CUST-9 (update)
            "external_import_reference": customer_reference(record.number),
            "external_number": record.number,
            "number": record.number if number_from_rackbeat else None,
        },
    )
    return MappedRecord(
        kind="customer",
        key=key,
        reference=customer_reference(record.number),
        payload=payload,
        fingerprint=fingerprint(payload),
        warnings=tuple(ctx.warnings),
    )

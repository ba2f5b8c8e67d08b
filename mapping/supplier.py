"""Suppliers, Rackbeat -> PowerOffice Go (R-SUP-1..11); create only.

PowerOffice Go v2 has no field for a supplier's payment terms (R-SUP-4) or VAT zone (R-SUP-8):
both are computed and returned in ``MappedRecord.manual`` (``payment_days``, ``vat_zone``) so
that the ledger keeps them and an operator can be shown what to set by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

import pycountry

from clients.models import ContactGroupPost, RackbeatSupplier, SupplierPost
from mapping.address import RackbeatAddress, mail_address, org_number
from mapping.context import RecordContext, parse_record
from mapping.decision import MappedRecord, Skip
from mapping.fingerprint import fingerprint
from mapping.references import supplier_reference
from mapping.tables import (
    DEFAULT_SUPPLIER_PAYMENT_DAYS,
    DOMESTIC_COUNTRY,
    MAX_TEXT_LENGTH,
    SUPPLIER_CONTACT_GROUP_NAME,
)

__all__ = [
    "REASON_NO_VAT_NUMBER",
    "contact_group_for",
    "currency_code",
    "map_supplier",
    "parse_supplier",
    "supplier_payment_days",
    "supplier_skip",
    "vat_zone_for",
]

REASON_NO_VAT_NUMBER: Final = "no VAT number"
"""R-SUP-10: the skip reason of a supplier without a VAT (organisation) number."""

VatZone = Literal["Domestic", "Abroad"]


def parse_supplier(raw: Mapping[str, Any] | RackbeatSupplier) -> RackbeatSupplier:
    """A Rackbeat supplier from the ledger's snapshot (or as is); bad data -> RecordRejected."""
    return parse_record(RackbeatSupplier, raw, kind="supplier", key_field="number")


def contact_group_for(name: str = SUPPLIER_CONTACT_GROUP_NAME) -> ContactGroupPost:
    """R-SUP-9: the contact group to create when PowerOffice Go has none of that name."""
    return ContactGroupPost(name=name)


def supplier_payment_days(
    record: RackbeatSupplier, default: int = DEFAULT_SUPPLIER_PAYMENT_DAYS
) -> int:
    """R-SUP-4: ``payment_terms.maturity_days``, default 14."""
    if record.payment_terms is not None and record.payment_terms.maturity_days is not None:
        return record.payment_terms.maturity_days
    return default


def vat_zone_for(country: str | None) -> VatZone:
    """R-SUP-8: ``Domestic`` for NO, otherwise ``Abroad``.

    A supplier with no country counts as domestic: PowerOffice Go assumes NO for an address
    without a country code, so the two systems agree.
    """
    return "Domestic" if country in (None, DOMESTIC_COUNTRY) else "Abroad"


def currency_code(ctx: RecordContext, field: str, value: str | None) -> str | None:
    """R-SUP-7 / R-INV-5: an ISO 4217 code (pycountry); anything else rejects the record."""
    text = ctx.text(field, value)
    if text is None:
        return None
    code = text.upper()
    if not (len(code) == 3 and code.isascii() and code.isalpha()) or (
        pycountry.currencies.get(alpha_3=code) is None
    ):
        ctx.reject(field, f"{value!r} is not an ISO 4217 currency code")
    return code


def supplier_skip(record: RackbeatSupplier) -> Skip | None:
    """R-SUP-10: a supplier without a VAT number is not transferred (the skip), else None.

    Decided before anything is created for the supplier (its contact group, R-SUP-9).
    """
    if record.company_vat is None or not record.company_vat.strip():
        return Skip(reason=REASON_NO_VAT_NUMBER)
    return None


def map_supplier(record: RackbeatSupplier, *, contact_group_id: int) -> MappedRecord | Skip:
    """R-SUP-1..10: a Rackbeat supplier as ``SupplierPost``, or a skip without a VAT number.

    ``contact_group_id`` is the ``Id`` of the PowerOffice Go contact group named
    ``PowerOffice`` (R-SUP-9), found or created by the caller. R-SUP-11 (create only) is
    :func:`mapping.decision.decide`'s ``create_only=True``.
    """
    key = str(record.number)
    ctx = RecordContext("supplier", key)
    skip = supplier_skip(record)  # R-SUP-10
    if skip is not None:
        return skip
    address, country = mail_address(  # R-SUP-3
        ctx,
        RackbeatAddress(
            street=record.address_street,
            street2=record.address_street2,
            zipcode=record.address_zipcode,
            city=record.address_city,
            country=record.address_country,
        ),
    )
    manual = {
        "payment_days": supplier_payment_days(record),  # R-SUP-4
        "vat_zone": vat_zone_for(country),  # R-SUP-8
    }
    orgnr = org_number(ctx, "company_vat", record.company_vat, country_hint=country)  # R-SUP-5
    # R-SUP-1: company_name, else name; not ``record.display_name``, so that a company name
    # blank only to the eye (a zero-width space) falls back as an absent one does.
    name = ctx.text("company_name", record.company_name, max_length=MAX_TEXT_LENGTH) or ctx.text(
        "name", record.name, max_length=MAX_TEXT_LENGTH
    )
    if name is None:
        ctx.reject("company_name", "the supplier has neither company_name nor name")
    payload = ctx.build(
        SupplierPost,
        {
            "name": name,
            "number": record.number,  # R-SUP-2
            "external_import_reference": supplier_reference(record.number),
            "mail_address": address,
            "organization_number": orgnr.number if orgnr is not None else None,
            "email_address": ctx.email("contact_email", record.contact_email),  # R-SUP-6
            "phone_number": ctx.text(
                "contact_phone", record.contact_phone, max_length=MAX_TEXT_LENGTH
            ),
            "currency_code": currency_code(ctx, "currency", record.currency),  # R-SUP-7
            "contact_group_ids": (contact_group_id,),  # R-SUP-9
        },
    )
    return MappedRecord(
        kind="supplier",
        key=key,
        reference=supplier_reference(record.number),
        payload=payload,
        fingerprint=fingerprint(payload),
        warnings=tuple(ctx.warnings),
        manual=manual,
    )

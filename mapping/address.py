"""R-CUST-3 / R-SUP-3: a Rackbeat address as ``MailAddress`` (``ContactAddressPostDto``)."""

from __future__ import annotations

from dataclasses import dataclass

from clients.models import ContactAddressPost
from mapping.context import RecordContext
from mapping.country import UnknownCountryError, country_code
from mapping.orgnr import OrgNumber, UnusableNumberError, normalise_org_number

__all__ = ["RackbeatAddress", "mail_address", "org_number", "resolve_country"]


@dataclass(frozen=True, slots=True)
class RackbeatAddress:
    """The ``address_*`` fields customers and suppliers share."""

    street: str | None
    street2: str | None
    zipcode: str | None
    city: str | None
    country: str | None


def resolve_country(ctx: RecordContext, value: str | None) -> str | None:
    """R-CUST-3: the ISO alpha-2 code of ``address_country``; a wrong value rejects."""
    if value is None or not value.strip():
        return None
    try:
        return country_code(value)
    except UnknownCountryError as exc:
        ctx.reject("address_country", str(exc))


def mail_address(
    ctx: RecordContext, address: RackbeatAddress
) -> tuple[ContactAddressPost | None, str | None]:
    """R-CUST-3: ``MailAddress`` (or None with a ``missing_address`` warning) and the country.

    PowerOffice Go requires ``City`` and ``ZipCode`` in an address: without them the contact
    is sent with no address at all. The country is checked either way (the article insists
    on ISO codes, so a wrong country is a data error worth surfacing) and returned, because
    the organisation number (R-CUST-4) and the VAT zone (R-SUP-8) depend on it.
    """
    country = resolve_country(ctx, address.country)
    street = ctx.text("address_street", address.street, max_length=200)
    street2 = ctx.text("address_street2", address.street2, max_length=200)
    zipcode = ctx.text("address_zipcode", address.zipcode, max_length=50)
    city = ctx.text("address_city", address.city, max_length=100)
    if zipcode is None or city is None:
        missing = " and ".join(
            name
            for name, value in (("address_zipcode", zipcode), ("address_city", city))
            if value is None
        )
        ctx.warn(
            "missing_address",
            f"{missing} missing: sent without MailAddress (PowerOffice Go requires both)",
            field=missing.split(" and ")[0],
        )
        return None, country
    post = ctx.build(
        ContactAddressPost,
        {
            "address_line1": street,
            "address_line2": street2,
            "zip_code": zipcode,
            "city": city,
            "country_code": country,
        },
        prefix="MailAddress.",
    )
    return post, country


def org_number(
    ctx: RecordContext, field: str, value: str | None, *, country_hint: str | None
) -> OrgNumber | None:
    """R-CUST-4 / R-SUP-5: the normalised number; a bad checksum is only a warning."""
    if value is None or not value.strip():
        return None
    try:
        result = normalise_org_number(value, country_hint=country_hint)
    except UnusableNumberError as exc:
        ctx.reject(field, str(exc))
    if result.valid is False:
        ctx.warn(
            "invalid_org_number_checksum",
            f"{result.number} fails the {result.country} organisation-number check; sent as is",
            field=field,
        )
    return result

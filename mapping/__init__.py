"""rbsync mapping: the rules R-* as pure functions from wire models to decisions.

No I/O, no settings, no database: lookups (PowerOffice Go ids of the product group, contact
group, payment term; the employee map; the account table) come in as arguments. Each
``map_<kind>`` returns a :class:`MappedRecord` (or a :class:`Skip` where a rule says the record
is not transferred) or raises :class:`RecordRejected`; :func:`decide` turns a mapped record and
the ledger's knowledge into :class:`Create`, :class:`Update` or :class:`Skip`. See
``docs/mapping.md``.
"""

from __future__ import annotations

from mapping.country import UnknownCountryError, country_code
from mapping.customer import (
    customer_payment_days,
    invoice_delivery_type,
    map_customer,
    parse_customer,
    payment_term_for,
    payment_term_to_resolve,
)
from mapping.decision import (
    REASON_CREATE_ONLY,
    REASON_INVOICE_TRANSFERRED,
    REASON_NO_PATCHABLE_CHANGE,
    REASON_UNCHANGED,
    Create,
    Decision,
    MappedRecord,
    MappingWarning,
    Skip,
    Update,
    decide,
    held_view,
    patch_operations,
)
from mapping.errors import RecordRejected
from mapping.fingerprint import fingerprint, fingerprint_of_wire
from mapping.initial import (
    customer_create_for,
    parse_poweroffice_customer,
    parse_poweroffice_product,
    parse_poweroffice_product_group,
    parse_poweroffice_supplier,
    product_create_for,
    product_group_create_for,
    supplier_create_for,
    supplier_group_create,
    unit_create_for,
    unit_name_for,
)
from mapping.invoice import (
    REASON_NOT_BOOKED,
    InvoiceLinks,
    invoice_links,
    map_invoice,
    parse_invoice,
)
from mapping.orgnr import OrgNumber, UnusableNumberError, normalise_org_number
from mapping.product import (
    map_product,
    parse_lot,
    parse_product,
    product_group_code,
    product_group_for,
    product_type_of,
    unit_code_for,
)
from mapping.references import (
    customer_reference,
    invoice_line_reference,
    invoice_reference,
    supplier_reference,
)
from mapping.supplier import (
    REASON_NO_VAT_NUMBER,
    contact_group_for,
    map_supplier,
    parse_supplier,
    supplier_payment_days,
    supplier_skip,
    vat_zone_for,
)
from mapping.tables import (
    DEFAULT_SUPPLIER_PAYMENT_DAYS,
    OPTIONAL_SALES_ACCOUNT,
    SALES_ACCOUNTS,
    SUPPLIER_CONTACT_GROUP_NAME,
    UNIT_ENGLISH_NAMES,
    UNIT_TABLE,
)

__all__ = [
    "DEFAULT_SUPPLIER_PAYMENT_DAYS",
    "OPTIONAL_SALES_ACCOUNT",
    "REASON_CREATE_ONLY",
    "REASON_INVOICE_TRANSFERRED",
    "REASON_NOT_BOOKED",
    "REASON_NO_PATCHABLE_CHANGE",
    "REASON_NO_VAT_NUMBER",
    "REASON_UNCHANGED",
    "SALES_ACCOUNTS",
    "SUPPLIER_CONTACT_GROUP_NAME",
    "UNIT_ENGLISH_NAMES",
    "UNIT_TABLE",
    "Create",
    "Decision",
    "InvoiceLinks",
    "MappedRecord",
    "MappingWarning",
    "OrgNumber",
    "RecordRejected",
    "Skip",
    "UnknownCountryError",
    "UnusableNumberError",
    "Update",
    "contact_group_for",
    "country_code",
    "customer_create_for",
    "customer_payment_days",
    "customer_reference",
    "decide",
    "fingerprint",
    "fingerprint_of_wire",
    "held_view",
    "invoice_delivery_type",
    "invoice_line_reference",
    "invoice_links",
    "invoice_reference",
    "map_customer",
    "map_invoice",
    "map_product",
    "map_supplier",
    "normalise_org_number",
    "parse_customer",
    "parse_invoice",
    "parse_lot",
    "parse_poweroffice_customer",
    "parse_poweroffice_product",
    "parse_poweroffice_product_group",
    "parse_poweroffice_supplier",
    "parse_product",
    "parse_supplier",
    "patch_operations",
    "payment_term_for",
    "payment_term_to_resolve",
    "product_create_for",
    "product_group_code",
    "product_group_create_for",
    "product_group_for",
    "product_type_of",
    "supplier_create_for",
    "supplier_group_create",
    "supplier_payment_days",
    "supplier_reference",
    "supplier_skip",
    "unit_code_for",
    "unit_create_for",
    "unit_name_for",
    "vat_zone_for",
]

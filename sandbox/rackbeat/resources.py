"""The Rackbeat resources the emulator serves: names, envelope keys, writable fields.

Envelope keys follow docs/api-facts.md, Rackbeat 2 (the singular snake_case key for one object, the
plural for a list). Writable fields follow the write payloads in sections 5.2 and 6: relations
are written as ``*_id`` (or ``group`` on products) holding the related entity's number, stored
under the relation's name and rendered as an embedded object.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RESOURCES", "FieldSpec", "Resource"]

STRING = "string"
INTEGER = "integer"
NUMBER = "number"
BOOLEAN = "boolean"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One writable field: its JSON type, where it is stored, what it must refer to."""

    kind: str
    stored_as: str | None = None
    references: str | None = None
    nullable: bool = False


@dataclass(frozen=True, slots=True)
class Resource:
    """One collection under ``/api/``."""

    path: str
    plural: str
    singular: str
    int_key: bool = True
    writable: bool = False
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    defaults: dict[str, object] = field(default_factory=dict)
    sortable: frozenset[str] = frozenset()
    booked_filter: bool = False

    def stored_name(self, name: str) -> str:
        spec = self.fields[name]
        return spec.stored_as or name


_COMMON_SORT = frozenset({"number", "created_at", "updated_at"})

_ADDRESS = {
    name: FieldSpec(STRING)
    for name in (
        "address_street",
        "address_street2",
        "address_city",
        "address_zipcode",
        "address_country",
        "contact_email",
        "contact_phone",
        "locale",
        "currency",
        "vat_zone",
        "company_vat",
    )
}

_ITEM_FIELDS = {
    "number": FieldSpec(STRING),
    "name": FieldSpec(STRING),
    "description": FieldSpec(STRING),
    "barcode": FieldSpec(STRING),
    "group": FieldSpec(INTEGER, references="product-groups"),
    "unit_id": FieldSpec(INTEGER, stored_as="unit", references="units", nullable=True),
    "sales_price": FieldSpec(NUMBER),
    "recommended_cost_price": FieldSpec(NUMBER),
    "cost_price": FieldSpec(NUMBER),
    "is_barred": FieldSpec(BOOLEAN),
    "inventory_enabled": FieldSpec(BOOLEAN),
}

_ITEM_SORT = _COMMON_SORT | {"name", "sales_price", "recommended_cost_price", "barcode"}

RESOURCES: dict[str, Resource] = {
    r.path: r
    for r in (
        Resource(
            "units",
            "units",
            "unit",
            writable=True,
            fields={
                "number": FieldSpec(INTEGER),
                "name": FieldSpec(STRING),
                "is_draft": FieldSpec(BOOLEAN),
            },
            required=("name",),
            defaults={"is_draft": False},
            sortable=_COMMON_SORT | {"name"},
        ),
        Resource(
            "product-groups",
            "product_groups",
            "product_group",
            writable=True,
            fields={
                "number": FieldSpec(INTEGER),
                "name": FieldSpec(STRING),
                "has_inventory": FieldSpec(BOOLEAN),
                "is_sellable": FieldSpec(BOOLEAN),
                "vat_domestic": FieldSpec(NUMBER),
                "vat_eu": FieldSpec(NUMBER),
                "vat_abroad": FieldSpec(NUMBER),
                "vat_domestic_exempt": FieldSpec(NUMBER),
                "is_draft": FieldSpec(BOOLEAN),
            },
            required=("name",),
            defaults={
                "has_inventory": True,
                "is_sellable": True,
                "vat_domestic": 25,
                "vat_eu": 0,
                "vat_abroad": 0,
                "vat_domestic_exempt": 0,
                "is_draft": False,
            },
            sortable=_COMMON_SORT | {"name"},
        ),
        Resource(
            "products",
            "products",
            "product",
            int_key=False,
            writable=True,
            fields=_ITEM_FIELDS,
            # The minimum of the product form (docs/api-facts.md, Rackbeat 7).
            required=("number", "name", "group", "sales_price"),
            defaults={
                "description": "",
                "barcode": "",
                "unit": None,
                "recommended_cost_price": 0.0,
                "cost_price": 0.0,
                "stock_quantity": 0,
                "is_barred": False,
            },
            sortable=_ITEM_SORT | {"stock_quantity"},
        ),
        Resource("lots", "lots", "lot", int_key=False, sortable=_ITEM_SORT),
        Resource(
            "supplier-groups",
            "supplier_groups",
            "supplier_group",
            writable=True,
            fields={"number": FieldSpec(INTEGER), "name": FieldSpec(STRING)},
            required=("name",),
            sortable=_COMMON_SORT | {"name"},
        ),
        Resource(
            "suppliers",
            "suppliers",
            "supplier",
            writable=True,
            fields={
                "number": FieldSpec(INTEGER),
                "company_name": FieldSpec(STRING),
                **_ADDRESS,
                "payment_terms_id": FieldSpec(
                    INTEGER, stored_as="payment_terms", references="payment-terms", nullable=True
                ),
                "supplier_group_id": FieldSpec(
                    INTEGER,
                    stored_as="supplier_group",
                    references="supplier-groups",
                    nullable=True,
                ),
            },
            required=("company_name",),
            defaults={
                "company_vat": "",
                "address_street": "",
                "address_street2": "",
                "address_city": "",
                "address_zipcode": "",
                "address_country": "",
                "contact_email": "",
                "contact_phone": "",
                "locale": "nb",
                "currency": "NOK",
                "vat_zone": "domestic",
                "payment_terms": None,
                "supplier_group": None,
                "is_deleted": False,
            },
            sortable=_COMMON_SORT | {"company_name"},
        ),
        Resource(
            "customers",
            "customers",
            "customer",
            writable=True,
            fields={
                "number": FieldSpec(INTEGER),
                "company_name": FieldSpec(STRING),
                "name": FieldSpec(STRING, stored_as="company_name"),
                **_ADDRESS,
                "ean": FieldSpec(STRING),
                "invoice_email": FieldSpec(STRING),
                "general_discount_percentage": FieldSpec(NUMBER),
                "payment_terms_id": FieldSpec(
                    INTEGER, stored_as="payment_terms", references="payment-terms", nullable=True
                ),
                "employee_id": FieldSpec(
                    INTEGER, stored_as="employee", references="employees", nullable=True
                ),
                "is_barred": FieldSpec(BOOLEAN),
            },
            required=("company_name",),
            defaults={
                "company_vat": "",
                "ean": "",
                "address_street": "",
                "address_street2": "",
                "address_city": "",
                "address_zipcode": "",
                "address_country": "",
                "contact_email": "",
                "contact_phone": "",
                "invoice_email": "",
                "locale": "nb",
                "currency": "NOK",
                "vat_zone": "domestic",
                "general_discount_percentage": 0.0,
                "payment_terms": None,
                "employee": None,
                "is_barred": False,
            },
            sortable=_COMMON_SORT | {"company_name"},
        ),
        Resource(
            "customer-invoices",
            "customer_invoices",
            "customer_invoice",
            sortable=_COMMON_SORT | {"invoice_date", "booked_at"},
            booked_filter=True,
        ),
        Resource(
            "orders",
            "orders",
            "order",
            sortable=_COMMON_SORT | {"booked_at"},
            booked_filter=True,
        ),
        Resource("payment-terms", "payment_terms", "payment_term", sortable=_COMMON_SORT),
        Resource("employees", "employees", "employee", sortable=_COMMON_SORT | {"name"}),
    )
}

"""The PowerOffice Go client company in memory: resources, their rules, reads and writes.

Rules enforced (the verified facts of docs/api-facts.md, "PowerOffice Go", and the choices of
docs/rules.md / the inferred facts, each in one named place below):

- product and product group ``Code`` unique (case-insensitive); ``Name`` required on
  products; ``ExternalImportReference`` unique per contact class and per sales order (and per
  line within an order), at most :data:`MAX_EXTERNAL_IMPORT_REFERENCE` characters;
  ``ExternalNumber`` and ``Number`` unique per contact class; a customer ``Number`` inside the
  customer sub-ledger series;
- ``City`` and ``ZipCode`` required in an address; ISO country and currency codes;
- enum members (``schema.coerce``); references to groups, accounts, payment terms, contact
  groups, customers, products and employees must exist (404 naming them);
- a sales-order line with a product needs ``Quantity``; a text line carries no product.

Refused duplicates are counted (``duplicates_refused``) so that a test can prove that none was
created. Every method expects the caller (the backend) to hold its lock.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonpatch
import jsonpointer
import pycountry

from sandbox.counters import Counters
from sandbox.poweroffice import reference
from sandbox.poweroffice.dtos import DTOS, PATCH_FIELDS, REQUIRED, Field
from sandbox.poweroffice.generator import GeneratedData
from sandbox.poweroffice.schema import (
    VALIDATION_TITLE,
    canonical_name,
    coerce,
    coerce_value,
    field_error,
)
from sandbox.poweroffice.store import Record, Table, index_key
from sandbox.poweroffice.wire import ApiError

__all__ = [
    "CUSTOMER_NUMBER_SERIES",
    "MAX_EXTERNAL_IMPORT_REFERENCE",
    "RESOURCES",
    "PowerOfficeState",
    "Resource",
]

MAX_EXTERNAL_IMPORT_REFERENCE = 50
CUSTOMER_NUMBER_SERIES = (10000, 19999)
"""The client's customer sub-ledger series; a customer ``Number`` outside it is refused."""
SUPPLIER_NUMBER_START = 20000
"""Where automatic supplier numbers start (supplier numbers are not range-checked: R-SUP-2
sends Rackbeat's number as ``Number``)."""
DEFAULT_CURRENCY = "NOK"
DEFAULT_COUNTRY = "NO"
ALLOWANCE_RANGE = (-1000.0, 100.0)
NOT_DIRECTLY_SETTABLE_DELIVERY = frozenset({"AvtaleGiro", "Efaktura"})
NEEDS_THIRD_PARTY_DELIVERY = frozenset({"External", "Factoring"})


@dataclass(frozen=True, slots=True)
class Resource:
    """One v2 resource: its DTO names, create status and error title."""

    name: str
    post_dto: str | None
    dto: str
    patch_dto: str | None
    create_status: int
    title: str
    indexed: tuple[str, ...] = ()


RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in (
        Resource(
            "Products", "ProductPostDto", "ProductDto", "ProductPatchDto", 200,
            "Product validation error(s)", ("Code", "ProductGroupCode"),
        ),
        Resource(
            "ProductGroups", "ProductGroupPostDto", "ProductGroupDto", "ProductGroupPatchDto",
            201, "Product group validation error(s)", ("Code",),
        ),
        Resource(
            "Customers", "CustomerPostDto", "CustomerDto", "CustomerPatchDto", 201,
            "Customer validation error(s)",
            ("ExternalImportReference", "ExternalNumber", "Number"),
        ),
        Resource(
            "Suppliers", "SupplierPostDto", "SupplierDto", "SupplierPatchDto", 201,
            "Supplier validation error(s)",
            ("ExternalImportReference", "ExternalNumber", "Number"),
        ),
        Resource(
            "SalesOrders", "SalesOrderCompletePostDto", "SalesOrderCompleteDto",
            "SalesOrderPatchDto", 201, "Sales order validation error(s)",
            ("ExternalImportReference", "CustomerNo"),
        ),
        Resource(
            "ContactGroups", "ContactGroupPostDto", "ContactGroupDto", None, 201,
            "Contact group validation error(s)",
        ),
        Resource(
            "PaymentTerms", "PaymentTermPostDto", "PaymentTermDto", None, 201,
            "Payment term validation error(s)", ("CreditDays",),
        ),
        Resource("GeneralLedgerAccounts", None, "GeneralLedgerAccountDto", None, 0, "",
                 ("AccountNo",)),
        Resource("VatCodes", None, "VatCodeDto", None, 0, "", ("Code",)),
    )
}  # fmt: skip

_SALES_ORDER_HEADER_FIELDS = tuple(f for f in DTOS["SalesOrderDto"])


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _fmt(moment: datetime) -> str:
    """One timestamp format everywhere, so that stored stamps compare as strings."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_after(value: str, name: str) -> str:
    """A ``...GreaterThan`` filter value as a comparable stamp (400 when unparsable)."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise field_error(name, f"The value '{value}' is not a valid DateTimeOffset.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _fmt(moment)


class PowerOfficeState:
    """All tables of one client company plus the rules that guard them."""

    def __init__(
        self,
        *,
        counters: Counters,
        now: Callable[[], datetime],
        monotonic: Callable[[], float],
        lag: Callable[[], float],
        id_base: int = 0,
    ) -> None:
        self.counters = counters
        self._now = now
        # Ids are unique across PowerOffice Go, not per client: each client company of the
        # emulator numbers its records from its own base (the default company from 0).
        self._id_base = id_base
        self.tables: dict[str, Table] = {
            name: Table(name, indexed=res.indexed, now=monotonic, lag=lag)
            for name, res in RESOURCES.items()
        }
        self._last_stamp = ""
        self._ids = itertools.count(1)
        self._contact_ids = itertools.count(1)
        self._order_numbers = itertools.count(1)
        self._address_ids = itertools.count(1)
        self.employees: dict[int, tuple[int, str]] = {}
        self.employee_numbers: dict[int, int] = {}
        self.client_created = ""
        self._historic = False

    # --- life cycle ---------------------------------------------------------------------------
    def clear(self) -> None:
        """An empty company with only its reference data."""
        for table in self.tables.values():
            table.clear()
        self._last_stamp = ""
        self._ids = itertools.count(self._id_base + 100_001)
        self._contact_ids = itertools.count(self._id_base + 1_000_001)
        self._order_numbers = itertools.count(1)
        self._address_ids = itertools.count(self._id_base + 7_000_001)
        created = self.stamp()
        self.client_created = created
        for record in reference.vat_code_records():
            self.tables["VatCodes"].put(record["Id"], record, at=float("-inf"))
        for record in reference.general_ledger_account_records(created):
            self.tables["GeneralLedgerAccounts"].put(record["Id"], record, at=float("-inf"))
        for record in reference.payment_term_records(created):
            self.tables["PaymentTerms"].put(record["Id"], record, at=float("-inf"))
        self.employees = {eid: (number, name) for eid, number, name in reference.EMPLOYEES}
        self.employee_numbers = {number: eid for eid, number, _ in reference.EMPLOYEES}

    def load(self, data: GeneratedData) -> dict[str, int]:
        """Store generated records as if typed in by a bookkeeper (not by the integration).

        They are history: visible to reads at once, whatever the replica lag.
        """
        self._historic = True
        try:
            self._load(data)
        finally:
            self._historic = False
        return self.summary()

    def _load(self, data: GeneratedData) -> None:
        for body in data.contact_groups:
            self.create("ContactGroups", body, by_integration=False)
        for body in data.product_groups:
            self.create("ProductGroups", body, by_integration=False)
        for body in data.products:
            self.create("Products", body, by_integration=False)
        for body in data.suppliers:
            self.create("Suppliers", body, by_integration=False)
        for body in data.customers:
            self.create("Customers", body, by_integration=False)

    def summary(self) -> dict[str, int]:
        return {name: len(table) for name, table in self.tables.items()}

    def dump(self) -> dict[str, list[Record]]:
        return {name: table.dump() for name, table in self.tables.items()}

    def stamp(self) -> str:
        """A timestamp strictly after every earlier one (cursors compare with ``>``)."""
        moment = self._now()
        stamp = _fmt(moment)
        if stamp <= self._last_stamp:
            last = datetime.fromisoformat(self._last_stamp)
            stamp = _fmt(last + timedelta(microseconds=1))
        self._last_stamp = stamp
        return stamp

    # --- reads -------------------------------------------------------------------------------
    def get(self, resource: str, record_id: Any) -> Record:
        record = self.tables[resource].visible(record_id)
        if record is None:
            raise ApiError(
                404, "Not Found", f"{_singular(resource)} with id = {record_id} not found."
            )
        return record

    # --- writes ------------------------------------------------------------------------------
    def create(self, resource: str, body: Any, *, by_integration: bool = True) -> Record:
        """Validate and store a new record; return it as the read DTO."""
        res = RESOURCES[resource]
        assert res.post_dto is not None
        values = coerce(res.post_dto, body)
        _check_required(res, values)
        builder = self._builders()[resource]
        record = builder(values, None, by_integration)
        at = float("-inf") if self._historic else None
        self.tables[resource].put(record["Id"], record, at=at)
        if not self._historic:
            # Generated history is no write of anyone's: not counted.
            self.counters.count_write(resource, "created")
        return record

    def patch(self, resource: str, record_id: Any, operations: Any) -> Record:
        """Apply an RFC 6902 JSON Patch restricted to the resource's PatchDto fields."""
        res = RESOURCES[resource]
        assert res.patch_dto is not None
        existing = self.tables[resource].current(record_id)
        if existing is None:
            raise ApiError(
                404, "Not Found", f"{_singular(resource)} with id = {record_id} not found."
            )
        allowed = PATCH_FIELDS[res.patch_dto]
        document = {name: _patch_view(existing.get(name), name) for name in allowed}
        ops = _normalise_patch(operations, allowed)
        try:
            patched = jsonpatch.JsonPatch(ops).apply(document)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
            raise ApiError(
                400, VALIDATION_TITLE, f"JSON Patch could not be applied: {exc}"
            ) from None
        values: dict[str, Any] = {}
        for name in allowed:
            if name not in patched:
                patched[name] = None  # "remove" clears a property
            if patched[name] == document[name]:
                continue
            spec = _writable_spec(res, name)
            values[name] = coerce_value(spec, patched[name], f"$.{name}")
        if not values:
            return existing
        builder = self._builders()[resource]
        record = builder(values, existing, True)
        self.tables[resource].put(record_id, record)
        self.counters.count_write(resource, "updated")
        return record

    def delete(self, resource: str, record_id: Any) -> None:
        existing = self.tables[resource].current(record_id)
        if existing is None:
            raise ApiError(
                404, "Not Found", f"{_singular(resource)} with id = {record_id} not found."
            )
        in_use = self._in_use(resource, existing)
        if in_use:
            raise ApiError(409, "Conflict", in_use)
        self.tables[resource].delete(record_id)
        self.counters.count_write(resource, "deleted")

    def duplicate(self, resource: str, record_id: Any) -> Record:
        """A copy of a record under a new id, past the API's uniqueness rules: what an import
        in PowerOffice Go's own screens, or another integration, may leave behind (a second
        product with one ``Code``). Only products, customers and suppliers; visible at once."""
        if resource not in ("Products", "Customers", "Suppliers"):
            raise ApiError(400, VALIDATION_TITLE, f"{resource} records cannot be duplicated")
        existing = self.tables[resource].current(record_id)
        if existing is None:
            raise ApiError(
                404, "Not Found", f"{_singular(resource)} with id = {record_id} not found."
            )
        copy = dict(existing)
        ids = self._ids if resource == "Products" else self._contact_ids
        copy["Id"] = next(ids)
        copy["LastChangedDateTimeOffset"] = self.stamp()
        self.tables[resource].put(copy["Id"], copy, at=float("-inf"))
        self.counters.count_event("duplicated_by_hand")
        return copy

    # --- helpers for the builders ------------------------------------------------------------
    def _builders(self) -> Mapping[str, Callable[[dict[str, Any], Record | None, bool], Record]]:
        return {
            "Products": self._product,
            "ProductGroups": self._product_group,
            "Customers": lambda v, e, b: self._contact("Customers", v, e, b),
            "Suppliers": lambda v, e, b: self._contact("Suppliers", v, e, b),
            "SalesOrders": self._sales_order,
            "ContactGroups": self._contact_group,
            "PaymentTerms": self._payment_term,
        }

    def _refuse_duplicate(self, resource: str, detail: str) -> ApiError:
        self.counters.count_write(resource, "duplicates_refused")
        return ApiError(400, RESOURCES[resource].title, detail)

    def _unique(self, resource: str, field: str, record: Record, describe: str) -> None:
        value = record.get(field)
        if value is None:
            return
        for other in self.tables[resource].find_current(field, value):
            if other != record["Id"]:
                raise self._refuse_duplicate(
                    resource, describe.format(value=value, id=other, field=field)
                )

    def _account(self, record: Record, values: Mapping[str, Any], prefix: str) -> None:
        """Resolve ``<prefix>Id`` (wins) or the account number ``<prefix>`` to both."""
        accounts = self.tables["GeneralLedgerAccounts"]
        id_field = f"{prefix}Id"
        if values.get(id_field) is not None:
            account = accounts.current(values[id_field])
            if account is None:
                raise ApiError(
                    404,
                    "Not Found",
                    f"General ledger account with id = {values[id_field]} not found.",
                )
        elif values.get(prefix) is not None:
            found = accounts.find_current("AccountNo", values[prefix])
            if not found:
                raise ApiError(
                    404,
                    "Not Found",
                    f"General ledger account with number = {values[prefix]} not found.",
                )
            account = accounts.current(found[0])
        elif id_field in values or prefix in values:
            account = None
        else:
            return
        record[id_field] = account["Id"] if account else None
        record[prefix] = account["AccountNo"] if account else None

    def _payment_term(
        self, values: dict[str, Any], existing: Record | None, by_integration: bool
    ) -> Record:
        del by_integration
        record = self._start("PaymentTermDto", values, existing)
        if _blank(record["Name"]):
            raise field_error("$.Name", "The Name field is required.")
        if record["CreditDays"] is None or record["CreditDays"] < 0:
            raise field_error("$.CreditDays", "CreditDays is required and must be 0 or more.")
        record.setdefault("IsActive", True)
        record["IsActive"] = True if record["IsActive"] is None else record["IsActive"]
        record["IsDefault"] = bool(record["IsDefault"])
        return self._finish(record, existing, next(self._ids))

    def _contact_group(
        self, values: dict[str, Any], existing: Record | None, by_integration: bool
    ) -> Record:
        del by_integration
        record = self._start("ContactGroupDto", values, existing)
        if _blank(record["Name"]):
            raise field_error("$.Name", "The Name field is required.")
        return self._finish(record, existing, next(self._ids))

    def _start(self, dto: str, values: Mapping[str, Any], existing: Record | None) -> Record:
        record = dict(existing) if existing else dict.fromkeys(DTOS[dto])
        for name, value in values.items():
            if name in DTOS[dto]:
                record[name] = value
        return record

    def _finish(
        self,
        record: Record,
        existing: Record | None,
        new_id: Any,
        *,
        created_fields: Iterable[str] = ("CreatedDateTimeOffset",),
        touch: bool = True,
    ) -> Record:
        stamp = self.stamp()
        if existing is None:
            record["Id"] = new_id
            for name in created_fields:
                record[name] = stamp
        if touch or existing is None:
            record["LastChangedDateTimeOffset"] = stamp
        return record

    # --- product groups and products ---------------------------------------------------------
    def _product_group(
        self, values: dict[str, Any], existing: Record | None, by_integration: bool
    ) -> Record:
        del by_integration
        record = self._start("ProductGroupDto", values, existing)
        for prefix in ("StandardSalesAccount", "OptionalSalesAccount"):
            self._account(record, values, prefix)
        _defaults(record, ProductType="Product", IsArchived=False)
        _defaults(
            record,
            StandardSalesAccountAgricultureDepartment="None",
            OptionalSalesAccountAgricultureDepartment="None",
        )
        record = self._finish(record, existing, next(self._ids) if existing is None else None)
        self._unique(
            "ProductGroups", "Code", record,
            "Code '{value}' is already in use on (product group) Id = {id}.",
        )  # fmt: skip
        if existing is not None and existing.get("Code") != record.get("Code"):
            self._regroup_products(existing.get("Code"), record)
        return record

    def _regroup_products(self, old_code: str | None, group: Record) -> None:
        """Products show their group's code (read-only): follow a renamed group."""
        if old_code is None:
            return
        products = self.tables["Products"]
        for product_id in products.find_current("ProductGroupCode", old_code):
            product = products.current(product_id)
            if product is not None and product.get("ProductGroupId") == group["Id"]:
                products.put(product_id, {**product, "ProductGroupCode": group["Code"]})

    def _product(
        self, values: dict[str, Any], existing: Record | None, by_integration: bool
    ) -> Record:
        del by_integration
        record = self._start("ProductDto", values, existing)
        groups = self.tables["ProductGroups"]
        if values.get("ProductGroupId") is not None:
            group = groups.current(values["ProductGroupId"])
            if group is None:
                raise ApiError(
                    404,
                    "Not Found",
                    f"Product group with id = {values['ProductGroupId']} not found.",
                )
        elif values.get("ProductGroupCode") is not None:
            found = groups.find_current("Code", values["ProductGroupCode"])
            if not found:
                raise ApiError(
                    404,
                    "Not Found",
                    f"Product group with code = '{values['ProductGroupCode']}' not found.",
                )
            group = groups.current(found[0])
        elif existing is not None and "ProductGroupId" not in values:
            group = (
                groups.current(existing["ProductGroupId"]) if existing["ProductGroupId"] else None
            )
        else:
            group = None
        record["ProductGroupId"] = group["Id"] if group else None
        record["ProductGroupCode"] = group["Code"] if group else None
        for prefix in ("StandardSalesAccount", "OptionalSalesAccount"):
            self._account(record, values, prefix)
        if _blank(record["Name"]):
            raise field_error("$.Name", "The Name field is required.")
        _defaults(record, ProductType="Product", IsArchived=False, IsStockItem=False)
        _defaults(
            record,
            StandardSalesAccountAgricultureDepartment="None",
            OptionalSalesAccountAgricultureDepartment="None",
        )
        record["StockAvailable"] = record["StockOnHand"]
        stock_changed = "StockOnHand" in values and (
            existing is None or existing.get("StockOnHand") != values["StockOnHand"]
        )
        # A stock change alone does not move LastChangedDateTimeOffset (spec: ProductDto).
        other_changes = existing is None or any(name != "StockOnHand" for name in values)
        record = self._finish(
            record, existing, next(self._ids) if existing is None else None, touch=other_changes
        )
        if stock_changed:
            record["StockOnHandLastChangedDatetimeOffset"] = self.stamp()
        self._unique(
            "Products", "Code", record, "Code '{value}' is already in use on (product) Id = {id}."
        )
        return record

    # --- customers and suppliers -------------------------------------------------------------
    def _contact(  # noqa: PLR0912
        self,
        resource: str,
        values: dict[str, Any],
        existing: Record | None,
        by_integration: bool,
    ) -> Record:
        del by_integration
        res = RESOURCES[resource]
        is_customer = resource == "Customers"
        record = self._start(res.dto, values, existing)
        title = res.title
        # Name: a company needs Name, a person FirstName and LastName (spec descriptions).
        if record.get("IsPerson"):
            missing = [f for f in ("FirstName", "LastName") if _blank(record.get(f))]
            if missing:
                raise ApiError(
                    400, title, f"{' and '.join(missing)} required when IsPerson is true.",
                    errors={f"$.{f}": [f"The {f} field is required."] for f in missing},
                )  # fmt: skip
            if _blank(record.get("Name")):
                record["Name"] = f"{record['FirstName']} {record['LastName']}"
        elif _blank(record.get("Name")):
            raise ApiError(
                400, title, "Name is required when the contact is a company (IsPerson false).",
                errors={"$.Name": ["The Name field is required."]},
            )  # fmt: skip
        _defaults(record, IsPerson=False, IsArchived=False, CurrencyCode=DEFAULT_CURRENCY)
        reference_value = record.get("ExternalImportReference")
        if reference_value is not None and len(reference_value) > MAX_EXTERNAL_IMPORT_REFERENCE:
            raise field_error(
                "$.ExternalImportReference",
                f"The field must be a string with a maximum length of "
                f"{MAX_EXTERNAL_IMPORT_REFERENCE}.",
            )
        _check_currency(record["CurrencyCode"])
        if "MailAddress" in values:
            record["MailAddress"] = self._address(
                values["MailAddress"], existing.get("MailAddress") if existing else None
            )
        if record.get("ContactGroupIds"):
            for group_id in record["ContactGroupIds"]:
                if self.tables["ContactGroups"].current(group_id) is None:
                    raise ApiError(
                        404, "Not Found", f"Contact group with id = {group_id} not found."
                    )
        for code_field in ("DepartmentCode", "DeliveryTerm", "InvoiceBrandingThemeCode"):
            if values.get(code_field) is not None:
                raise ApiError(
                    404, "Not Found",
                    f"{_label(code_field)} with code = '{values[code_field]}' not found.",
                )  # fmt: skip
        for id_field in ("DepartmentId", "DeliveryTermId", "InvoiceBrandingThemeId"):
            if values.get(id_field) is not None:
                raise ApiError(
                    404, "Not Found", f"{_label(id_field)} with id = {values[id_field]} not found."
                )
        if is_customer:
            self._customer_rules(record, values, title)
        number = record.get("Number")
        if number is None:
            record["Number"] = self._next_number(resource)
        elif is_customer and not (CUSTOMER_NUMBER_SERIES[0] <= number <= CUSTOMER_NUMBER_SERIES[1]):
            raise ApiError(
                400, title,
                f"Number {number} is not within a customer sub-ledger number series "
                f"({CUSTOMER_NUMBER_SERIES[0]}-{CUSTOMER_NUMBER_SERIES[1]}).",
            )  # fmt: skip
        # A change to the address alone leaves LastChangedDateTimeOffset (spec: CustomerDto).
        touch = existing is None or any(name != "MailAddress" for name in values)
        new_id = next(self._contact_ids) if existing is None else None
        created = ("ContactCreatedDateTimeOffset",) + (
            ("CustomerCreatedDateTimeOffset",)
            if is_customer
            else ("SupplierCreatedDateTimeOffset",)
        )
        record = self._finish(record, existing, new_id, created_fields=created, touch=touch)
        record["IsActive"] = not record["IsArchived"]
        record["SubledgerAccountId"] = record["Id"]
        kind = "contact"
        self._unique(
            resource, "ExternalImportReference", record,
            "ExternalImportReference is already in use. '{value}' is used on (" + kind
            + ") Id = {id}.",
        )  # fmt: skip
        self._unique(
            resource, "ExternalNumber", record,
            "ExternalNumber is already in use. '{value}' is used on (" + kind + ") Id = {id}.",
        )  # fmt: skip
        self._unique(
            resource, "Number", record,
            "Number is already in use. '{value}' is used on (" + kind + ") Id = {id}.",
        )  # fmt: skip
        return record

    def _customer_rules(self, record: Record, values: Mapping[str, Any], title: str) -> None:
        allowance = record.get("Allowance")
        if allowance is not None and not ALLOWANCE_RANGE[0] <= allowance <= ALLOWANCE_RANGE[1]:
            raise field_error("$.Allowance", "Allowance must be between -1000 and 100.")
        delivery = record.get("InvoiceDeliveryType")
        if "InvoiceDeliveryType" in values or delivery is None:
            if delivery is None:
                record["InvoiceDeliveryType"] = "Print"
            elif delivery in NOT_DIRECTLY_SETTABLE_DELIVERY:
                raise ApiError(
                    400, title, f"InvoiceDeliveryType {delivery} cannot be set directly."
                )
            elif delivery in NEEDS_THIRD_PARTY_DELIVERY:
                raise ApiError(
                    400, title,
                    f"InvoiceDeliveryType {delivery} needs an active third-party integration.",
                )  # fmt: skip
            elif (
                delivery == "PdfByEmail"
                and _blank(record.get("EmailAddress"))
                and _blank(record.get("InvoiceEmailAddress"))
            ):
                raise ApiError(
                    400, title,
                    "InvoiceDeliveryType PdfByEmail needs EmailAddress or InvoiceEmailAddress.",
                )  # fmt: skip
            elif delivery == "EHF" and _blank(record.get("OrganizationNumber")):
                raise ApiError(400, title, "InvoiceDeliveryType EHF needs an OrganizationNumber.")
        terms = self.tables["PaymentTerms"]
        if values.get("PaymentTermId") is not None:
            term = terms.current(values["PaymentTermId"])
            if term is None:
                raise ApiError(
                    404, "Not Found", f"Payment term with id = {values['PaymentTermId']} not found."
                )
            record["PaymentTerm"] = term["CreditDays"]
        elif values.get("PaymentTerm") is not None:
            days = values["PaymentTerm"]
            if days < 0:
                raise field_error("$.PaymentTerm", "PaymentTerm must be 0 or more days.")
            found = terms.find_current("CreditDays", days)
            record["PaymentTermId"] = found[0] if found else None
        employee = self._employee(values)
        if employee is not None:
            record["SalesPersonEmployeeId"], record["SalesPersonEmployeeNumber"] = employee

    def _employee(self, values: Mapping[str, Any]) -> tuple[int, int] | None:
        if values.get("SalesPersonEmployeeId") is not None:
            employee_id = values["SalesPersonEmployeeId"]
            if employee_id not in self.employees:
                raise ApiError(404, "Not Found", f"Employee with id = {employee_id} not found.")
            return employee_id, self.employees[employee_id][0]
        if values.get("SalesPersonEmployeeNumber") is not None:
            number = values["SalesPersonEmployeeNumber"]
            if number not in self.employee_numbers:
                raise ApiError(404, "Not Found", f"Employee with number = {number} not found.")
            return self.employee_numbers[number], number
        return None

    def _address(self, value: Any, existing: Record | None) -> Record | None:
        if value is None:
            return None
        address: Record = dict(existing) if existing else {}
        for name in DTOS["ContactAddressPostDto"]:
            if name in value:
                address[name] = value[name]
            else:
                address.setdefault(name, None)
        missing = [f for f in ("City", "ZipCode") if _blank(address.get(f))]
        if missing:
            raise ApiError(
                400, VALIDATION_TITLE,
                f"MailAddress: {' and '.join(missing)} required in an address.",
                errors={f"$.MailAddress.{f}": [f"The {f} field is required."] for f in missing},
            )  # fmt: skip
        country = (address.get("CountryCode") or DEFAULT_COUNTRY).upper()
        if len(country) != 2 or pycountry.countries.get(alpha_2=country) is None:
            raise field_error(
                "$.MailAddress.CountryCode",
                f"'{address.get('CountryCode')}' is not an ISO 3166-1 alpha-2 country code.",
            )
        address["CountryCode"] = country
        address["Id"] = existing["Id"] if existing else next(self._address_ids)
        address["LastChangedDateTimeOffset"] = self.stamp()
        return address

    def _next_number(self, resource: str) -> int:
        start = CUSTOMER_NUMBER_SERIES[0] if resource == "Customers" else SUPPLIER_NUMBER_START
        numbers = [r["Number"] for _, r in self.tables[resource].current_items() if r.get("Number")]
        candidates = [n for n in numbers if n >= start]
        return max(candidates, default=start) + 1

    # --- sales orders ------------------------------------------------------------------------
    def _sales_order(  # noqa: PLR0912, PLR0915
        self, values: dict[str, Any], existing: Record | None, by_integration: bool
    ) -> Record:
        title = RESOURCES["SalesOrders"].title
        record = self._start("SalesOrderCompleteDto", values, existing)
        if existing is not None and existing.get("SalesOrderStatus") == "Confirmed":
            changed = set(values) - {"SalesOrderStatus"}
            if changed and values.get("SalesOrderStatus") != "Draft":
                raise ApiError(
                    400, title, "The sales order is Confirmed; set SalesOrderStatus to Draft first."
                )
        customers = self.tables["Customers"]
        customer: Record | None
        if values.get("CustomerId") is not None:
            customer = customers.current(values["CustomerId"])
            if customer is None:
                raise ApiError(
                    404, "Not Found", f"Customer with id = {values['CustomerId']} not found."
                )
        elif values.get("CustomerNo") is not None:
            found = customers.find_current("Number", values["CustomerNo"])
            if not found:
                raise ApiError(
                    404, "Not Found", f"Customer with number = {values['CustomerNo']} not found."
                )
            customer = customers.current(found[0])
        elif existing is not None:
            customer = customers.current(existing["CustomerId"])
        else:
            # Inferred: a sales order without a customer is refused.
            raise ApiError(400, title, "A customer is required (CustomerId or CustomerNo).")
        if customer is None:
            raise ApiError(400, title, "The sales order's customer no longer exists.")
        record["CustomerId"] = customer["Id"]
        record["CustomerNo"] = customer["Number"]
        reference_value = record.get("ExternalImportReference")
        if reference_value is not None and len(reference_value) > MAX_EXTERNAL_IMPORT_REFERENCE:
            raise field_error(
                "$.ExternalImportReference",
                f"The field must be a string with a maximum length of "
                f"{MAX_EXTERNAL_IMPORT_REFERENCE}.",
            )
        _defaults(
            record,
            SalesOrderStatus="Draft",
            CurrencyCode=customer.get("CurrencyCode") or DEFAULT_CURRENCY,
            CurrencyExchangeRate=1.0,
            SalesOrderDate=self._now().date().isoformat(),
        )
        _check_currency(record["CurrencyCode"])
        terms = self.tables["PaymentTerms"]
        if values.get("PaymentTermId") is not None:
            term = terms.current(values["PaymentTermId"])
            if term is None:
                raise ApiError(
                    404, "Not Found", f"Payment term with id = {values['PaymentTermId']} not found."
                )
            record["PaymentTerm"] = term["CreditDays"]
        elif existing is None:
            days = values.get("PaymentTerm", customer.get("PaymentTerm"))
            record["PaymentTerm"] = days
            found = terms.find_current("CreditDays", days) if days is not None else []
            record["PaymentTermId"] = found[0] if found else customer.get("PaymentTermId")
        employee = self._employee(values)
        if employee is not None:
            record["SalesPersonEmployeeId"], record["SalesPersonEmployeeNumber"] = employee
        for code_field in (
            "BrandingThemeCode", "DeliveryTerm", "DepartmentCode", "ProjectCode", "LocationCode",
            "Dim1Code", "Dim2Code", "Dim3Code",
        ):  # fmt: skip
            if values.get(code_field) is not None:
                raise ApiError(
                    404, "Not Found",
                    f"{_label(code_field)} with code = '{values[code_field]}' not found.",
                )  # fmt: skip
        if existing is None:
            lines = values.get("SalesOrderLines") or []
            record["SalesOrderLines"] = self._lines(lines, customer, title)
            record["SalesOrderNo"] = next(self._order_numbers)
            record["IsCreatedByCurrentIntegration"] = by_integration
        _totals(record)
        new_id = str(uuid.uuid4()) if existing is None else None
        record = self._finish(record, existing, new_id)
        for line in record["SalesOrderLines"]:
            line["SalesOrderId"] = record["Id"]
        self._unique(
            "SalesOrders", "ExternalImportReference", record,
            "ExternalImportReference is already in use. '{value}' is used on (sales order) "
            "Id = {id}.",
        )  # fmt: skip
        return record

    def _lines(  # noqa: PLR0912
        self, lines: list[dict[str, Any]], customer: Record, title: str
    ) -> list[Record]:
        products = self.tables["Products"]
        seen_refs: dict[Any, int] = {}
        result = []
        for n, values in enumerate(lines):
            path = f"$.SalesOrderLines[{n}]"
            line: Record = dict.fromkeys(DTOS["SalesOrderLineDto"])
            for name, value in values.items():
                if name in line:
                    line[name] = value
            line["LineType"] = line["LineType"] or "Normal"
            product: Record | None = None
            if values.get("ProductId") is not None:
                product = products.current(values["ProductId"])
                if product is None:
                    raise ApiError(
                        404, "Not Found", f"Product with id = {values['ProductId']} not found."
                    )
            elif values.get("ProductCode") is not None:
                found = products.find_current("Code", values["ProductCode"])
                if not found:
                    raise ApiError(
                        404,
                        "Not Found",
                        f"Product with code = '{values['ProductCode']}' not found.",
                    )
                product = products.current(found[0])
            if product is not None:
                if line["LineType"] == "Text":
                    raise ApiError(400, title, f"{path}: a Text line cannot carry a product.")
                if line["Quantity"] is None:
                    raise ApiError(
                        400, title, f"{path}: Quantity is required when a product is set.",
                        errors={f"{path}.Quantity": ["Quantity is required with a product."]},
                    )  # fmt: skip
                line["ProductId"] = product["Id"]
                line["ProductCode"] = product["Code"]
                _defaults(
                    line,
                    Description=product["Name"],
                    ProductUnitPrice=product.get("UnitPrice"),
                    ProductUnitCost=product.get("UnitCost"),
                    UnitOfMeasureCode=product.get("UnitOfMeasureCode"),
                )
            if line["LineType"] == "Normal":
                _defaults(line, Allowance=customer.get("Allowance"))
            ref = line.get("ExternalImportReference")
            if ref is not None:
                if len(ref) > MAX_EXTERNAL_IMPORT_REFERENCE:
                    raise field_error(
                        f"{path}.ExternalImportReference",
                        f"The field must be a string with a maximum length of "
                        f"{MAX_EXTERNAL_IMPORT_REFERENCE}.",
                    )
                key = index_key(ref)
                if key in seen_refs:
                    raise self._refuse_duplicate(
                        "SalesOrders",
                        f"{path}: ExternalImportReference '{ref}' is already used on line "
                        f"{seen_refs[key]} of this sales order.",
                    )
                seen_refs[key] = n
            employee_id = values.get("SellersReferenceEmployeeId")
            employee_no = values.get("SellersReferenceEmployeeNo")
            if employee_id is not None or employee_no is not None:
                found_employee = self._employee(
                    {"SalesPersonEmployeeId": employee_id, "SalesPersonEmployeeNumber": employee_no}
                )
                assert found_employee is not None
                line["SellersReferenceEmployeeId"], line["SellersReferenceEmployeeNo"] = (
                    found_employee
                )
            vat_code, vat_rate = self._line_vat(
                product, customer, line.get("UseStandardSalesAccount")
            )
            line["VatCode"], line["VatRate"] = vat_code, vat_rate
            line["VatId"] = _vat_id(vat_code)
            line["SortOrder"] = n if line["SortOrder"] is None else line["SortOrder"]
            _line_amounts(line)
            line["Id"] = str(uuid.uuid4())
            result.append(line)
        return result

    def _line_vat(
        self, product: Record | None, customer: Record, use_standard: bool | None
    ) -> tuple[str | None, float | None]:
        """The VAT code comes from the sales account used (spec: SalesOrderLineDto.VatCode)."""
        if product is None:
            return None, None
        if use_standard is None:
            use_standard = not customer.get("IsVatFree")
        prefix = "StandardSalesAccount" if use_standard else "OptionalSalesAccount"
        account_id = product.get(f"{prefix}Id")
        if account_id is None and product.get("ProductGroupId") is not None:
            group = self.tables["ProductGroups"].current(product["ProductGroupId"])
            account_id = group.get(f"{prefix}Id") if group else None
        if account_id is None:
            account_id = reference.GL_ACCOUNT_ID_BASE + (3000 if use_standard else 3100)
        account = self.tables["GeneralLedgerAccounts"].current(account_id)
        code = account.get("VatCode") if account else None
        rate = next((r for _, c, _, r, _ in reference.VAT_CODES if c == code), 0.0)
        return code, rate

    def _in_use(self, resource: str, record: Record) -> str | None:
        if resource == "Products":
            for _, order in self.tables["SalesOrders"].current_items():
                if any(line.get("ProductId") == record["Id"] for line in order["SalesOrderLines"]):
                    return f"Product with id = {record['Id']} is in use and cannot be deleted."
        if resource == "ProductGroups" and self.tables["Products"].find_current(
            "ProductGroupCode", record["Code"]
        ):
            return f"Product group with id = {record['Id']} is in use and cannot be deleted."
        if resource == "Customers" and self.tables["SalesOrders"].find_current(
            "CustomerNo", record["Number"]
        ):
            return f"Customer with id = {record['Id']} has sales orders and cannot be deleted."
        return None


def _singular(resource: str) -> str:
    return {
        "Products": "Product",
        "ProductGroups": "Product group",
        "Customers": "Customer",
        "Suppliers": "Supplier",
        "SalesOrders": "Sales order",
        "ContactGroups": "Contact group",
        "PaymentTerms": "Payment term",
        "GeneralLedgerAccounts": "General ledger account",
        "VatCodes": "Vat code",
    }[resource]


def _label(field: str) -> str:
    base = field.removesuffix("Id").removesuffix("Code")
    return {
        "Department": "Department",
        "DeliveryTerm": "Delivery term",
        "InvoiceBrandingTheme": "Branding theme",
        "BrandingTheme": "Branding theme",
        "Project": "Project",
        "Location": "Location",
        "Dim1": "Dimension 1",
        "Dim2": "Dimension 2",
        "Dim3": "Dimension 3",
    }.get(base, base)


def _defaults(record: Record, **defaults: Any) -> None:
    for name, value in defaults.items():
        if record.get(name) is None:
            record[name] = value


def _check_required(res: Resource, values: Mapping[str, Any]) -> None:
    assert res.post_dto is not None
    missing = [f for f in REQUIRED.get(res.post_dto, ()) if _blank(values.get(f))]
    if missing:
        raise ApiError(
            400,
            VALIDATION_TITLE,
            f"{', '.join(missing)} required.",
            errors={f"$.{f}": [f"The {f} field is required."] for f in missing},
        )


def _check_currency(code: str) -> None:
    if len(code) != 3 or pycountry.currencies.get(alpha_3=code.upper()) is None:
        raise field_error("$.CurrencyCode", f"'{code}' is not an ISO 4217 currency code.")


def _vat_id(code: str | None) -> int | None:
    return next((vid for vid, c, _, _, _ in reference.VAT_CODES if c == code), None)


def _line_amounts(line: Record) -> None:
    if line["LineType"] != "Normal" or line.get("Quantity") is None:
        line["NetAmount"] = 0.0
        line["VatAmount"] = 0.0
        line["TotalAmount"] = 0.0
        return
    price = line.get("ProductUnitPrice") or 0.0
    allowance = line.get("Allowance") or 0.0
    net = round(line["Quantity"] * price * (1 - allowance / 100), 2)
    vat = round(net * (line.get("VatRate") or 0.0), 2)
    line["NetAmount"] = net
    line["VatAmount"] = vat
    line["TotalAmount"] = round(net + vat, 2)


def _totals(record: Record) -> None:
    lines = record.get("SalesOrderLines") or []
    record["LineCount"] = len(lines)
    record["NetAmount"] = round(sum(line["NetAmount"] for line in lines), 2)
    record["TotalAmount"] = round(sum(line["TotalAmount"] for line in lines), 2)


def _patch_view(value: Any, name: str) -> Any:
    """What a PATCH document shows of a stored value (the address without read-only keys)."""
    if name == "MailAddress" and isinstance(value, dict):
        return {k: value.get(k) for k in PATCH_FIELDS["ContactAddressPatchDto"]}
    return value


def _writable_spec(res: Resource, name: str) -> Field:
    assert res.post_dto is not None
    spec = DTOS[res.post_dto].get(name) or DTOS[res.dto][name]
    if name == "MailAddress":
        return Field("object", "ContactAddressPostDto", False, None)
    return spec._replace(read_only=False)


def _normalise_patch(operations: Any, allowed: tuple[str, ...]) -> list[dict[str, Any]]:
    """Check every op's path against the PatchDto (case-insensitive) and canonicalise it."""
    if not isinstance(operations, list):
        raise ApiError(400, VALIDATION_TITLE, "A JSON Patch document must be a JSON array.")
    allowed_lower = {name.lower(): name for name in allowed}
    address_lower = {name.lower(): name for name in PATCH_FIELDS["ContactAddressPatchDto"]}
    result = []
    for n, raw in enumerate(operations):
        if not isinstance(raw, dict) or "op" not in raw or "path" not in raw:
            raise ApiError(400, VALIDATION_TITLE, f"Operation {n} needs 'op' and 'path'.")
        op = dict(raw)
        for key in ("path", "from"):
            if key not in op:
                continue
            segments = str(op[key]).split("/")
            if len(segments) < 2 or segments[0] != "":
                raise ApiError(400, VALIDATION_TITLE, f"The path '{op[key]}' is not valid.")
            top = allowed_lower.get(segments[1].lower())
            if top is None:
                raise ApiError(
                    400,
                    VALIDATION_TITLE,
                    f"The target location specified by path segment '{segments[1]}' was not "
                    f"found (path '{op[key]}'; patchable: {', '.join(allowed)}).",
                )
            segments[1] = top
            if len(segments) > 2:
                sub = address_lower.get(segments[2].lower()) if top == "MailAddress" else None
                if sub is None or len(segments) > 3:
                    raise ApiError(
                        400,
                        VALIDATION_TITLE,
                        f"The target location specified by path '{op[key]}' was not found.",
                    )
                segments[2] = sub
            op[key] = "/".join(segments)
        result.append(op)
    return result


def canonical_field(dto: str, name: str) -> str | None:
    """Re-exported for the HTTP layer (``Fields=``/``OrderBy=``)."""
    return canonical_name(dto, name)

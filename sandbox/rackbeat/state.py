"""The Rackbeat emulator's state: collections, the wire rendering, writes and touches.

Stored records are compact (see :mod:`sandbox.rackbeat.data`); :meth:`RackbeatState.render`
turns one into the JSON Rackbeat answers with: embedded ``group``/``unit``/``customer``/…
objects, ISO timestamps, ``urlfriendly_number`` and ``self`` links.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from sandbox.rackbeat.clock import Clock
from sandbox.rackbeat.data import Dataset, Record
from sandbox.rackbeat.resources import (
    BOOLEAN,
    INTEGER,
    NUMBER,
    RESOURCES,
    STRING,
    Resource,
)
from sandbox.rackbeat.store import Collection, ListQuery, Page
from sandbox.rackbeat.wire import format_date, format_datetime, urlfriendly_number

__all__ = ["RackbeatState", "WriteOutcome", "WriteRejectedError"]

Errors = dict[str, list[str]]

_TYPE_MESSAGES = {
    STRING: "must be a string",
    INTEGER: "must be an integer",
    NUMBER: "must be a number",
    BOOLEAN: "field must be true or false",
}

_TOUCH_FORBIDDEN = frozenset({"number", "created_at", "updated_at", "lines", "contacts"})


class WriteRejectedError(Exception):
    """A write refused with Rackbeat's 422 body ``{"errors": {field: [messages]}}``."""

    def __init__(self, errors: Errors, *, duplicate: bool = False) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors
        self.duplicate = duplicate


class WriteOutcome:
    """The stored record after a write, and whether it was a create."""

    __slots__ = ("created", "record")

    def __init__(self, record: Record, *, created: bool) -> None:
        self.record = record
        self.created = created


def _type_ok(kind: str, value: Any) -> bool:
    if kind == STRING:
        return isinstance(value, str)
    if kind == BOOLEAN:
        return isinstance(value, bool)
    if kind == INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, int | float) and not isinstance(value, bool)


class RackbeatState:
    """Every collection of one emulated Rackbeat account; thread-safe."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self._lock = threading.RLock()
        self.collections: dict[str, Collection] = {path: Collection(path) for path in RESOURCES}
        self._renderers: dict[str, Callable[[Record, str], dict[str, Any]]] = {
            "units": self._plain_renderer("units"),
            "payment-terms": self._plain_renderer("payment-terms"),
            "employees": self._plain_renderer("employees"),
            "supplier-groups": self._plain_renderer("supplier-groups"),
            "product-groups": self._plain_renderer("product-groups"),
            "products": self._render_item,
            "lots": self._render_lot,
            "customers": self._render_customer,
            "suppliers": self._render_supplier,
            "orders": self._render_order,
            "customer-invoices": self._render_invoice,
        }

    # --- loading ---------------------------------------------------------------------------

    def load(self, data: Dataset | None) -> dict[str, int]:
        """Replace every collection with ``data`` (``None`` = empty); return record counts."""
        with self._lock:
            by_resource = data.by_resource() if data is not None else {}
            for path, collection in self.collections.items():
                collection.load(by_resource.get(path, []))
            return {path: len(c) for path, c in self.collections.items()}

    # --- reading ---------------------------------------------------------------------------

    def get(self, path: str, key: str) -> Record | None:
        return self.collections[path].get(key)

    def query(self, path: str, query: ListQuery) -> Page:
        return self.collections[path].query(query)

    def render(self, path: str, record: Record, base: str) -> dict[str, Any]:
        """The wire JSON of one stored record; ``base`` is ``http://host:port/api/``."""
        return self._renderers[path](record, base)

    def snapshot(self, base: str) -> dict[str, list[dict[str, Any]]]:
        """Every record of every collection, rendered."""
        with self._lock:
            return {
                RESOURCES[path].plural: [self.render(path, r, base) for r in c.values()]
                for path, c in self.collections.items()
            }

    def _self_link(self, base: str, path: str, record: Record) -> str:
        number = record["number"]
        segment = urlfriendly_number(number) if isinstance(number, str) else str(number)
        return f"{base}{path}/{segment}"

    def _stamps(self, record: Record, out: dict[str, Any]) -> dict[str, Any]:
        out["created_at"] = format_datetime(record["created_at"])
        out["updated_at"] = format_datetime(record["updated_at"])
        return out

    def _plain_renderer(self, path: str) -> Callable[[Record, str], dict[str, Any]]:
        def render(record: Record, base: str) -> dict[str, Any]:
            out = dict(record)
            out["self"] = self._self_link(base, path, record)
            return self._stamps(record, out)

        return render

    def _embedded(self, path: str, number: Any, fields: tuple[str, ...], base: str) -> Any:
        if number is None:
            return None
        related = self.collections[path].get(str(number))
        if related is None:
            return {"number": number}
        out = {name: related.get(name) for name in fields}
        out["self"] = self._self_link(base, path, related)
        return out

    def _render_item(self, record: Record, base: str) -> dict[str, Any]:
        number = record["number"]
        group = self.collections["product-groups"].get(str(record["group"]))
        group_obj = (
            {
                "number": group["number"],
                "name": group["name"],
                "has_inventory": group["has_inventory"],
                "vat_domestic": group["vat_domestic"],
                "vat_eu": group["vat_eu"],
                "vat_abroad": group["vat_abroad"],
                "vat_domestic_exempt": group["vat_domestic_exempt"],
                "self": f"{base}product-groups/{group['number']}",
            }
            if group is not None
            else None
        )
        unit = self.collections["units"].get(str(record["unit"]))
        stock = record.get("stock_quantity", 0)
        inventory_enabled = record.get("inventory_enabled")
        if inventory_enabled is None:
            inventory_enabled = bool(group and group["has_inventory"])
        out: dict[str, Any] = {
            "number": number,
            "urlfriendly_number": urlfriendly_number(number),
            "type": "product",
            "name": record["name"],
            "description": record["description"],
            "barcode": record["barcode"],
            "sales_price": record["sales_price"],
            "recommended_sales_price": record["sales_price"],
            "cost_price": record["cost_price"],
            "recommended_cost_price": record["recommended_cost_price"],
            "stock_quantity": stock,
            "in_order_quantity": 0,
            "available_quantity": stock,
            "purchased_quantity": 0,
            "is_barred": record["is_barred"],
            "inventory_enabled": inventory_enabled,
            "group_id": record["group"],
            "group": group_obj,
            "unit_id": record["unit"],
            "unit": {"number": unit["number"], "name": unit["name"]} if unit else None,
            "deleted_at": None,
            "self": f"{base}products/{urlfriendly_number(number)}",
        }
        return self._stamps(record, out)

    def lot_lines(self, record: Record) -> list[dict[str, Any]]:
        """The component lines of a BOM in both the legacy and the newer shape."""
        products = self.collections["products"]
        lines = []
        for line_id, component, quantity in record["lines"]:
            product = products.get(component)
            unit_price = product["recommended_cost_price"] if product else 0.0
            lines.append(
                {
                    "id": line_id,
                    "product_id": component,
                    "child_id": component,
                    "child_type": "product",
                    "item": {"number": component, "type": "product"},
                    "name": product["name"] if product else component,
                    "quantity": quantity,
                    "unit_price": unit_price,
                    "line_price": round(unit_price * quantity, 2),
                    "location_id": 1,
                }
            )
        return lines

    def _render_lot(self, record: Record, base: str) -> dict[str, Any]:
        out = self._render_item(record, base)
        out["type"] = "lot"
        out["self"] = f"{base}lots/{urlfriendly_number(record['number'])}"
        out["lines"] = self.lot_lines(record)
        return out

    def _render_customer(self, record: Record, base: str) -> dict[str, Any]:
        out = {k: v for k, v in record.items() if k not in ("contacts",)}
        # docs/api-facts.md, Rackbeat 7: older responses say company_name, newer ones maybe name.
        out["name"] = record["company_name"]
        out["payment_terms_id"] = record["payment_terms"]
        out["payment_terms"] = self._embedded(
            "payment-terms",
            record["payment_terms"],
            ("number", "name", "type", "maturity_days"),
            base,
        )
        out["employee_id"] = record["employee"]
        out["employee"] = self._embedded(
            "employees", record["employee"], ("number", "name", "contact_email"), base
        )
        out["is_deleted"] = False
        out["self"] = self._self_link(base, "customers", record)
        return self._stamps(record, out)

    def _render_supplier(self, record: Record, base: str) -> dict[str, Any]:
        out = dict(record)
        out["payment_terms_id"] = record["payment_terms"]
        out["payment_terms"] = self._embedded(
            "payment-terms",
            record["payment_terms"],
            ("number", "name", "type", "maturity_days"),
            base,
        )
        out["supplier_group_id"] = record["supplier_group"]
        out["supplier_group"] = self._embedded(
            "supplier-groups", record["supplier_group"], ("number", "name"), base
        )
        out["self"] = self._self_link(base, "suppliers", record)
        return self._stamps(record, out)

    def _sales_lines(self, record: Record) -> list[dict[str, Any]]:
        return [
            {
                "id": line["id"],
                "child_type": "product",
                "child_id": line["item"],
                "item": {"number": line["item"], "type": "product"},
                "name": line["name"],
                "quantity": line["quantity"],
                "line_price": line["line_price"],
                "discount_percentage": line["discount_percentage"],
                "vat_percentage": line["vat_percentage"],
            }
            for line in record["lines"]
        ]

    def _totals(self, record: Record) -> tuple[float, float]:
        subtotal = 0.0
        total = 0.0
        for line in record["lines"]:
            net = line["quantity"] * line["line_price"] * (1 - line["discount_percentage"] / 100)
            subtotal += net
            total += net * (1 + line["vat_percentage"] / 100)
        return round(subtotal, 2), round(total, 2)

    def _sales_common(self, record: Record, base: str, path: str) -> dict[str, Any]:
        subtotal, total = self._totals(record)
        booked_at = record["booked_at"]
        out: dict[str, Any] = {
            "number": record["number"],
            "customer": self._embedded(
                "customers", record["customer"], ("number", "company_name", "name"), base
            ),
            "customer_id": record["customer"],
            "heading": record["heading"],
            "note": record["note"],
            "currency": record["currency"],
            "currency_rate": record.get("currency_rate", 100),
            "our_reference": self._embedded(
                "employees", record["our_reference"], ("number", "name", "contact_email"), base
            ),
            "their_reference": record["their_reference"],
            "is_booked": record["is_booked"],
            "booked_at": format_datetime(booked_at) if booked_at is not None else None,
            "total_subtotal": subtotal,
            "total_total": total,
            "lines": self._sales_lines(record),
            "self": self._self_link(base, path, record),
        }
        customer = self.collections["customers"].get(str(record["customer"]))
        if customer is not None and out["customer"] is not None:
            out["customer"]["name"] = customer["company_name"]
        return out

    def _render_order(self, record: Record, base: str) -> dict[str, Any]:
        out = self._sales_common(record, base, "orders")
        out.update(
            is_invoiced=record["is_invoiced"],
            is_partly_invoiced=False,
            is_shipped=record["is_invoiced"],
            is_partly_shipped=False,
            is_cancelled=False,
            is_archived=False,
        )
        return self._stamps(record, out)

    def _render_invoice(self, record: Record, base: str) -> dict[str, Any]:
        out = self._sales_common(record, base, "customer-invoices")
        order = record["order"]
        out["order"] = {"number": order} if order is not None else None
        out["order_id"] = order
        out["invoice_date"] = format_date(record["invoice_date"])
        out["due_date"] = format_date(record["invoice_date"] + record["payment_days"] * 86400)
        out["is_paid"] = record["is_paid"]
        out["balance"] = 0.0 if record["is_paid"] else out["total_total"]
        return self._stamps(record, out)

    # --- writing ---------------------------------------------------------------------------

    def _validate(
        self, resource: Resource, body: Mapping[str, Any], *, partial: bool
    ) -> dict[str, Any]:
        errors: Errors = {}
        changes: dict[str, Any] = {}
        for name, value in body.items():
            spec = resource.fields.get(name)
            if spec is None:
                continue  # Laravel ignores unknown input
            if value is None and spec.nullable:
                changes[spec.stored_as or name] = None
                continue
            if not _type_ok(spec.kind, value):
                errors.setdefault(name, []).append(f"The {name} {_TYPE_MESSAGES[spec.kind]}.")
                continue
            if spec.kind == STRING and name in resource.required and not value.strip():
                errors.setdefault(name, []).append(f"The {name} field is required.")
                continue
            if spec.references is not None and str(value) not in self.collections[spec.references]:
                errors.setdefault(name, []).append(f"The selected {name} is invalid.")
                continue
            changes[spec.stored_as or name] = value
        if not partial:
            for name in resource.required:
                if name not in changes and name not in errors:
                    errors.setdefault(name, []).append(f"The {name} field is required.")
        if errors:
            raise WriteRejectedError(errors)
        return changes

    def create(self, path: str, body: Mapping[str, Any]) -> WriteOutcome:
        """A ``POST`` on a writable collection; raises :class:`WriteRejectedError` (422)."""
        resource = RESOURCES[path]
        with self._lock:
            changes = self._validate(resource, body, partial=False)
            collection = self.collections[path]
            if "number" in changes:
                if str(changes["number"]) in collection:
                    raise WriteRejectedError(
                        {"number": ["The number has already been taken."]}, duplicate=True
                    )
            elif resource.int_key:
                changes["number"] = collection.max_number() + 1
            now = self.clock.now()
            record: Record = {**resource.defaults, **changes, "created_at": now, "updated_at": now}
            if path == "products" and "inventory_enabled" not in changes:
                group = self.collections["product-groups"].get(str(record["group"]))
                record["inventory_enabled"] = bool(group and group["has_inventory"])
            if path == "customers":
                record["contacts"] = []
            collection.add(record)
            return WriteOutcome(record, created=True)

    def update(self, path: str, key: str, body: Mapping[str, Any]) -> Record:
        """A ``PUT``: the given fields change, ``updated_at`` moves; ``KeyError`` if unknown."""
        resource = RESOURCES[path]
        with self._lock:
            collection = self.collections[path]
            record = collection.get(key)
            if record is None:
                raise KeyError(key)
            changes = self._validate(resource, body, partial=True)
            if "number" in changes and str(changes["number"]) != key:
                raise WriteRejectedError({"number": ["The number cannot be changed."]})
            changes["updated_at"] = self.clock.now()
            return collection.update(key, changes)

    def touch(self, path: str, key: str, fields: Mapping[str, Any]) -> Record:
        """Change a record as a user in Rackbeat would: set ``fields``, bump ``updated_at``.

        Writable resources validate like a ``PUT``; others (invoices, orders, …) accept any
        stored scalar field with a JSON value of the same type (e.g. ``is_booked``).
        """
        resource = RESOURCES[path]
        with self._lock:
            collection = self.collections[path]
            record = collection.get(key)
            if record is None:
                raise KeyError(key)
            changes: dict[str, Any] = {}
            errors: Errors = {}
            writable = {k: v for k, v in fields.items() if k in resource.fields}
            if writable:
                changes.update(self._validate(resource, writable, partial=True))
            for name, value in fields.items():
                if name in resource.fields:
                    continue
                if name in _TOUCH_FORBIDDEN or name not in record:
                    errors.setdefault(name, []).append(f"The {name} cannot be touched.")
                    continue
                current = record[name]
                mismatch = current is not None and value is not None
                mismatch = mismatch and type(current) is not type(value)
                # An int where a float is stored is a number all the same.
                if mismatch and not (isinstance(current, float) and isinstance(value, int)):
                    errors.setdefault(name, []).append(
                        f"The {name} must be a {type(current).__name__}."
                    )
                    continue
                changes[name] = value
            if errors:
                raise WriteRejectedError(errors)
            now = self.clock.now()
            if changes.get("is_booked") is True and record.get("booked_at") is None:
                changes["booked_at"] = now
            changes["updated_at"] = now
            return collection.update(key, changes)

"""What ``bench/chaos.py`` counts, as pure functions of the two emulators' states and the ledger.

Kept apart from the harness (processes, servers) so that a test can hand-build an emulator
state and check every count (``tests/test_bench_chaos.py``).

- **duplicates**: PowerOffice Go records beyond the first that share a key rbsync writes
  (product ``Code``; customer, supplier and sales-order ``ExternalImportReference``).
- **missing**: Rackbeat records that by the rules belong in PowerOffice Go (not skipped on
  purpose, not refused by the mapping) and have no twin there.
- **stale**: products, BOMs and customers whose PowerOffice Go twin differs from what
  Rackbeat's *latest* record maps to. The latest record is the Rackbeat emulator's own state
  (never the ledger's snapshot, which may itself be behind); it is mapped by the pure
  functions of ``mapping/`` (the ids they take, a product group's or a payment term's, are
  read from the PowerOffice Go emulator's state), and every field of the mapped body is
  compared with what PowerOffice Go holds in that field (``mapping.held_view``), nested
  objects by the keys rbsync writes. A patchable field the mapping leaves out (a phone number
  removed in Rackbeat) must be empty in PowerOffice Go too. So a lost update -- PowerOffice
  Go holding an older version while the ledger says ``synced`` -- counts, whatever the ledger
  believes. The ledger's fingerprint was the other candidate; it was rejected because it
  checks the ledger against itself: the lost update of issue 13 had the right fingerprint.
  Invoices and suppliers are create-only (R-INV, R-SUP-11): a later change is on purpose not
  sent, so they are checked for duplicates and missing only.
- **stuck**: ledger rows neither ``synced`` nor ``skipped``, except ``failed`` rows of records
  the mapping refuses (a bad record is supposed to fail); a Rackbeat record with no ledger
  row at all counts as stuck too.
- **failed/dead**: ledger rows ``failed`` or ``dead``, whatever the cause.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mapping import (
    RecordRejected,
    customer_reference,
    held_view,
    invoice_links,
    invoice_reference,
    map_customer,
    map_invoice,
    map_product,
    map_supplier,
    parse_customer,
    parse_invoice,
    parse_lot,
    parse_product,
    parse_supplier,
    product_group_code,
    product_group_for,
    supplier_reference,
    supplier_skip,
)

__all__ = [
    "DONE",
    "DUPLICATE_KEYS",
    "SOURCES",
    "Audit",
    "LedgerCounts",
    "audit",
    "duplicates",
    "ledger_counts",
]

SOURCES: Mapping[str, str] = {
    "product": "products",
    "bom": "lots",
    "customer": "customers",
    "invoice": "customer_invoices",
    "supplier": "suppliers",
}
"""Kind -> the Rackbeat emulator's state collection it is polled from."""

DUPLICATE_KEYS: Mapping[str, str] = {
    "Products": "Code",
    "Customers": "ExternalImportReference",
    "Suppliers": "ExternalImportReference",
    "SalesOrders": "ExternalImportReference",
}
"""PowerOffice Go resource -> the field rbsync's creates make unique."""

DONE = frozenset({"synced", "skipped"})
"""Ledger statuses of a row that needs nothing more."""

OPTIONAL_FIELDS: Mapping[str, frozenset[str]] = {
    "Products": frozenset({"Description", "UnitOfMeasureCode", "UnitCost", "UnitPrice"}),
    "Customers": frozenset(
        {
            "PhoneNumber",
            "MailAddress",
            "OrganizationNumber",
            "EmailAddress",
            "InvoiceEmailAddress",
            "Allowance",
        }
    ),
}
"""Patchable fields the mapping fills when Rackbeat has a value and leaves out otherwise: left
out, PowerOffice Go must hold nothing there (rbsync PATCHes a vanished field to null)."""


@dataclass(frozen=True)
class Audit:
    """The two emulators compared, by the rules (see the module docstring)."""

    entities: int
    """Rackbeat records of the synced kinds (booked invoices only)."""
    duplicates: int
    missing: tuple[tuple[str, str], ...]
    stale: tuple[tuple[str, str, tuple[str, ...]], ...]
    """(kind, key, the fields that differ)."""
    bad: frozenset[tuple[str, str]]
    """Records the mapping refuses (or whose dependencies it refuses): failing is right."""
    keys: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    """Every (kind, key) of :attr:`entities`."""


@dataclass(frozen=True)
class LedgerCounts:
    """The ledger's rows against the audit."""

    rows: int
    stuck: int
    failed_dead: int
    by_status: Mapping[str, int]


def duplicates(poweroffice: Mapping[str, Any]) -> dict[str, int]:
    """Resource -> records beyond the first sharing a key (:data:`DUPLICATE_KEYS`)."""
    resources = poweroffice["resources"]
    found: dict[str, int] = {}
    for resource, key in DUPLICATE_KEYS.items():
        counts = Counter(r.get(key) for r in resources.get(resource, []) if r.get(key))
        found[resource] = sum(n - 1 for n in counts.values() if n > 1)
    return found


def _index(records: Iterable[Mapping[str, Any]], key: str) -> dict[Any, Mapping[str, Any]]:
    """Records by ``key``; of several, the one created first (lowest id: PowerOffice Go's
    lookups by code answer it)."""
    out: dict[Any, Mapping[str, Any]] = {}
    for record in sorted(records, key=lambda r: str(r.get("Id"))):
        out.setdefault(record.get(key), record)
    return out


def _differences(resource: str, body: Mapping[str, Any], held: Mapping[str, Any]) -> list[str]:
    """The fields in which PowerOffice Go's ``held`` differs from rbsync's ``body``."""
    view = held_view(body, held)
    fields = [name for name, value in body.items() if view[name] != value]
    cleared = OPTIONAL_FIELDS[resource] - set(body)
    fields += [name for name in cleared if held.get(name) not in (None, "", [])]
    return sorted(fields)


def audit(
    rackbeat: Mapping[str, Any],
    poweroffice: Mapping[str, Any],
    contacts: Mapping[int, Sequence[Mapping[str, Any]]] | None = None,
    *,
    customer_number_from_rackbeat: bool = False,
) -> Audit:
    """Compare the Rackbeat emulator's state with the PowerOffice Go emulator's.

    ``rackbeat`` and ``poweroffice`` are the admin surfaces' ``GET /_sandbox/state``;
    ``contacts`` the customers' contacts by customer number (read from the Rackbeat API: the
    state leaves them out), needed for customers without an invoice e-mail (R-CUST-6).
    """
    resources = poweroffice["resources"]
    products = _index(resources.get("Products", []), "Code")
    groups = _index(resources.get("ProductGroups", []), "Code")
    customers = _index(resources.get("Customers", []), "ExternalImportReference")
    suppliers = _index(resources.get("Suppliers", []), "ExternalImportReference")
    orders = _index(resources.get("SalesOrders", []), "ExternalImportReference")
    missing: list[tuple[str, str]] = []
    stale: list[tuple[str, str, tuple[str, ...]]] = []
    bad: set[tuple[str, str]] = set()
    keys: set[tuple[str, str]] = set()

    def compare(kind: str, key: str, resource: str, body: Mapping[str, Any], twin: Any) -> None:
        fields = _differences(resource, body, twin)
        if fields:
            stale.append((kind, key, tuple(fields)))

    for kind, parse in (("product", parse_product), ("bom", parse_lot)):
        for raw in rackbeat.get(SOURCES[kind], []):
            key = str(raw["number"])
            keys.add((kind, key))
            try:
                item = parse(raw)
                product_group_for(item)  # a VAT rate no account is configured for rejects
                group = groups.get(product_group_code(item))
                mapped = map_product(item, group_id=int(group["Id"]) if group else 0)
            except RecordRejected:
                bad.add((kind, key))
                continue
            twin = products.get(mapped.reference)
            if twin is None:
                missing.append((kind, key))
            elif group is None:
                stale.append((kind, key, ("ProductGroupId",)))
            else:
                compare(kind, key, "Products", mapped.body(), twin)

    for raw in rackbeat.get(SOURCES["customer"], []):
        key = str(raw["number"])
        keys.add(("customer", key))
        record = dict(raw)
        if not record.get("invoice_email") and contacts and int(key) in contacts:
            record["contacts"] = list(contacts[int(key)])
        try:
            mapped = map_customer(
                parse_customer(record), number_from_rackbeat=customer_number_from_rackbeat
            )
        except RecordRejected:
            bad.add(("customer", key))
            continue
        twin = customers.get(customer_reference(int(key)))
        if twin is None:
            missing.append(("customer", key))
        else:
            compare("customer", key, "Customers", mapped.body(), twin)

    for raw in rackbeat.get(SOURCES["supplier"], []):
        key = str(raw["number"])
        keys.add(("supplier", key))
        try:
            supplier = parse_supplier(raw)
            if supplier_skip(supplier) is not None:  # R-SUP-10: skipped on purpose
                continue
            map_supplier(supplier, contact_group_id=0)
        except RecordRejected:
            bad.add(("supplier", key))
            continue
        if supplier_reference(int(key)) not in suppliers:
            missing.append(("supplier", key))

    items_bad = {key for kind, key in bad if kind in ("product", "bom")}
    items = {
        str(r["number"]) for kind in ("product", "bom") for r in rackbeat.get(SOURCES[kind], [])
    }
    for raw in rackbeat.get(SOURCES["invoice"], []):
        if not raw.get("is_booked"):
            continue  # not polled (R-INV-1)
        key = str(raw["number"])
        keys.add(("invoice", key))
        try:
            invoice = parse_invoice(raw)
            links = invoice_links(invoice)
            map_invoice(invoice, customer_id=0)
        except RecordRejected:
            bad.add(("invoice", key))
            continue
        customer = ("customer", str(links.customer_number))
        lines_bad = [c for c in links.product_codes if c in items_bad or c not in items]
        if customer in bad or customer not in keys or lines_bad:
            bad.add(("invoice", key))
        elif invoice_reference(int(key)) not in orders:
            missing.append(("invoice", key))

    return Audit(
        entities=len(keys),
        duplicates=sum(duplicates(poweroffice).values()),
        missing=tuple(sorted(missing)),
        stale=tuple(sorted(stale)),
        bad=frozenset(bad),
        keys=frozenset(keys),
    )


def ledger_counts(rows: Iterable[tuple[str, str, str]], checked: Audit) -> LedgerCounts:
    """Stuck and failed/dead rows of the ledger's ``(kind, key, status)`` rows."""
    statuses: Counter[str] = Counter()
    stuck = 0
    seen: set[tuple[str, str]] = set()
    for kind, key, status in rows:
        statuses[status] += 1
        seen.add((kind, key))
        if status in DONE or (status == "failed" and (kind, key) in checked.bad):
            continue
        stuck += 1
    stuck += len(checked.keys - seen)
    return LedgerCounts(
        rows=sum(statuses.values()),
        stuck=stuck,
        failed_dead=statuses["failed"] + statuses["dead"],
        by_status=dict(statuses),
    )

"""The optional initial sync, PowerOffice Go -> Rackbeat (R-INIT-1..4), resumable and linked.

:func:`run_initial_sync` is the engine; ``rbsync initial-sync`` and the Celery task
``rbsync.initial_sync(kinds=None, dry_run=False)`` both call it. Kinds, always in this order
(dependencies first): ``units`` (R-INIT-2), ``products`` with their product groups (R-INIT-1),
``suppliers`` in the supplier group ``Poweroffice`` (R-INIT-3), ``customers`` (R-INIT-4).

Per record:

1. A row of ``initial_sync_items`` that is ``created`` / ``linked`` is done: nothing is sent.
2. A Rackbeat record with the same number (units, the supplier group and number-less groups:
   the same name) is **linked**, never duplicated. When the row holds an ``intent``, it was our
   own create that landed before a run was stopped: it counts as **created**.
3. Otherwise the intent (the number the create will carry) is committed *before* the POST;
   after an ambiguous outcome (timeout, drop, 5xx) the number is looked up before anything
   else happens, now or in the next run.
4. The outcome and the link the ongoing sync uses are committed in **one** transaction:
   ``entity_links`` (kind, key = Rackbeat number, ``remote_id`` = the PowerOffice Go id,
   ``synced``, the snapshot of the Rackbeat record, the fingerprint and payload of its
   mapping), an attempt row (outcome ``linked``) and the ``remote_links`` the pipeline reads.
   So the next poll finds nothing new, and a later change in Rackbeat is PATCHed to the same
   PowerOffice Go id, never created again.

A run stops cleanly between two records when its time budget is spent, another initial sync
holds the lock, or an API stays unreachable after the clients' own retries; a second run
continues where it stopped. ``dry_run`` reads both APIs and the ledger and writes nothing.
The rate limits are the clients' (``wiring.clients``: one limiter per API credential).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from clients import (
    AmbiguousWriteError,
    AuthenticationError,
    InvalidRequestError,
    PermanentError,
    RetriableError,
)
from clients.models import (
    Customer,
    Product,
    ProductGroup,
    RackbeatCustomer,
    RackbeatProduct,
    RackbeatProductGroup,
    RackbeatSupplier,
    RackbeatUnit,
    Supplier,
)
from clients.rackbeat import CUSTOMERS, PRODUCTS, SUPPLIERS, RackbeatSupplierGroup
from kinds.links import NS_PRODUCT, NS_PRODUCT_GROUP, NS_SUPPLIER_NUMBER
from ledger import (
    InitialItemStatus,
    InitialSyncItem,
    SnapshotRecord,
    Status,
    claim,
    end_attempt,
    finish,
    get_link,
    initial_items,
    put_remote_id,
    record_initial_intent,
    record_initial_outcome,
    start_attempt,
    store_snapshots,
)
from ledger.initial_sync import FINAL_ITEM_STATUSES
from mapping import (
    MappedRecord,
    RecordRejected,
    customer_create_for,
    map_customer,
    map_product,
    parse_customer,
    parse_product,
    product_create_for,
    product_group_create_for,
    supplier_create_for,
    supplier_group_create,
    unit_create_for,
    unit_name_for,
)
from mapping.tables import INITIAL_SUPPLIER_GROUP_NAME
from tasks.base import PipelineTask, backoff
from tasks.names import INITIAL_SYNC_TASK
from tasks.pipeline import Outcome
from tasks.snapshot import snapshot_of
from wiring.runtime import Runtime

__all__ = [
    "COPY_ARCHIVED",
    "INITIAL_SYNC_KINDS",
    "INITIAL_SYNC_TASK",
    "LOCK_NAME",
    "SUMMARY_KINDS",
    "TASK_BUDGET_FRACTION",
    "InitialSyncBusyError",
    "InitialSyncReport",
    "ItemEvent",
    "KindSummary",
    "Progress",
    "initial_sync",
    "parse_kinds",
    "run_initial_sync",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


INITIAL_SYNC_KINDS = ("units", "products", "suppliers", "customers")
"""What ``--kinds`` accepts, in the order a run processes them (dependencies first)."""

SUMMARY_KINDS = ("units", "product_groups", "products", "supplier_groups", "suppliers", "customers")
"""The rows of the summary: the kinds plus the groups created on the way."""

COPY_ARCHIVED = False
"""Whether archived PowerOffice Go records are copied too (they are skipped, with the reason)."""

LOCK_NAME = "initial-sync"
"""One initial sync at a time, across every process of the fleet."""

TASK_BUDGET_FRACTION = 0.5
"""A task run stops after this share of the task time limit and sends its continuation: far
from the soft limit, so that no record is cut off half-way."""

CREATED = "created"
LINKED = "linked"
SKIPPED = "skipped"
FAILED = "failed"
ALREADY = "already"
"""Outcomes per record; ``already`` = done by an earlier run (nothing sent)."""

_ITEM_STATUS = {
    CREATED: InitialItemStatus.CREATED,
    LINKED: InitialItemStatus.LINKED,
    SKIPPED: InitialItemStatus.SKIPPED,
    FAILED: InitialItemStatus.FAILED,
}

_ALIASES = {
    "unit": "units",
    "product": "products",
    "supplier": "suppliers",
    "customer": "customers",
}

STOPPING_ERRORS = (
    RetriableError,
    AuthenticationError,
    OperationalError,
    SoftTimeLimitExceeded,
)
"""Errors that end the run (the next run continues): an API or the ledger unreachable after
the clients' retries, refused credentials, the task's soft time limit."""


class InitialSyncBusyError(RuntimeError):
    """Another initial sync is running (it holds the fleet-wide lock)."""


class Progress(Protocol):
    """Receives the progress of a run (the CLI draws a progress bar from it)."""

    def begin(self, kind: str, total: int) -> None:
        """``kind`` starts with ``total`` records."""
        ...

    def step(self, kind: str, outcome: str) -> None:
        """One record of ``kind`` ended with ``outcome``."""
        ...


@dataclasses.dataclass
class KindSummary:
    """How many records of one kind were created / linked / skipped / failed / done before."""

    created: int = 0
    linked: int = 0
    skipped: int = 0
    failed: int = 0
    already: int = 0

    def add(self, outcome: str) -> None:
        """Count one record with ``outcome``."""
        setattr(self, outcome, getattr(self, outcome) + 1)

    @property
    def total(self) -> int:
        """Every record counted."""
        return self.created + self.linked + self.skipped + self.failed + self.already


@dataclasses.dataclass(frozen=True)
class ItemEvent:
    """One record's outcome (in a dry run: what would happen), with its reason or warning."""

    kind: str
    source: str
    label: str
    outcome: str
    number: str | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON object."""
        return dataclasses.asdict(self)


@dataclasses.dataclass
class InitialSyncReport:
    """What a run did (or, dry, would do)."""

    dry_run: bool
    kinds: list[str]
    summary: dict[str, KindSummary] = dataclasses.field(
        default_factory=lambda: {k: KindSummary() for k in SUMMARY_KINDS}
    )
    events: list[ItemEvent] = dataclasses.field(default_factory=list)
    """Every record in a dry run; otherwise the skipped, failed and warned ones."""
    complete: bool = True
    stopped: str | None = None
    """Why the run stopped before the end (the next run continues)."""
    out_of_time: bool = False

    @property
    def ok(self) -> bool:
        """Complete, and nothing failed."""
        return self.complete and not any(s.failed for s in self.summary.values())

    @property
    def progressed(self) -> int:
        """Records this run created or linked: the progress that makes a continuation worth
        sending (skips and failures are looked at again by every run, so they are not)."""
        return sum(s.created + s.linked for s in self.summary.values())

    def to_json(self) -> dict[str, Any]:
        """The report as JSON (the Celery task's result)."""
        return {
            "dry_run": self.dry_run,
            "kinds": list(self.kinds),
            "complete": self.complete,
            "stopped": self.stopped,
            "summary": {k: dataclasses.asdict(v) for k, v in self.summary.items()},
            "events": [e.to_json() for e in self.events],
        }


class _StopError(Exception):
    """Internal: end the run between two records."""


def parse_kinds(kinds: Iterable[str] | None) -> list[str]:
    """The kinds to run, in processing order; ``None`` or empty = all. Bad names -> ValueError.

    Accepts plural and singular names, and comma-separated lists (``units,products``).
    """
    if kinds is None:
        return list(INITIAL_SYNC_KINDS)
    wanted: set[str] = set()
    for item in kinds:
        for part in item.split(","):
            name = part.strip().lower()
            if not name:
                continue
            name = _ALIASES.get(name, name)
            if name not in INITIAL_SYNC_KINDS:
                raise ValueError(
                    f"unknown kind {part.strip()!r}; "
                    f"expected some of {', '.join(INITIAL_SYNC_KINDS)}"
                )
            wanted.add(name)
    if not wanted:
        return list(INITIAL_SYNC_KINDS)
    return [k for k in INITIAL_SYNC_KINDS if k in wanted]


def run_initial_sync(
    runtime: Runtime,
    *,
    kinds: Iterable[str] | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> InitialSyncReport:
    """Copy PowerOffice Go's units, products, suppliers and customers into Rackbeat.

    ``deadline`` (on ``clock``) ends the run cleanly between two records. Raises
    :class:`InitialSyncBusyError` when another run holds the lock, ``ValueError`` for an
    unknown kind; everything a record or an API does wrong ends in the report instead.
    """
    selected = parse_kinds(kinds)
    report = InitialSyncReport(dry_run=dry_run, kinds=selected)
    lease = None if dry_run else _Lease(runtime, clock)
    if lease is not None and not lease.acquire():
        raise InitialSyncBusyError("another initial sync is running; try again when it ends")
    run = _Run(runtime, report, progress=progress, deadline=deadline, clock=clock, lease=lease)
    try:
        for kind in selected:
            run.step(kind)
    except _StopError as stop:
        report.complete = False
        report.stopped = str(stop)
    finally:
        if lease is not None:
            lease.release()
    return report


class _Lease:
    """The fleet-wide lock, renewed while the run goes on (a Redis lock expires; a file lock
    is the kernel's). Renewal lets go and takes it again: if another run got it meanwhile,
    this run stops."""

    def __init__(self, runtime: Runtime, clock: Callable[[], float]) -> None:
        self._ttl = max(60.0, runtime.settings.task_time_limit_seconds)
        self._lock = runtime.locks(LOCK_NAME, self._ttl)
        self._clock = clock
        self._taken_at = 0.0

    def acquire(self) -> bool:
        taken = self._lock.acquire()
        self._taken_at = self._clock()
        return taken

    def renew(self) -> None:
        if self._clock() - self._taken_at < self._ttl / 3:
            return
        self._lock.release()
        if not self.acquire():
            raise _StopError("another initial sync took over the lock")

    def release(self) -> None:
        self._lock.release()


@dataclasses.dataclass(frozen=True)
class _Dependency:
    """A unit or group resolved once per run: its Rackbeat number, or why there is none."""

    number: int | None
    reason: str | None = None
    planned: bool = False
    """Dry run: it would be created (so it has no number yet)."""


DRY_RUN_GROUP_NUMBER = 1
"""Dry run only: the group number a product body is checked with when its group would be
created without a number of its own (nothing is sent, so any valid number does)."""


class _Run:
    """One run of the engine (state shared by the kinds: loaded lists and indexes)."""

    def __init__(
        self,
        runtime: Runtime,
        report: InitialSyncReport,
        *,
        progress: Progress | None,
        deadline: float | None,
        clock: Callable[[], float],
        lease: _Lease | None,
    ) -> None:
        self.runtime = runtime
        self.report = report
        self.dry_run = report.dry_run
        self.progress = progress
        self.deadline = deadline
        self.clock = clock
        self.lease = lease
        self.token = f"initial-sync:{uuid.uuid4().hex[:12]}"
        self._po_products: list[Product] | None = None
        self._po_groups: dict[int, ProductGroup] | None = None
        self._units: dict[str, _Dependency] = {}
        self._groups: dict[int, _Dependency] = {}
        self._supplier_group: _Dependency | None = None
        self._begun: set[str] = set()
        self._rb_units: list[RackbeatUnit] | None = None
        self._rb_groups: list[RackbeatProductGroup] | None = None

    # --- the kinds ------------------------------------------------------------------------

    def step(self, kind: str) -> None:
        """Run one kind to its end (or until the run must stop)."""
        steps: dict[str, Callable[[], None]] = {
            "units": self._step_units,
            "products": self._step_products,
            "suppliers": self._step_suppliers,
            "customers": self._step_customers,
        }
        steps[kind]()

    def _step_units(self) -> None:
        products = self._guard(self._products)
        codes = sorted({c for p in products if _copied(p) and (c := _unit_code(p))})
        self._begin("units", len(codes))
        for code in codes:
            self._checkpoint()
            self._ensure_unit(code)

    def _step_products(self) -> None:
        products = self._guard(self._products)
        self._guard(self._poweroffice_groups)
        rackbeat = self.runtime.rackbeat
        existing = self._guard(lambda: {p.number for p in rackbeat.iter_products(fields="number")})
        rows = self._rows("product")
        self._begin("products", len(products))
        for product in products:
            self._checkpoint()
            source = str(product.id)
            self._record(
                "products",
                "product",
                source,
                label=_label(product.code, product.name),
                rows=rows,
                copy=functools.partial(self._copy_product, product, existing, rows.get(source)),
            )

    def _step_suppliers(self) -> None:
        suppliers = self._guard(lambda: list(self.runtime.poweroffice.iter_suppliers()))
        rackbeat = self.runtime.rackbeat
        existing = self._guard(lambda: {s.number for s in rackbeat.iter_suppliers(fields="number")})
        rows = self._rows("supplier")
        self._begin("suppliers", len(suppliers))
        for supplier in suppliers:
            self._checkpoint()
            source = str(supplier.id)
            self._record(
                "suppliers",
                "supplier",
                source,
                label=_label(supplier.number, supplier.name),
                rows=rows,
                copy=functools.partial(self._copy_supplier, supplier, existing, rows.get(source)),
            )

    def _step_customers(self) -> None:
        customers = self._guard(lambda: list(self.runtime.poweroffice.iter_customers()))
        rackbeat = self.runtime.rackbeat
        existing = self._guard(
            lambda: {
                c.number for c in rackbeat.iter_customers(with_contacts=False, fields="number")
            }
        )
        rows = self._rows("customer")
        self._begin("customers", len(customers))
        for customer in customers:
            self._checkpoint()
            source = str(customer.id)
            self._record(
                "customers",
                "customer",
                source,
                label=_label(customer.number, customer.name),
                rows=rows,
                copy=functools.partial(self._copy_customer, customer, existing, rows.get(source)),
            )

    # --- one record of each kind ----------------------------------------------------------

    def _copy_product(  # noqa: PLR0911 - one return per way a product can end
        self, product: Product, existing: set[str], row: InitialSyncItem | None
    ) -> _Outcome:
        """R-INIT-1: one product, in its group, with its unit, prices and description."""
        if not _copied(product):
            return _Outcome(SKIPPED, reason="archived in PowerOffice Go")
        group = self._group_of(product)
        rackbeat = self.runtime.rackbeat
        code = (product.code or "").strip()
        if code in existing:
            # Linked as it is: its Rackbeat group and unit are left alone.
            if self.dry_run:
                return _Outcome(LINKED, number=code)
            record = rackbeat.get(PRODUCTS, code)
            return self._link_product(product, group, record, _adopted(row), None)
        if group is None:
            return _Outcome(
                FAILED,
                reason="the product has no product group in PowerOffice Go (Rackbeat needs one)",
            )
        resolved = self._ensure_group(group)
        if resolved.number is None and not resolved.planned:
            return _Outcome(
                FAILED, reason=f"product group {group.code or group.id}: {resolved.reason}"
            )
        warning = None
        unit_number = None
        unit = _unit_code(product)
        if unit is not None:
            unit_dep = self._ensure_unit(unit)
            unit_number = unit_dep.number
            if unit_number is None and not unit_dep.planned:
                warning = f"copied without a unit: unit {unit}: {unit_dep.reason}"
        payload = product_create_for(
            product,
            group_number=resolved.number or DRY_RUN_GROUP_NUMBER,
            unit_number=unit_number,
        )
        number = payload.number
        if self.dry_run:
            return _Outcome(CREATED, number=number, reason=warning)
        created = self._create(
            "product",
            str(product.id),
            number,
            lambda: rackbeat.create_product(payload),
            lambda: rackbeat.find(PRODUCTS, number),
        )
        if isinstance(created, _Outcome):
            return created
        existing.add(number)
        return self._link_product(product, group, created[0], created[1], warning)

    def _link_product(
        self,
        product: Product,
        group: ProductGroup | None,
        record: RackbeatProduct,
        outcome: str,
        warning: str | None,
    ) -> _Outcome:
        snapshot = snapshot_of(record)
        mapped = (
            _mapped(lambda: map_product(parse_product(snapshot.snapshot), group_id=group.id))
            if group is not None
            else None
        )
        # The group's own link (str(group.number) -> its PowerOffice Go id) was written when
        # the group was copied (``_group_linked``).
        links = [(NS_PRODUCT, record.number, str(product.id))]
        return self._link(
            "product",
            str(product.id),
            snapshot,
            mapped=mapped,
            outcome=outcome,
            warning=warning,
            remote_links=links,
        )

    def _copy_supplier(  # noqa: PLR0911 - one return per way a supplier can end
        self, supplier: Supplier, existing: set[int], row: InitialSyncItem | None
    ) -> _Outcome:
        """R-INIT-3: one supplier, in the supplier group ``Poweroffice``."""
        number = supplier.number
        skip = _contact_skip(supplier, "supplier")
        if skip is not None or number is None:
            return skip or _Outcome(SKIPPED)
        rackbeat = self.runtime.rackbeat
        if number in existing:
            if self.dry_run:
                return _Outcome(LINKED, number=str(number))
            record = rackbeat.get(SUPPLIERS, number)
            return self._link_contact("supplier", supplier.id, record, None, _adopted(row))
        group = self._ensure_supplier_group()
        if group.number is None and not group.planned:
            return _Outcome(
                FAILED, reason=f"supplier group {INITIAL_SUPPLIER_GROUP_NAME}: {group.reason}"
            )
        # Dry run: a group still to be created has no number yet; the body is only checked.
        payload = supplier_create_for(supplier, supplier_group_id=group.number or 0)
        if self.dry_run:
            return _Outcome(CREATED, number=str(number))
        created = self._create(
            "supplier",
            str(supplier.id),
            str(number),
            lambda: rackbeat.create_supplier(payload),
            lambda: rackbeat.find(SUPPLIERS, number),
        )
        if isinstance(created, _Outcome):
            return created
        existing.add(number)
        return self._link_contact("supplier", supplier.id, created[0], None, created[1])

    def _copy_customer(
        self, customer: Customer, existing: set[int], row: InitialSyncItem | None
    ) -> _Outcome:
        """R-INIT-4: one customer."""
        number = customer.number
        skip = _contact_skip(customer, "customer")
        if skip is not None or number is None:
            return skip or _Outcome(SKIPPED)
        rackbeat = self.runtime.rackbeat
        number_from_rackbeat = self.runtime.settings.customer_number_from_rackbeat

        def mapping(snapshot: Mapping[str, Any]) -> MappedRecord:
            record = parse_customer(snapshot)
            return map_customer(record, number_from_rackbeat=number_from_rackbeat)

        if number in existing:
            if self.dry_run:
                return _Outcome(LINKED, number=str(number))
            record = rackbeat.get(CUSTOMERS, number)
            return self._link_contact("customer", customer.id, record, mapping, _adopted(row))
        payload = customer_create_for(customer)
        if self.dry_run:
            return _Outcome(CREATED, number=str(number))
        created = self._create(
            "customer",
            str(customer.id),
            str(number),
            lambda: rackbeat.create_customer(payload),
            lambda: rackbeat.find(CUSTOMERS, number),
        )
        if isinstance(created, _Outcome):
            return created
        existing.add(number)
        return self._link_contact("customer", customer.id, created[0], mapping, created[1])

    def _link_contact(
        self,
        kind: str,
        po_id: int,
        record: RackbeatCustomer | RackbeatSupplier,
        mapping: Callable[[Mapping[str, Any]], MappedRecord] | None,
        outcome: str,
    ) -> _Outcome:
        snapshot = snapshot_of(record)
        mapped = _mapped(lambda: mapping(snapshot.snapshot)) if mapping is not None else None
        # Suppliers are create-only (R-SUP-11): their link carries the id and no payload.
        links = [(NS_SUPPLIER_NUMBER, snapshot.key, str(po_id))] if kind == "supplier" else []
        return self._link(
            kind, str(po_id), snapshot, mapped=mapped, outcome=outcome, remote_links=links
        )

    # --- dependencies: units, product groups, the supplier group --------------------------

    def _ensure_unit(self, code: str) -> _Dependency:
        """R-INIT-2: the Rackbeat unit of a PowerOffice Go unit code (created in English)."""
        if code not in self._units:
            rows = self._rows("unit", [code])
            outcome = self._record(
                "units",
                "unit",
                code,
                label=_unit_label(code),
                rows=rows,
                copy=functools.partial(self._copy_unit, code, rows.get(code)),
            )
            self._units[code] = _dependency(outcome, dry_run=self.dry_run)
        return self._units[code]

    def _copy_unit(self, code: str, row: InitialSyncItem | None) -> _Outcome:
        rackbeat = self.runtime.rackbeat
        payload = unit_create_for(code)
        wanted = _fold(payload.name)

        def lookup(units: Iterable[RackbeatUnit] | None = None) -> RackbeatUnit | None:
            candidates = rackbeat.iter_units() if units is None else units
            return next((u for u in candidates if _fold(u.name) == wanted), None)

        found = lookup(self._rackbeat_units())
        if found is not None and found.number is not None:
            return self._final("unit", code, str(found.number), _adopted(row))
        if self.dry_run:
            return _Outcome(CREATED)
        created = self._create("unit", code, None, lambda: rackbeat.create_unit(payload), lookup)
        if isinstance(created, _Outcome):
            return created
        unit, outcome = created
        if unit.number is None:
            return _Outcome(FAILED, reason="Rackbeat answered the unit without its number")
        return self._final("unit", code, str(unit.number), outcome)

    def _ensure_group(self, group: ProductGroup) -> _Dependency:
        """R-INIT-1: the Rackbeat product group of a PowerOffice Go one (same number)."""
        if group.id not in self._groups:
            source = str(group.id)
            rows = self._rows("product_group", [source])
            outcome = self._record(
                "product_groups",
                "product_group",
                source,
                label=_label(group.code, group.name),
                rows=rows,
                copy=functools.partial(self._copy_group, group, rows.get(source)),
            )
            self._groups[group.id] = _dependency(outcome, dry_run=self.dry_run)
        return self._groups[group.id]

    def _copy_group(self, group: ProductGroup, row: InitialSyncItem | None) -> _Outcome:
        rackbeat = self.runtime.rackbeat
        payload = product_group_create_for(group)

        def lookup(
            groups: Iterable[RackbeatProductGroup] | None = None,
        ) -> RackbeatProductGroup | None:
            # Same number; a group without a code (auto-numbered) by its name.
            for candidate in rackbeat.iter_product_groups() if groups is None else groups:
                if payload.number is not None and candidate.number == payload.number:
                    return candidate
                if payload.number is None and _fold(candidate.name) == _fold(payload.name):
                    return candidate
            return None

        found = lookup(self._rackbeat_groups())
        if found is not None:
            return self._group_linked(group, found.number, _adopted(row))
        if self.dry_run:
            return _Outcome(CREATED, number=None if payload.number is None else str(payload.number))
        number = None if payload.number is None else str(payload.number)
        created = self._create(
            "product_group",
            str(group.id),
            number,
            lambda: rackbeat.create_product_group(payload),
            lookup,
        )
        if isinstance(created, _Outcome):
            return created
        return self._group_linked(group, created[0].number, created[1])

    def _group_linked(self, group: ProductGroup, number: int, outcome: str) -> _Outcome:
        # The ongoing sync resolves a product's group by str(group.number): point it at the
        # PowerOffice Go group this one came from, so that it never creates a second one.
        return self._final(
            "product_group",
            str(group.id),
            str(number),
            outcome,
            remote_links=[(NS_PRODUCT_GROUP, str(number), str(group.id))],
        )

    def _ensure_supplier_group(self) -> _Dependency:
        """R-INIT-3: the supplier group ``Poweroffice``, created once."""
        if self._supplier_group is None:
            source = _fold(INITIAL_SUPPLIER_GROUP_NAME)
            rows = self._rows("supplier_group", [source])
            outcome = self._record(
                "supplier_groups",
                "supplier_group",
                source,
                label=INITIAL_SUPPLIER_GROUP_NAME,
                rows=rows,
                copy=functools.partial(self._copy_supplier_group, source, rows.get(source)),
            )
            self._supplier_group = _dependency(outcome, dry_run=self.dry_run)
        return self._supplier_group

    def _copy_supplier_group(self, source: str, row: InitialSyncItem | None) -> _Outcome:
        rackbeat = self.runtime.rackbeat
        payload = supplier_group_create()

        def lookup() -> RackbeatSupplierGroup | None:
            groups = rackbeat.iter_supplier_groups()
            return next((g for g in groups if _fold(g.name) == _fold(payload.name)), None)

        found = lookup()
        if found is not None:
            return self._final("supplier_group", source, str(found.number), _adopted(row))
        if self.dry_run:
            return _Outcome(CREATED)
        created = self._create(
            "supplier_group",
            source,
            None,
            lambda: rackbeat.create_supplier_group(payload),
            lookup,
        )
        if isinstance(created, _Outcome):
            return created
        return self._final("supplier_group", source, str(created[0].number), created[1])

    # --- the create dance and the ledger --------------------------------------------------

    def _create(
        self,
        kind: str,
        source: str,
        number: str | None,
        create: Callable[[], T],
        lookup: Callable[[], T | None],
    ) -> tuple[T, str] | _Outcome:
        """Intent (committed), then the POST; after an ambiguous end, look up before anything.

        The record and ``created`` (``linked`` when Rackbeat refused the create because the
        number was taken since the run's index was read), or the outcome of a create that did
        not happen.
        """
        with self.runtime.sessions.begin() as session:
            if not record_initial_intent(session, kind, source, number):
                return _Outcome(ALREADY, number=number)
        try:
            return create(), CREATED
        except AmbiguousWriteError as exc:
            try:
                found = lookup()
            except STOPPING_ERRORS:
                raise
            except PermanentError as missed:
                # The look-up's answer could not be read: the create may have landed all the
                # same, so this is no failure to record -- the intent stays, like below.
                reason = f"outcome unknown: {exc}; the look-up failed: {missed}"
                return _Outcome(FAILED, number=number, reason=reason, keep=True)
            if found is not None:
                return found, CREATED
            # The intent stays: the next run looks the record up again before it may create.
            return _Outcome(FAILED, number=number, reason=f"outcome unknown: {exc}", keep=True)
        except InvalidRequestError as exc:
            found = lookup()
            if found is not None:
                return found, LINKED
            raise RecordRejected(kind, source, "number", f"Rackbeat refused it: {exc}") from exc

    def _final(
        self,
        kind: str,
        source: str,
        number: str,
        outcome: str,
        *,
        remote_links: Sequence[tuple[str, str, str]] = (),
    ) -> _Outcome:
        """Record a dependency's created / linked outcome (a dry run records nothing)."""
        if not self.dry_run:
            with self.runtime.sessions.begin() as session:
                record_initial_outcome(session, kind, source, _ITEM_STATUS[outcome], number=number)
                for namespace, code, remote in remote_links:
                    put_remote_id(session, namespace, code, remote)
        return _Outcome(outcome, number=number, recorded=True)

    def _link(
        self,
        kind: str,
        source: str,
        snapshot: SnapshotRecord,
        *,
        mapped: MappedRecord | str | None,
        outcome: str,
        warning: str | None = None,
        remote_links: Sequence[tuple[str, str, str]] = (),
    ) -> _Outcome:
        """The Rackbeat record is ours or linked: write the progress row and the ongoing sync's
        link (entity link, attempt row, remote links) in one transaction.

        ``source`` is the PowerOffice Go id: the entity link's ``remote_id``. ``mapped`` is the
        mapping of the Rackbeat record (its fingerprint makes the next poll send nothing), or
        why it could not be mapped.
        """
        key = snapshot.key
        remote_id = source
        notes = [warning] if warning else []
        if isinstance(mapped, str):
            notes.append(f"it does not map back for the ongoing sync: {mapped}")
            mapped = None
        with self.runtime.sessions.begin() as session:
            row = get_link(session, kind, key)
            if row is not None and row.remote_id not in (None, remote_id):
                conflict = (
                    f"Rackbeat {kind} {key} is already linked to PowerOffice Go id "
                    f"{row.remote_id}, not {remote_id}; left as it is"
                )
                record_initial_outcome(
                    session, kind, source, InitialItemStatus.SKIPPED, number=key, reason=conflict
                )
                return _Outcome(SKIPPED, number=key, reason=conflict, recorded=True)
            linked_before = row is not None and row.remote_id is not None
            if not linked_before and not self._write_link(
                session, kind, snapshot, remote_id, mapped
            ):
                notes.append("its ledger row is held by a running sync task; not linked")
            for namespace, code, remote in remote_links:
                put_remote_id(session, namespace, code, remote)
            reason = "; ".join(notes) or None
            record_initial_outcome(
                session, kind, source, _ITEM_STATUS[outcome], number=key, reason=reason
            )
        return _Outcome(outcome, number=key, reason=reason, recorded=True)

    def _write_link(
        self,
        session: Session,
        kind: str,
        snapshot: SnapshotRecord,
        remote_id: str,
        mapped: MappedRecord | None,
    ) -> bool:
        """The entity link exactly as the pipeline leaves a synced row; False when held."""
        store_snapshots(session, kind, [snapshot])
        held = claim(
            session, kind, snapshot.key, self.token, stale_after=self.runtime.stale_claim_after
        )
        if held is None:
            return False
        attempt = start_attempt(session, held.id, self.token)
        finish(
            session,
            held.id,
            self.token,
            Status.SYNCED,
            remote_id=remote_id,
            fingerprint=mapped.fingerprint if mapped is not None else None,
            written=mapped.body() if mapped is not None else None,
            warnings=[w.to_json() for w in mapped.warnings] if mapped is not None else [],
            details=dict(mapped.manual) if mapped is not None else None,
        )
        end_attempt(session, attempt, Outcome.LINKED)
        return True

    def _record(
        self,
        summary_kind: str,
        kind: str,
        source: str,
        *,
        label: str,
        rows: Mapping[str, InitialSyncItem],
        copy: Callable[[], _Outcome],
    ) -> _Outcome:
        """Run ``copy`` for one record unless it is done; count, report and record the end."""
        row = rows.get(source)
        if row is not None and row.status in FINAL_ITEM_STATUSES:
            outcome = _Outcome(ALREADY, number=row.number)
        else:
            outcome = self._attempt(kind, source, copy)
        self.report.summary[summary_kind].add(outcome.outcome)
        if self.dry_run or outcome.reason is not None:
            self.report.events.append(
                ItemEvent(
                    summary_kind, source, label, outcome.outcome, outcome.number, outcome.reason
                )
            )
        if self.progress is not None and summary_kind in self._begun:
            self.progress.step(summary_kind, outcome.outcome)
        return outcome

    def _attempt(self, kind: str, source: str, copy: Callable[[], _Outcome]) -> _Outcome:
        """``copy()``, its errors sorted by intent; a skip or failure is recorded."""
        try:
            outcome = copy()
        except _StopError:
            raise
        except STOPPING_ERRORS as exc:
            raise _StopError(f"{type(exc).__name__}: {exc}") from exc
        except RecordRejected as exc:
            outcome = _Outcome(FAILED, reason=str(exc))
        except PermanentError as exc:
            outcome = _Outcome(FAILED, reason=f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            # A bug or an unforeseen input must not end the run: the reason is recorded and
            # the traceback goes to the log.
            log.exception("initial sync: %s %s: unexpected error", kind, source)
            outcome = _Outcome(FAILED, reason=f"internal error: {type(exc).__name__}: {exc}")
        if (
            not self.dry_run
            and not (outcome.recorded or outcome.keep)
            and outcome.outcome in (SKIPPED, FAILED)
        ):
            with self.runtime.sessions.begin() as session:
                record_initial_outcome(
                    session,
                    kind,
                    source,
                    _ITEM_STATUS[outcome.outcome],
                    number=outcome.number,
                    reason=outcome.reason,
                )
        return outcome

    # --- plumbing -------------------------------------------------------------------------

    def _rackbeat_units(self) -> list[RackbeatUnit]:
        """Rackbeat's units as the run found them (units this run creates are looked up by
        their code's ledger row, never here)."""
        if self._rb_units is None:
            self._rb_units = list(self.runtime.rackbeat.iter_units())
        return self._rb_units

    def _rackbeat_groups(self) -> list[RackbeatProductGroup]:
        """Rackbeat's product groups as the run found them (one list read per run)."""
        if self._rb_groups is None:
            self._rb_groups = list(self.runtime.rackbeat.iter_product_groups())
        return self._rb_groups

    def _products(self) -> list[Product]:
        if self._po_products is None:
            self._po_products = list(self.runtime.poweroffice.iter_products())
        return self._po_products

    def _poweroffice_groups(self) -> dict[int, ProductGroup]:
        if self._po_groups is None:
            self._po_groups = {g.id: g for g in self.runtime.poweroffice.iter_product_groups()}
        return self._po_groups

    def _group_of(self, product: Product) -> ProductGroup | None:
        groups = self._poweroffice_groups()
        if product.product_group_id is not None:
            found = groups.get(product.product_group_id)
            if found is not None:
                return found
        if product.product_group_code:
            for group in groups.values():
                if group.code == product.product_group_code:
                    return group
        return None

    def _rows(self, kind: str, sources: Iterable[str] | None = None) -> dict[str, InitialSyncItem]:
        with self.runtime.sessions() as session:
            return initial_items(session, kind, sources)

    def _begin(self, kind: str, total: int) -> None:
        self._begun.add(kind)
        if self.progress is not None:
            self.progress.begin(kind, total)

    def _checkpoint(self) -> None:
        if self.deadline is not None and self.clock() >= self.deadline:
            self.report.out_of_time = True
            raise _StopError("the time budget of this run is spent; run it again to continue")
        if self.lease is not None:
            self.lease.renew()

    def _guard(self, call: Callable[[], T]) -> T:
        """A read the whole kind needs: if it fails, the run stops."""
        try:
            return call()
        except (*STOPPING_ERRORS, PermanentError) as exc:
            raise _StopError(f"{type(exc).__name__}: {exc}") from exc


@dataclasses.dataclass(frozen=True)
class _Outcome:
    outcome: str
    number: str | None = None
    reason: str | None = None
    recorded: bool = False
    """Already written to the ledger (with the link, in one transaction)."""
    keep: bool = False
    """Leave the ledger row as it is (an intent whose outcome is unknown)."""


def _adopted(row: InitialSyncItem | None) -> str:
    """A record found in Rackbeat: ours when our intent to create it is on record."""
    return CREATED if row is not None and row.status == InitialItemStatus.INTENT else LINKED


def _mapped(call: Callable[[], MappedRecord]) -> MappedRecord | str:
    try:
        return call()
    except RecordRejected as exc:
        return str(exc)


def _dependency(outcome: _Outcome, *, dry_run: bool) -> _Dependency:
    number = int(outcome.number) if outcome.number else None
    planned = dry_run and outcome.outcome == CREATED
    if number is not None or planned:
        return _Dependency(number, planned=planned)
    return _Dependency(None, reason=outcome.reason or f"not copied ({outcome.outcome})")


def _copied(record: Product | Customer | Supplier) -> bool:
    return COPY_ARCHIVED or not record.is_archived


def _contact_skip(record: Customer | Supplier, kind: str) -> _Outcome | None:
    if not _copied(record):
        return _Outcome(SKIPPED, reason="archived in PowerOffice Go")
    if record.number is None or record.number <= 0:
        return _Outcome(
            SKIPPED, reason=f"no {kind} number in PowerOffice Go (the number is the link)"
        )
    return None


def _unit_label(code: str) -> str:
    """``EA Each``: the code and the English name it gets (the code alone when it has none)."""
    try:
        return f"{code} {unit_name_for(code)}"
    except RecordRejected:
        return code


def _unit_code(product: Product) -> str | None:
    code = (product.unit_of_measure_code or "").strip().upper()
    return code or None


def _fold(name: str | None) -> str:
    return " ".join((name or "").split()).casefold()


def _label(key: object, name: str | None) -> str:
    parts = [str(p) for p in (key, name) if p not in (None, "")]
    return " ".join(parts)


# --- the Celery task --------------------------------------------------------------------------


@shared_task(bind=True, base=PipelineTask, name=INITIAL_SYNC_TASK, ignore_result=True)
def initial_sync(
    self: PipelineTask, kinds: list[str] | None = None, dry_run: bool = False
) -> dict[str, Any]:
    """Run (a slice of) the initial sync; the next slice is sent when the time budget ends it.

    A run that an unreachable API stopped is retried with backoff (a finite budget); one that
    finds another initial sync running ends at once, reporting that.
    """
    runtime = self.runtime
    settings = runtime.settings
    budget = settings.task_time_limit_seconds * TASK_BUDGET_FRACTION
    try:
        report = run_initial_sync(
            runtime, kinds=kinds, dry_run=dry_run, deadline=time.monotonic() + budget
        )
    except InitialSyncBusyError as exc:
        log.warning("initial sync not started: %s", exc)
        return {"busy": True, "error": str(exc)}
    result = report.to_json()
    summary = {k: v for k, v in result["summary"].items() if any(v.values())}
    log.info(
        "initial sync%s slice: complete=%s %s",
        " (dry run)" if dry_run else "",
        report.complete,
        summary,
    )
    if report.complete or dry_run:
        return result
    if report.out_of_time and report.progressed:
        self.app.send_task(INITIAL_SYNC_TASK, kwargs={"kinds": kinds, "dry_run": False})
        return result
    retries = int(self.request.retries or 0)
    countdown = backoff(settings, retries)
    log.warning(
        "initial sync stopped (%s); retry %d in %.0f s", report.stopped, retries + 1, countdown
    )
    raise self.retry(countdown=countdown, max_retries=settings.sync_max_retries)

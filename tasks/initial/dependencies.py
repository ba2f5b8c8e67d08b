"""The units and groups records need, each resolved once per run: found, created, or why not.

- a unit per PowerOffice Go unit code (R-INIT-2): the Rackbeat unit with its English name;
- a product group per PowerOffice Go group a product uses (R-INIT-1): the same number (a group
  without a code: the same name); its ``product_group`` remote link points the ongoing sync at
  the PowerOffice Go group, so that it never creates a second one;
- the supplier group ``Poweroffice`` (R-INIT-3), created once.

Each is a record of its own in the report (``units``, ``product_groups``, ``supplier_groups``)
and in ``initial_sync_items``; the ``units`` step resolves every unit in advance, the other
steps on demand.
"""

from __future__ import annotations

import dataclasses
import functools

from clients.models import ProductGroup, RackbeatProductGroup, RackbeatUnit
from clients.rackbeat import RackbeatSupplierGroup
from kinds.links import NS_PRODUCT_GROUP
from ledger import InitialSyncItem
from mapping import product_group_create_for, supplier_group_create, unit_create_for
from mapping.initial import fold_name, matching_product_group, matching_unit, named
from mapping.tables import INITIAL_SUPPLIER_GROUP_NAME
from tasks.initial.create import create_record
from tasks.initial.engine import Engine, ItemOutcome, adopted
from tasks.initial.handover import record_dependency
from tasks.initial.report import CREATED, FAILED, label, unit_label

__all__ = ["Dependencies", "Dependency"]


@dataclasses.dataclass(frozen=True)
class Dependency:
    """A unit or group resolved once per run: its Rackbeat number, or why there is none."""

    number: int | None
    reason: str | None = None
    planned: bool = False
    """Dry run: it would be created (so it has no number yet)."""

    @property
    def missing(self) -> bool:
        """Neither there nor (dry run) to be created: whatever needs it goes without."""
        return self.number is None and not self.planned

    @classmethod
    def of(cls, outcome: ItemOutcome, *, dry_run: bool) -> Dependency:
        """The dependency a unit's or group's :class:`ItemOutcome` leaves."""
        number = int(outcome.number) if outcome.number else None
        planned = dry_run and outcome.outcome == CREATED
        if number is not None or planned:
            return cls(number, planned=planned)
        return cls(None, reason=outcome.reason or f"not copied ({outcome.outcome})")


class Dependencies:
    """The run's units and groups (one per run: ``engine.shared(Dependencies)``)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._units: dict[str, Dependency] = {}
        self._groups: dict[int, Dependency] = {}
        self._supplier_group: Dependency | None = None
        self._rb_units: list[RackbeatUnit] | None = None
        self._rb_groups: list[RackbeatProductGroup] | None = None

    def unit(self, code: str) -> Dependency:
        """R-INIT-2: the Rackbeat unit of a PowerOffice Go unit code (created in English)."""
        if code not in self._units:
            engine = self._engine
            rows = engine.rows("unit", [code])
            outcome = engine.record(
                "units",
                "unit",
                code,
                label=unit_label(code),
                rows=rows,
                copy=functools.partial(self._copy_unit, code, rows.get(code)),
            )
            self._units[code] = Dependency.of(outcome, dry_run=engine.dry_run)
        return self._units[code]

    def product_group(self, group: ProductGroup) -> Dependency:
        """R-INIT-1: the Rackbeat product group of a PowerOffice Go one (same number)."""
        if group.id not in self._groups:
            engine = self._engine
            source = str(group.id)
            rows = engine.rows("product_group", [source])
            outcome = engine.record(
                "product_groups",
                "product_group",
                source,
                label=label(group.code, group.name),
                rows=rows,
                copy=functools.partial(self._copy_group, group, rows.get(source)),
            )
            self._groups[group.id] = Dependency.of(outcome, dry_run=engine.dry_run)
        return self._groups[group.id]

    def supplier_group(self) -> Dependency:
        """R-INIT-3: the supplier group ``Poweroffice``, created once."""
        if self._supplier_group is None:
            engine = self._engine
            source = fold_name(INITIAL_SUPPLIER_GROUP_NAME)
            rows = engine.rows("supplier_group", [source])
            outcome = engine.record(
                "supplier_groups",
                "supplier_group",
                source,
                label=INITIAL_SUPPLIER_GROUP_NAME,
                rows=rows,
                copy=functools.partial(self._copy_supplier_group, source, rows.get(source)),
            )
            self._supplier_group = Dependency.of(outcome, dry_run=engine.dry_run)
        return self._supplier_group

    def _copy_unit(self, code: str, row: InitialSyncItem | None) -> ItemOutcome:
        engine = self._engine
        rackbeat = engine.runtime.rackbeat
        payload = unit_create_for(code)
        # Rackbeat's units as the run found them (one list read per run); units this run
        # creates are found by their code's ledger row, never here.
        if self._rb_units is None:
            self._rb_units = list(rackbeat.iter_units())
        found = matching_unit(payload, self._rb_units)
        if found is not None and found.number is not None:
            return record_dependency(engine, "unit", code, str(found.number), adopted(row))
        if engine.dry_run:
            return ItemOutcome(CREATED)
        created = create_record(
            engine,
            "unit",
            code,
            None,
            create=lambda: rackbeat.create_unit(payload),
            lookup=lambda: matching_unit(payload, rackbeat.iter_units()),
        )
        if isinstance(created, ItemOutcome):
            return created
        unit, outcome = created
        if unit.number is None:
            return ItemOutcome(FAILED, reason="Rackbeat answered the unit without its number")
        return record_dependency(engine, "unit", code, str(unit.number), outcome)

    def _copy_group(self, group: ProductGroup, row: InitialSyncItem | None) -> ItemOutcome:
        engine = self._engine
        rackbeat = engine.runtime.rackbeat
        payload = product_group_create_for(group)
        if self._rb_groups is None:
            self._rb_groups = list(rackbeat.iter_product_groups())
        found = matching_product_group(payload, self._rb_groups)
        if found is not None:
            return self._group_linked(group, found.number, adopted(row))
        number = None if payload.number is None else str(payload.number)
        if engine.dry_run:
            return ItemOutcome(CREATED, number=number)
        created = create_record(
            engine,
            "product_group",
            str(group.id),
            number,
            create=lambda: rackbeat.create_product_group(payload),
            lookup=lambda: matching_product_group(payload, rackbeat.iter_product_groups()),
        )
        if isinstance(created, ItemOutcome):
            return created
        return self._group_linked(group, created[0].number, created[1])

    def _group_linked(self, group: ProductGroup, number: int, outcome: str) -> ItemOutcome:
        # The ongoing sync resolves a product's group by str(group.number): point it at the
        # PowerOffice Go group this one came from, so that it never creates a second one.
        return record_dependency(
            self._engine,
            "product_group",
            str(group.id),
            str(number),
            outcome,
            remote_links=[(NS_PRODUCT_GROUP, str(number), str(group.id))],
        )

    def _copy_supplier_group(self, source: str, row: InitialSyncItem | None) -> ItemOutcome:
        engine = self._engine
        rackbeat = engine.runtime.rackbeat
        payload = supplier_group_create()

        def lookup() -> RackbeatSupplierGroup | None:
            return named(rackbeat.iter_supplier_groups(), payload.name)

        found = lookup()
        if found is not None:
            return record_dependency(
                engine, "supplier_group", source, str(found.number), adopted(row)
            )
        if engine.dry_run:
            return ItemOutcome(CREATED)
        created = create_record(
            engine,
            "supplier_group",
            source,
            None,
            create=lambda: rackbeat.create_supplier_group(payload),
            lookup=lookup,
        )
        if isinstance(created, ItemOutcome):
            return created
        return record_dependency(
            engine, "supplier_group", source, str(created[0].number), created[1]
        )

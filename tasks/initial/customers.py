"""The ``customers`` step (R-INIT-4): each customer.

A customer Rackbeat has (same number) is linked as it is. The link carries the fingerprint and
payload of the Rackbeat record's own mapping (``map_customer``), so the next poll sends nothing.
"""

from __future__ import annotations

import functools

from clients.models import Customer, RackbeatCustomer
from clients.rackbeat import CUSTOMERS
from ledger import InitialSyncItem
from mapping import customer_create_for, map_customer, parse_customer
from mapping.initial import InitialAction, plan_contact
from tasks.initial.create import create_record
from tasks.initial.engine import Engine, ItemOutcome, adopted
from tasks.initial.handover import link_record, mapped_or_reason
from tasks.initial.report import CREATED, LINKED, SKIPPED, label
from tasks.snapshot import snapshot_of

__all__ = ["CustomersStep"]


class CustomersStep:
    """R-INIT-4: every PowerOffice Go customer."""

    kind = "customers"

    def run(self, engine: Engine) -> None:
        customers = engine.guard(lambda: list(engine.runtime.poweroffice.iter_customers()))
        rackbeat = engine.runtime.rackbeat
        existing = engine.guard(
            lambda: {
                c.number for c in rackbeat.iter_customers(with_contacts=False, fields="number")
            }
        )
        engine.records(
            "customers",
            "customer",
            customers,
            label=lambda customer: label(customer.number, customer.name),
            copy=functools.partial(_copy_customer, engine, existing),
        )


def _copy_customer(
    engine: Engine, existing: set[int], customer: Customer, row: InitialSyncItem | None
) -> ItemOutcome:
    """R-INIT-4: one customer."""
    number = customer.number
    plan = plan_contact(customer, "customer", existing=existing)
    if plan.action is InitialAction.SKIP or number is None:
        return ItemOutcome(SKIPPED, reason=plan.reason)
    rackbeat = engine.runtime.rackbeat
    if plan.action is InitialAction.LINK:
        if engine.dry_run:
            return ItemOutcome(LINKED, number=str(number))
        return _link_customer(engine, customer, rackbeat.get(CUSTOMERS, number), adopted(row))
    payload = customer_create_for(customer)
    if engine.dry_run:
        return ItemOutcome(CREATED, number=str(number))
    created = create_record(
        engine,
        "customer",
        str(customer.id),
        str(number),
        create=lambda: rackbeat.create_customer(payload),
        lookup=lambda: rackbeat.find(CUSTOMERS, number),
    )
    if isinstance(created, ItemOutcome):
        return created
    existing.add(number)
    return _link_customer(engine, customer, created[0], created[1])


def _link_customer(
    engine: Engine, customer: Customer, record: RackbeatCustomer, outcome: str
) -> ItemOutcome:
    snapshot = snapshot_of(record)
    number_from_rackbeat = engine.runtime.options.customer_number_from_rackbeat
    mapped = mapped_or_reason(
        lambda: map_customer(
            parse_customer(snapshot.snapshot), number_from_rackbeat=number_from_rackbeat
        )
    )
    return link_record(
        engine, "customer", str(customer.id), snapshot, mapped=mapped, outcome=outcome
    )

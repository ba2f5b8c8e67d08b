"""The Rackbeat webhook events rbsync handles: one table, each name marked as the API notes
mark it (``docs/api-facts.md``, "Webhooks").

``verified``: a source states the name (or code that runs against Rackbeat uses it);
``inferred``: the same ``<entity>.<verb>`` pattern, not confirmed against a live account. An
inferred name Rackbeat does not know makes ``rbsync webhooks register`` say so for that event;
the poll still catches those changes.
"""

from __future__ import annotations

import dataclasses

__all__ = ["EVENTS", "HandledEvent", "event_named"]


@dataclasses.dataclass(frozen=True)
class HandledEvent:
    """One event name and what the receiver does with a delivery of it."""

    name: str
    action: str
    """``sync`` (fetch the record, store it, sync it), ``deleted`` (record it, write nothing)
    or ``uninstalled`` (mark the connection disconnected)."""
    kind: str | None
    verified: bool


def _event(name: str, action: str, kind: str | None, *, verified: bool) -> HandledEvent:
    return HandledEvent(name, action, kind, verified)


EVENTS: tuple[HandledEvent, ...] = (
    _event("product.created", "sync", "product", verified=True),
    _event("product.updated", "sync", "product", verified=True),
    _event("product.deleted", "deleted", "product", verified=True),
    _event("lot.created", "sync", "bom", verified=True),
    _event("lot.updated", "sync", "bom", verified=False),
    _event("lot.deleted", "deleted", "bom", verified=False),
    _event("customer.created", "sync", "customer", verified=False),
    _event("customer.updated", "sync", "customer", verified=False),
    _event("customer.deleted", "deleted", "customer", verified=False),
    _event("supplier.created", "sync", "supplier", verified=False),
    _event("supplier.updated", "sync", "supplier", verified=False),
    _event("supplier.deleted", "deleted", "supplier", verified=False),
    _event("customer_invoice.booked", "sync", "invoice", verified=False),
    _event("plugin.uninstalled", "uninstalled", None, verified=True),
)
"""Every event ``rbsync webhooks register`` registers."""

_BY_NAME = {event.name: event for event in EVENTS}


def event_named(name: str) -> HandledEvent | None:
    """The handled event of that name (case-insensitive), or None."""
    return _BY_NAME.get(name.strip().lower())

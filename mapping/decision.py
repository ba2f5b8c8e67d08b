"""What a mapping tells the pipeline to do: :class:`Create`, :class:`Update` or :class:`Skip`.

A ``map_<kind>`` function returns a :class:`MappedRecord` (the outbound payload, its
fingerprint, structured warnings and the values an operator must set by hand) or, when a rule
says the record is not transferred at all, a :class:`Skip`. :func:`decide` then compares the
mapped record with what the ledger knows (previous fingerprint, previously written payload,
remote id) and returns the action. Everything here is JSON-serialisable through ``to_json()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from clients.models import PATCHABLE_FIELDS, OutboundModel, PatchOperation

__all__ = [
    "REASON_CREATE_ONLY",
    "REASON_INVOICE_TRANSFERRED",
    "REASON_NO_PATCHABLE_CHANGE",
    "REASON_UNCHANGED",
    "Create",
    "Decision",
    "JSONValue",
    "MappedRecord",
    "MappingWarning",
    "Skip",
    "Update",
    "decide",
    "held_view",
    "patch_operations",
]

JSONValue = None | bool | int | float | str | list[Any] | dict[str, Any]
"""A value that survives ``json.dumps`` (the ledger stores warnings and manual values)."""

REASON_UNCHANGED: Final = "unchanged"
REASON_NO_PATCHABLE_CHANGE: Final = "no patchable field changed"
REASON_CREATE_ONLY: Final = "exists; create-only"
REASON_INVOICE_TRANSFERRED: Final = "invoice already transferred; create-only"


@dataclass(frozen=True, slots=True)
class MappingWarning:
    """Something worth showing an operator that did not stop the record, e.g. ``unmapped_unit``."""

    code: str
    message: str
    field: str | None = None

    def to_json(self) -> dict[str, JSONValue]:
        """The warning as a JSON object."""
        return {"code": self.code, "message": self.message, "field": self.field}


@dataclass(frozen=True, slots=True)
class MappedRecord:
    """One Rackbeat record in its PowerOffice Go form.

    ``reference`` is the key a create will carry and a lookup will search by (product code or
    ``ExternalImportReference``): written to the ledger before the request (intent before
    effect). ``manual`` holds values PowerOffice Go v2 has no field for (R-SUP-4, R-SUP-8).
    """

    kind: str
    key: str
    reference: str
    payload: OutboundModel
    fingerprint: str
    warnings: tuple[MappingWarning, ...] = ()
    manual: Mapping[str, JSONValue] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The request body of a create."""
        return self.payload.to_wire()


@dataclass(frozen=True, slots=True)
class Create:
    """POST ``payload`` (after the lookup by ``reference`` found nothing)."""

    payload: OutboundModel
    fingerprint: str
    reference: str
    warnings: tuple[MappingWarning, ...] = ()
    manual: Mapping[str, JSONValue] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The request body."""
        return self.payload.to_wire()

    def to_json(self) -> dict[str, JSONValue]:
        """The decision as JSON (for the ledger's attempt row)."""
        return {
            "action": "create",
            "reference": self.reference,
            "fingerprint": self.fingerprint,
            "payload": self.body(),
            "warnings": [w.to_json() for w in self.warnings],
            "manual": dict(self.manual),
        }


@dataclass(frozen=True, slots=True)
class Update:
    """PATCH ``remote_id`` with ``operations``: ``replace`` ops of only the changed fields.

    ``payload`` is the full new body: the ledger stores it as "previously written" once the
    PATCH succeeded, so that the next update diffs against it.
    """

    remote_id: int | str
    operations: tuple[PatchOperation, ...]
    payload: OutboundModel
    fingerprint: str
    warnings: tuple[MappingWarning, ...] = ()
    manual: Mapping[str, JSONValue] = field(default_factory=dict)

    def body(self) -> list[dict[str, Any]]:
        """The JSON-Patch document."""
        return [op.to_wire() for op in self.operations]

    def to_json(self) -> dict[str, JSONValue]:
        """The decision as JSON (for the ledger's attempt row)."""
        return {
            "action": "update",
            "remote_id": self.remote_id,
            "fingerprint": self.fingerprint,
            "operations": self.body(),
            "warnings": [w.to_json() for w in self.warnings],
            "manual": dict(self.manual),
        }


@dataclass(frozen=True, slots=True)
class Skip:
    """Do not write; keep ``reason`` (ledger status ``skipped``)."""

    reason: str
    warnings: tuple[MappingWarning, ...] = ()
    manual: Mapping[str, JSONValue] = field(default_factory=dict)

    def to_json(self) -> dict[str, JSONValue]:
        """The decision as JSON (for the ledger's attempt row)."""
        return {
            "action": "skip",
            "reason": self.reason,
            "warnings": [w.to_json() for w in self.warnings],
            "manual": dict(self.manual),
        }


Decision = Create | Update | Skip


def patch_operations(
    resource: str, previous: Mapping[str, Any] | None, current: Mapping[str, Any]
) -> tuple[PatchOperation, ...]:
    """JSON-Patch ``replace`` ops turning ``previous`` into ``current``, patchable fields only.

    Both are wire bodies (PascalCase). Fields are compared whole at the top level (a changed
    ``MailAddress`` is replaced as one object: nested paths are not confirmed for v2). A field
    that disappeared is replaced with ``null``. Fields the resource's ``…PatchDto`` does not
    accept (codes, ``PaymentTerm`` days, lines) are never sent. With no previous body every
    patchable field of ``current`` is sent. Ops are ordered by path, so equal inputs give
    equal documents.
    """
    allowed = PATCHABLE_FIELDS[resource]
    before = previous or {}
    ops = []
    for name in sorted((set(before) | set(current)) & allowed):
        new = current.get(name)
        if previous is not None and before.get(name) == new:
            continue
        ops.append(PatchOperation(op="replace", path=f"/{name}", value=new))
    return tuple(ops)


def held_view(body: Mapping[str, Any], held: Mapping[str, Any]) -> dict[str, Any]:
    """What PowerOffice Go holds, in the shape of the body rbsync would write: the fields of
    ``body`` only (an object field: only the keys rbsync writes in it), ``None`` where it holds
    nothing. Compared with :func:`patch_operations`, it yields exactly the fields to PATCH when
    a record is adopted -- found by a lookup or a bulk index, not written by this ledger.
    """
    view: dict[str, Any] = {}
    for name, ours in body.items():
        theirs = held.get(name)
        if isinstance(ours, Mapping) and isinstance(theirs, Mapping):
            theirs = held_view(ours, theirs)
        view[name] = theirs
    return view


def decide(
    mapped: MappedRecord | Skip,
    *,
    previous_fingerprint: str | None,
    previous_payload: Mapping[str, Any] | None,
    remote_id: int | str | None,
    create_only: bool,
) -> Decision:
    """Turn a mapped record and the ledger's knowledge into one action.

    - a :class:`Skip` from the mapping stays a skip;
    - no remote record (``remote_id`` None, after the lookup) -> :class:`Create`;
    - a remote record of a create-only kind (R-SUP-11 suppliers, R-INV invoices) -> skip;
    - same fingerprint as last written -> skip ``unchanged`` (no request at all);
    - otherwise -> :class:`Update` with the changed patchable fields, or a skip when only
      non-patchable fields changed.
    """
    if isinstance(mapped, Skip):
        return mapped
    if remote_id is None:
        return Create(
            payload=mapped.payload,
            fingerprint=mapped.fingerprint,
            reference=mapped.reference,
            warnings=mapped.warnings,
            manual=mapped.manual,
        )
    if create_only:
        reason = REASON_INVOICE_TRANSFERRED if mapped.kind == "invoice" else REASON_CREATE_ONLY
        return Skip(reason=reason, warnings=mapped.warnings, manual=mapped.manual)
    if previous_fingerprint == mapped.fingerprint:
        return Skip(reason=REASON_UNCHANGED, warnings=mapped.warnings, manual=mapped.manual)
    resource = mapped.payload.resource
    assert resource is not None, f"{type(mapped.payload).__name__} names no resource"
    operations = patch_operations(resource, previous_payload, mapped.body())
    if not operations:
        return Skip(
            reason=REASON_NO_PATCHABLE_CHANGE, warnings=mapped.warnings, manual=mapped.manual
        )
    return Update(
        remote_id=remote_id,
        operations=operations,
        payload=mapped.payload,
        fingerprint=mapped.fingerprint,
        warnings=mapped.warnings,
        manual=mapped.manual,
    )

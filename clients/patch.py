"""Field diff -> JSON-Patch: PowerOffice Go v2 updates carry only what changed.

:func:`diff_operations` compares the record as PowerOffice Go holds it with the payload the
mapping wants, field by field (wire names), and returns one ``replace`` operation per changed
field. Only fields the resource's ``…PatchDto`` accepts may be patched (ids, never codes or
numbers); a changed field outside that list is a programming error and raises
:class:`UnpatchableFieldError`, naming it. A nested object (``MailAddress``) is compared on the keys
the payload sets and replaced whole when any of them changed (the spec leaves nested paths such
as ``/MailAddress/City`` inferred; a whole-object ``replace`` is in the PatchDto for certain).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from clients.models import PATCHABLE_FIELDS, PatchOperation

__all__ = ["UnpatchableFieldError", "diff_operations", "wire_field"]


class UnpatchableFieldError(ValueError):
    """A field changed that the resource's PATCH DTO does not accept."""


def _wire(record: Mapping[str, Any] | BaseModel) -> Mapping[str, Any]:
    if isinstance(record, BaseModel):
        return record.model_dump(mode="json", by_alias=True)
    return record


def wire_field(record: Mapping[str, Any], name: str) -> Any:
    """A field by wire name; PowerOffice Go's key case is not significant."""
    if name in record:
        return record[name]
    lowered = name.lower()
    for key, value in record.items():
        if key.lower() == lowered:
            return value
    return None


def _same(current: Any, desired: Any) -> bool:
    if isinstance(desired, Mapping):
        if not isinstance(current, Mapping):
            return False
        return all(_same(wire_field(current, key), value) for key, value in desired.items())
    if isinstance(desired, list | tuple) and isinstance(current, list | tuple):
        return len(desired) == len(current) and all(
            _same(c, d) for c, d in zip(current, desired, strict=True)
        )
    if isinstance(desired, bool) or isinstance(current, bool):
        return desired is current
    if isinstance(desired, int | float) and isinstance(current, int | float):
        return float(desired) == float(current)
    return bool(current == desired)


def diff_operations(
    resource: str,
    current: Mapping[str, Any] | BaseModel,
    desired: Mapping[str, Any] | BaseModel,
) -> list[PatchOperation]:
    """The ``replace`` operations that turn ``current`` into ``desired`` on ``resource``.

    ``resource`` is the v2 collection name (``"Products"``, ``"Customers"``, ...). Fields
    ``desired`` leaves out (``None`` is omitted by ``to_wire()``) are not touched.
    """
    try:
        allowed = PATCHABLE_FIELDS[resource]
    except KeyError:
        raise UnpatchableFieldError(f"{resource} has no PATCH fields") from None
    if isinstance(desired, BaseModel):
        desired_wire: Mapping[str, Any] = desired.model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
    else:
        desired_wire = desired
    current_wire = _wire(current)
    operations: list[PatchOperation] = []
    for name, value in desired_wire.items():
        if _same(wire_field(current_wire, name), value):
            continue
        if name not in allowed:
            raise UnpatchableFieldError(
                f"{resource}.{name} changed but cannot be patched (PATCH takes ids, not codes)"
            )
        operations.append(PatchOperation(op="replace", path=f"/{name}", value=value))
    return operations

"""Request bodies checked against the DTO tables, the way ASP.NET's model binding does it.

Property names match case-insensitively; unknown and read-only properties are ignored; a value
of the wrong JSON type, an unknown enum member or a string over its ``maxLength`` is a 400
``ValidationProblemDetails`` naming the JSON path (``$.MailAddress.City``).
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Any

from sandbox.poweroffice.dtos import DTOS, ENUMS, Field
from sandbox.poweroffice.wire import ApiError

__all__ = ["VALIDATION_TITLE", "canonical_name", "coerce", "coerce_value", "field_error"]

VALIDATION_TITLE = "One or more validation errors occurred."
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_LOWER: dict[str, dict[str, str]] = {
    dto: {name.lower(): name for name in fields} for dto, fields in DTOS.items()
}
_ENUM_LOWER: dict[str, dict[str, str]] = {
    name: {member.lower(): member for member in members} for name, members in ENUMS.items()
}


def field_error(path: str, message: str) -> ApiError:
    """A 400 ValidationProblemDetails naming one field."""
    return ApiError(400, VALIDATION_TITLE, f"{path}: {message}", errors={path: [message]})


def canonical_name(dto: str, name: str) -> str | None:
    """The DTO's spelling of a property name, matched case-insensitively."""
    return _LOWER[dto].get(name.lower())


def coerce(
    dto: str, body: Any, path: str = "$", *, include_read_only: bool = False
) -> dict[str, Any]:
    """The writable properties of ``body`` for ``dto``, with canonical names and values."""
    if not isinstance(body, dict):
        raise field_error(path, f"The JSON value could not be converted to {dto}.")
    fields = DTOS[dto]
    result: dict[str, Any] = {}
    for key, value in body.items():
        name = canonical_name(dto, str(key))
        if name is None:
            continue
        spec = fields[name]
        if spec.read_only and not include_read_only:
            continue
        result[name] = coerce_value(spec, value, f"{path}.{name}")
    return result


def coerce_value(spec: Field, value: Any, path: str) -> Any:  # noqa: PLR0911, PLR0912, PLR0915
    """One property value checked and normalised against its field description."""
    if value is None:
        return None
    kind = spec.kind
    if kind == "string":
        if not isinstance(value, str):
            raise field_error(path, "The JSON value could not be converted to System.String.")
        if spec.max_length is not None and len(value) > spec.max_length:
            raise field_error(
                path, f"The field must be a string with a maximum length of {spec.max_length}."
            )
        return value
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise field_error(path, "The JSON value could not be converted to System.Int64.")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise field_error(path, "The JSON value could not be converted to System.Double.")
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise field_error(path, "The JSON value could not be converted to System.Boolean.")
        return value
    if kind == "date":
        if not isinstance(value, str) or not _DATE.match(value):
            raise field_error(path, "The JSON value could not be converted to System.DateOnly.")
        try:
            return date.fromisoformat(value[:10]).isoformat()
        except ValueError:
            raise field_error(
                path, "The JSON value could not be converted to System.DateOnly."
            ) from None
    if kind == "datetime":
        if not isinstance(value, str):
            raise field_error(path, "The JSON value could not be converted to DateTimeOffset.")
        try:
            return datetime.fromisoformat(value).isoformat()
        except ValueError:
            raise field_error(
                path, "The JSON value could not be converted to DateTimeOffset."
            ) from None
    if kind == "uuid":
        try:
            return str(uuid.UUID(str(value)))
        except ValueError:
            raise field_error(
                path, "The JSON value could not be converted to System.Guid."
            ) from None
    if kind == "enum":
        assert spec.ref is not None
        member = _ENUM_LOWER[spec.ref].get(str(value).lower()) if isinstance(value, str) else None
        if member is None:
            allowed = ", ".join(sorted(ENUMS[spec.ref]))
            raise field_error(
                path, f"The JSON value {value!r} is not a valid {spec.ref} (one of: {allowed})."
            )
        return member
    if kind == "object":
        assert spec.ref is not None
        if spec.ref not in DTOS:
            # Sub-objects the emulator does not model (Accrual) are kept as they came.
            if not isinstance(value, dict):
                raise field_error(path, f"The JSON value could not be converted to {spec.ref}.")
            return value
        return coerce(spec.ref, value, path)
    if kind == "array":
        if not isinstance(value, list):
            raise field_error(path, "The JSON value could not be converted to an array.")
        assert spec.ref is not None
        if spec.ref in DTOS:
            return [coerce(spec.ref, item, f"{path}[{n}]") for n, item in enumerate(value)]
        item_spec = Field(spec.ref, None, False, None)
        return [coerce_value(item_spec, item, f"{path}[{n}]") for n, item in enumerate(value)]
    raise AssertionError(f"unknown field kind {kind!r}")  # pragma: no cover - table is generated

"""Base classes of the wire models: tolerant inbound, strict outbound.

Inbound models read what a remote API returns; they ignore unknown keys (the APIs add fields
without notice) and accept both names where the spec is unsure. Outbound models describe what
rbsync writes; they forbid unknown fields, are frozen (a payload is a value, hashed for the
ledger's fingerprint) and serialise with :meth:`OutboundModel.to_wire` to the exact wire names,
leaving out every field that is ``None``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic.alias_generators import to_pascal


def _date_prefix(value: Any) -> Any:
    """Accept ``2025-07-14``, ``2025-07-14 10:30:00`` and ISO date-times for a date field.

    Rackbeat returns dates in both forms (spec: "parse both forms"); a date-time's time part
    carries no meaning for an invoice or order date, so only its calendar day is kept.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str) and len(value) > 10 and value[4:5] == "-" and value[7:8] == "-":
        return value[:10]
    return value


def _blank_to_none(value: Any) -> Any:
    """Treat an empty or all-blank string as absent (Rackbeat sends ``""`` for unset fields)."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


LooseDate = Annotated[date | None, BeforeValidator(_blank_to_none), BeforeValidator(_date_prefix)]
"""A date that may arrive as a date-time string, a date string, blank or null."""

LooseDateTime = Annotated[datetime | None, BeforeValidator(_blank_to_none)]
"""A date-time (``T`` or space separated, with or without offset), blank or null."""


class InboundModel(BaseModel):
    """A record read from a remote API: unknown keys are ignored, values coerced leniently.

    ``NaN`` and infinities are refused: JSON cannot carry them, and a price that is not a
    number must surface as a clear error, not travel on.
    """

    model_config = ConfigDict(
        extra="ignore",
        validate_by_name=True,
        validate_by_alias=True,
        allow_inf_nan=False,
        coerce_numbers_to_str=True,
    )


class OutboundModel(BaseModel):
    """A payload rbsync writes: strict, frozen, serialised by alias with ``None`` left out.

    ``resource`` names the collection a payload is written to (PowerOffice Go's ``Products``,
    ...), where that decides something (the PATCH field list); None elsewhere.
    """

    resource: ClassVar[str | None] = None

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        allow_inf_nan=False,
        str_strip_whitespace=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON body for the request: wire names, JSON types, ``None`` fields omitted."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class PascalOutboundModel(OutboundModel):
    """An outbound PowerOffice Go v2 DTO: Python snake_case fields, PascalCase on the wire."""

    model_config = ConfigDict(alias_generator=to_pascal)


class PascalInboundModel(InboundModel):
    """An inbound PowerOffice Go v2 DTO: PascalCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_pascal)

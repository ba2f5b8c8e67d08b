"""Per-record bookkeeping shared by the mappers: warnings collected, rejections named.

A :class:`RecordContext` knows which record is being mapped, so every check can reject with
the record's kind and key, and every warning lands in one list. :meth:`RecordContext.build`
constructs an outbound model and turns a pydantic ``ValidationError`` into
:class:`RecordRejected` naming the offending field: whatever the inbound data, nothing but
``RecordRejected`` leaves a mapper.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError

from mapping.decision import MappingWarning
from mapping.errors import RecordRejected

__all__ = ["MAX_AMOUNT", "RecordContext", "parse_record"]

M = TypeVar("M", bound=BaseModel)

MAX_AMOUNT = 1e12
"""Largest absolute price, cost or quantity accepted: beyond it a value is a data error."""


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(f".{item}" if parts else item)
    return "".join(parts) or "(record)"


def _first_error(exc: ValidationError) -> tuple[str, str]:
    error = exc.errors(include_url=False)[0]
    return _location(tuple(error["loc"])), str(error["msg"])


def parse_record(model: type[M], raw: Mapping[str, Any] | M, *, kind: str, key_field: str) -> M:
    """Validate an inbound record (a dict from the ledger's snapshot, or already a model).

    A ``ValidationError`` becomes :class:`RecordRejected` naming the first bad field; the
    record's key is read from ``raw[key_field]`` when there is one, else ``?``.
    """
    if isinstance(raw, model):
        return raw
    key = "?"
    if isinstance(raw, Mapping):
        value = raw.get(key_field)
        if isinstance(value, str | int) and not isinstance(value, bool):
            key = str(value)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        field, reason = _first_error(exc)
        raise RecordRejected(kind, key, field, reason) from None


class RecordContext:
    """The record being mapped: its kind, key, and the warnings found so far."""

    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        self.warnings: list[MappingWarning] = []

    def reject(self, field: str, reason: str) -> NoReturn:
        """Stop mapping this record: ``field`` cannot be used, because ``reason``."""
        raise RecordRejected(self.kind, self.key, field, reason)

    def warn(self, code: str, message: str, field: str | None = None) -> None:
        """Record a structured warning and go on."""
        self.warnings.append(MappingWarning(code=code, message=message, field=field))

    def amount(
        self, field: str, value: float | None, *, allow_negative: bool = False
    ) -> float | None:
        """A price, cost or quantity: finite, within :data:`MAX_AMOUNT`, signed if allowed."""
        if value is None:
            return None
        if not math.isfinite(value) or abs(value) > MAX_AMOUNT:
            self.reject(field, f"{value!r} is not a usable amount")
        if value < 0 and not allow_negative:
            self.reject(field, f"{value!r} is negative")
        return value

    def percent(self, field: str, value: float | None) -> float | None:
        """A discount percent as PowerOffice Go takes it (``Allowance``: -1000..100)."""
        amount = self.amount(field, value, allow_negative=True)
        if amount is not None and not -1000 <= amount <= 100:
            self.reject(field, f"{amount!r} is outside -1000..100 %")
        return amount

    def text(self, field: str, value: str | None, *, max_length: int | None = None) -> str | None:
        """A trimmed text value; longer than ``max_length`` characters rejects the record."""
        if value is None:
            return None
        text = value.strip()
        if not text:
            return None
        if max_length is not None and len(text) > max_length:
            self.reject(field, f"longer than {max_length} characters ({len(text)})")
        return text

    def build(self, model: type[M], fields: Mapping[str, Any], *, prefix: str = "") -> M:
        """Construct an outbound model; a validation error rejects the record by field."""
        try:
            return model.model_validate(dict(fields))
        except ValidationError as exc:
            field, reason = _first_error(exc)
            self.reject(f"{prefix}{field}", reason)

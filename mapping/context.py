"""Per-record bookkeeping shared by the mappers: warnings collected, rejections named.

A :class:`RecordContext` knows which record is being mapped, so every check can reject with
the record's kind and key, and every warning lands in one list. :meth:`RecordContext.build`
constructs an outbound model and turns a pydantic ``ValidationError`` into
:class:`RecordRejected` naming the offending field: whatever the inbound data, nothing but
``RecordRejected`` leaves a mapper.

Every text value a mapper sends goes through one of four methods, which is where the field's
kind is chosen: :meth:`RecordContext.text` (one line), :meth:`RecordContext.description`
(several lines, cut when too long), :meth:`RecordContext.code` (an identity, never altered)
and :meth:`RecordContext.email`. The cleaning itself is :mod:`mapping.text`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError

from mapping.decision import MappingWarning
from mapping.errors import RecordRejected
from mapping.text import (
    clean_line,
    clean_text,
    first_control_character,
    is_email_address,
    shown,
    trim,
)

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
        """One-line text (a name, a phone number, a reference, an address line).

        Control characters are removed (line breaks and tabs become spaces), invisible
        characters at the ends trimmed; a value with nothing visible left is absent (``None``),
        so a name that is only a zero-width space is a missing name. Longer than
        ``max_length`` rejects the record: a cut name or reference names something else.
        """
        if value is None:
            return None
        text = clean_line(value)
        if not text:
            return None
        self._fits(field, text, max_length)
        return text

    def description(self, field: str, value: str | None, *, max_length: int | None) -> str | None:
        """Free text that may have several lines (a description, the invoice note).

        As :meth:`text`, but line breaks are kept (as ``\\n``); longer than ``max_length`` is
        cut (ending in "…") with a ``truncated_text`` warning, since a description identifies
        nothing.
        """
        if value is None:
            return None
        text = clean_text(value)
        if not text:
            return None
        if max_length is not None and len(text) > max_length:
            self.warn(
                "truncated_text",
                f"{len(text)} characters, cut to {max_length}: PowerOffice Go gets the start",
                field=field,
            )
            text = text[: max_length - 1].rstrip() + "…"
        return text

    def code(self, field: str, value: str | None, *, max_length: int | None) -> str | None:
        """An identity (an item number): only trimmed, never altered.

        A control character inside, or more than ``max_length`` characters, rejects the record:
        removing or cutting anything would make another code, which may be another item's.
        """
        if value is None:
            return None
        text = trim(value)
        if not clean_line(text):
            return None
        control = first_control_character(text)
        if control is not None:
            self.reject(field, f"contains the control character U+{ord(control):04X}")
        self._fits(field, text, max_length)
        return text

    def email(self, field: str, value: str | None, *, consequence: str = "left out") -> str | None:
        """An e-mail address (:func:`mapping.text.is_email_address`), trimmed; one that is not
        an address is left out (``None``) with an ``invalid_email`` warning saying
        ``consequence``, as if the field were empty: the record itself is fine."""
        if value is None:
            return None
        text = trim(value)
        if not clean_line(text):
            return None
        if not is_email_address(text):
            self.warn(
                "invalid_email", f"{shown(text)} is not an e-mail address; {consequence}", field
            )
            return None
        return text

    def _fits(self, field: str, text: str, max_length: int | None) -> None:
        if max_length is not None and len(text) > max_length:
            self.reject(field, f"longer than {max_length} characters ({len(text)})")

    def build(self, model: type[M], fields: Mapping[str, Any], *, prefix: str = "") -> M:
        """Construct an outbound model; a validation error rejects the record by field."""
        try:
            return model.model_validate(dict(fields))
        except ValidationError as exc:
            field, reason = _first_error(exc)
            self.reject(f"{prefix}{field}", reason)

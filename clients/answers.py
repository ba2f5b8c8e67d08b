"""Reading what a create answered: after a 2xx the record exists, whatever the body says.

A 2xx to a POST means the record was created. What the caller needs from the answer is the
record's key (Rackbeat's ``number``, PowerOffice Go's ``Id``); the rest is read tolerantly:

- a field whose value does not match the wire model is left out, and one warning names the API,
  the resource, the key and the fields (never a value: a body may hold personal data);
- unknown fields are ignored and missing optional ones are ``None``, as on every read;
- an answer without a usable key is an :class:`~clients.errors.AmbiguousWriteError`: the create
  happened and its key is unknown, so the caller looks the record up before it may create again.

Never a :class:`~clients.errors.MalformedResponseError` after a 2xx create: that error is
permanent, and it would make a write that happened look failed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from clients.errors import AmbiguousWriteError

__all__ = ["Salvaged", "ambiguous_answer", "read_created", "salvage"]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Salvaged(Generic[M]):
    """A record read tolerantly, and the fields left out (wire name -> pydantic error type)."""

    record: M
    ignored: Mapping[str, str]

    def describe(self) -> str:
        """``field (error type), ...``: names and kinds only, never values."""
        return ", ".join(f"{name} ({kind})" for name, kind in self.ignored.items())


def salvage(model: type[M], data: Any) -> Salvaged[M]:
    """``model`` from ``data``, leaving out every top-level field whose value does not match.

    Raises :class:`pydantic.ValidationError` when what remains still does not validate: then
    a required field (the key) is missing or unusable, or ``data`` is not an object at all.
    """
    if not isinstance(data, Mapping):
        return Salvaged(model.model_validate(data), {})
    remaining = dict(data)
    ignored: dict[str, str] = {}
    while True:
        try:
            return Salvaged(model.model_validate(remaining), ignored)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False)
        # Field names are matched without case: PowerOffice Go's key case is not significant
        # and its models canonicalise the keys before the error names them.
        failing = {str(e["loc"][0]).casefold(): str(e["type"]) for e in errors if e["loc"]}
        culprits = [key for key in remaining if str(key).casefold() in failing]
        if not culprits:
            # Nothing left to leave out: a required field is missing (or the whole body is
            # wrong); the same validation raises with the full story.
            model.model_validate(remaining)
        for key in culprits:
            ignored[str(key)] = failing[str(key).casefold()]
            del remaining[key]


def ambiguous_answer(
    reason: str, *, api: str, method: str, path: str, status: int
) -> AmbiguousWriteError:
    """The error for a 2xx create answer that does not say which record was created."""
    return AmbiguousWriteError(
        f"{api} answered the create with {reason}: the record was created, its key is unknown;"
        " look it up before creating it again",
        method=method,
        path=path,
        status=status,
    )


def read_created(
    model: type[M],
    data: Any,
    *,
    key: str,
    api: str,
    method: str,
    path: str,
    status: int,
) -> Salvaged[M]:
    """The record a 2xx create answered, read tolerantly; its ``key`` attribute is set.

    ``data`` is the record's JSON object (the caller has taken it out of any envelope).
    Raises :class:`~clients.errors.AmbiguousWriteError` when the key cannot be read.
    """
    if not isinstance(data, Mapping):
        raise ambiguous_answer("no record object", api=api, method=method, path=path, status=status)
    try:
        salvaged = salvage(model, data)
    except ValidationError as exc:
        fields = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
        raise ambiguous_answer(
            f"a record whose {', '.join(fields) or key} cannot be read",
            api=api,
            method=method,
            path=path,
            status=status,
        ) from None
    value = getattr(salvaged.record, key, None)
    if value is None or value == "":
        raise ambiguous_answer(
            f"a record without its {key}", api=api, method=method, path=path, status=status
        )
    if salvaged.ignored:
        log.warning(
            "%s %s %s: the answer for %s %r does not match %s; created all the same, "
            "these fields were ignored: %s",
            api,
            method,
            path,
            key,
            value,
            model.__name__,
            salvaged.describe(),
        )
    return salvaged

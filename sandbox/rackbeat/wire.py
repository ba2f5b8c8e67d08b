"""The Rackbeat wire conventions the emulator implements, each in one place.

Where ``docs/api-facts.md`` marks a fact inferred, the choice is a named constant or a single
function here, so that a live account proving otherwise changes one line.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from urllib.parse import quote, unquote

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "DatetimeError",
    "format_date",
    "format_datetime",
    "number_from_path",
    "pages_for",
    "parse_datetime",
    "urlfriendly_number",
]

DEFAULT_LIMIT = 20
"""docs/api-facts.md, Rackbeat 3 [verified: the documentation]."""

MAX_LIMIT = 1000
"""docs/api-facts.md, Rackbeat 3: "(max 1000, min 1)" says an SDK; beyond it the emulator
answers 422."""

NAIVE_TIMEZONE = UTC
"""``updated_at_from=2025-07-14 00:00:00`` carries no zone; the emulator reads it as UTC [I]."""


class DatetimeError(ValueError):
    """A filter value that is neither ``YYYY-MM-DD HH:MM:SS`` nor ISO 8601."""


def format_datetime(epoch: int) -> str:
    """Timestamps go out as ISO 8601 with an offset, as S1 parses them (``Y-m-d\\TH:i:sP``)."""
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def format_date(epoch: int) -> str:
    """Dates (``invoice_date``, ``due_date``) go out as ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(epoch, UTC).date().isoformat()


def parse_datetime(value: str) -> int:
    """Epoch seconds of ``YYYY-MM-DD HH:MM:SS``, ``YYYY-MM-DD`` or ISO 8601 (``Z`` or offset)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise DatetimeError(f"not a date-time: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=NAIVE_TIMEZONE)
    return math.floor(parsed.timestamp())


def urlfriendly_number(number: str) -> str:
    """The ``urlfriendly_number`` served on items: the number double URL-encoded [I].

    D10 offers it as the alternative to double-encoding, so both reach the same path; a client
    puts it into the path verbatim. For plain numbers (``SKU-1001``) it equals the number.
    """
    return quote(quote(number, safe=""), safe="")


def number_from_path(segment: str) -> str:
    """An item number from its path segment: the server has decoded once, this decodes again.

    So ``AB%252F100`` (double-encoded) is ``AB/100``; a single-encoded ``/`` never reaches here
    (it splits the path and the route does not match: 404, as D10 warns).
    """
    return unquote(segment)


def pages_for(total: int, limit: int) -> int:
    """Laravel's ``lastPage``: at least 1, even for an empty list."""
    return max(1, math.ceil(total / limit))

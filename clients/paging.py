"""Paginators without I/O: they read what a page said and name the next page, or stop.

The clients own the requests; these small state machines own the rules of each API, and refuse
to go round in circles when a server ignores the page parameter (as meltano's paginators do).

- Rackbeat: ``page``/``limit`` query, the envelope says ``page`` and ``pages``; stop after
  the last page or at an empty one.
- PowerOffice Go: ``PageNumber``/``PageSize`` query; a plain JSON array; stop on 204, an empty
  page or a short page.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

__all__ = ["PageNumberPaginator", "PaginationLoopError", "RackbeatPaginator", "has_last_page"]


class PaginationLoopError(RuntimeError):
    """The server answered a page we had already seen: it is ignoring the page parameter."""


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


class RackbeatPaginator:
    """Walks ``page = 1..pages`` of a Rackbeat list envelope (``limit`` records a page)."""

    def __init__(self, *, limit: int, start: int = 1) -> None:
        self.limit = limit
        self.page = start
        self._seen: set[int] = set()

    def advance(self, envelope: Mapping[str, Any], item_count: int) -> bool:
        """Take the page just read; return True and move ``page`` on when there is another.

        Without ``pages`` in the envelope, a full page means there may be another.
        """
        page = _int(envelope.get("page"), self.page)
        if page in self._seen:
            raise PaginationLoopError(f"page {page} came back twice (asked for page {self.page})")
        self._seen.add(page)
        if item_count == 0 or has_last_page(envelope, page, item_count, self.limit):
            return False
        self.page = page + 1
        return True


def has_last_page(envelope: Mapping[str, Any], page: int, item_count: int, limit: int) -> bool:
    """Whether the Rackbeat page just read was the last one."""
    pages = envelope.get("pages")
    if pages is None:
        return item_count < limit
    return page >= _int(pages, page)


class PageNumberPaginator:
    """Walks ``PageNumber = 1, 2, ...`` of a PowerOffice Go list."""

    def __init__(self, *, page_size: int, start: int = 1) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        self.page_size = page_size
        self.page = start
        self._previous_first: Hashable | None = None

    def advance(self, *, status: int, item_count: int, first_key: Hashable | None = None) -> bool:
        """Take the page just read; return True and move ``page`` on when there may be another.

        ``first_key`` identifies the page's first record (its ``Id``): a full page that starts
        with the same record as the previous one means the server ignored ``PageNumber``.
        """
        if status == 204 or item_count < self.page_size:
            return False
        if first_key is not None and first_key == self._previous_first:
            raise PaginationLoopError(f"page {self.page} repeats the previous page")
        self._previous_first = first_key
        self.page += 1
        return True

"""One Rackbeat resource collection in memory, with the indexes a list call needs.

Records are kept in a dict by key (insertion order = number order for generated data, then
creation order), plus an ``updated_at`` index (a sorted list of ``(updated_at, seq)``) so that
``updated_at_from``/``updated_at_to`` is a bisect, not a scan of a 100,000-product catalogue.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sandbox.rackbeat.data import Record

__all__ = ["Collection", "ListQuery", "Page"]


@dataclass(frozen=True, slots=True)
class ListQuery:
    """What a list call asks for, already validated."""

    page: int = 1
    limit: int = 20
    updated_from: int | None = None
    updated_to: int | None = None
    predicate: Callable[[Record], bool] | None = None
    order_by: str | None = None
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Page:
    """One page of records plus the total that matched."""

    records: list[Record]
    total: int


class Collection:
    """Records of one resource keyed by ``str(number)``; all methods are thread-safe."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.RLock()
        self._records: dict[str, Record] = {}
        self._seq: dict[str, int] = {}
        self._by_seq: dict[int, str] = {}
        self._updated: list[tuple[int, int]] = []
        self._next_seq = itertools.count()
        self._max_number = 0

    def __len__(self) -> int:
        return len(self._records)

    def load(self, records: Iterable[Record]) -> None:
        """Replace the contents with ``records`` (in their order)."""
        with self._lock:
            self._records.clear()
            self._seq.clear()
            self._by_seq.clear()
            self._next_seq = itertools.count()
            self._max_number = 0
            index: list[tuple[int, int]] = []
            for record in records:
                key = str(record["number"])
                seq = next(self._next_seq)
                self._records[key] = record
                self._seq[key] = seq
                self._by_seq[seq] = key
                index.append((record["updated_at"], seq))
                self._note_number(record["number"])
            index.sort()
            self._updated = index

    def get(self, key: str) -> Record | None:
        return self._records.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self._records

    def values(self) -> Iterator[Record]:
        with self._lock:
            return iter(list(self._records.values()))

    def max_number(self) -> int:
        """The largest integer number held (0 when empty); for auto-numbering."""
        return self._max_number

    def _note_number(self, number: object) -> None:
        if isinstance(number, int) and number > self._max_number:
            self._max_number = number

    def add(self, record: Record) -> None:
        """Insert a new record (the caller has checked the key is free)."""
        with self._lock:
            key = str(record["number"])
            seq = next(self._next_seq)
            self._records[key] = record
            self._seq[key] = seq
            self._by_seq[seq] = key
            bisect.insort(self._updated, (record["updated_at"], seq))
            self._note_number(record["number"])

    def update(self, key: str, changes: dict[str, Any]) -> Record:
        """Apply ``changes`` to the record at ``key`` and keep the index true."""
        with self._lock:
            record = self._records[key]
            seq = self._seq[key]
            if "updated_at" in changes and changes["updated_at"] != record["updated_at"]:
                old = (record["updated_at"], seq)
                position = bisect.bisect_left(self._updated, old)
                del self._updated[position]
                bisect.insort(self._updated, (changes["updated_at"], seq))
            record.update(changes)
            return record

    def query(self, query: ListQuery) -> Page:
        """Filter, order and cut one page; ``total`` counts every match."""
        with self._lock:
            ranged = query.updated_from is not None or query.updated_to is not None
            if ranged:
                low = 0
                high = len(self._updated)
                if query.updated_from is not None:
                    low = bisect.bisect_left(self._updated, (query.updated_from, -1))
                if query.updated_to is not None:
                    high = bisect.bisect_right(self._updated, (query.updated_to, 1 << 62))
                if (
                    query.order_by == "updated_at"
                    and not query.descending
                    and query.predicate is None
                ):
                    # A poll's query: the index is already in this order (ties in insertion
                    # order, as the stable sort below would give them), so a page is a slice:
                    # O(page), not a sort of every record from the bound on.
                    start = low + (query.page - 1) * query.limit
                    stamps = self._updated[start : min(high, start + query.limit)]
                    return Page([self._records[self._by_seq[s]] for _, s in stamps], high - low)
                # Default order is number (insertion) order, as without the filter.
                seqs = sorted(seq for _, seq in self._updated[low:high])
                candidates: Iterable[Record] = (self._records[self._by_seq[s]] for s in seqs)
            else:
                candidates = self._records.values()
            if query.predicate is not None:
                candidates = [r for r in candidates if query.predicate(r)]
            if query.order_by is not None:
                field = query.order_by
                candidates = sorted(
                    candidates,
                    key=lambda r: _sort_key(r.get(field)),
                    reverse=query.descending,
                )
            start = (query.page - 1) * query.limit
            if isinstance(candidates, list):
                return Page(candidates[start : start + query.limit], len(candidates))
            if not ranged:
                # The fast path: no filter, no ordering: a slice of the dict, O(offset).
                window = list(itertools.islice(candidates, start, start + query.limit))
                return Page(window, len(self._records))
            everything = list(candidates)
            return Page(everything[start : start + query.limit], len(everything))


def _sort_key(value: Any) -> tuple[int, Any]:
    # Mixed and missing values sort deterministically: None first, then numbers, then text.
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value))

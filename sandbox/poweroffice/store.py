"""In-memory tables with a read replica: writes reach GETs only after ``lag`` seconds.

A :class:`Table` keeps, per record, the versions written in the last ``lag`` seconds (a
``None`` version is a delete). Writes and uniqueness checks see the primary (the newest
version); reads see the replica (the newest version at least ``lag`` seconds old). Lookups by
indexed fields go through an append-only index of every value a record ever had, then check
the version the reader sees, so a 100,000-record table is never scanned for a code lookup.
Tables are not locked: the emulator's backend serialises access with one lock.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any

__all__ = ["Record", "Table", "index_key"]

Record = dict[str, Any]


def index_key(value: Any) -> Hashable:
    """How indexed values compare: strings case-insensitively (SQL Server collation)."""
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, list):
        return tuple(value)
    return value  # type: ignore[no-any-return]


class Table:
    """One resource's records by id, versioned for the read replica."""

    def __init__(
        self,
        name: str,
        *,
        indexed: Iterable[str] = (),
        now: Callable[[], float],
        lag: Callable[[], float],
    ) -> None:
        self.name = name
        self._now = now
        self._lag = lag
        self._versions: dict[Any, list[tuple[float, Record | None]]] = {}
        self._seq: dict[Any, int] = {}
        self._index: dict[str, dict[Hashable, set[Any]]] = {field: {} for field in indexed}

    def clear(self) -> None:
        self._versions.clear()
        self._seq.clear()
        for index in self._index.values():
            index.clear()

    # --- writes (primary) -------------------------------------------------------------------
    def put(self, record_id: Any, record: Record, *, at: float | None = None) -> None:
        """Write ``record`` as the newest version of ``record_id`` (``at``: when, if not now)."""
        self._write(record_id, record, at)
        for field, index in self._index.items():
            value = record.get(field)
            if value is not None:
                index.setdefault(index_key(value), set()).add(record_id)

    def delete(self, record_id: Any) -> None:
        self._write(record_id, None, None)

    def _write(self, record_id: Any, record: Record | None, at: float | None) -> None:
        now = self._now() if at is None else at
        lag = self._lag()
        versions = self._versions.get(record_id)
        if versions is None:
            self._seq[record_id] = len(self._seq)
        if versions is None or lag <= 0:
            self._versions[record_id] = [(now, record)]
            return
        versions.append((now, record))
        # Drop versions that a newer, already visible version hides from every reader.
        horizon = now - lag
        while len(versions) > 1 and versions[1][0] <= horizon:
            del versions[0]

    def current(self, record_id: Any) -> Record | None:
        """The primary's newest version (what a write checks against)."""
        versions = self._versions.get(record_id)
        return versions[-1][1] if versions else None

    def current_items(self) -> Iterator[tuple[Any, Record]]:
        for record_id, versions in self._versions.items():
            record = versions[-1][1]
            if record is not None:
                yield record_id, record

    def find_current(self, field: str, value: Any) -> list[Any]:
        """Ids whose newest version has ``field`` equal to ``value`` (index comparison)."""
        key = index_key(value)
        found = []
        for record_id in self._index[field].get(key, ()):
            record = self.current(record_id)
            if record is not None and index_key(record.get(field)) == key:
                found.append(record_id)
        return sorted(found, key=str)

    def __len__(self) -> int:
        return sum(1 for _ in self.current_items())

    # --- reads (replica) --------------------------------------------------------------------
    def visible(self, record_id: Any) -> Record | None:
        """The version a GET sees now."""
        versions = self._versions.get(record_id)
        if not versions:
            return None
        lag = self._lag()
        if lag <= 0:
            return versions[-1][1]
        horizon = self._now() - lag
        for stamp, record in reversed(versions):
            if stamp <= horizon:
                return record
        return None

    def visible_all(self) -> Iterator[Record]:
        """Every record a GET sees, in creation order."""
        lag = self._lag()
        if lag <= 0:
            for versions in self._versions.values():
                record = versions[-1][1]
                if record is not None:
                    yield record
            return
        for record_id in self._versions:
            record = self.visible(record_id)
            if record is not None:
                yield record

    def visible_by(self, field: str, values: Iterable[Any]) -> list[Record]:
        """Records a GET sees whose ``field`` is one of ``values``, in creation order."""
        keys = {index_key(value) for value in values}
        ids: set[Any] = set()
        index = self._index[field]
        for key in keys:
            ids.update(index.get(key, ()))
        found = []
        for record_id in sorted(ids, key=self._seq.__getitem__):
            record = self.visible(record_id)
            if record is not None and index_key(record.get(field)) in keys:
                found.append(record)
        return found

    def dump(self) -> list[Record]:
        """The primary's records (for ``/_sandbox/state``)."""
        return [record for _, record in self.current_items()]

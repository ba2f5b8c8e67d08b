"""What a run of the initial sync reports: per-kind counts, per-record events, why it stopped.

The outcomes a record can end with are the columns of the summary; ``already`` means done by an
earlier run (nothing was sent for it).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from mapping import RecordRejected, unit_name_for

__all__ = [
    "ALREADY",
    "CREATED",
    "FAILED",
    "LINKED",
    "SKIPPED",
    "SUMMARY_KINDS",
    "InitialSyncReport",
    "ItemEvent",
    "KindSummary",
    "Progress",
    "label",
    "unit_label",
]

SUMMARY_KINDS = ("units", "product_groups", "products", "supplier_groups", "suppliers", "customers")
"""The rows of the summary: the kinds plus the groups created on the way."""

CREATED = "created"
LINKED = "linked"
SKIPPED = "skipped"
FAILED = "failed"
ALREADY = "already"
"""Outcomes per record; ``already`` = done by an earlier run (nothing sent)."""


class Progress(Protocol):
    """Receives the progress of a run (the CLI draws a progress bar from it)."""

    def begin(self, kind: str, total: int) -> None:
        """``kind`` starts with ``total`` records."""
        ...

    def step(self, kind: str, outcome: str) -> None:
        """One record of ``kind`` ended with ``outcome``."""
        ...


@dataclasses.dataclass
class KindSummary:
    """How many records of one kind were created / linked / skipped / failed / done before."""

    created: int = 0
    linked: int = 0
    skipped: int = 0
    failed: int = 0
    already: int = 0

    def add(self, outcome: str) -> None:
        """Count one record with ``outcome``."""
        setattr(self, outcome, getattr(self, outcome) + 1)

    @property
    def total(self) -> int:
        """Every record counted."""
        return self.created + self.linked + self.skipped + self.failed + self.already


@dataclasses.dataclass(frozen=True)
class ItemEvent:
    """One record's outcome (in a dry run: what would happen), with its reason or warning."""

    kind: str
    source: str
    label: str
    outcome: str
    number: str | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON object."""
        return dataclasses.asdict(self)


@dataclasses.dataclass
class InitialSyncReport:
    """What a run did (or, dry, would do)."""

    dry_run: bool
    kinds: list[str]
    summary: dict[str, KindSummary] = dataclasses.field(
        default_factory=lambda: {k: KindSummary() for k in SUMMARY_KINDS}
    )
    events: list[ItemEvent] = dataclasses.field(default_factory=list)
    """Every record in a dry run; otherwise the skipped, failed and warned ones."""
    complete: bool = True
    stopped: str | None = None
    """Why the run stopped before the end (the next run continues)."""
    out_of_time: bool = False

    @property
    def ok(self) -> bool:
        """Complete, and nothing failed."""
        return self.complete and not any(s.failed for s in self.summary.values())

    @property
    def progressed(self) -> int:
        """Records this run created or linked: the progress that makes a continuation worth
        sending (skips and failures are looked at again by every run, so they are not)."""
        return sum(s.created + s.linked for s in self.summary.values())

    def to_json(self) -> dict[str, Any]:
        """The report as JSON (the Celery task's result)."""
        return {
            "dry_run": self.dry_run,
            "kinds": list(self.kinds),
            "complete": self.complete,
            "stopped": self.stopped,
            "summary": {k: dataclasses.asdict(v) for k, v in self.summary.items()},
            "events": [e.to_json() for e in self.events],
        }


def label(key: object, name: str | None) -> str:
    """How a record is named in the report: ``PO-100 Kabel 2 m`` (key and name, if any)."""
    parts = [str(p) for p in (key, name) if p not in (None, "")]
    return " ".join(parts)


def unit_label(code: str) -> str:
    """``EA Each``: the code and the English name it gets (the code alone when it has none)."""
    try:
        return f"{code} {unit_name_for(code)}"
    except RecordRejected:
        return code

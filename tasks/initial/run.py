"""The initial sync's steps in their order, and :func:`run_initial_sync`, which runs them.

Adding a kind is a module with its :class:`~tasks.initial.engine.Step` and its place in
:data:`STEPS` (and its rows in ``report.SUMMARY_KINDS``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from tasks.initial.customers import CustomersStep
from tasks.initial.engine import Step, run_steps
from tasks.initial.products import ProductsStep
from tasks.initial.report import InitialSyncReport, Progress
from tasks.initial.suppliers import SuppliersStep
from tasks.initial.units import UnitsStep
from wiring.runtime import Runtime

__all__ = ["INITIAL_SYNC_KINDS", "STEPS", "parse_kinds", "run_initial_sync"]

STEPS: tuple[Step, ...] = (UnitsStep(), ProductsStep(), SuppliersStep(), CustomersStep())
"""Every step, in the order a run processes them (dependencies first)."""

INITIAL_SYNC_KINDS = tuple(step.kind for step in STEPS)
"""What ``--kinds`` accepts, in the order a run processes them (dependencies first)."""

_STEP_OF: Mapping[str, Step] = {step.kind: step for step in STEPS}

_ALIASES = {
    "unit": "units",
    "product": "products",
    "supplier": "suppliers",
    "customer": "customers",
}


def parse_kinds(kinds: Iterable[str] | None) -> list[str]:
    """The kinds to run, in processing order; ``None`` or empty = all. Bad names -> ValueError.

    Accepts plural and singular names, and comma-separated lists (``units,products``).
    """
    if kinds is None:
        return list(INITIAL_SYNC_KINDS)
    wanted: set[str] = set()
    for item in kinds:
        for part in item.split(","):
            name = part.strip().lower()
            if not name:
                continue
            name = _ALIASES.get(name, name)
            if name not in INITIAL_SYNC_KINDS:
                raise ValueError(
                    f"unknown kind {part.strip()!r}; "
                    f"expected some of {', '.join(INITIAL_SYNC_KINDS)}"
                )
            wanted.add(name)
    if not wanted:
        return list(INITIAL_SYNC_KINDS)
    return [k for k in INITIAL_SYNC_KINDS if k in wanted]


def run_initial_sync(
    runtime: Runtime,
    *,
    kinds: Iterable[str] | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> InitialSyncReport:
    """Copy PowerOffice Go's units, products, suppliers and customers into Rackbeat.

    ``deadline`` (on ``clock``) ends the run cleanly between two records. Raises
    :class:`~tasks.initial.engine.InitialSyncBusyError` when another run holds the lock,
    ``ValueError`` for an unknown kind; everything a record or an API does wrong ends in the
    report instead.
    """
    selected = parse_kinds(kinds)
    report = InitialSyncReport(dry_run=dry_run, kinds=selected)
    steps = [_STEP_OF[kind] for kind in selected]
    return run_steps(runtime, steps, report, progress=progress, deadline=deadline, clock=clock)

"""The optional initial sync, PowerOffice Go -> Rackbeat (R-INIT-1..4), resumable and linked.

:func:`run_initial_sync` runs it; ``rbsync initial-sync`` and the Celery task
``rbsync.initial_sync(kinds=None, dry_run=False)`` (:mod:`tasks.initial.task`) both call it.
Kinds, always in this order (dependencies first): ``units`` (R-INIT-2), ``products`` with their
product groups (R-INIT-1), ``suppliers`` in the supplier group ``Poweroffice`` (R-INIT-3),
``customers`` (R-INIT-4).

- :mod:`~tasks.initial.engine`: the run, its lease, the checkpoints between records, the
  error sorting and the per-record frame (skip what is done, count, report, record);
- one module per step: :mod:`~tasks.initial.units`, :mod:`~tasks.initial.products`,
  :mod:`~tasks.initial.suppliers`, :mod:`~tasks.initial.customers`, and
  :mod:`~tasks.initial.dependencies` (units, product groups, the supplier group, each resolved
  once per run); :mod:`~tasks.initial.run` lists them in order;
- :mod:`~tasks.initial.create`: one create, through ``kinds.once.create_once``;
- :mod:`~tasks.initial.handover`: the links the ongoing sync reads, recorded with the outcome;
- :mod:`~tasks.initial.report`: the report, its summary and events.

What a record becomes (skipped and why, linked, failed, created) is decided in
``mapping.initial``; the steps do the I/O.

Per record:

1. A row of ``initial_sync_items`` that is ``created`` / ``linked`` is done: nothing is sent.
2. A Rackbeat record with the same number (units, the supplier group and number-less groups:
   the same name) is **linked**, never duplicated. When the row holds an ``intent``, it was our
   own create that landed before a run was stopped: it counts as **created**.
3. Otherwise the intent (the number the create will carry) is committed *before* the POST;
   after an ambiguous outcome (timeout, drop, 5xx) the number is looked up before anything
   else happens, now or in the next run.
4. The outcome and the link the ongoing sync uses are committed in **one** transaction:
   ``entity_links`` (kind, key = Rackbeat number, ``remote_id`` = the PowerOffice Go id,
   ``synced``, the snapshot of the Rackbeat record, the fingerprint and payload of its
   mapping), an attempt row (outcome ``linked``) and the ``remote_links`` the pipeline reads.
   So the next poll finds nothing new, and a later change in Rackbeat is PATCHed to the same
   PowerOffice Go id, never created again.

A run stops cleanly between two records when its time budget is spent, another initial sync
holds the lock, or an API stays unreachable after the clients' own retries; a second run
continues where it stopped. ``dry_run`` reads both APIs and the ledger and writes nothing.
The rate limits are the clients' (``wiring.clients``: one limiter per API credential).
"""

from __future__ import annotations

from mapping.tables import COPY_ARCHIVED
from tasks.initial.engine import LOCK_NAME, InitialSyncBusyError
from tasks.initial.report import (
    SUMMARY_KINDS,
    InitialSyncReport,
    ItemEvent,
    KindSummary,
    Progress,
)
from tasks.initial.run import INITIAL_SYNC_KINDS, parse_kinds, run_initial_sync
from tasks.initial.task import INITIAL_SYNC_TASK, TASK_BUDGET_FRACTION, initial_sync

__all__ = [
    "COPY_ARCHIVED",
    "INITIAL_SYNC_KINDS",
    "INITIAL_SYNC_TASK",
    "LOCK_NAME",
    "SUMMARY_KINDS",
    "TASK_BUDGET_FRACTION",
    "InitialSyncBusyError",
    "InitialSyncReport",
    "ItemEvent",
    "KindSummary",
    "Progress",
    "initial_sync",
    "parse_kinds",
    "run_initial_sync",
]

"""The ledger: the system of record of what was seen, claimed, written and why.

Only this package speaks SQL. Models and migrations live here, with small repository
functions that take a ``Session``; the caller owns the transaction (commit, then enqueue).
"""

from __future__ import annotations

from ledger.claims import (
    FINAL_STATUSES,
    Finish,
    claim,
    claim_current_version,
    end_attempt,
    finish,
    record_intent,
    start_attempt,
)
from ledger.cursors import all_cursors, get_cursor, set_cursor
from ledger.engine import make_engine, make_session_factory
from ledger.initial_sync import (
    InitialItemStatus,
    InitialSyncItem,
    initial_item_counts,
    initial_items,
    record_initial_intent,
    record_initial_outcome,
    unit_links,
)
from ledger.migrate import current_revision, head_revision, upgrade
from ledger.models import (
    ACTIVE_STATUSES,
    REDRIVE_STATUSES,
    Attempt,
    Base,
    Cursor,
    EntityLink,
    IndexLoad,
    Kind,
    PollCycle,
    RemoteLink,
    Status,
)
from ledger.polls import finish_poll_cycle, last_poll_cycle, last_poll_cycles, start_poll_cycle
from ledger.remote_links import (
    forget_remote_id,
    index_is_fresh,
    load_index,
    put_remote_id,
    remote_id,
    remote_ids,
)
from ledger.reports import (
    attempts_of,
    counts_by_kind_and_status,
    failures,
    links_of,
    reset_for_retry,
    rows_for_retry,
    stale_work,
)
from ledger.snapshots import (
    SnapshotRecord,
    content_hash,
    ensure_link,
    get_link,
    held_versions,
    mark_enqueued,
    store_snapshots,
)
from ledger.types import utcnow

__all__ = [
    "ACTIVE_STATUSES",
    "FINAL_STATUSES",
    "REDRIVE_STATUSES",
    "Attempt",
    "Base",
    "Cursor",
    "EntityLink",
    "Finish",
    "IndexLoad",
    "InitialItemStatus",
    "InitialSyncItem",
    "Kind",
    "PollCycle",
    "RemoteLink",
    "SnapshotRecord",
    "Status",
    "all_cursors",
    "attempts_of",
    "claim",
    "claim_current_version",
    "content_hash",
    "counts_by_kind_and_status",
    "current_revision",
    "end_attempt",
    "ensure_link",
    "failures",
    "finish",
    "finish_poll_cycle",
    "forget_remote_id",
    "get_cursor",
    "get_link",
    "head_revision",
    "held_versions",
    "index_is_fresh",
    "initial_item_counts",
    "initial_items",
    "last_poll_cycle",
    "last_poll_cycles",
    "links_of",
    "load_index",
    "make_engine",
    "make_session_factory",
    "mark_enqueued",
    "put_remote_id",
    "record_initial_intent",
    "record_initial_outcome",
    "record_intent",
    "remote_id",
    "remote_ids",
    "reset_for_retry",
    "rows_for_retry",
    "set_cursor",
    "stale_work",
    "start_attempt",
    "start_poll_cycle",
    "store_snapshots",
    "unit_links",
    "upgrade",
    "utcnow",
]

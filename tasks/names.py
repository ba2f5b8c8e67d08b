"""The names of rbsync's Celery tasks: a contract with operators, Flower and the broker.

The one place they are spelled. This module imports nothing, so the Flower side
(``worker.flower``) and the beat schedule read the names without loading the tasks' code.
"""

from __future__ import annotations

__all__ = [
    "BULK_QUEUE",
    "DEFAULT_QUEUE",
    "DISPATCH_TASK",
    "INITIAL_SYNC_TASK",
    "POLL_QUEUE",
    "POLL_TASK",
    "QUEUES",
    "RECONCILE_TASK",
    "RETRY_TASK",
    "SWEEP_TASK",
    "SYNC_BATCH_TASK",
    "SYNC_TASK",
    "WEBHOOK_QUEUE",
    "WEBHOOK_TASK",
]

DISPATCH_TASK = "rbsync.dispatch"
"""``rbsync.dispatch()``: beat's poll tick; sends the polls of the connections that are due."""
POLL_TASK = "rbsync.poll"
"""``rbsync.poll(kind, scheduled=False, connection='default')``: one poll of a kind's changes."""
SYNC_TASK = "rbsync.sync"
"""``rbsync.sync(kind, key)``: one entity."""
SYNC_BATCH_TASK = "rbsync.sync_batch"
"""``rbsync.sync_batch(kind, keys)``: many entities of one kind, a poll's fan-out."""
SWEEP_TASK = "rbsync.sweep"
"""``rbsync.sweep()``: send again the rows whose lease ran out or whose message was lost."""
RECONCILE_TASK = "rbsync.reconcile"
"""``rbsync.reconcile(kinds=None, repair=None)``: compare the ledger with both APIs (weekly)."""
RETRY_TASK = "rbsync.retry"
"""``rbsync.retry(kind=None, key=None, keys=None)``: re-drive failed, dead and unknown rows."""
INITIAL_SYNC_TASK = "rbsync.initial_sync"
"""``rbsync.initial_sync(kinds=None, ...)``: the one-off PowerOffice Go -> Rackbeat copy."""
WEBHOOK_TASK = "rbsync.webhook"
"""``rbsync.webhook(kind, keys)``: fetch Rackbeat's current records of keys a webhook named, store
them, and sync (in the same task) those whose content changed."""
DEFAULT_QUEUE = "rbsync"
"""Syncs and retries (the express lane)."""
POLL_QUEUE = "rbsync.poll"
"""Polls, sweeps, the tick and reconciles have a queue of their own: they never wait behind the
thousands of sync messages a first push enqueues."""
BULK_QUEUE = "rbsync.bulk"
"""The queue of a backlog's syncs (a first push, a large poll: ``tasks.enqueue``). The Procfile's
``poller`` never consumes it, so one company's 20,000 creates never hold every worker process
while another company's single change waits; the ``worker`` takes both lanes."""
WEBHOOK_QUEUE = "rbsync.webhook"
"""The queue of ``rbsync.webhook``: a change pushed by Rackbeat never waits behind the thousands
of sync messages of a first push or a long poll."""
QUEUES = (DEFAULT_QUEUE, POLL_QUEUE, WEBHOOK_QUEUE, BULK_QUEUE)
"""Every queue of ``worker.app``: what a worker without ``-Q`` consumes, what ``rbsync health
worker`` asks for by default and what the metrics measure. The Procfile's poller consumes all
but ``BULK_QUEUE``."""

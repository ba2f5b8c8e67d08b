"""Whether a lookup of a create in doubt must wait out PowerOffice Go's replica lag.

A lookup that finds nothing re-reads a few times (``clients.retry.ReplicaLagPolicy``: about
2 s) before the absence counts, because a write can take that long to reach the read replica.
That wait matters only for a write that ended within that window. A create in doubt whose
attempt ended longer ago (a 503 or a dropped connection, retried after its countdown) is
visible to a single read: one request instead of five and a 2 s wait per record, which added
up to tens of seconds of the shared 10 requests/s after an outage (bench/chaos.py,
faults-and-changes). An attempt that never ended (its worker died in it) says nothing of when
its create was sent: its lookup re-reads as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from ledger import previous_attempt_end, utcnow
from wiring.runtime import Runtime

__all__ = ["lag_may_hide"]


def lag_may_hide(runtime: Runtime, rows: Iterable[tuple[int, int]]) -> bool:
    """Whether a create in doubt of any of ``rows`` (link id, the current attempt's id) may
    still be hidden by replica lag: its previous attempt never ended, or ended within the
    replica-lag window."""
    window = timedelta(seconds=runtime.poweroffice.replica_lag_seconds)
    now = utcnow()
    with runtime.connect() as conn:
        for link_id, attempt_id in rows:
            ended = previous_attempt_end(conn, link_id, before=attempt_id)
            if ended is None or now - ended <= window:
                return True
    return False

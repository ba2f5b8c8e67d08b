"""A sync's hold on its claimed rows: renewed by the heartbeat, proved before every write.

The claim (``ledger.claims``) gives a task its rows for one lease; :func:`holding_claims`
registers the task's token with the process's heartbeat (``wiring.heartbeat``), which renews
the lease of every row the token holds until the task lets go.

A holder that cannot renew (the ledger unreachable from this worker, the process stalled) may
see its rows taken over once the lease runs out. So before each write to PowerOffice Go,
:func:`ensure_held` checks that the lease, as last renewed, still runs for half a lease: a
write starts only while no other worker can hold the row, and a create's intent is committed
before it (``kinds.once``), so a takeover looks the record up first. Otherwise the attempt
ends with :class:`LeaseLostError` before anything is sent: retriable, and charged to nothing
that was written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ledger import renew_leases
from wiring.heartbeat import Holding
from wiring.runtime import Runtime

__all__ = [
    "PROOF_SHARE",
    "LeaseLostError",
    "ensure_held",
    "holding_claims",
    "not_proven",
    "proven",
]

PROOF_SHARE = 0.5
"""A write starts only while the lease, as last renewed, runs for this share of a lease."""


class LeaseLostError(Exception):
    """This worker can no longer prove it holds the row: nothing was sent; try again later."""


@contextmanager
def holding_claims(runtime: Runtime, token: str) -> Iterator[Holding]:
    """Renew the leases of the rows ``token`` holds while the block runs."""

    def renew() -> None:
        with runtime.begin() as conn:
            renew_leases(conn, [token], lease=runtime.lease)

    with runtime.heartbeat.hold(f"claims:{token}", renew) as holding:
        yield holding


def proven(runtime: Runtime, holding: Holding | None) -> bool:
    """Whether ``holding`` proves its lease for a write (no holding: nothing to prove)."""
    return holding is None or holding.proven_for(runtime.settings.lease_seconds * PROOF_SHARE)


def not_proven(what: str) -> str:
    """The reason a write was not sent for want of a proven lease."""
    return (
        f"{what} not sent: this worker could not renew its claim in time "
        "(the ledger unreachable?); another worker may take the row over"
    )


def ensure_held(runtime: Runtime, holding: Holding | None, what: str) -> None:
    """Raise :class:`LeaseLostError` unless ``holding`` proves its lease for a write."""
    if not proven(runtime, holding):
        raise LeaseLostError(not_proven(what))

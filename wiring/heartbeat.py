"""One heartbeat thread per process: it renews the leases this process holds.

A worker's claims on ledger rows and its poll locks are **leases**: they end after
``RBSYNC_LEASE_SECONDS`` unless renewed. While a holder works, this thread renews each of its
leases every third of a lease, so a live holder never loses one, and a dead one (SIGKILL, a
hard time limit, a lost container) frees its rows within one lease: the sweep
(``tasks.sweep``) then sends them to another worker.

A lease can only be proved by its last renewal: :meth:`Holding.proven_for` tells a holder
whether its lease, as last renewed, still runs for long enough to start a write; a holder that
cannot reach the ledger to renew stops writing before another may take over
(``tasks.leases``).

The thread is a daemon started on first use in the process that uses it (after a prefork
fork: each pool child has its own). Renewals run one after another; one that fails is logged
and tried again at the next beat.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["Heartbeat", "Holding"]

log = logging.getLogger(__name__)

Renew = Callable[[], None]
"""Renews one lease; raises when it could not (the ledger or Redis unreachable, or lost)."""


class Holding:
    """One lease this process holds, as its heartbeat keeps it."""

    def __init__(self, name: str, renew: Renew, lease: float, clock: Callable[[], float]) -> None:
        self.name = name
        self._renew = renew
        self._lease = lease
        self._clock = clock
        self.renewed_at = clock()
        """When the lease was taken or last renewed (on ``clock``)."""

    def renew(self) -> bool:
        """Renew now; whether it worked (a failure is logged, never raised)."""
        started = self._clock()
        try:
            self._renew()
        except Exception as exc:
            log.warning("lease %s not renewed: %s", self.name, type(exc).__name__)
            return False
        self.renewed_at = started
        return True

    def proven_for(self, seconds: float) -> bool:
        """Whether the lease, as last renewed, still runs for at least ``seconds``."""
        return self.renewed_at + self._lease - self._clock() >= seconds


class Heartbeat:
    """Renews every registered lease each ``lease / 3`` seconds, in one daemon thread."""

    def __init__(self, lease: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.lease = lease
        self.interval = lease / 3
        self._clock = clock
        self._holdings: dict[int, Holding] = {}
        self._guard = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def hold(self, name: str, renew: Renew) -> Iterator[Holding]:
        """Keep ``renew``-ing the lease called ``name`` while the block runs (taken already)."""
        holding = Holding(name, renew, self.lease, self._clock)
        with self._guard:
            self._holdings[id(holding)] = holding
            self._start()
        try:
            yield holding
        finally:
            with self._guard:
                self._holdings.pop(id(holding), None)

    def beat(self) -> None:
        """Renew every lease held now (the thread's loop body; tests call it directly)."""
        with self._guard:
            holdings = list(self._holdings.values())
        for holding in holdings:
            holding.renew()

    def _start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._run, name="rbsync-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._wake.wait(self.interval):
            self.beat()

    def stop(self) -> None:
        """End the thread (tests; a process simply exits)."""
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

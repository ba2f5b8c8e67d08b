"""Errors of a sync's own steps, sorted by ``tasks.pipeline`` into a ledger status (the clients'
error tree lives in ``clients.errors``)."""

from __future__ import annotations

__all__ = ["DependencyFailedError", "DependencyPendingError", "LockTimeoutError"]


class DependencyPendingError(Exception):
    """A record this one needs (customer, product, group) is being synced by another worker.

    Retriable: the task comes back later, when the dependency has settled.
    """


class DependencyFailedError(Exception):
    """A record this one needs could not be synced; the reason names it."""


class LockTimeoutError(Exception):
    """A shared lock around a dependency's create stayed held past the wait allowed."""

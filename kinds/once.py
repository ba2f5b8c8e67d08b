"""Effectively-once creates: intent -> write -> look up after ambiguity -> outcome.

Neither PowerOffice Go nor Rackbeat takes an idempotency key on a create, and a create can end
without an answer (a timeout or a dropped connection after the body was sent, a 5xx): it may
or may not have landed. Sending it again could make a duplicate; giving up could lose it. Every
create rbsync makes -- an entity (``tasks.pipeline``), a shared dependency such as a product
group (``kinds.links``), a record of the initial sync (``tasks.initial``) -- follows the same
steps, written once here:

1. **Look first** when an earlier create of the same key is in doubt (its intent is recorded
   and no id came back), or when nothing can vouch that the record is absent (no fresh bulk
   index): a record found is adopted, nothing is sent.
2. **Record the intent** -- the key the create carries -- and commit it *before* the request:
   a process killed during the request leaves the intent behind, and the next attempt looks.
3. **Create.** A definite answer ends it. An ambiguous one (:class:`AmbiguousWriteError`)
   either ends the attempt "in doubt" (the intent stays; the next attempt looks first), or,
   with ``look_after_ambiguity``, is looked up at once (the lookups wait out replica lag):
   found means our create landed.

The caller keeps the intent (a ledger row, a remote-link placeholder, an initial-sync item) and
decides what a found record means for it; this module holds the order of the steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Generic, TypeVar

from clients import AmbiguousWriteError

__all__ = ["Once", "create_once", "must_look_first"]

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Once(Generic[T]):
    """What :func:`create_once` ended with: the record (or its id), and how."""

    value: T
    created: bool
    """True when our create made it (answered, or found after an ambiguous end); False when
    the first lookup found it (an earlier attempt's create, or someone else's record)."""


def must_look_first(*, in_doubt: bool, absence_vouched: bool) -> bool:
    """Step 1's rule: look the record up before any create when an earlier create of it is in
    doubt, or when nothing (a fresh bulk index) vouches that it is absent."""
    return in_doubt or not absence_vouched


def create_once(
    *,
    create: Callable[[], T],
    lookup: Callable[[], T | None],
    record_intent: Callable[[], None] | None = None,
    look_first: bool,
    look_after_ambiguity: bool = False,
) -> Once[T]:
    """Create a record at most once (see the module doc for the steps).

    ``record_intent`` commits the intent before the create (None: the caller committed it
    already, e.g. for a whole batch at once). An ambiguous create that is not looked up, or not
    found, re-raises the :class:`AmbiguousWriteError`: the caller leaves the intent in place.
    """
    if look_first:
        found = lookup()
        if found is not None:
            return Once(found, created=False)
    if record_intent is not None:
        record_intent()
    try:
        return Once(create(), created=True)
    except AmbiguousWriteError:
        if not look_after_ambiguity:
            raise
        found = lookup()
        if found is None:
            raise
        return Once(found, created=True)

"""One create of the initial sync: :func:`kinds.once.create_once` and the cases around it.

The intent (the number the create will carry) is the record's ``initial_sync_items`` row,
committed before the POST; after an ambiguous end (timeout, drop, 5xx) the number is looked up
at once. Around the protocol, what only the initial sync does:

- the intent cannot be taken (another run finished the record meanwhile): ``already``;
- not found after an ambiguous end, or the look-up itself unreadable: the record fails "outcome
  unknown" and its intent stays, so that the next run looks it up again before it may create;
- Rackbeat refuses the create (the number was taken since the run read its list): the number
  is looked up and linked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from clients import AmbiguousWriteError, InvalidRequestError, PermanentError
from kinds.once import create_once
from ledger import record_initial_intent
from mapping import RecordRejected
from tasks.initial.engine import STOPPING_ERRORS, Engine, ItemOutcome
from tasks.initial.report import ALREADY, CREATED, FAILED, LINKED

__all__ = ["create_record"]

T = TypeVar("T")


class _IntentTakenError(Exception):
    """The record's row is final already: nothing is sent."""


def create_record(
    engine: Engine,
    kind: str,
    source: str,
    number: str | None,
    *,
    create: Callable[[], T],
    lookup: Callable[[], T | None],
) -> tuple[T, str] | ItemOutcome:
    """Intent (committed), then the POST; after an ambiguous end, look up before anything.

    The record and ``created`` (``linked`` when Rackbeat refused the create because the
    number was taken since the run's index was read), or the outcome of a create that did
    not happen.
    """
    sessions = engine.runtime.sessions
    misses: list[PermanentError] = []

    def record_intent() -> None:
        with sessions.begin() as session:
            if not record_initial_intent(session, kind, source, number):
                raise _IntentTakenError

    def look_up_after_ambiguity() -> T | None:
        try:
            return lookup()
        except STOPPING_ERRORS:
            raise
        except PermanentError as missed:
            # The look-up's answer could not be read: the create may have landed all the
            # same, so this is no failure to record -- the intent stays, as when not found.
            misses.append(missed)
            return None

    try:
        once = create_once(
            create=create,
            lookup=look_up_after_ambiguity,
            record_intent=record_intent,
            look_first=False,  # the step looked in Rackbeat's list before it chose to create
            look_after_ambiguity=True,
        )
    except _IntentTakenError:
        return ItemOutcome(ALREADY, number=number)
    except AmbiguousWriteError as exc:
        # The intent stays: the next run looks the record up again before it may create.
        reason = f"outcome unknown: {exc}"
        if misses:
            reason += f"; the look-up failed: {misses[-1]}"
        return ItemOutcome(FAILED, number=number, reason=reason, keep=True)
    except InvalidRequestError as exc:
        found = lookup()
        if found is not None:
            return found, LINKED
        raise RecordRejected(kind, source, "number", f"Rackbeat refused it: {exc}") from exc
    return once.value, CREATED

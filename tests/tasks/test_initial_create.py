"""One create of the initial sync (``tasks.initial.create``): ``kinds.once.create_once`` and the
cases only the initial sync has around it, against a real ledger (the intent is its row)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from clients import AmbiguousWriteError, InvalidRequestError, MalformedResponseError
from ledger import InitialItemStatus, initial_items, record_initial_outcome
from mapping import RecordRejected
from tasks.initial import InitialSyncReport
from tasks.initial.create import create_record
from tasks.initial.engine import Engine, ItemOutcome
from wiring.runtime import Runtime

KIND = "product"
SOURCE = "501"
NUMBER = "PO-100"


@pytest.fixture
def engine(runtime: Runtime) -> Engine:
    report = InitialSyncReport(dry_run=False, kinds=["products"])
    return Engine(runtime, report, progress=None, deadline=None, clock=time.monotonic, lease=None)


def _status(engine: Engine) -> InitialItemStatus | None:
    with engine.runtime.sessions() as session:
        row = initial_items(session, KIND, [SOURCE]).get(SOURCE)
    return None if row is None else row.status


def _dropped() -> str:
    raise AmbiguousWriteError("connection dropped", method="POST", path="/api/products")


def _create(
    engine: Engine, create: Callable[[], str], lookup: Callable[[], str | None]
) -> tuple[str, str] | ItemOutcome:
    return create_record(engine, KIND, SOURCE, NUMBER, create=create, lookup=lookup)


def test_the_intent_is_committed_before_the_create(engine: Engine) -> None:
    seen: list[InitialItemStatus | None] = []

    def create() -> str:
        seen.append(_status(engine))
        return "record"

    assert _create(engine, create, lambda: None) == ("record", "created")
    assert seen == [InitialItemStatus.INTENT]


def test_an_ambiguous_create_found_afterwards_is_created(engine: Engine) -> None:
    assert _create(engine, _dropped, lambda: "found") == ("found", "created")


def test_an_ambiguous_create_not_found_keeps_its_intent(engine: Engine) -> None:
    outcome = _create(engine, _dropped, lambda: None)
    assert isinstance(outcome, ItemOutcome)
    assert (outcome.outcome, outcome.number, outcome.keep) == ("failed", NUMBER, True)
    assert outcome.reason == "outcome unknown: POST /api/products: connection dropped"
    assert _status(engine) == InitialItemStatus.INTENT


def test_a_lookup_that_cannot_be_read_keeps_the_intent_too(engine: Engine) -> None:
    def unreadable() -> str | None:
        raise MalformedResponseError("not JSON", method="GET", path="/api/products/PO-100")

    outcome = _create(engine, _dropped, unreadable)
    assert isinstance(outcome, ItemOutcome)
    assert (outcome.outcome, outcome.keep) == ("failed", True)
    assert outcome.reason == (
        "outcome unknown: POST /api/products: connection dropped; "
        "the look-up failed: GET /api/products/PO-100: not JSON"
    )


def test_a_refused_create_whose_number_exists_is_linked(engine: Engine) -> None:
    def refused() -> str:
        raise InvalidRequestError("number taken", method="POST", path="/api/products", status=422)

    assert _create(engine, refused, lambda: "theirs") == ("theirs", "linked")
    with pytest.raises(RecordRejected, match="Rackbeat refused it"):
        _create(engine, refused, lambda: None)


def test_a_final_row_takes_no_intent_and_sends_nothing(engine: Engine) -> None:
    with engine.runtime.sessions.begin() as session:
        record_initial_outcome(session, KIND, SOURCE, InitialItemStatus.LINKED, number=NUMBER)
    sent: list[str] = []
    outcome = _create(engine, lambda: sent.append("POST") or "x", lambda: None)
    assert outcome == ItemOutcome("already", number=NUMBER)
    assert sent == []

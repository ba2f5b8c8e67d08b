"""``sync_entities``: the batched path of the pipeline (``rbsync.sync_batch``), in this process.

The same guarantees as one entity at a time -- effectively-once creates, a reason for every
failure, nothing lost -- with the ledger's round trips shared by the batch. The Celery task and
its hand-on of retries run in a real worker in ``tests/e2e``.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from celery.exceptions import SoftTimeLimitExceeded
from conftest import BOTH_LEDGERS
from test_pipeline import SEEDED_WRITES, po_requests

from ledger import (
    Attempt,
    EntityLink,
    SnapshotRecord,
    Status,
    claim,
    counts_by_kind_and_status,
    end_attempt,
    get_link,
    start_attempts,
    store_snapshots,
    utcnow,
)
from sandbox.testing import SEEDED_SYNC, PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from tasks.pipeline import Outcome, sync_entities, sync_entity
from wiring.runtime import Runtime

pytestmark = BOTH_LEDGERS


def writes(po: PowerOfficeEmulatorHandle) -> dict[str, tuple[int, int, int]]:
    return {
        k: (v["created"], v["updated"], v["duplicates_refused"])
        for k, v in po.counters()["writes"].items()
    }


def link_of(runtime: Runtime, kind: str, key: str) -> EntityLink:
    with runtime.sessions() as session:
        link = get_link(session, kind, key)
    assert link is not None
    return link


def polled(batched: Any, kind: str) -> list[str]:
    """Poll ``kind`` and take its keys off the queue (the test runs them itself)."""
    batched.poll(kind)
    keys = [key for k, key, _ in batched.queue if k == kind]
    batched.queue.clear()
    return keys


def test_seeded_dataset_syncs_in_batches_by_the_rules(
    batched: Any, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    batched.run()
    with batched.runtime.sessions() as session:
        assert counts_by_kind_and_status(session) == SEEDED_SYNC
    assert writes(poweroffice_emulator) == SEEDED_WRITES
    # One POST per record: no lookup was needed (the bulk indexes vouched for absences).
    requests = po_requests(poweroffice_emulator)
    assert {k: v for k, v in requests.items() if k.startswith("POST")} == {
        "POST /v2/Products": 52,
        "POST /v2/ProductGroups": 9,
        "POST /v2/Customers": 8,
        "POST /v2/SalesOrders/Complete": 5,
        "POST /v2/Suppliers": 4,
        "POST /v2/ContactGroups": 1,
    }
    # One batch per kind (50 products, 2 BOMs, 8 customers, 5 invoices, 5 suppliers), not
    # one task per key; nothing needed a second attempt.
    assert sorted(len(keys) for keys in batched.batches) == [2, 5, 5, 8, 50]
    # Every entity has exactly one attempt row, opened and closed.
    with batched.runtime.sessions() as session:
        attempts = session.scalars(sa.select(Attempt)).all()
    assert len(attempts) == sum(sum(c.values()) for c in SEEDED_SYNC.values())
    assert all(a.finished_at is not None and a.outcome for a in attempts)


def test_every_intent_is_committed_before_the_first_create_is_sent(
    batched: Any, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = polled(batched, "customer")
    seen_at_first_post: list[dict[str, str | None]] = []
    real = runtime.poweroffice.create_customer

    def spy(payload: Any) -> Any:
        if not seen_at_first_post:
            # A fresh connection: only what the batch has committed is visible.
            with runtime.engine.connect() as conn:
                rows = conn.execute(
                    sa.select(EntityLink.key, EntityLink.intent).where(
                        EntityLink.kind == "customer"
                    )
                ).all()
            seen_at_first_post.append(dict(rows))  # type: ignore[arg-type]
        return real(payload)

    monkeypatch.setattr(runtime.poweroffice, "create_customer", spy)
    results = sync_entities(runtime, "customer", keys, "batch-1")
    assert [r.outcome for r in results] == [Outcome.CREATED] * len(keys)
    (intents,) = seen_at_first_post
    assert intents == {key: f"rackbeat-customer-{key}" for key in keys}


def test_an_ambiguous_create_in_a_batch_is_adopted_not_duplicated(
    batched: Any, runtime: Runtime, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    keys = polled(batched, "customer")
    # The first create is committed by PowerOffice Go, then the connection drops.
    poweroffice_emulator.set_faults(
        [{"route": "POST /v2/Customers", "commit_then_drop_rate": 1.0, "times": 1}]
    )
    results = sync_entities(runtime, "customer", keys, "batch-1")
    by_outcome = {r.key: (r.outcome, r.status, r.retry) for r in results}
    assert by_outcome.pop(keys[0]) == (Outcome.UNKNOWN, "unknown", True)
    assert set(by_outcome.values()) == {(Outcome.CREATED, "synced", False)}
    # Handed on, the entity's next attempt finds its own create and records it.
    batched.queue.append(("customer", keys[0], True))
    (again,) = batched.drain()
    assert (again.outcome, again.status) == (Outcome.LINKED, "synced")
    assert writes(poweroffice_emulator)["Customers"] == (len(keys), 0, 0)


def test_a_bad_record_fails_alone_and_the_batch_goes_on(
    batched: Any, runtime: Runtime, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    rackbeat_emulator.touch("customers", 10003, address_country="Atlantis")
    keys = polled(batched, "customer")
    results = {r.key: r for r in sync_entities(runtime, "customer", keys, "batch-1")}
    bad = results.pop("10003")
    assert (bad.status, bad.outcome, bad.retry) == ("failed", Outcome.FAILED, False)
    assert bad.error is not None
    assert "address_country" in bad.error
    assert "Atlantis" in bad.error
    assert {r.status for r in results.values()} == {"synced"}
    assert link_of(runtime, "customer", "10003").last_error == bad.error


def test_a_key_held_by_another_worker_is_busy_and_left_alone(
    batched: Any, runtime: Runtime
) -> None:
    keys = polled(batched, "product")[:5]
    with runtime.sessions.begin() as session:
        assert claim(session, "product", keys[1], "other-worker", lease=runtime.lease)
    results = {r.key: r for r in sync_entities(runtime, "product", keys, "batch-1")}
    assert (results[keys[1]].outcome, results[keys[1]].status) == (Outcome.BUSY, "in_flight")
    held = link_of(runtime, "product", keys[1])
    assert (held.status, held.claim_token, held.remote_id) == ("in_flight", "other-worker", None)
    assert {results[k].outcome for k in keys if k != keys[1]} == {Outcome.CREATED}


def test_keys_the_ledger_has_never_seen_are_fetched(
    runtime: Runtime, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    results = sync_entities(runtime, "product", ["X+Y", "AB/100"], "manual-batch")
    assert [(r.key, r.outcome, r.status) for r in results] == [
        ("X+Y", Outcome.CREATED, "synced"),
        ("AB/100", Outcome.CREATED, "synced"),
    ]
    assert link_of(runtime, "product", "AB/100").snapshot is not None
    assert writes(poweroffice_emulator)["Products"] == (2, 0, 0)


def _clock(*readings: float) -> Any:
    """A clock that answers ``readings`` in turn, then the last one for ever."""
    answers = itertools.chain(readings, itertools.repeat(readings[-1]))
    return lambda: next(answers)


def _budgeted(
    batched: Any, po: PowerOfficeEmulatorHandle, count: int, *readings: float
) -> tuple[list[str], list[Any]]:
    """``count`` polled products synced as one batch with a budget of 60 s, on a clock that
    answers ``readings``; the keys and the results."""
    keys = polled(batched, "product")[:count]
    po.reset_counters()
    runtime = batched.runtime
    results = sync_entities(
        runtime, "product", keys, "batch-1", budget_seconds=60, clock=_clock(*readings)
    )
    return keys, results


def test_entities_not_started_within_the_budget_are_handed_on_untouched(
    batched: Any, runtime: Runtime, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    # Readings: the start, the dependency wait's bound, one per entity before it is mapped
    # (two fit in the budget of 60 s), then one per planned create (within the grace: sent).
    _, results = _budgeted(batched, poweroffice_emulator, 6, 0, 0, 0, 0, 61)
    assert [r.outcome for r in results[:2]] == [Outcome.CREATED] * 2
    late = results[2:]
    assert {(r.outcome, r.status, r.retry) for r in late} == {(Outcome.RETRY, "pending", True)}
    assert all("time budget" in (r.error or "") for r in late)
    for r in late:
        link = link_of(runtime, "product", r.key)
        assert (link.intent, link.remote_id) == (None, None)
    assert po_requests(poweroffice_emulator).get("POST /v2/Products") == 2


def test_a_create_planned_but_not_sent_in_time_takes_its_intent_back(
    batched: Any, runtime: Runtime, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    # Every entity is mapped in time (its intent committed), then even the grace runs out.
    keys, results = _budgeted(batched, poweroffice_emulator, 3, 0, 0, 0, 0, 0, 91)
    assert {(r.outcome, r.status, r.retry) for r in results} == {(Outcome.RETRY, "pending", True)}
    assert "POST /v2/Products" not in po_requests(poweroffice_emulator)
    # Nothing was sent, so the intent is taken back: the next attempt needs no lookup.
    assert [link_of(runtime, "product", key).intent for key in keys] == [None] * 3
    for key in keys:
        batched.queue.append(("product", key, True))
    again = batched.drain()
    assert {(r.outcome, r.status) for r in again} == {(Outcome.CREATED, "synced")}
    requests = po_requests(poweroffice_emulator)
    assert requests["POST /v2/Products"] == 3
    assert "GET /v2/Products" not in requests


def test_new_content_arriving_while_the_batch_holds_a_row_reopens_it(
    batched: Any, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = polled(batched, "product")[:3]
    newer = link_of(runtime, "product", keys[2])
    assert newer.snapshot is not None
    real = runtime.poweroffice.create_product

    def meanwhile(payload: Any) -> Any:
        if payload.to_wire()["Code"] == keys[0]:
            # A poll stores a changed snapshot of keys[2] while the batch holds it.
            changed = {**newer.snapshot, "name": "renamed meanwhile"}  # type: ignore[dict-item]
            with runtime.sessions.begin() as session:
                assert store_snapshots(
                    session, "product", [SnapshotRecord(keys[2], changed, newer.source_updated_at)]
                ) == [keys[2]]
        return real(payload)

    monkeypatch.setattr(runtime.poweroffice, "create_product", meanwhile)
    results = {r.key: r for r in sync_entities(runtime, "product", keys, "batch-1")}
    assert (results[keys[2]].reopened, results[keys[2]].status) == (True, "pending")
    assert not results[keys[0]].reopened
    assert results[keys[0]].status == "synced"
    # Sent on as its own sync, the new content becomes a PATCH of the changed field.
    batched.queue.append(("product", keys[2], True))
    (update,) = batched.drain()
    assert (update.outcome, update.status) == (Outcome.UPDATED, "synced")


def test_an_invoice_batch_syncs_its_customers_and_items_first_in_batches(
    batched: Any, runtime: Runtime, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    for kind in ("product", "bom", "customer"):
        polled(batched, kind)  # rows and snapshots, nothing synced yet
    invoices = polled(batched, "invoice")
    poweroffice_emulator.reset_counters()
    results = sync_entities(runtime, "invoice", invoices, "batch-1")
    assert {(r.outcome, r.status) for r in results} == {(Outcome.CREATED, "synced")}
    w = writes(poweroffice_emulator)
    assert w["SalesOrders"] == (len(invoices), 0, 0)
    assert w["Customers"][0] > 0
    assert w["Products"][0] > 0
    # Dependencies came through the bulk indexes and the ledger, not a lookup per line.
    requests = po_requests(poweroffice_emulator)
    assert requests.get("GET /v2/Products", 0) <= 1
    assert requests.get("GET /v2/Customers", 0) <= 1
    with runtime.sessions() as session:
        customers = session.scalars(
            sa.select(EntityLink).where(
                EntityLink.kind == "customer", EntityLink.remote_id.is_not(None)
            )
        ).all()
    assert {c.status for c in customers} == {Status.SYNCED}
    assert len(customers) == w["Customers"][0]


def test_what_a_batch_hands_on_is_sent_alone_as_its_second_attempt(runtime: Runtime) -> None:
    from contextlib import nullcontext
    from types import SimpleNamespace

    from tasks.pipeline import SyncResult
    from tasks.sync import hand_on, summary

    sent: list[tuple[str, list[str], dict[str, Any]]] = []

    class App:
        def producer_or_acquire(self) -> Any:
            return nullcontext(None)

        def send_task(self, name: str, args: list[str], **options: Any) -> Any:
            sent.append((name, args, options))
            return SimpleNamespace(id=f"task-{len(sent)}")

    results = [
        SyncResult("product", "A", Outcome.CREATED, "synced"),
        SyncResult("product", "B", Outcome.UNKNOWN, "unknown", retry=True),
        SyncResult("product", "C", Outcome.RETRY, "pending", retry=True, retry_after=30.0),
        SyncResult("product", "D", Outcome.UPDATED, "pending", reopened=True),
        SyncResult("product", "E", Outcome.FAILED, "failed", error="400: Name is required"),
        SyncResult("product", "F", Outcome.RETRY, "pending", retry=True, waiting=True),
    ]
    task = SimpleNamespace(runtime=runtime, app=App(), connection="default")
    hand_on(task, results)  # type: ignore[arg-type]
    assert [
        (name, args, options.get("retries"), options.get("kwargs")) for name, args, options in sent
    ] == [
        ("rbsync.sync", ["product", "B"], 1, {"connection": "default", "waited": 0}),
        ("rbsync.sync", ["product", "C"], 1, {"connection": "default", "waited": 0}),
        ("rbsync.sync", ["product", "D"], None, {"connection": "default"}),
        # Released unstarted: its first attempt is not charged to its retry budget.
        ("rbsync.sync", ["product", "F"], 1, {"connection": "default", "waited": 1}),
    ]
    backoff = runtime.settings.retry_backoff_seconds
    assert backoff <= sent[0][2]["countdown"] <= 2 * backoff
    assert sent[1][2]["countdown"] == 30.0  # the server's Retry-After is the floor
    assert summary("product", results) == {
        "kind": "product",
        "status": "failed",
        "failed": ["E"],
        "outcomes": {"created": 1, "unknown": 1, "retry": 2, "updated": 1, "failed": 1},
        "entities": [
            ["A", "created", "synced"],
            ["B", "unknown", "unknown"],
            ["C", "retry", "pending"],
            ["D", "updated", "pending"],
            ["E", "failed", "failed"],
            ["F", "retry", "pending"],
        ],
    }


def test_an_invoice_batch_waits_for_a_customer_another_worker_is_syncing(
    batched: Any, runtime: Runtime
) -> None:
    import threading

    for kind in ("product", "bom", "customer"):
        polled(batched, kind)
    invoices = polled(batched, "invoice")
    sync_entities(runtime, "product", _keys(runtime, "product"), "products")
    sync_entities(runtime, "bom", _keys(runtime, "bom"), "boms")
    customers = _keys(runtime, "customer")
    # Another worker holds every customer; it finishes them a moment later.
    with runtime.sessions.begin() as session:
        for key in customers:
            assert claim(session, "customer", key, "other", lease=runtime.lease)

    def other_worker_finishes() -> None:
        # The holder's own batch (its task id reclaims what it holds) creates them.
        sync_entities(runtime, "customer", customers, "other")

    timer = threading.Timer(0.5, other_worker_finishes)
    timer.start()
    try:
        results = sync_entities(runtime, "invoice", invoices, "batch-1")
    finally:
        timer.join()
    # No invoice had to go round again: the batch waited for the customers' ids.
    assert {(r.outcome, r.status, r.retry) for r in results} == {(Outcome.CREATED, "synced", False)}


def _keys(runtime: Runtime, kind: str) -> list[str]:
    with runtime.sessions() as session:
        return list(session.scalars(sa.select(EntityLink.key).where(EntityLink.kind == kind)))


def test_the_soft_time_limit_in_a_dependency_stops_the_whole_batch(
    batched: Any,
    runtime: Runtime,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Seen in CI: the soft limit fired while an invoice batch synced its items first; each
    # entity caught it as one retriable error and the next one started, until the hard limit
    # killed the process with every row still held (in flight, no message left to carry it).
    for kind in ("product", "bom", "customer"):
        polled(batched, kind)
    invoices = polled(batched, "invoice")
    real = runtime.poweroffice.create_product
    calls: list[str] = []

    def soft_limit_fires(payload: Any) -> Any:
        calls.append(payload.to_wire()["Code"])
        if len(calls) == 1:
            raise SoftTimeLimitExceeded()
        return real(payload)

    monkeypatch.setattr(runtime.poweroffice, "create_product", soft_limit_fires)
    poweroffice_emulator.reset_counters()
    handed: list[Any] = []
    results = sync_entities(
        runtime, "invoice", invoices, "batch-1", budget_seconds=60, dependencies=handed
    )
    # Nothing started after the soft limit: one product create was tried, no invoice sent.
    assert len(calls) == 1
    assert "POST /v2/SalesOrders/Complete" not in po_requests(poweroffice_emulator)
    assert {(r.outcome, r.status, r.retry) for r in results} == {(Outcome.RETRY, "pending", True)}
    assert all("soft time limit" in (r.error or "") for r in results)
    # The items synced first that need another attempt are handed on too; the one whose
    # create was under way when the limit fired is in doubt (looked up before a create).
    assert handed
    assert all(r.retry for r in handed)
    assert ("product", calls[0], "unknown") in {(r.kind, r.key, r.status) for r in handed}
    # No row is left held: everything can go round again at once.
    with runtime.sessions() as session:
        held = session.scalar(
            sa.select(sa.func.count()).where(EntityLink.status == Status.IN_FLIGHT.value)
        )
    assert held == 0
    monkeypatch.setattr(runtime.poweroffice, "create_product", real)
    batched.queue.extend((r.kind, r.key, True) for r in [*results, *handed])
    batched.drain()
    with runtime.sessions() as session:
        counts = counts_by_kind_and_status(session)
    assert counts["invoice"] == SEEDED_SYNC["invoice"]
    assert poweroffice_emulator.counters()["duplicates_refused"] == 0


def test_creates_a_killed_batch_left_in_doubt_are_looked_up_together(
    batched: Any,
    runtime: Runtime,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker killed mid-batch leaves every planned create in doubt (their intents are
    committed first). The next batch looks them up in one bulk lookup, waiting out replica
    lag once for all, not once per entity (50 lookups of ~2 s each)."""
    keys = polled(batched, "product")

    class Killed(BaseException):  # like a SIGKILL: nothing of the pipeline catches it
        pass

    real = runtime.poweroffice.create_product
    sent: list[Any] = []

    def dies_after_three(payload: Any) -> Any:
        if len(sent) == 3:
            raise Killed
        sent.append(payload)
        return real(payload)

    monkeypatch.setattr(runtime.poweroffice, "create_product", dies_after_three)
    with pytest.raises(Killed):
        sync_entities(runtime, "product", keys, "killed-batch")
    monkeypatch.undo()
    with runtime.sessions.begin() as session:
        in_doubt = session.scalar(
            sa.select(sa.func.count())
            .select_from(EntityLink)
            .where(EntityLink.status == "in_flight", EntityLink.intent.is_not(None))
        )
        # The killed worker's heartbeat stopped: its leases run out.
        session.execute(sa.update(EntityLink).values(lease_until=utcnow() - timedelta(seconds=1)))
    assert in_doubt == len(keys)
    poweroffice_emulator.reset_counters()
    results = sync_entities(runtime, "product", keys, "survivor")
    outcomes = sorted(r.outcome for r in results)
    assert outcomes.count(Outcome.LINKED) == 3
    assert outcomes.count(Outcome.CREATED) == len(keys) - 3
    assert writes(poweroffice_emulator)["Products"] == (len(keys) - 3, 0, 0)
    # One bulk lookup (plus its re-reads for replica lag, and one read of what the three
    # found hold), not five reads per entity.
    lookups = po_requests(poweroffice_emulator).get("GET /v2/Products", 0)
    assert lookups <= 1 + 4 + 1, lookups


@pytest.mark.parametrize(
    ("kind", "create", "resource", "first"),
    [
        ("customer", "create_customer", "Customers", ()),
        ("invoice", "create_sales_order", "SalesOrders", ("product", "bom", "customer")),
    ],
)
def test_customers_and_invoices_left_in_doubt_are_looked_up_in_one_scan(
    batched: Any,
    runtime: Runtime,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    create: str,
    resource: str,
    first: tuple[str, ...],
) -> None:
    """Seen in bench/chaos.py (a Redis restart): Celery terminated an invoice batch, and the
    next one looked its 50 invoices up one by one, each waiting out replica lag (~2.4 s an
    invoice, 118 s for the batch). Now one scan of the records changed since the rows were
    created answers for the batch, with one replica-lag wait."""
    for dependency in first:
        keys = polled(batched, dependency)
        sync_entities(runtime, dependency, keys, f"first-{dependency}")
    keys = polled(batched, kind)
    assert len(keys) >= 5

    class Killed(BaseException):  # like a SIGKILL: nothing of the pipeline catches it
        pass

    real = getattr(runtime.poweroffice, create)
    sent: list[Any] = []

    def dies_after_three(payload: Any) -> Any:
        if len(sent) == 3:
            raise Killed
        sent.append(payload)
        return real(payload)

    monkeypatch.setattr(runtime.poweroffice, create, dies_after_three)
    with pytest.raises(Killed):
        sync_entities(runtime, kind, keys, "killed-batch")
    monkeypatch.undo()
    with runtime.sessions.begin() as session:
        in_doubt = session.scalar(
            sa.select(sa.func.count())
            .select_from(EntityLink)
            .where(
                EntityLink.kind == kind,
                EntityLink.status == "in_flight",
                EntityLink.intent.is_not(None),
            )
        )
        session.execute(sa.update(EntityLink).values(lease_until=utcnow() - timedelta(seconds=1)))
    assert in_doubt == len(keys)
    poweroffice_emulator.reset_counters()
    results = sync_entities(runtime, kind, keys, "survivor")
    outcomes = sorted(r.outcome for r in results)
    assert outcomes.count(Outcome.LINKED) == 3
    assert outcomes.count(Outcome.CREATED) == len(keys) - 3
    assert writes(poweroffice_emulator)[resource][0] == len(keys) - 3
    assert poweroffice_emulator.counters()["duplicates_refused"] == 0
    # One scan (plus its re-reads for replica lag), not five reads per entity.
    lookups = po_requests(poweroffice_emulator).get(f"GET /v2/{resource}", 0)
    assert lookups <= 1 + 4 + 3, (lookups, len(keys), po_requests(poweroffice_emulator))


def test_the_soft_time_limit_in_the_bulk_lookup_leaves_no_row_in_flight(
    batched: Any, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = polled(batched, "product")
    with runtime.sessions.begin() as session:
        # Every create in doubt (an earlier attempt's intents), so the batch looks them up.
        session.execute(sa.update(EntityLink).values(intent=EntityLink.key))

    def out_of_time(*args: Any, **kwargs: Any) -> Any:
        raise SoftTimeLimitExceeded

    monkeypatch.setattr(runtime.poweroffice, "find_products", out_of_time)
    results = sync_entities(runtime, "product", keys, "batch-1")
    assert {(r.outcome, r.retry) for r in results} == {(Outcome.RETRY, True)}
    with runtime.sessions() as session:
        held = session.scalar(
            sa.select(sa.func.count())
            .select_from(EntityLink)
            .where(EntityLink.status == "in_flight")
        )
    assert held == 0


def _in_doubt_since(runtime: Runtime, kind: str, keys: list[str], *, ended: bool) -> None:
    """Make each row a create in doubt (an intent, no id) left by an attempt 10 s ago that
    ended (a 503 or a dropped connection) or never did (its worker died)."""
    past = utcnow() - timedelta(seconds=10)
    with runtime.engine.begin() as conn:
        links = list(
            conn.scalars(
                sa.select(EntityLink.id).where(EntityLink.kind == kind, EntityLink.key.in_(keys))
            )
        )
        conn.execute(
            sa.update(EntityLink)
            .where(EntityLink.id.in_(links))
            .values(intent=f"rackbeat-{kind}-doubt")
        )
        opened = start_attempts(conn, links, "an-earlier-task", now=past)
        if ended:
            for attempt_id in opened.values():
                end_attempt(conn, attempt_id, Outcome.UNKNOWN, now=past)


@pytest.mark.parametrize(("ended", "reads"), [(True, 1), (False, 5)])
def test_a_create_in_doubt_whose_attempt_ended_long_ago_is_read_once(
    batched: Any,
    runtime: Runtime,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    *,
    ended: bool,
    reads: int,
) -> None:
    """Replica lag hides only a recent write: a create in doubt whose attempt ended 10 s ago
    (a 503, retried after its countdown) is looked up with one read, not five and a 2 s wait;
    one whose worker died in it (no end recorded) is re-read as before. Alone and batched."""
    keys = polled(batched, "customer")[:4]
    _in_doubt_since(runtime, "customer", keys, ended=ended)
    poweroffice_emulator.reset_counters()
    alone = sync_entity(runtime, "customer", keys[0], "retry-1")
    assert (alone.outcome, alone.status) == (Outcome.CREATED, "synced")
    assert po_requests(poweroffice_emulator).get("GET /v2/Customers", 0) == reads
    poweroffice_emulator.reset_counters()
    results = sync_entities(runtime, "customer", keys[1:], "retry-batch")
    assert {(r.outcome, r.status) for r in results} == {(Outcome.CREATED, "synced")}
    # The batch's one scan for its three creates in doubt (and its re-reads, or none).
    assert po_requests(poweroffice_emulator).get("GET /v2/Customers", 0) == reads
    assert poweroffice_emulator.counters()["duplicates_refused"] == 0

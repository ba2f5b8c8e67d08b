from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from ledger import (
    Attempt,
    Finish,
    SnapshotRecord,
    Status,
    attempts_of,
    claim,
    end_attempt,
    finish,
    get_link,
    record_intent,
    renew_leases,
    start_attempt,
    store_snapshots,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=10)


def seed(sessions: sessionmaker[Session], *keys: str, name: str = "x") -> None:
    with sessions.begin() as s:
        store_snapshots(
            s, "product", [SnapshotRecord(k, {"number": k, "name": name}, T0) for k in keys]
        )


def test_claim_takes_a_pending_row_once(sessions: sessionmaker[Session]) -> None:
    seed(sessions, "A")
    with sessions.begin() as s:
        row = claim(s, "product", "A", "t1", lease=LEASE, now=T0)
        assert row is not None
        assert (row.status, row.claim_token, row.attempts, row.claimed_version) == (
            Status.IN_FLIGHT,
            "t1",
            1,
            1,
        )
    with sessions.begin() as s:
        assert claim(s, "product", "A", "t2", lease=LEASE, now=T0) is None


def test_the_same_task_id_reclaims_after_its_worker_died(sessions: sessionmaker[Session]) -> None:
    seed(sessions, "A")
    with sessions.begin() as s:
        assert claim(s, "product", "A", "t1", lease=LEASE, now=T0) is not None
    with sessions.begin() as s:
        again = claim(s, "product", "A", "t1", lease=LEASE, now=T0 + timedelta(seconds=1))
        assert again is not None
        assert again.attempts == 2


def test_a_stale_claim_can_be_taken_over(sessions: sessionmaker[Session]) -> None:
    seed(sessions, "A")
    with sessions.begin() as s:
        assert claim(s, "product", "A", "t1", lease=LEASE, now=T0) is not None
    with sessions.begin() as s:
        assert claim(s, "product", "A", "t2", lease=LEASE, now=T0 + LEASE) is None
    with sessions.begin() as s:
        later = T0 + LEASE + timedelta(seconds=1)
        row = claim(s, "product", "A", "t2", lease=LEASE, now=later)
        assert row is not None
        assert row.claim_token == "t2"


def test_claim_of_an_unknown_key_is_none(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        assert claim(s, "product", "nope", "t1", lease=LEASE) is None


def test_finish_writes_the_outcome_and_releases(sessions: sessionmaker[Session]) -> None:
    seed(sessions, "A")
    with sessions.begin() as s:
        row = claim(s, "product", "A", "t1", lease=LEASE)
        assert row is not None
        link_id = row.id
        record_intent(s, link_id, "t1", "A")
    with sessions.begin() as s:
        done = finish(
            s,
            link_id,
            "t1",
            Status.SYNCED,
            remote_id="42",
            fingerprint="f" * 64,
            written={"Name": "x"},
            warnings=["unit 'bolt' has no PowerOffice Go code"],
            details={"vat_zone": "Domestic"},
            now=T0,
        )
        assert done == Finish(status=Status.SYNCED, reopened=False)
    with sessions() as s:
        link = get_link(s, "product", "A")
        assert link is not None
        assert (link.status, link.remote_id, link.intent, link.claim_token) == (
            Status.SYNCED,
            "42",
            "A",
            None,
        )
        assert link.written == {"Name": "x"}
        assert link.warnings == ["unit 'bolt' has no PowerOffice Go code"]
        assert link.details == {"vat_zone": "Domestic"}
        assert link.synced_at == T0


def test_finish_reopens_when_content_changed_while_held(sessions: sessionmaker[Session]) -> None:
    seed(sessions, "A")
    with sessions.begin() as s:
        row = claim(s, "product", "A", "t1", lease=LEASE)
        assert row is not None
        link_id = row.id
    seed(sessions, "A", name="changed meanwhile")
    with sessions.begin() as s:
        done = finish(s, link_id, "t1", Status.SYNCED, remote_id="42")
        assert done == Finish(status=Status.PENDING, reopened=True)
    with sessions() as s:
        link = get_link(s, "product", "A")
        assert link is not None
        assert (link.status, link.remote_id, link.attempts) == (Status.PENDING, "42", 0)


def test_unknown_is_kept_even_when_content_changed(sessions: sessionmaker[Session]) -> None:
    seed(sessions, "A")
    with sessions.begin() as s:
        row = claim(s, "product", "A", "t1", lease=LEASE)
        assert row is not None
        link_id = row.id
    seed(sessions, "A", name="changed meanwhile")
    with sessions.begin() as s:
        assert finish(s, link_id, "t1", Status.UNKNOWN, error="timeout") == Finish(
            Status.UNKNOWN, reopened=False
        )


def test_finish_by_a_holder_that_lost_its_claim_is_refused(
    sessions: sessionmaker[Session],
) -> None:
    seed(sessions, "A")
    with sessions.begin() as s:
        row = claim(s, "product", "A", "t1", lease=LEASE, now=T0)
        assert row is not None
        link_id = row.id
    with sessions.begin() as s:
        later = T0 + LEASE * 2
        assert claim(s, "product", "A", "t2", lease=LEASE, now=later) is not None
    with sessions.begin() as s:
        assert finish(s, link_id, "t1", Status.SYNCED) is None
        with pytest.raises(LookupError, match="not held by 't1'"):
            record_intent(s, link_id, "t1", "A")


def test_finish_refuses_in_flight_as_an_outcome(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s, pytest.raises(ValueError, match="in_flight"):
        finish(s, 1, "t1", Status.IN_FLIGHT)


def test_attempt_rows_record_history(sessions: sessionmaker[Session]) -> None:
    seed(sessions, "A")
    with sessions.begin() as s:
        row = claim(s, "product", "A", "t1", lease=LEASE)
        assert row is not None
        first = start_attempt(s, row.id, "t1", now=T0)
        end_attempt(s, first, "unknown", http_status=503, error="503 Service Unavailable")
        second = start_attempt(s, row.id, "t1", now=T0 + timedelta(seconds=30))
        end_attempt(s, second, "created", http_status=201)
    with sessions() as s:
        history = attempts_of(s, "product", "A")
        assert [(a.outcome, a.http_status, a.error) for a in history] == [
            ("created", 201, None),
            ("unknown", 503, "503 Service Unavailable"),
        ]
        assert all(isinstance(a, Attempt) and a.finished_at is not None for a in history)


def test_concurrent_claims_never_share_a_row(sessions: sessionmaker[Session]) -> None:
    keys = [f"P{i}" for i in range(20)]
    seed(sessions, *keys)
    won: dict[str, list[str]] = {key: [] for key in keys}
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker(token: str) -> None:
        try:
            start.wait(timeout=30)
            for key in keys:
                with sessions.begin() as s:
                    if claim(s, "product", key, token, lease=LEASE) is not None:
                        won[key].append(token)
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert all(len(winners) == 1 for winners in won.values()), won


def test_many_rows_are_claimed_opened_and_finished_in_a_few_round_trips(
    sessions: sessionmaker[Session],
) -> None:
    from ledger import (
        RowOutcome,
        claim_many,
        end_attempts,
        finish_many,
        record_intents,
        start_attempts,
    )

    seed(sessions, "A", "B", "C", "D")
    with sessions.begin() as s:
        assert claim(s, "product", "D", "other", lease=LEASE, now=T0) is not None
    with sessions.begin() as s:
        rows = claim_many(s, "product", ["A", "B", "C", "D", "Z"], "batch", lease=LEASE, now=T0)
        # D is held by another worker and Z has no row: neither is taken.
        assert sorted(r.key for r in rows) == ["A", "B", "C"]
        ids = {r.key: r.id for r in rows}
        attempts = start_attempts(s, list(ids.values()), "batch")
        assert sorted(attempts) == sorted(ids.values())
        record_intents(s, "batch", {ids["A"]: "A", ids["B"]: "B"})
        with pytest.raises(LookupError):  # D is not ours: nothing may be sent for it
            record_intents(s, "batch", {ids["C"]: "C", 10**9: "D"})
    # New content for B arrives while the batch holds it; C's claim is taken over meanwhile.
    seed(sessions, "B", name="renamed")
    with sessions.begin() as s:
        assert claim(s, "product", "C", "thief", lease=LEASE, now=T0 + LEASE + timedelta(seconds=1))
    with sessions.begin() as s:
        done = finish_many(
            s,
            [
                RowOutcome(ids["A"], "batch", Status.SYNCED, remote_id="1", fingerprint="fa"),
                RowOutcome(ids["B"], "batch", Status.SYNCED, remote_id="2", fingerprint="fb"),
                RowOutcome(ids["C"], "batch", Status.FAILED, error="late"),
            ],
        )
        end_attempts(s, [{"attempt_id": attempts[ids["A"]], "outcome": "created"}])
    assert done == [
        Finish(Status.SYNCED, reopened=False),
        Finish(Status.PENDING, reopened=True),
        None,
    ]
    with sessions() as s:
        a, b, c = (get_link(s, "product", k) for k in "ABC")
        assert a is not None
        assert b is not None
        assert c is not None
        assert (a.status, a.remote_id, a.intent, a.claim_token) == ("synced", "1", "A", None)
        assert (b.status, b.remote_id, b.attempts) == ("pending", "2", 0)
        assert (c.status, c.claim_token, c.last_error) == ("in_flight", "thief", None)
        (attempt,) = attempts_of(s, "product", "A")
        assert (attempt.task_id, attempt.outcome) == ("batch", "created")


def test_a_renewed_lease_is_never_taken_over(sessions: sessionmaker[Session]) -> None:
    seed(sessions, "A", "B")
    with sessions.begin() as s:
        assert claim(s, "product", "A", "t1", lease=LEASE, now=T0) is not None
        assert claim(s, "product", "B", "t1", lease=LEASE, now=T0) is not None
    beyond = T0 + LEASE + timedelta(seconds=1)
    with sessions.begin() as s:
        # The holder's heartbeat renews both rows; a token that holds nothing renews nothing.
        assert renew_leases(s, ["t1"], lease=LEASE, now=T0 + LEASE / 2) == 2
        assert renew_leases(s, ["nobody"], lease=LEASE, now=T0 + LEASE / 2) == 0
    with sessions.begin() as s:
        assert claim(s, "product", "A", "t2", lease=LEASE, now=beyond) is None
    with sessions.begin() as s:
        # Once the renewals stop, the lease runs out and the row may be taken over; the old
        # holder can renew it no more.
        later = T0 + LEASE * 2
        assert claim(s, "product", "A", "t2", lease=LEASE, now=later) is not None
        assert renew_leases(s, ["t1"], lease=LEASE, now=later) == 1  # only B is still its own

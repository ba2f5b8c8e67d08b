"""Claiming an entity for one worker, recording intent, attempts and outcomes.

The claim is one conditional UPDATE: it succeeds only when the row is not ``in_flight``, or is
held by the same task id (a redelivered message after its worker died), or its holder's
**lease** ran out (``lease_until`` passed: the holder's heartbeat stopped renewing it, so the
holder is dead, frozen or cut off from the ledger). On PostgreSQL the row lock serialises
concurrent claims; on SQLite ``BEGIN IMMEDIATE`` does. So two workers never hold the same row.

A claim lasts ``lease``; :func:`renew_leases` (the holder's heartbeat, ``wiring.heartbeat``)
pushes it on while the holder works. A takeover never writes twice: a create's intent is
committed before its request, so the next holder looks the record up before creating again,
and a holder stops writing once it cannot prove its lease (``tasks.leases``).

These functions run several times per entity and attempt, so their statements are built once,
at import, with bound parameters: SQLAlchemy then skips building and cache-keying them on
every call (measured: about a third of the CPU per statement). They accept a ``Session`` or a
plain ``Connection``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger.models import Attempt, EntityLink, Status
from ledger.scope import connection_of
from ledger.types import JSONType, UTCDateTime, utcnow

__all__ = [
    "FINAL_STATUSES",
    "Executor",
    "Finish",
    "RowOutcome",
    "claim",
    "claim_current_version",
    "claim_many",
    "end_attempt",
    "end_attempts",
    "finish",
    "finish_many",
    "previous_attempt_end",
    "record_intent",
    "record_intents",
    "renew_leases",
    "start_attempt",
    "start_attempts",
]

Executor = Session | sa.Connection
"""Where the statements run: an ORM session or a Core connection, inside a transaction."""

FINAL_STATUSES = frozenset(
    {Status.SYNCED, Status.SKIPPED, Status.FAILED, Status.DEAD, Status.UNKNOWN, Status.PENDING}
)
"""Statuses a holder may leave a row in when it lets go."""

LINKS: sa.Table = EntityLink.__table__  # type: ignore[assignment]
ATTEMPTS: sa.Table = Attempt.__table__  # type: ignore[assignment]

_REOPEN_ON_NEW_CONTENT = frozenset({Status.SYNCED, Status.SKIPPED, Status.FAILED, Status.DEAD})

_B = sa.bindparam
_c = LINKS.c
_changed_while_held = _c.snapshot_version != _c.claimed_version
_reopening = sa.and_(_B("p_reopen", type_=sa.Boolean()), _changed_while_held)


def _claim(which: sa.ColumnElement[bool]) -> sa.Update:
    """Take the rows ``which`` selects (of kind ``p_kind``) that are free for ``p_token``."""
    return (
        sa.update(LINKS)
        .where(
            _c.connection == _B("p_connection"),
            _c.kind == _B("p_kind"),
            which,
            sa.or_(
                _c.status != Status.IN_FLIGHT.value,
                _c.claim_token == _B("p_token"),
                _c.lease_until < _B("p_now", type_=UTCDateTime()),
                _c.lease_until.is_(None),
            ),
        )
        .values(
            status=Status.IN_FLIGHT.value,
            claim_token=_B("p_token"),
            claimed_at=_B("p_now", type_=UTCDateTime()),
            lease_until=_B("p_lease_until", type_=UTCDateTime()),
            due_at=None,  # the message was consumed: nothing is due until one is sent
            claimed_version=_c.snapshot_version,
            attempts=_c.attempts + 1,
            updated_at=_B("p_now", type_=UTCDateTime()),
        )
        .returning(*LINKS.c)
    )


_CLAIM = _claim(_c.key == _B("p_key"))
_CLAIM_MANY = _claim(_c.key.in_(_B("p_keys", expanding=True)))

_RENEW_LEASES = (
    sa.update(LINKS)
    .where(
        _c.claim_token.in_(_B("p_tokens", expanding=True)),
        _c.status == Status.IN_FLIGHT.value,
    )
    .values(lease_until=_B("p_lease_until", type_=UTCDateTime()))
)

_CLAIM_CURRENT_VERSION = (
    sa.update(LINKS)
    .where(_c.id == _B("p_id"), _c.claim_token == _B("p_token"))
    .values(claimed_version=_c.snapshot_version)
)

_RECORD_INTENT = (
    sa.update(LINKS)
    .where(_c.id == _B("p_id"), _c.claim_token == _B("p_token"))
    .values(intent=_B("p_intent"))
)


def _keep_unless(flag: str, value: sa.BindParameter[Any], column: Any) -> Any:
    return sa.case((_B(flag, type_=sa.Boolean()), value), else_=column)


_FINISH_MANY = (
    sa.update(LINKS)
    .where(
        _c.id == _B("p_id"),
        _c.claim_token == _B("p_token"),
        _c.status == Status.IN_FLIGHT.value,
    )
    .values(
        claim_token=None,
        lease_until=None,
        last_error=_B("p_error", type_=sa.Text()),
        updated_at=_B("p_now", type_=UTCDateTime()),
        remote_id=sa.func.coalesce(_B("p_remote_id", type_=sa.String()), _c.remote_id),
        # A write in doubt forgets what the ledger believed written: the next attempt compares
        # with what PowerOffice Go holds (adoption), not with a body it may no longer hold.
        fingerprint=sa.case(
            (_B("p_forget_written", type_=sa.Boolean()), sa.null()),
            else_=sa.func.coalesce(_B("p_fingerprint", type_=sa.String()), _c.fingerprint),
        ),
        written=sa.case(
            (_B("p_forget_written", type_=sa.Boolean()), sa.null()),
            else_=_keep_unless("p_set_written", _B("p_written", type_=JSONType), _c.written),
        ),
        warnings=_keep_unless("p_set_warnings", _B("p_warnings", type_=JSONType), _c.warnings),
        details=_keep_unless("p_set_details", _B("p_details", type_=JSONType), _c.details),
        synced_at=_keep_unless("p_synced", _B("p_now", type_=UTCDateTime()), _c.synced_at),
        status=sa.case(
            (
                sa.and_(_B("p_reopen", type_=sa.Boolean()), _changed_while_held),
                Status.PENDING.value,
            ),
            else_=_B("p_status", type_=sa.String()),
        ),
        attempts=sa.case(
            (_reopening, 0),
            else_=_c.attempts,
        ),
    )
)
_FINISH = _FINISH_MANY.returning(_c.status)
_FINISHED = sa.select(_c.id, _c.status, _c.claim_token, _c.updated_at).where(
    _c.id.in_(_B("p_ids", expanding=True))
)

_OPEN_ATTEMPT = sa.insert(ATTEMPTS).values(
    connection=_B("p_connection"),
    link_id=_B("p_link_id"),
    task_id=_B("p_task_id"),
    started_at=_B("p_now", type_=UTCDateTime()),
)
_START_ATTEMPT = _OPEN_ATTEMPT.returning(ATTEMPTS.c.id)
_START_ATTEMPTS = _OPEN_ATTEMPT.returning(
    ATTEMPTS.c.id, ATTEMPTS.c.link_id, sort_by_parameter_order=True
)

_END_ATTEMPT = (
    sa.update(ATTEMPTS)
    .where(ATTEMPTS.c.id == _B("p_id"))
    .values(
        finished_at=_B("p_now", type_=UTCDateTime()),
        outcome=_B("p_outcome"),
        http_status=_B("p_http_status", type_=sa.Integer()),
        error=_B("p_error", type_=sa.Text()),
    )
)


@dataclass(frozen=True, slots=True)
class Finish:
    """What ``finish`` did: the status written and whether newer content awaits a new task."""

    status: Status
    reopened: bool


def claim(
    executor: Executor,
    kind: str,
    key: str,
    token: str,
    *,
    lease: timedelta,
    now: datetime | None = None,
) -> EntityLink | None:
    """Take (kind, key) for ``token`` (a task id) for ``lease``; the claimed row, or None when
    another holder's lease runs.

    The row comes back as a detached ``EntityLink`` built from the UPDATE's RETURNING.
    """
    now = now or utcnow()
    row = executor.execute(
        _CLAIM,
        {
            "p_connection": connection_of(executor),
            "p_kind": kind,
            "p_key": key,
            "p_token": token,
            "p_now": now,
            "p_lease_until": now + lease,
        },
    ).one_or_none()
    return None if row is None else EntityLink(**row._asdict())


def claim_many(
    executor: Executor,
    kind: str,
    keys: Sequence[str],
    token: str,
    *,
    lease: timedelta,
    now: datetime | None = None,
) -> list[EntityLink]:
    """:func:`claim` for many keys of one kind in one statement: the rows taken for ``token``,
    in the order of ``keys`` (PostgreSQL returns an UPDATE's rows in the table's order, SQLite
    in the statement's: a batch runs its entities in the poll's order on both).

    A key that is missing from the result has no row yet, or is held by another live worker.
    """
    if not keys:
        return []
    now = now or utcnow()
    rows = executor.execute(
        _CLAIM_MANY,
        {
            "p_connection": connection_of(executor),
            "p_kind": kind,
            "p_keys": list(keys),
            "p_token": token,
            "p_now": now,
            "p_lease_until": now + lease,
        },
    ).all()
    order = {key: index for index, key in enumerate(keys)}
    links = [EntityLink(**row._asdict()) for row in rows]
    return sorted(links, key=lambda link: order[link.key])


def renew_leases(
    executor: Executor, tokens: Sequence[str], *, lease: timedelta, now: datetime | None = None
) -> int:
    """Push the lease of every row ``tokens`` hold to ``now + lease``; how many rows.

    A row another holder took over meanwhile has its token, so it is never renewed here.
    """
    if not tokens:
        return 0
    result = executor.execute(
        _RENEW_LEASES,
        {"p_tokens": list(tokens), "p_lease_until": (now or utcnow()) + lease},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def claim_current_version(executor: Executor, link_id: int, token: str) -> None:
    """Mark the row's current snapshot as the one this claim works on.

    For a holder that stored the snapshot itself (a manual enqueue fetched it): that snapshot
    is not "new content that arrived while held".
    """
    executor.execute(_CLAIM_CURRENT_VERSION, {"p_id": link_id, "p_token": token})


def record_intent(executor: Executor, link_id: int, token: str, intent: str) -> None:
    """Write the key a create is about to use, before the request is sent."""
    result = executor.execute(
        _RECORD_INTENT, {"p_id": link_id, "p_token": token, "p_intent": intent}
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LookupError(f"entity link {link_id} is not held by {token!r}")


def record_intents(
    executor: Executor, token: str, intents: Mapping[int, str | None], *, strict: bool = True
) -> None:
    """:func:`record_intent` for many held rows (link id -> intent, or None to take it back), in
    one round trip. ``strict``: a row no longer held by ``token`` is an error (``LookupError``).
    """
    if not intents:
        return
    result = executor.execute(
        _RECORD_INTENT,
        [
            {"p_id": link_id, "p_token": token, "p_intent": intent}
            for link_id, intent in intents.items()
        ],
    )
    if strict and result.rowcount != len(intents):  # type: ignore[attr-defined]
        raise LookupError(f"{len(intents)} entity links are not all held by {token!r}")


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """One held row's outcome, for :func:`finish_many` (the arguments of :func:`finish`)."""

    link_id: int
    token: str
    status: Status
    remote_id: str | None = None
    fingerprint: str | None = None
    written: Mapping[str, Any] | None = None
    error: str | None = None
    warnings: Sequence[Any] | None = None
    details: Mapping[str, Any] | None = None
    forget_written: bool = False
    """An update whose outcome is unknown: clear ``written`` and ``fingerprint``."""

    def parameters(self, now: datetime) -> dict[str, Any]:
        if self.status not in FINAL_STATUSES:
            raise ValueError(f"cannot finish with status {self.status!r}")
        written, warnings, details = self.written, self.warnings, self.details
        return {
            "p_id": self.link_id,
            "p_token": self.token,
            "p_now": now,
            "p_error": self.error,
            "p_remote_id": self.remote_id,
            "p_fingerprint": self.fingerprint,
            "p_forget_written": self.forget_written,
            "p_set_written": written is not None,
            "p_written": dict(written) if written is not None else None,
            "p_set_warnings": warnings is not None,
            "p_warnings": list(warnings) if warnings is not None else None,
            "p_set_details": details is not None,
            "p_details": dict(details) if details is not None else None,
            "p_synced": self.status == Status.SYNCED,
            "p_reopen": self.status in _REOPEN_ON_NEW_CONTENT,
            "p_status": self.status.value,
        }

    def finished(self, written_status: Status) -> Finish:
        reopen = self.status in _REOPEN_ON_NEW_CONTENT
        return Finish(status=written_status, reopened=reopen and written_status != self.status)


def finish(
    executor: Executor,
    link_id: int,
    token: str,
    status: Status,
    *,
    remote_id: str | None = None,
    fingerprint: str | None = None,
    written: Mapping[str, Any] | None = None,
    error: str | None = None,
    warnings: Sequence[Any] | None = None,
    details: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Finish | None:
    """Let go of a claimed row, writing its outcome; None when the claim was lost meanwhile.

    ``remote_id``/``fingerprint``/``written``/``warnings``/``details`` are written only when
    given. When the snapshot changed while the row was held and the outcome is final, the row
    goes back to ``pending`` (``reopened``): the caller enqueues it again after commit.
    """
    outcome = RowOutcome(
        link_id, token, status, remote_id, fingerprint, written, error, warnings, details
    )
    row = executor.execute(_FINISH, outcome.parameters(now or utcnow())).one_or_none()
    return None if row is None else outcome.finished(Status(row[0]))


def finish_many(
    executor: Executor, outcomes: Sequence[RowOutcome], *, now: datetime | None = None
) -> list[Finish | None]:
    """:func:`finish` for many held rows in two round trips (an executemany, then one read).

    Which rows this call let go of is read back in the same transaction: a row it finished has
    no claim token and this call's ``updated_at``; any other was lost to another holder (None).
    """
    if not outcomes:
        return []
    now = now or utcnow()
    if len(outcomes) == 1:  # one round trip: the UPDATE returns what it wrote
        (outcome,) = outcomes
        row = executor.execute(_FINISH, outcome.parameters(now)).one_or_none()
        return [None if row is None else outcome.finished(Status(row[0]))]
    executor.execute(_FINISH_MANY, [outcome.parameters(now) for outcome in outcomes])
    rows = executor.execute(_FINISHED, {"p_ids": [outcome.link_id for outcome in outcomes]}).all()
    state = {row.id: row for row in rows}
    done: list[Finish | None] = []
    for outcome in outcomes:
        row = state.get(outcome.link_id)
        if row is None or row.claim_token is not None or row.updated_at != now:
            done.append(None)  # lost to another holder
        else:
            done.append(outcome.finished(Status(row.status)))
    return done


def start_attempt(
    executor: Executor, link_id: int, task_id: str | None, *, now: datetime | None = None
) -> int:
    """Open an attempt row; return its id."""
    attempt_id = executor.execute(
        _START_ATTEMPT,
        {
            "p_connection": connection_of(executor),
            "p_link_id": link_id,
            "p_task_id": task_id,
            "p_now": now or utcnow(),
        },
    ).scalar_one()
    return int(attempt_id)


def start_attempts(
    executor: Executor, link_ids: Sequence[int], task_id: str | None, *, now: datetime | None = None
) -> dict[int, int]:
    """Open one attempt row per link in one round trip; link id -> attempt id."""
    if not link_ids:
        return {}
    now = now or utcnow()
    name = connection_of(executor)
    rows = executor.execute(
        _START_ATTEMPTS,
        [
            {"p_connection": name, "p_link_id": link_id, "p_task_id": task_id, "p_now": now}
            for link_id in link_ids
        ],
    ).all()
    return {int(link_id): int(attempt_id) for attempt_id, link_id in rows}


def previous_attempt_end(executor: Executor, link_id: int, before: int) -> datetime | None:
    """When the link's last attempt before attempt ``before`` ended; None when it never ended
    (its worker died in it) or there was none."""
    row = executor.execute(
        sa.select(ATTEMPTS.c.finished_at)
        .where(ATTEMPTS.c.link_id == link_id, ATTEMPTS.c.id < before)
        .order_by(ATTEMPTS.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else row[0]


def end_attempt(
    executor: Executor,
    attempt_id: int,
    outcome: str,
    *,
    http_status: int | None = None,
    error: str | None = None,
    now: datetime | None = None,
) -> None:
    """Close an attempt row with its outcome."""
    executor.execute(
        _END_ATTEMPT,
        {
            "p_id": attempt_id,
            "p_now": now or utcnow(),
            "p_outcome": outcome,
            "p_http_status": http_status,
            "p_error": error,
        },
    )


def end_attempts(
    executor: Executor, ends: Sequence[Mapping[str, Any]], *, now: datetime | None = None
) -> None:
    """Close many attempt rows in one round trip.

    Each item has ``attempt_id`` and ``outcome``, and optionally ``http_status`` and ``error``.
    """
    if not ends:
        return
    now = now or utcnow()
    executor.execute(
        _END_ATTEMPT,
        [
            {
                "p_id": end["attempt_id"],
                "p_now": now,
                "p_outcome": end["outcome"],
                "p_http_status": end.get("http_status"),
                "p_error": end.get("error"),
            }
            for end in ends
        ],
    )

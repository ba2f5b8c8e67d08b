"""Remembered probe answers in the ledger: the filter-probe store of embedded mode.

With Redis the Rackbeat client keeps whether an endpoint honours ``updated_at_from`` there,
shared by the fleet (``clients.probes.RedisProbeStore``). Without Redis each ``rbsync sync
--once`` is a new process, and an in-process store forgot the answer with it: every run probed
each kind again. :class:`LedgerProbeStore` keeps the answers in ``probe_answers`` instead. It
has the shape of ``clients.probes.ProbeStore`` (the clients never import the ledger; the wiring
hands it over).

A ledger error is a miss: the client probes again, which costs one request, never a wrong
answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ledger._sql import upsert
from ledger.models import ProbeAnswer
from ledger.types import utcnow

__all__ = ["KEY_PREFIX", "LedgerProbeStore", "get_probe_answer", "put_probe_answer"]

log = logging.getLogger(__name__)

KEY_PREFIX = "rackbeat:filter-probe:"

_GET = sa.select(ProbeAnswer.value).where(
    ProbeAnswer.key == sa.bindparam("p_key"), ProbeAnswer.expires_at > sa.bindparam("p_now")
)


def get_probe_answer(session: Session, key: str, *, now: datetime | None = None) -> str | None:
    """The answer remembered under ``key``, or None (never stored, or expired)."""
    return session.scalar(_GET, {"p_key": key, "p_now": now or utcnow()})


def put_probe_answer(session: Session, key: str, value: str, *, expires_at: datetime) -> None:
    """Remember ``value`` under ``key`` until ``expires_at`` (replacing any older answer)."""
    upsert(
        session,
        ProbeAnswer.__table__,  # type: ignore[arg-type]
        [{"key": key, "value": value, "expires_at": expires_at}],
        ["key"],
        ["value", "expires_at"],
    )


class LedgerProbeStore:
    """Filter-probe answers of one Rackbeat credential (``bucket``), kept in the ledger."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        bucket: str,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._prefix = f"{KEY_PREFIX}{bucket}:"
        self._clock = clock

    def get(self, resource: str) -> bool | None:
        try:
            with self._sessions() as session:
                value = get_probe_answer(session, self._prefix + resource, now=self._clock())
        except SQLAlchemyError as exc:
            log.debug("filter probe store unavailable: %s", type(exc).__name__)
            return None
        if value is None:
            return None
        return value == "1"

    def put(self, resource: str, honoured: bool, ttl_seconds: float) -> None:
        expires_at = self._clock() + timedelta(seconds=ttl_seconds)
        value = "1" if honoured else "0"
        try:
            with self._sessions.begin() as session:
                put_probe_answer(session, self._prefix + resource, value, expires_at=expires_at)
        except SQLAlchemyError as exc:
            log.debug("filter probe store unavailable: %s", type(exc).__name__)

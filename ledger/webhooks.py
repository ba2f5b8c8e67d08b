"""Webhooks in the ledger: registered subscriptions (token digests), accepted deliveries (the
receiver's outbox) and the Rackbeat connection's state.

A delivery is stored and committed before the receiver answers; the caller sends its message
after the commit and then marks it sent (:func:`mark_events_sent`). A row never marked (the
broker was down, the process died in between) is found by :func:`unsent_events`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger.models import KEY_LENGTH, ConnectionState, WebhookEvent, WebhookSubscription
from ledger.scope import DEFAULT_CONNECTION, connection_of
from ledger.types import utcnow

__all__ = [
    "ACTION_DELETED",
    "ACTION_SYNC",
    "ACTION_UNINSTALLED",
    "Disconnection",
    "StoredSubscription",
    "UnsentEvent",
    "connection_disconnected",
    "delete_subscription",
    "deletion_events",
    "disconnect",
    "has_subscription",
    "mark_events_sent",
    "reconnect",
    "save_subscription",
    "store_event",
    "subscriptions",
    "token_digest",
    "token_matches",
    "unsent_events",
    "webhook_event_counts",
]

ACTION_SYNC = "sync"
ACTION_DELETED = "deleted"
ACTION_UNINSTALLED = "uninstalled"
CONNECTION = "rackbeat"


def token_digest(token: str) -> str:
    """The SHA-256 hex digest the ledger keeps instead of a webhook token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def token_matches(session: Session, presented: str | None) -> bool:
    """Whether ``presented`` is the token of a registered webhook.

    Digests are compared with :func:`hmac.compare_digest`, every stored one (no early exit), so
    the answer's timing says nothing about how much of a token was right.
    """
    if not presented:
        return False
    wanted = token_digest(presented)
    stored = session.scalars(sa.select(WebhookSubscription.token_digest)).all()
    found = False
    for digest in stored:
        found |= hmac.compare_digest(wanted, digest)
    return found


@dataclasses.dataclass(frozen=True)
class StoredSubscription:
    """A registered webhook as the ledger knows it (never its token)."""

    rackbeat_id: int
    event: str
    url: str
    registered_at: datetime


def save_subscription(
    session: Session, *, rackbeat_id: int, event: str, url: str, token: str | None
) -> None:
    """Record a registration; ``token`` None keeps the digest already held (Rackbeat returns a
    token only when it creates the webhook)."""
    row = session.scalars(
        sa.select(WebhookSubscription).where(
            sa.or_(
                WebhookSubscription.rackbeat_id == rackbeat_id,
                sa.and_(WebhookSubscription.event == event, WebhookSubscription.url == url),
            )
        )
    ).first()
    if row is None:
        if token is None:
            raise ValueError(f"webhook {rackbeat_id} ({event}) has no token to store")
        session.add(
            WebhookSubscription(
                rackbeat_id=rackbeat_id,
                event=event,
                url=url,
                token_digest=token_digest(token),
                registered_at=utcnow(),
            )
        )
        return
    row.rackbeat_id = rackbeat_id
    row.event = event
    row.url = url
    row.registered_at = utcnow()
    if token is not None:
        row.token_digest = token_digest(token)


def has_subscription(session: Session, event: str, url: str) -> bool:
    """Whether the ledger holds a token digest for ``event`` at ``url``."""
    found = session.scalar(
        sa.select(WebhookSubscription.id).where(
            WebhookSubscription.event == event, WebhookSubscription.url == url
        )
    )
    return found is not None


def delete_subscription(session: Session, rackbeat_id: int) -> None:
    """Forget a registration (its deliveries are refused from now on)."""
    session.execute(
        sa.delete(WebhookSubscription).where(WebhookSubscription.rackbeat_id == rackbeat_id)
    )


def subscriptions(session: Session) -> list[StoredSubscription]:
    """Every registration the ledger holds, by event name."""
    rows = session.scalars(
        sa.select(WebhookSubscription).order_by(WebhookSubscription.event, WebhookSubscription.url)
    ).all()
    return [StoredSubscription(r.rackbeat_id, r.event, r.url, r.registered_at) for r in rows]


def store_event(
    session: Session,
    *,
    event: str,
    action: str,
    kind: str | None,
    key: str | None,
    account_id: str | None,
    detail: dict[str, Any] | None,
    now: datetime | None = None,
) -> int:
    """Store one accepted delivery; return its id (the caller commits, then sends)."""
    row = WebhookEvent(
        received_at=now or utcnow(),
        event=event[:64],
        action=action,
        kind=kind,
        key=key[:KEY_LENGTH] if key is not None else None,
        account_id=account_id[:64] if account_id is not None else None,
        detail=detail,
    )
    session.add(row)
    session.flush()
    return row.id


@dataclasses.dataclass(frozen=True)
class UnsentEvent:
    """A ``sync`` delivery whose message has not gone out yet."""

    id: int
    kind: str
    key: str
    connection: str = DEFAULT_CONNECTION


def unsent_events(
    session: Session, *, received_before: datetime | None = None, limit: int = 10_000
) -> list[UnsentEvent]:
    """``sync`` deliveries not yet sent, oldest first (``received_before``: leave the newest to
    the receiver that is sending them right now)."""
    query = sa.select(
        WebhookEvent.id, WebhookEvent.kind, WebhookEvent.key, WebhookEvent.connection
    ).where(
        WebhookEvent.action == ACTION_SYNC,
        WebhookEvent.sent_at.is_(None),
        WebhookEvent.kind.is_not(None),
        WebhookEvent.key.is_not(None),
    )
    if received_before is not None:
        query = query.where(WebhookEvent.received_at < received_before)
    rows = session.execute(query.order_by(WebhookEvent.id).limit(limit)).all()
    return [UnsentEvent(row.id, str(row.kind), str(row.key), row.connection) for row in rows]


def mark_events_sent(session: Session, ids: Iterable[int], *, now: datetime | None = None) -> None:
    """Mark deliveries sent (after their messages are out)."""
    wanted = list(ids)
    if wanted:
        session.execute(
            sa.update(WebhookEvent)
            .where(WebhookEvent.id.in_(wanted))
            .values(sent_at=now or utcnow())
        )


def deletion_events(session: Session, *, limit: int = 50) -> list[tuple[datetime, str, str]]:
    """The newest ``*.deleted`` deliveries: (received, event, key), newest first."""
    rows = session.execute(
        sa.select(WebhookEvent.received_at, WebhookEvent.event, WebhookEvent.key)
        .where(WebhookEvent.action == ACTION_DELETED)
        .order_by(WebhookEvent.id.desc())
        .limit(limit)
    ).all()
    return [(r.received_at, r.event, r.key or "") for r in rows]


def webhook_event_counts(session: Session) -> dict[str, int]:
    """Accepted deliveries by outcome: ``sent``, ``unsent``, ``deleted``, ``uninstalled``."""
    rows = session.execute(
        sa.select(
            WebhookEvent.action,
            WebhookEvent.sent_at.is_not(None).label("sent"),
            sa.func.count(),
        ).group_by(WebhookEvent.action, sa.literal_column("sent"))
    ).all()
    counts: dict[str, int] = {}
    for action, sent, count in rows:
        name = ("sent" if sent else "unsent") if action == ACTION_SYNC else str(action)
        counts[name] = counts.get(name, 0) + int(count)
    return counts


@dataclasses.dataclass(frozen=True)
class Disconnection:
    """When and why the Rackbeat connection was marked disconnected."""

    at: datetime
    reason: str


def disconnect(session: Session, reason: str, *, now: datetime | None = None) -> None:
    """Mark the Rackbeat connection disconnected (``plugin.uninstalled``): polls stop."""
    row = session.get(ConnectionState, (connection_of(session), CONNECTION))
    if row is None:
        row = ConnectionState(connection=connection_of(session), name=CONNECTION)
        session.add(row)
    row.disconnected_at = now or utcnow()
    row.reason = reason[:255]


def reconnect(session: Session) -> None:
    """Clear a disconnection (a new registration)."""
    row = session.get(ConnectionState, (connection_of(session), CONNECTION))
    if row is not None:
        row.disconnected_at = None
        row.reason = None


def connection_disconnected(session: Session) -> Disconnection | None:
    """The disconnection in force, or None when the connection is live."""
    row = session.get(ConnectionState, (connection_of(session), CONNECTION))
    if row is None or row.disconnected_at is None:
        return None
    return Disconnection(row.disconnected_at, row.reason or "")

"""The ledger's tables as SQLAlchemy 2.0 typed models.

- ``entity_links``: one row per Rackbeat entity (kind, key) and its PowerOffice Go twin: the
  source snapshot (and what was cleaned out of it to store it), the status of the state machine
  (docs/pipeline.md), the intent of a create, the fingerprint and payload last written,
  attempts, last error and warnings.
- ``attempts``: one row per try of a sync task (task id, start, end, outcome, HTTP status).
- ``cursors``: one change cursor per kind.
- ``poll_cycles``: one row per poll with its counts.
- ``remote_links``: PowerOffice Go ids by code / reference (product groups, products, customers,
  suppliers, contact groups, ...), filled from the clients' bulk index loaders so that a task
  needs no lookup request per record; ``index_loads`` says when each namespace was last loaded.
- ``reconcile_runs``: one row per ``rbsync reconcile`` (or its scheduled task), with what it
  found per kind; ``rbsync status`` shows the last one.
- ``probe_answers``: small facts about a remote API that every process may reuse until they
  expire (whether a Rackbeat endpoint honours ``updated_at_from``), kept here when there is no
  Redis to share them.

The schema itself is created by the Alembic migrations in ``ledger/migrations``; these models
must stay in agreement with them (a test compares the two).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ledger.scope import CONNECTION_NAME_LENGTH, DEFAULT_CONNECTION, Scoped
from ledger.types import JSONType, UTCDateTime, utcnow

__all__ = [
    "ACTIVE_STATUSES",
    "KEY_LENGTH",
    "REDRIVE_STATUSES",
    "Attempt",
    "Base",
    "Connection",
    "ConnectionState",
    "Cursor",
    "EntityLink",
    "IndexLoad",
    "PollCycle",
    "ProbeAnswer",
    "ReconcileRun",
    "RemoteLink",
    "Status",
    "WebhookEvent",
    "WebhookSubscription",
    "connection_key",
]


class Status(enum.StrEnum):
    """The states of an entity link (the state machine of docs/pipeline.md)."""

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    SYNCED = "synced"
    UNKNOWN = "unknown"
    FAILED = "failed"
    DEAD = "dead"
    SKIPPED = "skipped"


REDRIVE_STATUSES = frozenset({Status.FAILED, Status.DEAD, Status.UNKNOWN})
"""Rows ``rbsync retry`` resets to pending."""

ACTIVE_STATUSES = frozenset({Status.PENDING, Status.IN_FLIGHT, Status.UNKNOWN})
"""Rows that still have work to do."""

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints stably."""

    metadata = sa.MetaData(naming_convention=NAMING)


KEY_LENGTH = 191
"""Longest key the ledger holds (a product number is a PowerOffice Go ``Code``: up to 100); a
longer Rackbeat number is kept under a shortened key (``ledger.snapshots.ledger_key``)."""


def connection_key() -> Mapped[str]:
    """The ``connection`` column where it is part of a table's primary key."""
    return mapped_column(
        sa.String(CONNECTION_NAME_LENGTH),
        primary_key=True,
        default=DEFAULT_CONNECTION,
        server_default=DEFAULT_CONNECTION,
    )


class EntityLink(Scoped, Base):
    """One Rackbeat entity and its PowerOffice Go twin."""

    __tablename__ = "entity_links"
    __table_args__ = (
        sa.UniqueConstraint("connection", "kind", "key"),
        sa.Index(None, "connection", "kind", "status"),
        # The sweep's two questions, asked every few seconds: whose lease ran out, and which
        # waiting rows are past due (ledger.sweep).
        sa.Index(None, "status", "lease_until"),
        sa.Index(None, "status", "due_at"),
        # The heartbeat renews a holder's leases by its token.
        sa.Index(None, "claim_token"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    key: Mapped[str] = mapped_column(sa.String(KEY_LENGTH))
    status: Mapped[str] = mapped_column(sa.String(16), default=Status.PENDING)
    remote_id: Mapped[str | None] = mapped_column(sa.String(64))

    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    """The Rackbeat record as last polled (the sync task maps this, never a second GET)."""
    snapshot_hash: Mapped[str | None] = mapped_column(sa.String(64))
    source_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    snapshot_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When the snapshot was read (the poll's start: at or before the read), so that a poll
    can tell whether a later change within the same ``updated_at`` second may be missing."""
    snapshot_version: Mapped[int] = mapped_column(default=0)
    """Bumped whenever the snapshot's content changes."""
    snapshot_warnings: Mapped[list[Any]] = mapped_column(
        JSONType, default=list, server_default=sa.text("'[]'")
    )
    """What the ledger changed in the snapshot to hold it (``nul_character`` per field): kept as
    long as the snapshot, while ``warnings`` are the last mapping's."""
    claimed_version: Mapped[int] = mapped_column(default=0)
    """The snapshot version the current / last claim worked on."""

    intent: Mapped[str | None] = mapped_column(sa.String(100))
    """The natural key / ExternalImportReference a create will use, recorded before the POST."""
    fingerprint: Mapped[str | None] = mapped_column(sa.String(80))
    """Hash of the mapped payload last written to PowerOffice Go."""
    written: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    """The mapped payload last written (what a JSON-Patch is computed against)."""

    attempts: Mapped[int] = mapped_column(default=0)
    """Attempts since the row last became pending (reset when new content arrives)."""
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    warnings: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    """Computed values PowerOffice Go cannot take (R-SUP-4, R-SUP-8), for the operator."""

    claim_token: Mapped[str | None] = mapped_column(sa.String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """An ``in_flight`` row's claim ends here unless its holder's heartbeat renews it; after
    that, another worker may take the row over (``ledger.claims``, ``ledger.sweep``)."""
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When the message last sent for a waiting row should run: its enqueue time, or the end of
    its retry countdown. A ``pending``/``unknown`` row long past due lost its message."""
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Attempt(Scoped, Base):
    """One try of a sync task on one entity link."""

    __tablename__ = "attempts"
    __table_args__ = (sa.Index(None, "link_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(sa.ForeignKey("entity_links.id", ondelete="CASCADE"))
    task_id: Mapped[str | None] = mapped_column(sa.String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(sa.String(32))
    """created / updated / unchanged / found / skipped / retry / unknown / failed / dead / busy."""
    http_status: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(sa.Text)


class Cursor(Scoped, Base):
    """The change cursor of one kind: Rackbeat ``updated_at`` up to which all is committed."""

    __tablename__ = "cursors"

    connection: Mapped[str] = connection_key()
    kind: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    position: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PollCycle(Scoped, Base):
    """One poll of one kind, with its counts."""

    __tablename__ = "poll_cycles"
    __table_args__ = (sa.Index(None, "connection", "kind", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    """The signpost: the cursor never moves past it."""
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cursor_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cursor_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    seen: Mapped[int] = mapped_column(default=0)
    changed: Mapped[int] = mapped_column(default=0)
    enqueued: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(sa.String(16), default="running")
    """running / done / failed."""
    error: Mapped[str | None] = mapped_column(sa.Text)


class RemoteLink(Scoped, Base):
    """A PowerOffice Go id known by a code or reference in one namespace."""

    __tablename__ = "remote_links"

    connection: Mapped[str] = connection_key()
    namespace: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    remote_id: Mapped[str] = mapped_column(sa.String(64))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IndexLoad(Scoped, Base):
    """When a namespace of remote links was last loaded in bulk."""

    __tablename__ = "index_loads"

    connection: Mapped[str] = connection_key()
    namespace: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    count: Mapped[int] = mapped_column(default=0)


class ProbeAnswer(Base):
    """A remembered answer about a remote API, valid until ``expires_at``."""

    __tablename__ = "probe_answers"

    key: Mapped[str] = mapped_column(sa.String(191), primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(255))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookSubscription(Scoped, Base):
    """A webhook rbsync registered with Rackbeat: one event name sent to one URL.

    Only a digest of Rackbeat's token is kept (SHA-256): enough to check a delivery's
    ``Rackbeat-Webhook-Token``, useless to anyone who reads the ledger.
    """

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (
        sa.UniqueConstraint("connection", "event", "url"),
        sa.UniqueConstraint("connection", "rackbeat_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rackbeat_id: Mapped[int]
    event: Mapped[str] = mapped_column(sa.String(64))
    url: Mapped[str] = mapped_column(sa.String(1000))
    token_digest: Mapped[str] = mapped_column(sa.String(64))
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookEvent(Scoped, Base):
    """One delivery the receiver accepted: the outbox between its answer and the broker.

    ``action`` is ``sync`` (fetch the record, store it, sync it), ``deleted`` (recorded and shown,
    nothing written) or ``uninstalled``. A ``sync`` row is sent once ``sent_at`` is set; until
    then the sweep (``tasks.webhooks.send_unsent_webhook_events``) sends it.
    """

    __tablename__ = "webhook_events"
    __table_args__ = (sa.Index(None, "action", "sent_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    event: Mapped[str] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(16))
    kind: Mapped[str | None] = mapped_column(sa.String(16))
    key: Mapped[str | None] = mapped_column(sa.String(KEY_LENGTH))
    account_id: Mapped[str | None] = mapped_column(sa.String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    """The delivery's body minus nothing secret (it carries keys only), capped by the receiver."""
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ConnectionState(Scoped, Base):
    """Whether the Rackbeat connection is live: ``plugin.uninstalled`` sets ``disconnected_at``
    (polls stop), a new ``rbsync webhooks register`` clears it. One row per connection, ``name``
    ``rackbeat``."""

    __tablename__ = "connection_state"

    connection: Mapped[str] = connection_key()
    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    disconnected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(sa.String(255))


class ReconcileRun(Scoped, Base):
    """One reconciliation of the ledger with both APIs, and what it found."""

    __tablename__ = "reconcile_runs"
    __table_args__ = (sa.Index(None, "connection", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(16), default="running")
    """running / clean / differences / failed."""
    trigger: Mapped[str] = mapped_column(sa.String(16), default="cli")
    """cli (``rbsync reconcile``) or beat (the scheduled task)."""
    kinds: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    repair: Mapped[bool] = mapped_column(default=False)
    overwrite_drift: Mapped[bool] = mapped_column(default=False)
    differences: Mapped[int] = mapped_column(default=0)
    """How many differences it found, over every kind and category."""
    report: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    """Per kind: counts per category and the first keys of each (``tasks.reconcile``)."""
    error: Mapped[str | None] = mapped_column(sa.Text)


class Connection(Base):
    """One Rackbeat account <-> one PowerOffice Go client, served by this deployment.

    Without any row here the environment variables define the one connection, ``default``.
    The Rackbeat API token and the PowerOffice Go client key are kept encrypted (a Fernet
    token made with ``RBSYNC_SECRET_KEY``, ``ledger.secrets``); the application key and the
    subscription key are the deployment's, never stored. ``options`` holds the company's own
    settings (employee map, supplier contact-group name, customer-number flag).
    """

    __tablename__ = "connections"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    rackbeat_token_encrypted: Mapped[str] = mapped_column(sa.Text)
    client_key_encrypted: Mapped[str] = mapped_column(sa.Text)
    rackbeat_account_id: Mapped[str | None] = mapped_column(sa.String(64))
    """Rackbeat's id of the account (webhook deliveries name it in ``Rackbeat-Account-Id``)."""
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    state: Mapped[str] = mapped_column(sa.String(16), default="active")
    """active / paused (by an operator) / broken (its credentials or PowerOffice Go module were
    refused; polls stop until ``rbsync connections resume``)."""
    state_reason: Mapped[str | None] = mapped_column(sa.Text)
    state_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

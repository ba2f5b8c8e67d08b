"""Flower's entity pages: the ledger searched by kind and key (or status), one entity's row,
its attempts and the payload last sent, and what its Resync button does.

Operators ask about entities ("why is customer 5004 not in PowerOffice Go?"), not task ids. These
functions read the ledger of the Flower process (``wiring.runtime.runtime_for`` on Flower's Celery
app, built on first use) into plain frozen views for the templates; they block, so the handlers
run them off tornado's I/O loop. Every text taken from the ledger goes through the same
:class:`~worker.logs.SecretRedactor` as the log lines (no secret is stored there; this makes
sure none is shown either), and the templates HTML-escape it.

Resync is what ``rbsync enqueue KIND KEY`` does, with the same functions: Rackbeat's current
record is fetched and stored (``tasks.snapshot.fetch_current``), then one ``rbsync.sync(kind,
key)`` is sent for the workers (``tasks.enqueue.send_sync``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from worker.flower.retry import NotRetriableError, TaskView, retry_request_for

if TYPE_CHECKING:
    from celery import Celery

    from ledger import Attempt, EntityLink
    from wiring.runtime import Runtime

__all__ = [
    "ATTEMPTS_SHOWN",
    "ENTITIES_PATH",
    "RESYNC_PATH",
    "SEARCH_LIMIT",
    "TASK_ENTITIES_SHOWN",
    "AttemptView",
    "EntitySearch",
    "EntityView",
    "RowView",
    "SearchError",
    "entity_url",
    "entity_view",
    "kind_names",
    "parse_search",
    "resync",
    "rooted",
    "search",
    "search_url",
    "status_names",
    "task_entities",
]

SEARCH_LIMIT = 100
"""Rows a search shows; the page says when there are more (narrow the search)."""
ATTEMPTS_SHOWN = 50
"""The newest attempts an entity page shows (``ledger.attempts_of``'s default)."""
TASK_ENTITIES_SHOWN = 20
"""Entity links on a failed batch's task page; past that, a link to the search by status."""
MISSING = "—"

ENTITIES_PATH = "/rbsync/entities"
"""The search page; ``ENTITIES_PATH/<kind>/<key>`` is an entity page."""
RESYNC_PATH = "/rbsync/resync"
"""``POST RESYNC_PATH/<kind>/<key>``: the Resync button."""


class SearchError(ValueError):
    """The search form named a kind or status that does not exist (the message says which)."""


def kind_names() -> list[str]:
    """The registered entity kinds (dependencies first), for the search form."""
    from kinds import registry

    return registry.names()


def status_names() -> list[str]:
    """The ledger's statuses, in the order of its state machine."""
    from ledger import Status

    return [status.value for status in Status]


@dataclass(frozen=True)
class EntitySearch:
    """What the search form asks: any of kind, key (a part of it) and status."""

    kind: str | None = None
    key: str = ""
    status: str | None = None

    @property
    def empty(self) -> bool:
        """Nothing asked: the page shows the form only."""
        return self.kind is None and not self.key and self.status is None


def parse_search(kind: str | None, key: str | None, status: str | None) -> EntitySearch:
    """The form's values, checked: an empty value means any; unknown ones raise SearchError."""
    wanted_kind = (kind or "").strip().lower() or None
    wanted_status = (status or "").strip().lower() or None
    if wanted_kind is not None and wanted_kind not in kind_names():
        raise SearchError(
            f"unknown kind {wanted_kind!r}; expected one of {', '.join(kind_names())}"
        )
    if wanted_status is not None and wanted_status not in status_names():
        raise SearchError(
            f"unknown status {wanted_status!r}; expected one of {', '.join(status_names())}"
        )
    return EntitySearch(kind=wanted_kind, key=(key or "").strip(), status=wanted_status)


def rooted(url_prefix: str | None, path: str) -> str:
    """``path`` under Flower's ``--url-prefix`` (``/flower/rbsync/entities``)."""
    prefix = (url_prefix or "").strip("/")
    return f"/{prefix}{path}" if prefix else path


def entity_url(url_prefix: str | None, kind: str, key: str, *, base: str = ENTITIES_PATH) -> str:
    """The entity page of (kind, key) (with ``base`` :data:`RESYNC_PATH`: its Resync action).

    Each part is percent-encoded on its own, ``/`` included (``AB/100`` is ``AB%2F100``):
    tornado's ``reverse_url`` leaves ``/`` as it is, and tornado decodes each part after routing.
    """
    return f"{rooted(url_prefix, base)}/{quote(kind, safe='')}/{quote(str(key), safe='')}"


def search_url(url_prefix: str | None, **query: str) -> str:
    """The search page, with the form's values (``status="failed"``) when given."""
    base = rooted(url_prefix, ENTITIES_PATH)
    return f"{base}?{urlencode(query)}" if query else base


def when(value: datetime | None) -> str:
    """A ledger time as operators read it: ``2026-12-05 07:10:03 UTC`` (``—`` when unset)."""
    if value is None:
        return MISSING
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class RowView:
    """One ledger row as a search result and the head of its entity page."""

    kind: str
    key: str
    status: str
    remote_id: str | None
    attempts: int
    last_error: str | None
    updated_at: str
    source_updated_at: str
    snapshot_at: str
    synced_at: str
    created_at: str
    warnings: str | None
    """The last mapping's warnings, and what the ledger cleaned out of the snapshot (JSON)."""
    details: str | None
    """Computed values PowerOffice Go cannot take (JSON)."""


@dataclass(frozen=True)
class AttemptView:
    """One attempt row: a try of a sync task on the entity."""

    started_at: str
    finished_at: str
    task_id: str | None
    outcome: str | None
    http_status: int | None
    error: str | None


@dataclass(frozen=True)
class EntityView:
    """An entity page: the row, its newest attempts, and the payload last sent."""

    row: RowView
    attempts: list[AttemptView]
    written: str | None
    """``entity_links.written``, pretty-printed: the mapped payload last sent (no secrets)."""


class _Redact:
    """The log lines' redactor for the Flower process's settings (defence in depth)."""

    def __init__(self, runtime: Runtime) -> None:
        from worker.logs import SecretRedactor, secrets_of

        self._redactor = SecretRedactor(secrets_of(runtime.settings))

    def __call__(self, text: str | None) -> str | None:
        return None if text is None else self._redactor(text)

    def json(self, value: Any) -> str | None:
        """``value`` as indented JSON (``None`` when empty), redacted."""
        if not value:
            return None
        return self._redactor(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True))


def _row(link: EntityLink, redact: _Redact) -> RowView:
    warnings: dict[str, Any] = {}
    if link.warnings:
        warnings["mapping"] = link.warnings
    if link.snapshot_warnings:
        warnings["snapshot"] = link.snapshot_warnings
    return RowView(
        kind=link.kind,
        key=link.key,
        status=link.status,
        remote_id=link.remote_id,
        attempts=link.attempts,
        last_error=redact(link.last_error),
        updated_at=when(link.updated_at),
        source_updated_at=when(link.source_updated_at),
        snapshot_at=when(link.snapshot_at),
        synced_at=when(link.synced_at),
        created_at=when(link.created_at),
        warnings=redact.json(warnings),
        details=redact.json(link.details),
    )


def _attempt(attempt: Attempt, redact: _Redact) -> AttemptView:
    return AttemptView(
        started_at=when(attempt.started_at),
        finished_at=when(attempt.finished_at),
        task_id=attempt.task_id,
        outcome=attempt.outcome,
        http_status=attempt.http_status,
        error=redact(attempt.error),
    )


def search(runtime: Runtime, wanted: EntitySearch) -> tuple[list[RowView], bool]:
    """The rows matching ``wanted`` (at most :data:`SEARCH_LIMIT`), and whether there are more."""
    from ledger import search_links

    with runtime.sessions() as session:
        links = search_links(
            session,
            kind=wanted.kind,
            key=wanted.key or None,
            statuses=[wanted.status] if wanted.status else (),
            limit=SEARCH_LIMIT + 1,
        )
        redact = _Redact(runtime)
        rows = [_row(link, redact) for link in links[:SEARCH_LIMIT]]
    return rows, len(links) > SEARCH_LIMIT


def entity_view(runtime: Runtime, kind: str, key: str) -> EntityView | None:
    """The entity page of (kind, key), or None when the ledger has no such row.

    Looked up under ``ledger.ledger_key(key)``, as the ledger stores it: a key the ledger cannot
    hold as it is (longer than its column, or with a NUL) is found by the Rackbeat number too.
    """
    from ledger import attempts_of, get_link, ledger_key

    with runtime.sessions() as session:
        link = get_link(session, kind, ledger_key(key))
        if link is None:
            return None
        redact = _Redact(runtime)
        attempts = attempts_of(session, link.kind, link.key, limit=ATTEMPTS_SHOWN)
        return EntityView(
            row=_row(link, redact),
            attempts=[_attempt(attempt, redact) for attempt in attempts],
            written=redact.json(link.written),
        )


def resync(runtime: Runtime, app: Celery, kind: str, key: str) -> str:
    """Re-drive (kind, key) as ``rbsync enqueue KIND KEY`` does; the sent task's id.

    Rackbeat's current record is fetched and stored first (one GET; a record that changed goes
    back to ``pending``), then one ``rbsync.sync(kind, key)`` goes to the broker. Raises
    ``tasks.snapshot.NotInRackbeatKeysError`` when Rackbeat does not have the key (nothing
    stored or sent), and the clients' errors when Rackbeat cannot be read (nothing sent).
    """
    from tasks.enqueue import send_sync
    from tasks.snapshot import fetch_current

    fetch_current(runtime, kind, [key])
    return send_sync(app, kind, key, connection=runtime.connection)


def task_entities(task: TaskView | None) -> list[tuple[str, str]]:
    """The entities a failed rbsync task left failed: what its Retry button would re-drive
    (``worker.flower.retry``), as (kind, key) pairs; empty for any other task."""
    if task is None:
        return []
    try:
        request = retry_request_for(task)
    except NotRetriableError:
        return []
    kind = request.kwargs.get("kind")
    if not isinstance(kind, str):
        return []
    key = request.kwargs.get("key")
    keys = request.kwargs.get("keys")
    if isinstance(keys, list):
        return [(kind, str(each)) for each in keys]
    if key is not None and not isinstance(key, list):
        return [(kind, str(key))]
    return []

"""Flower's entity pages: the ledger searched by kind and key (or status, or connection), one
entity's row, its attempts and the payload last sent, and what its Resync button does.

Operators ask about entities ("why is customer 5004 not in PowerOffice Go?"), not task ids. These
functions read the ledger of the Flower process into plain frozen views for the templates; they
block, so the handlers run them off tornado's I/O loop. The search reads every connection's rows
(the fleet's unscoped sessions, ``wiring.runtime.fleet_for``; each row says its connection), or
one connection's when the form names it. An entity is (connection, kind, key): its page reads
through that connection's runtime (``wiring.runtime.runtime_for(capp, connection)``), whose
sessions see only that connection's rows. Every text taken from the ledger goes through the same
:class:`~worker.logs.SecretRedactor` as the log lines (no secret is stored there; this makes
sure none is shown either), and the templates HTML-escape it.

Resync is what ``rbsync enqueue KIND KEY --connection NAME`` does, with the same functions:
Rackbeat's current record is fetched with that connection's Rackbeat client and stored
(``tasks.snapshot.fetch_current``), then one ``rbsync.sync(kind, key, connection=NAME)`` is sent
for the workers (``tasks.enqueue.send_sync``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote, urlencode

from ledger.scope import DEFAULT_CONNECTION
from worker.flower.retry import CONNECTION, NotRetriableError, TaskView, retry_request_for

if TYPE_CHECKING:
    from celery import Celery
    from sqlalchemy.orm import Session, sessionmaker

    from ledger import Attempt, EntityLink
    from wiring.runtime import Fleet, Runtime
    from wiring.settings import Settings

__all__ = [
    "ATTEMPTS_SHOWN",
    "CONNECTION_ARGUMENT",
    "DEFAULT_CONNECTION",
    "ENTITIES_PATH",
    "RESYNC_PATH",
    "SEARCH_LIMIT",
    "TASK_ENTITIES_SHOWN",
    "AttemptView",
    "EntityRef",
    "EntitySearch",
    "EntityView",
    "RowView",
    "SearchError",
    "connection_names",
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
CONNECTION_ARGUMENT = CONNECTION
"""The query argument naming an entity's connection (``?connection=acme``), and the search's
filter by connection."""


class SearchError(ValueError):
    """The search form named a kind, status or connection that does not exist (the message
    says which)."""


def kind_names() -> list[str]:
    """The registered entity kinds (dependencies first), for the search form."""
    from kinds import registry

    return registry.names()


def status_names() -> list[str]:
    """The ledger's statuses, in the order of its state machine."""
    from ledger import Status

    return [status.value for status in Status]


def connection_names(fleet: Fleet) -> list[str]:
    """The connections this deployment serves (``wiring.connections``; nothing decrypted), by
    name, for the search form's filter."""
    from wiring.connections import connection_infos

    return [info.name for info in connection_infos(fleet.settings, fleet.sessions)]


@dataclass(frozen=True)
class EntitySearch:
    """What the search form asks: any of kind, key (a part of it), status and connection."""

    kind: str | None = None
    key: str = ""
    status: str | None = None
    connection: str | None = None
    """Only this connection's rows (None: every connection's)."""

    @property
    def empty(self) -> bool:
        """Nothing asked: the page shows the form only."""
        return (
            self.kind is None and not self.key and self.status is None and self.connection is None
        )


def parse_search(
    kind: str | None, key: str | None, status: str | None, connection: str | None = None
) -> EntitySearch:
    """The form's values, checked: an empty value means any; an unknown kind or status raises
    SearchError (an unknown connection is :func:`search`'s to refuse: it reads the ledger)."""
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
    return EntitySearch(
        kind=wanted_kind,
        key=(key or "").strip(),
        status=wanted_status,
        connection=(connection or "").strip() or None,
    )


def rooted(url_prefix: str | None, path: str) -> str:
    """``path`` under Flower's ``--url-prefix`` (``/flower/rbsync/entities``)."""
    prefix = (url_prefix or "").strip("/")
    return f"/{prefix}{path}" if prefix else path


def entity_url(
    url_prefix: str | None,
    kind: str,
    key: str,
    *,
    connection: str = DEFAULT_CONNECTION,
    base: str = ENTITIES_PATH,
    **query: str,
) -> str:
    """The entity page of (connection, kind, key) (with ``base`` :data:`RESYNC_PATH`: its
    Resync action), with ``query``'s arguments.

    Each part is percent-encoded on its own, ``/`` included (``AB/100`` is ``AB%2F100``):
    tornado's ``reverse_url`` leaves ``/`` as it is, and tornado decodes each part after routing.
    The connection is the query argument :data:`CONNECTION_ARGUMENT`, left out for
    :data:`DEFAULT_CONNECTION` (the URLs from before connections).
    """
    path = f"{rooted(url_prefix, base)}/{quote(kind, safe='')}/{quote(str(key), safe='')}"
    arguments = {} if connection == DEFAULT_CONNECTION else {CONNECTION_ARGUMENT: connection}
    arguments.update(query)
    return f"{path}?{urlencode(arguments)}" if arguments else path


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

    connection: str
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
    """The log lines' redactor for the settings of the connections shown (defence in depth)."""

    def __init__(self, settings: Iterable[Settings]) -> None:
        from worker.logs import SecretRedactor, secrets_of

        self._redactor = SecretRedactor(secret for each in settings for secret in secrets_of(each))

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
        connection=link.connection,
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


def _settings_of(fleet: Fleet, connections: Iterable[str]) -> list[Settings]:
    """The deployment's settings and those of ``connections`` that this process can load (a
    connection removed since its rows were written, or one whose credentials cannot be
    decrypted here, adds none: its secrets cannot be known to this process)."""
    from wiring.connections import UnknownConnectionError
    from wiring.settings import SettingsInvalidError

    found = [fleet.settings]
    for name in sorted(set(connections)):
        try:
            found.append(fleet.runtime(name).settings)
        except (UnknownConnectionError, LookupError, SettingsInvalidError):
            continue
    return found


def search(fleet: Fleet, wanted: EntitySearch) -> tuple[list[RowView], bool]:
    """The rows matching ``wanted`` (at most :data:`SEARCH_LIMIT`), and whether there are more:
    every connection's rows, or only those of ``wanted.connection``, which must be one of
    :func:`connection_names` (else SearchError)."""
    from ledger import make_session_factory, search_links

    sessions: sessionmaker[Session] = fleet.sessions  # unscoped: every connection's rows
    if wanted.connection is not None:
        known = connection_names(fleet)
        if wanted.connection not in known:
            raise SearchError(
                f"unknown connection {wanted.connection!r}; expected one of {', '.join(known)}"
            )
        sessions = make_session_factory(fleet.engine, wanted.connection)
    with sessions() as session:
        links = search_links(
            session,
            kind=wanted.kind,
            key=wanted.key or None,
            statuses=[wanted.status] if wanted.status else (),
            limit=SEARCH_LIMIT + 1,
        )
        shown = links[:SEARCH_LIMIT]
        redact = _Redact(_settings_of(fleet, (link.connection for link in shown)))
        rows = [_row(link, redact) for link in shown]
    return rows, len(links) > SEARCH_LIMIT


def entity_view(runtime: Runtime, kind: str, key: str) -> EntityView | None:
    """The entity page of (kind, key) in ``runtime``'s connection, or None when the ledger has
    no such row there (its sessions see that connection's rows only).

    Looked up under ``ledger.ledger_key(key)``, as the ledger stores it: a key the ledger cannot
    hold as it is (longer than its column, or with a NUL) is found by the Rackbeat number too.
    """
    from ledger import attempts_of, get_link, ledger_key

    with runtime.sessions() as session:
        link = get_link(session, kind, ledger_key(key))
        if link is None:
            return None
        redact = _Redact([runtime.settings])
        attempts = attempts_of(session, link.kind, link.key, limit=ATTEMPTS_SHOWN)
        return EntityView(
            row=_row(link, redact),
            attempts=[_attempt(attempt, redact) for attempt in attempts],
            written=redact.json(link.written),
        )


def resync(runtime: Runtime, app: Celery, kind: str, key: str) -> str:
    """Re-drive (kind, key) of ``runtime``'s connection as ``rbsync enqueue KIND KEY
    --connection NAME`` does; the sent task's id.

    Rackbeat's current record is fetched with that connection's Rackbeat client and stored
    first (one GET; a record that changed goes back to ``pending``), then one
    ``rbsync.sync(kind, key, connection=NAME)`` goes to the broker. Raises
    ``tasks.snapshot.NotInRackbeatKeysError`` when Rackbeat does not have the key (nothing
    stored or sent), and the clients' errors when Rackbeat cannot be read (nothing sent).
    """
    from tasks.enqueue import send_sync
    from tasks.snapshot import fetch_current

    fetch_current(runtime, kind, [key])
    return send_sync(app, kind, key, connection=runtime.connection)


class EntityRef(NamedTuple):
    """An entity as a failed task's page links to it."""

    kind: str
    key: str
    connection: str = DEFAULT_CONNECTION


def task_entities(task: TaskView | None) -> list[EntityRef]:
    """The entities a failed rbsync task left failed: what its Retry button would re-drive
    (``worker.flower.retry``), in the connection it would re-drive them in (the task's
    ``connection`` keyword; :data:`DEFAULT_CONNECTION` for a task from before connections);
    empty for any other task."""
    if task is None:
        return []
    try:
        request = retry_request_for(task)
    except NotRetriableError:
        return []
    kind = request.kwargs.get("kind")
    connection = request.kwargs.get(CONNECTION, DEFAULT_CONNECTION)
    if not isinstance(kind, str) or not isinstance(connection, str):
        return []
    key = request.kwargs.get("key")
    keys = request.kwargs.get("keys")
    if isinstance(keys, list):
        return [EntityRef(kind, str(each), connection) for each in keys]
    if key is not None and not isinstance(key, list):
        return [EntityRef(kind, str(key), connection)]
    return []

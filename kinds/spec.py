"""What an entity kind is: the one place that says everything rbsync knows about a kind.

A spec declares what the Singer SDK declares for a stream -- where its records come from (the
Rackbeat resource), how they are keyed, how they are tracked -- and what rbsync needs on the
write side: the PowerOffice Go resource and the reference a create carries, how to look a record
up, its mapping (``mapping/``: the rules, pure) and whether it is create-only, the kinds it
depends on, and the bulk indexes its tasks read. ``tasks.pipeline`` runs the same steps for
every kind and has no branch on a kind's name.

A spec is a frozen dataclass subclassing :class:`EntityKind`; the steps that touch an API take
the process's :class:`~wiring.runtime.Runtime`, and the settings a kind's rules need arrive as
plain values (:class:`~wiring.runtime.KindOptions`), never the Settings object.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from clients import PermanentError, RackbeatResource
from kinds.errors import DependencyFailedError
from ledger import EntityLink, remote_ids
from mapping import Create, MappedRecord, Skip, Update
from wiring.runtime import Runtime

__all__ = [
    "CREATE_LOOKBACK",
    "EnsureEntity",
    "EntityKind",
    "IndexLoader",
    "dependency",
    "known_by_reference",
    "patch",
    "wire_of",
]

CREATE_LOOKBACK = timedelta(days=1)
"""A lookup of a create in doubt scans the records changed since its row was created, less this
(room for the clocks of rbsync and PowerOffice Go to disagree)."""

EnsureEntity = Callable[[str, str], str]
"""``ensure(name, key) -> PowerOffice Go id``: a dependency's id, syncing it first when it has
no link yet. ``name`` is a kind, or a group of kinds sharing one key space (``item``)."""

IndexLoader = Callable[[Runtime], Mapping[str, int | str]]
"""Reads a whole namespace of PowerOffice Go ids in bulk: key or reference -> id."""


@dataclasses.dataclass(frozen=True)
class EntityKind:
    """One kind of entity the sync transfers (subclassed once per kind, see ``kinds/``)."""

    name: str
    """The kind's name in the ledger, task arguments and the CLI (``product``)."""
    order: int
    """Where it is listed and polled among the kinds: after the kinds it depends on."""
    rackbeat: RackbeatResource
    """Where its records come from: the poll lists it, a manual sync fetches from it."""
    poweroffice_resource: str
    """The PowerOffice Go v2 collection its records are written to (``Products``)."""
    namespace: str
    """The ``remote_links`` namespace of its PowerOffice Go ids (shared within a group)."""
    numeric_key: bool = True
    """Keyed by a Rackbeat number (customers, invoices); else by an item number (text)."""
    create_only: bool = False
    """Never updated once created (R-INV, R-SUP-11)."""
    remote_key_field: str = "ExternalImportReference"
    """The PowerOffice Go field that carries :meth:`reference` (``Code`` for items): what
    reconciliation groups PowerOffice Go's records by to find duplicates."""
    remote_filters: tuple[tuple[str, str], ...] = ()
    """List filters that narrow :attr:`poweroffice_resource` to the records this kind may have
    written (sales orders: only those created by this integration)."""
    recreate_when_lost: bool = True
    """Whether ``rbsync reconcile --repair`` creates a record again that PowerOffice Go lost
    (deleted there by hand)."""
    group: str | None = None
    """A name several kinds share one key space under: an invoice line's ``item`` is a product
    or a BOM (one product ``Code`` namespace). A dependency may name the group."""
    depends_on: tuple[str, ...] = ()
    """The kinds (or groups) whose records must exist before one of this kind is created."""
    indexes: tuple[str, ...] = ()
    """Every bulk index its tasks read, its own first (refreshed before a poll enqueues)."""
    loaders: Mapping[str, IndexLoader] = dataclasses.field(default_factory=dict)
    """How to load the bulk indexes it owns (namespace -> loader)."""

    # --- the steps a kind supplies --------------------------------------------------------

    def reference(self, key: str) -> str:
        """The code / ExternalImportReference a create of ``key`` carries."""
        return key

    def known(self, session: Session | Connection, keys: Sequence[str]) -> dict[str, str]:
        """Key -> PowerOffice Go id, of the ``keys`` the ledger's bulk indexes hold an id for."""
        return known_by_reference(session, self.namespace, keys, self.reference)

    def find(
        self, runtime: Runtime, link: EntityLink, reference: str, *, settle: bool = True
    ) -> str | None:
        """Look the record up in PowerOffice Go; with ``settle``, an absence is re-read for
        replica lag before it counts (needless when the write in doubt ended long enough ago:
        ``tasks.entity``)."""
        raise NotImplementedError(f"{self.name} has no lookup")

    def find_many(
        self,
        runtime: Runtime,  # noqa: ARG002
        references: Sequence[str],  # noqa: ARG002
        *,
        since: datetime,  # noqa: ARG002
        settle: bool = True,  # noqa: ARG002
    ) -> dict[str, str] | None:
        """Look many records up at once (waiting out replica lag once for all): reference ->
        PowerOffice Go id of those found; None when the kind has no bulk lookup (each record is
        then looked up alone). A batch uses it for the creates an earlier attempt left in doubt
        (a worker killed mid-batch, or a broker connection lost, leaves dozens); ``since`` is
        the earliest ``created_at`` of their rows (no create of theirs can be older);
        ``settle``: re-read the absent ones for replica lag (as :meth:`find`)."""
        return None

    def find_by_reference_scan(
        self, runtime: Runtime, references: Sequence[str], *, since: datetime, settle: bool
    ) -> dict[str, str]:
        """:meth:`find_many` for a kind keyed by ``ExternalImportReference``: one scan of the
        records changed since ``since`` less :data:`CREATE_LOOKBACK`, within the kind's
        :attr:`remote_filters`."""
        found = runtime.poweroffice.ids_by_reference(
            self.poweroffice_resource,
            references,
            changed_after=since - CREATE_LOOKBACK,
            filters=dict(self.remote_filters),
            settle=settle,
        )
        return dict(found)

    def held(self, runtime: Runtime, ids: Mapping[str, str]) -> dict[str, Mapping[str, Any]]:  # noqa: ARG002
        """What PowerOffice Go holds now for records of these keys (key -> PowerOffice Go id):
        key -> the record as its wire body. Read for records this ledger has not written (an
        earlier create in doubt found by a lookup, or a record a bulk index knows), so that
        adopting one writes only what differs. A key left out is unknown: every field is sent.
        Create-only kinds never need it."""
        return {}

    def dependencies(self, snapshot: Mapping[str, Any]) -> list[tuple[str, str]]:  # noqa: ARG002
        """The ``(name, key)`` records that must exist before this one is created (names from
        :attr:`depends_on`); shared ones (groups, terms) are not listed. May raise
        ``RecordRejected``."""
        return []

    def prepare(
        self,
        runtime: Runtime,
        link: EntityLink,
        snapshot: Mapping[str, Any],
        remote_id: str | None,
        ensure: EnsureEntity,
        *,
        written: Mapping[str, Any] | None,
    ) -> MappedRecord | Skip:
        """Ensure the dependencies and map the snapshot (may raise ``RecordRejected``).

        ``written`` is what PowerOffice Go holds of the record as far as rbsync knows: the body
        last written (the ledger's), or -- adopting a record the ledger never wrote -- what
        PowerOffice Go answered for it (None: nothing known)."""
        raise NotImplementedError

    def create(self, runtime: Runtime, decision: Create) -> str:
        """POST the record; its new id."""
        raise NotImplementedError

    def update(self, runtime: Runtime, remote_id: str, decision: Update) -> None:
        """PATCH the changed fields (create-only kinds never get here)."""
        if self.create_only:
            raise AssertionError(f"{self.name} is create-only; no update of {remote_id}")
        patch(runtime, self.poweroffice_resource, remote_id, decision)


def wire_of(record: Any) -> Mapping[str, Any]:
    """An inbound PowerOffice Go model as its wire body (PascalCase, JSON types, no nulls)."""
    body: Mapping[str, Any] = record.model_dump(mode="json", by_alias=True, exclude_none=True)
    return body


def known_by_reference(
    session: Session | Connection,
    namespace: str,
    keys: Sequence[str],
    reference: Callable[[str], str],
) -> dict[str, str]:
    """Key -> id of the ``keys`` whose reference the bulk index ``namespace`` holds."""
    by_reference = {reference(key): key for key in keys}
    found = remote_ids(session, namespace, by_reference)
    return {by_reference[ref]: remote for ref, remote in found.items()}


def dependency(what: str, call: Callable[[], int]) -> int:
    """A shared dependency's id; a refusal fails the record, naming the dependency."""
    try:
        return call()
    except PermanentError as exc:
        raise DependencyFailedError(f"{what} could not be created: {exc}") from exc


def patch(runtime: Runtime, resource: str, remote_id: str, decision: Update) -> None:
    """PATCH ``decision``'s operations onto record ``remote_id`` of ``resource``."""
    ident: int | str = int(remote_id) if remote_id.isdigit() else remote_id
    runtime.poweroffice.patch(resource, ident, decision.operations)

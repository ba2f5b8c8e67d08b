"""The steps of one entity's attempt: load, look up, map (dependencies first), decide, write.

``tasks.pipeline`` builds an :class:`EntityRun` per claimed row (alone, or in a batch) and runs
it; :class:`~tasks.recording.Recorder` sorts how it ended and records it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from clients import AmbiguousWriteError, RetriableError
from kinds import registry
from kinds.errors import DependencyFailedError, DependencyPendingError
from kinds.once import create_once, must_look_first
from ledger import (
    Status,
    claim_current_version,
    drop_link,
    get_link,
    record_intent,
    store_snapshots,
)
from mapping import Create, MappedRecord, Skip, Update, decide, held_view
from tasks.leases import ensure_held
from tasks.outcome import PLANNED, Outcome, RetryLaterError, SyncResult
from tasks.recording import Recorder
from tasks.replica_lag import lag_may_hide
from tasks.snapshot import fetch_snapshot

__all__ = ["EntityRun"]

log = logging.getLogger(__name__)


@dataclasses.dataclass
class EntityRun(Recorder):
    """One entity's attempt (see the module doc)."""

    def run(self) -> SyncResult:
        """Sync the entity; batched, a create stops at :data:`PLANNED` (see ``send_planned``)."""
        return self._guarded(self._sync)

    def send_planned(self) -> SyncResult:
        """Send the create planned by :meth:`run`, once the batch committed its intent."""
        planned = self.planned
        assert planned is not None
        assert self.intent_recorded
        return self._guarded(lambda: self._send_create(planned))

    def intent_of_plan(self) -> str:
        assert self.planned is not None
        return self.planned.reference

    def _sync(self) -> SyncResult:
        runtime, handler, link = self.runtime, self.handler, self.link
        snapshot: Mapping[str, Any] | None = link.snapshot
        if snapshot is None:
            fetched = fetch_snapshot(runtime, self.kind, self.key)
            if fetched is None:
                if link.remote_id is None and link.fingerprint is None:
                    # A row made only by a manual sync of a key Rackbeat never had (older
                    # versions made one): nothing was written anywhere, so nothing to keep.
                    with runtime.sessions.begin() as session:
                        drop_link(session, link.id)
                    return SyncResult(
                        self.kind,
                        self.key,
                        Outcome.MISSING,
                        None,
                        error=f"{self.kind} {self.key}: not in Rackbeat",
                    )
                return self._finish(
                    Status.FAILED, Outcome.MISSING, error=f"{self.kind} {self.key}: not in Rackbeat"
                )
            snapshot = fetched.snapshot
            with runtime.sessions.begin() as session:
                store_snapshots(session, self.kind, [fetched])
                claim_current_version(session, link.id, self.token)
        reference = handler.reference(self.key)
        remote_id = self.known
        # A create was sent before and never confirmed (ambiguous end, or a worker killed).
        in_doubt = link.intent is not None and link.remote_id is None
        if remote_id is None and must_look_first(
            in_doubt=in_doubt and not self.looked, absence_vouched=self.fresh or self.looked
        ):
            # An earlier create may have landed, or no fresh bulk index can vouch that the
            # record is absent: look it up before any create.
            remote_id = handler.find(runtime, link, reference, settle=self._lag_may_hide(in_doubt))
        # A record this ledger never wrote: our own create in doubt that landed (perhaps with
        # older content than this snapshot's), or one a bulk index knows (a new ledger against
        # a full PowerOffice Go). It is compared with what PowerOffice Go holds, and only the
        # difference is written: never record as written what was not.
        adopting = remote_id is not None and link.written is None and not handler.create_only
        held = self._held(remote_id) if adopting and remote_id is not None else None
        mapped = handler.prepare(
            runtime,
            link,
            snapshot,
            remote_id,
            self._ensure,
            written=held if adopting else link.written,
        )
        if (
            remote_id is not None
            and link.written is None
            and isinstance(mapped, MappedRecord)
            and (in_doubt or not handler.create_only)
        ):
            # (A create-only record that exists and is not our own create in doubt is left
            # alone by decide() below: skipped, "exists; create-only".)
            return self._adopt(mapped, remote_id, held)
        decision = decide(
            mapped,
            previous_fingerprint=link.fingerprint,
            previous_payload=link.written,
            remote_id=remote_id,
            create_only=handler.create_only,
        )
        if isinstance(decision, Skip):
            return self._skip(decision, remote_id, mapped)
        if isinstance(decision, Create):
            return self._create(decision)
        return self._update(decision, remote_id)

    def _lag_may_hide(self, in_doubt: bool) -> bool:
        """Whether a lookup must re-read an absence for replica lag (:func:`lag_may_hide`);
        a lookup not about a create in doubt does, as before."""
        return not in_doubt or lag_may_hide(self.runtime, [(self.link.id, self.attempt_id)])

    def _held(self, remote_id: str) -> Mapping[str, Any] | None:
        """What PowerOffice Go holds for the record: read ahead by the batch, or now."""
        if self.held_read:
            return self.held
        return self.handler.held(self.runtime, {self.key: remote_id}).get(self.key)

    def _adopt(
        self, mapped: MappedRecord, remote_id: str, held: Mapping[str, Any] | None
    ) -> SyncResult:
        """Take over ``remote_id`` for this entity: linked, after a PATCH of what differs.

        A create-only kind is linked as it is (nothing may be changed once created: R-INV,
        R-SUP-11). Otherwise the mapping is compared with what PowerOffice Go holds
        (``held``); unknown content is compared as nothing, so every patchable field is sent.
        """
        if self.handler.create_only:
            return self._linked(mapped, remote_id)
        previous = held_view(mapped.body(), held) if held is not None else None
        decision = decide(
            mapped,
            previous_fingerprint=None,
            previous_payload=previous,
            remote_id=remote_id,
            create_only=False,
        )
        if isinstance(decision, Update):
            return self._update(decision, remote_id)
        return self._linked(mapped, remote_id)

    def _linked(self, mapped: MappedRecord, remote_id: str) -> SyncResult:
        return self._finish(
            Status.SYNCED,
            Outcome.LINKED,
            remote_id=remote_id,
            fingerprint=mapped.fingerprint,
            written=mapped.body(),
            warnings=mapped.warnings,
            details=mapped.manual,
        )

    def _create(self, decision: Create) -> SyncResult:
        if self.book is not None:
            # Batched: the batch records every create's intent in one commit, then sends.
            self.planned = decision
            return PLANNED
        return self._send_create(decision, record=True)

    def _send_create(self, decision: Create, *, record: bool = False) -> SyncResult:
        """The create, by the one protocol (``kinds.once``). Whether to look first was decided
        in :meth:`_sync` (an adopted record never gets here); an ambiguous end propagates and
        leaves the row ``unknown`` with its intent, so the next attempt looks first."""

        def intent() -> None:
            with self.runtime.begin() as conn:
                record_intent(conn, self.link.id, self.token, decision.reference)
            self.intent_recorded = True

        def create() -> str:
            ensure_held(self.runtime, self.lease, f"{self.kind} {self.key}: create")
            return self.handler.create(self.runtime, decision)

        if record:  # before the intent: a create refused here is not in doubt
            ensure_held(self.runtime, self.lease, f"{self.kind} {self.key}: create")
        remote_id = create_once(
            create=create,
            lookup=lambda: self.handler.find(self.runtime, self.link, decision.reference),
            record_intent=intent if record else None,
            look_first=False,
        ).value
        return self._finish(
            Status.SYNCED,
            Outcome.CREATED,
            remote_id=remote_id,
            fingerprint=decision.fingerprint,
            written=decision.body(),
            warnings=decision.warnings,
            details=decision.manual,
        )

    def _update(self, decision: Update, remote_id: str | None) -> SyncResult:
        assert remote_id is not None
        ensure_held(self.runtime, self.lease, f"{self.kind} {self.key}: update")
        try:
            self.handler.update(self.runtime, remote_id, decision)
        except (AmbiguousWriteError, RetriableError) as exc:
            # A PATCH of absolute values is idempotent and may simply be sent again -- but the
            # content may change before it is, and this one may have landed (a drop after the
            # commit, even after the client's own retries): what the ledger believed written
            # is forgotten, so the next attempt compares with what PowerOffice Go holds instead
            # of with a body it may no longer hold.
            self.update_in_doubt = True
            if isinstance(exc, AmbiguousWriteError):
                raise RetryLaterError(Status.PENDING, exc) from exc
            raise
        return self._finish(
            Status.SYNCED,
            Outcome.UPDATED,
            remote_id=remote_id,
            fingerprint=decision.fingerprint,
            written=decision.payload.to_wire(),
            warnings=decision.warnings,
            details=decision.manual,
        )

    # --- dependencies ---------------------------------------------------------------------

    def _ensure(self, name: str, key: str) -> str:
        """The PowerOffice Go id of a dependency (``name``: a kind, or a group such as
        ``item``), syncing it first when it has none yet; fetched from Rackbeat when the
        ledger has never seen it."""
        found = self.resolved.get((name, key))
        if found is not None:
            return found
        members = registry.members(name)
        with self.runtime.sessions() as session:
            known = members[0].known(session, [key]).get(key)
            links = [get_link(session, member.name, key) for member in members]
        if known is not None:
            return known
        # No session is held past this point: the nested sync writes (SQLite has one writer).
        for link in links:
            if link is not None:
                return link.remote_id or self._sync_dependency(link.kind, key)
        for member in members:
            fetched = fetch_snapshot(self.runtime, member.name, key)
            if fetched is not None:
                with self.runtime.sessions.begin() as session:
                    store_snapshots(session, member.name, [fetched])
                return self._sync_dependency(member.name, key)
        raise DependencyFailedError(f"{name} {key!r} is not in Rackbeat")

    def _sync_dependency(self, kind: str, key: str) -> str:
        assert self.nested is not None, "EntityRun needs tasks.pipeline.sync_entity as nested"
        result = self.nested(
            self.runtime, kind, key, f"{self.token}/{kind}:{key}", budget=self.budget
        )
        if result.remote_id is not None and result.status == Status.SYNCED:
            return result.remote_id
        if result.status in (Status.FAILED, Status.DEAD, Status.SKIPPED):
            raise DependencyFailedError(f"{kind} {key}: {result.error or result.status}")
        raise DependencyPendingError(f"{kind} {key} is not synced yet ({result.outcome})")

    # --- recording ------------------------------------------------------------------------

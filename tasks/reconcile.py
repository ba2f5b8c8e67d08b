"""Reconciliation: check PowerOffice Go and Rackbeat against the ledger, say what differs.

A cursor-based sync can miss a change, and people edit PowerOffice Go by hand; the ledger knows
what rbsync wrote, so it can be checked against the world. Per kind, :func:`reconcile` reads

- PowerOffice Go in bulk: the kind's whole collection (:attr:`EntityKind.poweroffice_resource`,
  narrowed by :attr:`EntityKind.remote_filters`), 20,000 records a request; products and BOMs
  share one read;
- Rackbeat's keys and ``updated_at`` with the cheap field-limited scan (1,000 a request);
- the ledger's rows of the kind;

and reports five kinds of difference:

- **missing**: the row is ``synced`` with a PowerOffice Go id that PowerOffice Go no longer has
  (deleted there);
- **duplicates**: two PowerOffice Go records with one key (:attr:`EntityKind.remote_key_field`,
  compared case-insensitively): made by hand or by another integration;
- **drift**: (kinds rbsync updates) what PowerOffice Go holds differs from what rbsync last
  wrote -- :func:`mapping.held_view` of the record compared with the row's ``written``;
- **missed**: Rackbeat has a newer ``updated_at`` than the ledger's version, or a key the ledger
  has no row for, behind the kind's cursor less the poll overlap (a newer change is simply not
  polled yet: counted as ``not_yet_polled``, not a difference);
- **stuck**: rows outside a final state that nothing drives: ``in_flight`` with an expired
  lease, waiting rows long past due (``ledger.overdue_work``, the sweep's question, with
  ``RBSYNC_REQUEUE_AFTER_SECONDS`` as the grace).

With ``repair`` the missing records (of kinds that :attr:`~EntityKind.recreate_when_lost`) are
forgotten and created again, the missed changes are fetched and stored (as ``rbsync enqueue``
does) and the stuck rows sent again; with ``overwrite_drift`` too, the hand edits are
overwritten (what PowerOffice Go holds becomes the row's ``written``, so the sync patches the
fields that differ). Duplicates are reported, never deleted. Every run is kept in the ledger
(``reconcile_runs``); ``rbsync status`` shows the last one.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from celery import Celery, shared_task

from clients.poweroffice import wire_field
from kinds import registry
from kinds.spec import EntityKind
from ledger import (
    ALL,
    DEFAULT_CONNECTION,
    ReconcileRow,
    finish_reconcile_run,
    forget_remote_records,
    get_cursor,
    ledger_key,
    mark_sent,
    overdue_work,
    put_remote_id,
    reconcile_rows,
    start_reconcile_run,
    take_held_as_written,
    utcnow,
)
from mapping import held_view
from tasks.base import PipelineTask
from tasks.enqueue import enqueue_sync
from tasks.names import RECONCILE_TASK
from tasks.snapshot import fetch_snapshots, store_fetched
from wiring.connections import connection_infos
from wiring.runtime import Runtime, fleet_for

__all__ = [
    "CATEGORIES",
    "KindReport",
    "Reconciliation",
    "Remote",
    "compare",
    "reconcile",
    "reconcile_task",
]

log = logging.getLogger(__name__)

CATEGORIES = ("missing", "duplicates", "drift", "missed", "stuck")
"""The differences reconciliation reports, in the order it shows them."""

SAMPLE = 20
"""Entries per kind and category kept in the ledger's ``reconcile_runs`` row."""

STUCK_LIMIT = 100_000
"""Stuck rows one run reads at most."""

Send = Callable[[str, list[str]], None]
"""``send(kind, keys)``: sync these rows (a message per key for the workers, or here)."""


@dataclasses.dataclass
class KindReport:
    """What reconciliation found for one kind (each entry a small JSON object)."""

    kind: str
    poweroffice: int = 0
    """Records of the kind's PowerOffice Go collection read."""
    rackbeat: int = 0
    """Rackbeat keys scanned."""
    ledger: int = 0
    """Ledger rows of the kind."""
    missing: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    duplicates: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    drift: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    missed: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    stuck: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    not_yet_polled: int = 0
    """Rackbeat changes newer than the cursor less the overlap: the next poll takes them."""
    repaired: dict[str, int] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)

    def entries(self, category: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = getattr(self, category)
        return found

    @property
    def differences(self) -> int:
        return sum(len(self.entries(c)) for c in CATEGORIES)

    def to_json(self, *, sample: int | None = None) -> dict[str, Any]:
        """The report as JSON; ``sample``: at most that many entries per category."""
        body: dict[str, Any] = {
            "read": {
                "poweroffice": self.poweroffice,
                "rackbeat": self.rackbeat,
                "ledger": self.ledger,
            },
            "counts": {c: len(self.entries(c)) for c in CATEGORIES},
            "not_yet_polled": self.not_yet_polled,
        }
        for category in CATEGORIES:
            body[category] = self.entries(category)[:sample]
        if self.repaired:
            body["repaired"] = dict(self.repaired)
        if self.notes:
            body["notes"] = list(self.notes)
        return body


@dataclasses.dataclass
class Reconciliation:
    """One run over some kinds."""

    run_id: int
    kinds: list[KindReport]
    repair: bool
    overwrite_drift: bool
    started_at: datetime
    finished_at: datetime

    @property
    def differences(self) -> int:
        return sum(report.differences for report in self.kinds)

    def to_json(self, *, sample: int | None = None) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "repair": self.repair,
            "overwrite_drift": self.overwrite_drift,
            "differences": self.differences,
            "clean": self.differences == 0,
            "kinds": {r.kind: r.to_json(sample=sample) for r in self.kinds},
        }


# --- reading PowerOffice Go ---------------------------------------------------------------------


def _norm(reference: Any) -> str:
    return str(reference).strip().casefold()


@dataclasses.dataclass
class Remote:
    """One PowerOffice Go collection as read: records by id, ids by (normalised) key."""

    by_id: dict[str, Mapping[str, Any]]
    by_reference: dict[str, list[str]]

    @classmethod
    def of(cls, records: Iterable[Mapping[str, Any]], key_field: str) -> Remote:
        by_id: dict[str, Mapping[str, Any]] = {}
        by_reference: dict[str, list[str]] = {}
        for record in records:
            ident = wire_field(record, "Id")
            if ident is None:
                continue
            by_id[str(ident)] = record
            reference = wire_field(record, key_field)
            if reference is not None and str(reference).strip():
                by_reference.setdefault(_norm(reference), []).append(str(ident))
        return cls(by_id, by_reference)


def _read_remote(runtime: Runtime, kind: EntityKind) -> Remote:
    records = runtime.poweroffice.records(kind.poweroffice_resource, dict(kind.remote_filters))
    return Remote.of(records, kind.remote_key_field)


# --- comparing ----------------------------------------------------------------------------------


def _aligned(ours: Mapping[str, Any], theirs: Mapping[str, Any]) -> dict[str, Any]:
    """``theirs`` keyed by ``ours``' names (PowerOffice Go's key case is not significant)."""
    aligned: dict[str, Any] = {}
    for name, value in ours.items():
        found = wire_field(theirs, name)
        if isinstance(value, Mapping) and isinstance(found, Mapping):
            found = _aligned(value, found)
        aligned[name] = found
    return aligned


def _same(ours: Any, theirs: Any) -> bool:
    """Whether PowerOffice Go holds the value rbsync wrote (10 and 10.0 are one number)."""
    if isinstance(ours, bool) or isinstance(theirs, bool):
        return ours is theirs
    if isinstance(ours, int | float) and isinstance(theirs, int | float):
        return math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(ours, Mapping) and isinstance(theirs, Mapping):
        return all(_same(value, theirs.get(name)) for name, value in ours.items())
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(map(_same, ours, theirs))
    return bool(ours == theirs)


def drifted(
    written: Mapping[str, Any], held: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The held view of ``held`` in the shape of ``written``, and the fields that differ."""
    view = held_view(written, _aligned(written, held))
    return view, sorted(name for name, ours in written.items() if not _same(ours, view[name]))


def compare(
    kind: EntityKind,
    rows: Mapping[str, ReconcileRow],
    remote: Remote,
    scanned: Sequence[tuple[str, datetime | None]],
    *,
    horizon: datetime | None,
    owns: Callable[[str], bool],
) -> tuple[KindReport, dict[str, dict[str, Any]]]:
    """The report of one kind, and the held views of its drifted rows (key -> view).

    ``horizon``: the kind's cursor less the poll overlap (None before the first poll): a
    Rackbeat change at or after it is the next poll's, not a missed one. ``owns(reference)``:
    whether a duplicate of that reference is this kind's to report (a reference no kind's
    ledger holds belongs to the first kind of the collection).
    """
    report = KindReport(kind.name, poweroffice=len(remote.by_id), rackbeat=len(scanned))
    report.ledger = len(rows)
    views: dict[str, dict[str, Any]] = {}
    for key in sorted(rows):
        row = rows[key]
        if row.status != "synced" or row.remote_id is None:
            continue
        record = remote.by_id.get(row.remote_id)
        if record is None:
            report.missing.append({"key": key, "remote_id": row.remote_id})
            continue
        if kind.create_only or not row.written:
            continue
        view, fields = drifted(row.written, record)
        if fields:
            report.drift.append({"key": key, "remote_id": row.remote_id, "fields": fields})
            views[key] = view
    for reference in sorted(remote.by_reference):
        ids = remote.by_reference[reference]
        if len(ids) > 1 and owns(reference):
            report.duplicates.append({"reference": reference, "ids": sorted(ids)})
    for number, stamp in sorted(scanned, key=lambda item: item[0]):
        held = rows.get(ledger_key(number))
        if held is not None and (
            stamp is None
            or (held.source_updated_at is not None and stamp <= held.source_updated_at)
        ):
            continue
        if horizon is None or (stamp is not None and stamp >= horizon):
            report.not_yet_polled += 1
            continue
        report.missed.append(
            {
                "key": number,
                "rackbeat_updated_at": None if stamp is None else stamp.isoformat(),
                "ledger_updated_at": None
                if held is None or held.source_updated_at is None
                else held.source_updated_at.isoformat(),
                "in_ledger": held is not None,
            }
        )
    return report, views


# --- the run ------------------------------------------------------------------------------------


def _kinds(names: Sequence[str] | None) -> list[EntityKind]:
    if not names:
        return registry.all_kinds()
    wanted = {registry.get(name).name for name in names}
    return [kind for kind in registry.all_kinds() if kind.name in wanted]


def _collection(kind: EntityKind) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    return (kind.poweroffice_resource, kind.remote_key_field, kind.remote_filters)


def reconcile(
    runtime: Runtime,
    kinds: Sequence[str] | None = None,
    *,
    repair: bool = False,
    overwrite_drift: bool = False,
    send: Send | None = None,
    trigger: str = "cli",
    now: Callable[[], datetime] = utcnow,
) -> Reconciliation:
    """Reconcile ``kinds`` (every kind when None); see the module doc.

    ``send`` syncs the rows a repair put back to work (required with ``repair``). The run is
    recorded in the ledger, also when it fails (then the error propagates).
    """
    if repair and send is None:
        raise ValueError("a repair needs a way to send the rows it puts back to work")
    selected = _kinds(kinds)
    started = now()
    with runtime.sessions.begin() as session:
        run_id = start_reconcile_run(
            session,
            kinds=[k.name for k in selected],
            trigger=trigger,
            repair=repair,
            overwrite_drift=overwrite_drift,
            now=started,
        )
    try:
        reports = _run(
            runtime, selected, repair=repair, overwrite_drift=overwrite_drift, send=send, now=now
        )
    except Exception as exc:
        with runtime.sessions.begin() as session:
            finish_reconcile_run(
                session, run_id, differences=0, report={}, error=f"{type(exc).__name__}: {exc}"
            )
        raise
    result = Reconciliation(run_id, reports, repair, overwrite_drift, started, now())
    with runtime.sessions.begin() as session:
        finish_reconcile_run(
            session,
            run_id,
            differences=result.differences,
            report=result.to_json(sample=SAMPLE)["kinds"],
            now=result.finished_at,
        )
    return result


def _run(
    runtime: Runtime,
    selected: list[EntityKind],
    *,
    repair: bool,
    overwrite_drift: bool,
    send: Send | None,
    now: Callable[[], datetime],
) -> list[KindReport]:
    settings = runtime.settings
    overlap = timedelta(seconds=settings.poll_overlap_seconds)
    remotes: dict[tuple[str, str, tuple[tuple[str, str], ...]], Remote] = {}
    moment = now()
    with runtime.sessions() as session:
        overdue = overdue_work(
            session,
            lost_before=moment - timedelta(seconds=settings.requeue_after_seconds),
            now=moment,
            limit=STUCK_LIMIT,
        )
    reports: list[KindReport] = []
    for kind in selected:
        collection = _collection(kind)
        if collection not in remotes:
            remotes[collection] = _read_remote(runtime, kind)
        remote = remotes[collection]
        siblings = [k for k in registry.all_kinds() if _collection(k) == collection]
        with runtime.sessions() as session:
            rows = reconcile_rows(session, kind.name)
            cursor = get_cursor(session, kind.name)
            others = {
                _norm(s.reference(key))
                for s in siblings
                if s.name != kind.name
                for key in reconcile_rows(session, s.name, with_written=False)
            }
        ours = {_norm(kind.reference(key)) for key in rows}
        first = siblings[0].name == kind.name

        def owns(
            reference: str, ours: set[str] = ours, others: set[str] = others, first: bool = first
        ) -> bool:
            return reference in ours or (first and reference not in others)

        scanned = list(runtime.rackbeat.scan(kind.rackbeat))
        report, views = compare(
            kind,
            rows,
            remote,
            scanned,
            horizon=None if cursor is None else cursor - overlap,
            owns=owns,
        )
        report.stuck = [
            {"key": row.key, "why": row.why} for row in overdue if row.kind == kind.name
        ]
        stuck_ids = [row.id for row in overdue if row.kind == kind.name]
        if report.missing and not kind.recreate_when_lost:
            report.notes.append(
                f"{kind.name}: records missing in PowerOffice Go are reported, never created "
                "again (one deleted there may have been deleted on purpose): decide by hand"
            )
        if repair:
            assert send is not None
            report.repaired = _repair(
                runtime,
                kind,
                report,
                remote,
                views=views,
                stuck_ids=stuck_ids,
                overwrite_drift=overwrite_drift,
                send=send,
            )
        reports.append(report)
    return reports


def _repair(
    runtime: Runtime,
    kind: EntityKind,
    report: KindReport,
    remote: Remote,
    *,
    views: Mapping[str, dict[str, Any]],
    stuck_ids: list[int],
    overwrite_drift: bool,
    send: Send,
) -> dict[str, int]:
    """Put the repairable rows of ``report`` back to work and send them; counts per repair."""
    keys: list[str] = []
    repaired: dict[str, int] = {}
    if report.missing and kind.recreate_when_lost:
        lost = {entry["key"]: entry["remote_id"] for entry in report.missing}
        with runtime.sessions.begin() as session:
            reset = forget_remote_records(session, kind.name, lost, {kind.namespace, *kind.loaders})
        repaired["recreated"] = len(reset)
        keys += reset
    if report.drift and overwrite_drift:
        with runtime.sessions.begin() as session:
            reset = take_held_as_written(
                session, kind.name, {e["key"]: views[e["key"]] for e in report.drift}
            )
        repaired["overwritten"] = len(reset)
        keys += reset
    if report.missed:
        _remember_found(
            runtime, kind, remote, [e["key"] for e in report.missed if not e["in_ledger"]]
        )
        fetched = fetch_snapshots(runtime, kind.name, [entry["key"] for entry in report.missed])
        store_fetched(runtime, fetched)
        repaired["missed"] = len(fetched.records)
        keys += [record.key for record in fetched.records]
    if stuck_ids:
        with runtime.sessions.begin() as session:
            mark_sent(session, stuck_ids)
        repaired["stuck"] = len(stuck_ids)
        keys += [entry["key"] for entry in report.stuck]
    wanted = list(dict.fromkeys(keys))
    if wanted:
        send(kind.name, wanted)
    return repaired


def _remember_found(runtime: Runtime, kind: EntityKind, remote: Remote, keys: list[str]) -> None:
    """Keys the ledger never had whose record PowerOffice Go holds (just read, one record per
    reference): put their ids in the kind's bulk index, so that their sync finds them there
    and never creates them twice, however fresh the index's last load."""
    found: dict[str, str] = {}
    for key in keys:
        reference = kind.reference(key)
        ids = remote.by_reference.get(_norm(reference), [])
        if len(ids) == 1:
            found[reference] = ids[0]
    if found:
        with runtime.sessions.begin() as session:
            for reference, ident in found.items():
                put_remote_id(session, kind.namespace, reference, ident)


# --- the task -----------------------------------------------------------------------------------


def fan_out_reconcile(app: Celery, kinds: list[str] | None, repair: bool | None) -> list[str]:
    """One ``rbsync.reconcile`` per active connection (paused and broken ones are left out);
    the names it was sent for."""
    fleet = fleet_for(app)
    names = [
        info.name
        for info in connection_infos(fleet.settings, fleet.sessions)
        if info.state == "active"
    ]
    with app.producer_or_acquire() as producer:
        for name in names:
            app.send_task(
                RECONCILE_TASK,
                kwargs={"kinds": kinds, "repair": repair, "connection": name},
                producer=producer,
            )
    return names


@shared_task(bind=True, base=PipelineTask, name=RECONCILE_TASK, ignore_result=True)
def reconcile_task(
    self: PipelineTask,
    kinds: list[str] | None = None,
    repair: bool | None = None,
    connection: str = DEFAULT_CONNECTION,
) -> dict[str, Any]:
    """Reconcile (beat: every ``RBSYNC_RECONCILE_INTERVAL_SECONDS``); one run at a time.

    ``repair`` defaults to ``RBSYNC_RECONCILE_REPAIR``; hand edits are never overwritten here.
    ``connection`` ``*`` (beat's) sends one reconcile per active connection instead.
    """
    if connection == ALL:
        return {"sent": fan_out_reconcile(self.app, kinds, repair)}
    runtime = self.runtime
    settings = runtime.settings
    lock = runtime.locks("reconcile", settings.poll_time_limit_seconds)
    if not lock.acquire():
        return {"skipped": "another reconcile is running"}
    try:
        app = self.app

        def send(kind: str, keys: list[str]) -> None:
            enqueue_sync(
                app, kind, keys, connection=connection, batch_size=settings.sync_batch_size
            )

        result = reconcile(
            runtime,
            kinds,
            repair=settings.reconcile_repair if repair is None else repair,
            send=send,
            trigger="beat",
        )
    finally:
        lock.release()
    if result.differences:
        log.warning(
            "reconcile: %d differences (%s); `rbsync status` shows them",
            result.differences,
            ", ".join(
                f"{r.kind}: "
                + " ".join(f"{c} {len(r.entries(c))}" for c in CATEGORIES if r.entries(c))
                for r in result.kinds
                if r.differences
            ),
        )
    return result.to_json(sample=SAMPLE)

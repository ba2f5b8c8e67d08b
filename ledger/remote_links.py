"""PowerOffice Go ids by code or reference, filled from bulk index loads.

A namespace is one PowerOffice Go collection keyed one way: ``product`` (by product code),
``product_group`` (by group code), ``customer`` / ``supplier`` / ``invoice`` (by
ExternalImportReference), ``contact_group`` (by name), ``payment_term`` (by days), ...
Before a poll cycle writes, the stale namespaces are reloaded in one bulk request each, so a
task finds ids here instead of sending one lookup request per record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger._sql import upsert
from ledger.models import IndexLoad, RemoteLink
from ledger.scope import connection_of
from ledger.types import utcnow

__all__ = [
    "forget_remote_id",
    "index_is_fresh",
    "load_index",
    "put_remote_id",
    "remote_id",
    "remote_ids",
]


# Built once (they run per entity): see ledger.claims for why.
# They name the connection themselves: they also run on Core connections (ledger.scope).
_REMOTE_ID = sa.select(RemoteLink.remote_id).where(
    RemoteLink.connection == sa.bindparam("p_connection"),
    RemoteLink.namespace == sa.bindparam("p_namespace"),
    RemoteLink.code == sa.bindparam("p_code"),
)
_REMOTE_IDS = sa.select(RemoteLink.code, RemoteLink.remote_id).where(
    RemoteLink.connection == sa.bindparam("p_connection"),
    RemoteLink.namespace == sa.bindparam("p_namespace"),
    RemoteLink.code.in_(sa.bindparam("p_codes", expanding=True)),
)
_LOADED_AT = sa.select(IndexLoad.loaded_at).where(
    IndexLoad.connection == sa.bindparam("p_connection"),
    IndexLoad.namespace == sa.bindparam("p_namespace"),
)


def remote_id(session: Session | sa.Connection, namespace: str, code: str) -> str | None:
    """The PowerOffice Go id known for ``code`` in ``namespace``, or None."""
    return session.scalar(
        _REMOTE_ID,
        {"p_connection": connection_of(session), "p_namespace": namespace, "p_code": code},
    )


def remote_ids(
    session: Session | sa.Connection, namespace: str, codes: Iterable[str]
) -> dict[str, str]:
    """The known ids of ``codes`` in ``namespace`` (missing codes are left out)."""
    wanted = list(dict.fromkeys(codes))
    if not wanted:
        return {}
    rows = session.execute(
        _REMOTE_IDS,
        {"p_connection": connection_of(session), "p_namespace": namespace, "p_codes": wanted},
    )
    return {row.code: row.remote_id for row in rows}


def put_remote_id(
    session: Session, namespace: str, code: str, remote: str, *, now: datetime | None = None
) -> None:
    """Remember one id (after a create or a lookup)."""
    upsert(
        session,
        RemoteLink.__table__,  # type: ignore[arg-type]
        [{"namespace": namespace, "code": code, "remote_id": remote, "loaded_at": now or utcnow()}],
        ["namespace", "code"],
        ["remote_id", "loaded_at"],
    )


def forget_remote_id(session: Session, namespace: str, code: str) -> None:
    """Drop one id (the remote record turned out to be gone)."""
    session.execute(
        sa.delete(RemoteLink).where(RemoteLink.namespace == namespace, RemoteLink.code == code)
    )


def load_index(
    session: Session,
    namespace: str,
    index: Mapping[str, str],
    *,
    now: datetime | None = None,
    batch_size: int = 1000,
) -> int:
    """Store a bulk-loaded ``code -> id`` index for ``namespace``; return how many entries.

    Entries are added or refreshed; entries absent from ``index`` are kept (a record created
    by a task since the load started must not be forgotten).
    """
    now = now or utcnow()
    items = list(index.items())
    for start in range(0, len(items), batch_size):
        upsert(
            session,
            RemoteLink.__table__,  # type: ignore[arg-type]
            [
                {"namespace": namespace, "code": code, "remote_id": rid, "loaded_at": now}
                for code, rid in items[start : start + batch_size]
            ],
            ["namespace", "code"],
            ["remote_id", "loaded_at"],
        )
    upsert(
        session,
        IndexLoad.__table__,  # type: ignore[arg-type]
        [{"namespace": namespace, "loaded_at": now, "count": len(items)}],
        ["namespace"],
        ["loaded_at", "count"],
    )
    return len(items)


def index_is_fresh(
    session: Session | sa.Connection,
    namespace: str,
    *,
    max_age: timedelta,
    now: datetime | None = None,
) -> bool:
    """True when ``namespace`` was loaded in bulk less than ``max_age`` ago."""
    loaded = session.scalar(
        _LOADED_AT, {"p_connection": connection_of(session), "p_namespace": namespace}
    )
    return loaded is not None and loaded > (now or utcnow()) - max_age

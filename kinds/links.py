"""PowerOffice Go ids the pipeline needs, from the ledger first and PowerOffice Go second.

- :func:`refresh_indexes` loads whole namespaces in bulk (one paged scan each) when the ledger's
  copy is missing or older than ``link_index_max_age_seconds``; a poll calls it before it
  enqueues writes, so the tasks that follow find ids without a lookup request each.
- ``ensure_*`` return the id of a dependency that is not a Rackbeat entity of its own (product
  group, contact group, payment term), creating it when PowerOffice Go lacks it, under a shared
  lock so that two workers never create the same group twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta

from clients.models.poweroffice import ContactGroupPost, PaymentTermPost, ProductGroupPost
from kinds.errors import LockTimeoutError
from kinds.once import create_once, must_look_first
from ledger import index_is_fresh, load_index, put_remote_id, remote_id
from wiring.locks import Lock
from wiring.runtime import Runtime

__all__ = [
    "IN_DOUBT",
    "LOCK_WAIT_SECONDS",
    "NS_CONTACT_GROUP",
    "NS_CUSTOMER",
    "NS_INVOICE",
    "NS_PAYMENT_TERM",
    "NS_PRODUCT",
    "NS_PRODUCT_GROUP",
    "NS_SUPPLIER",
    "NS_SUPPLIER_NUMBER",
    "SHARED_LOADERS",
    "ensure_contact_group",
    "ensure_payment_term",
    "ensure_product_group",
    "index_fresh",
    "locked",
    "refresh_indexes",
]

NS_PRODUCT = "product"
NS_PRODUCT_GROUP = "product_group"
NS_CUSTOMER = "customer"
NS_SUPPLIER = "supplier"
NS_SUPPLIER_NUMBER = "supplier_number"
NS_INVOICE = "invoice"
NS_CONTACT_GROUP = "contact_group"
NS_PAYMENT_TERM = "payment_term"

LOCK_WAIT_SECONDS = 30.0
"""How long a task waits for another worker's create of a shared dependency."""
_LOCK_POLL_SECONDS = 0.05


def locked(runtime: Runtime, name: str) -> Lock:
    """Take the shared lock ``name``, waiting up to :data:`LOCK_WAIT_SECONDS`."""
    lock = runtime.locks(name, runtime.settings.task_time_limit_seconds)
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while not lock.acquire():
        if time.monotonic() > deadline:
            raise LockTimeoutError(f"lock {name!r} still held after {LOCK_WAIT_SECONDS:g} s")
        time.sleep(_LOCK_POLL_SECONDS)
    return lock


def _product_group_ids(runtime: Runtime) -> Mapping[str, int | str]:
    return runtime.poweroffice.product_group_ids_by_code()


SHARED_LOADERS: Mapping[str, Callable[[Runtime], Mapping[str, int | str]]] = {
    NS_PRODUCT_GROUP: _product_group_ids,
}
"""The bulk indexes of the shared dependencies (the entity kinds bring their own)."""


def refresh_indexes(
    runtime: Runtime,
    namespaces: Iterable[str],
    loaders: Mapping[str, Callable[[Runtime], Mapping[str, int | str]]],
) -> dict[str, int]:
    """Reload each namespace that is missing or stale; return ``{namespace: entries}`` loaded.

    ``loaders`` reads a namespace in bulk (``kinds.registry.index_loaders()``).
    """
    max_age = timedelta(seconds=runtime.settings.link_index_max_age_seconds)
    loaded: dict[str, int] = {}
    for namespace in namespaces:
        with runtime.sessions() as session:
            if index_is_fresh(session, namespace, max_age=max_age):
                continue
        lock = locked(runtime, f"index:{namespace}")
        try:
            with runtime.sessions() as session:
                if index_is_fresh(session, namespace, max_age=max_age):
                    continue  # another process loaded it while we waited
            index = {code: str(ident) for code, ident in loaders[namespace](runtime).items()}
            with runtime.sessions.begin() as session:
                loaded[namespace] = load_index(session, namespace, index)
        finally:
            lock.release()
    return loaded


def index_fresh(runtime: Runtime, namespace: str) -> bool:
    """Whether the ledger's copy of ``namespace`` is recent enough to trust an absence in it."""
    max_age = timedelta(seconds=runtime.settings.link_index_max_age_seconds)
    with runtime.sessions() as session:
        return index_is_fresh(session, namespace, max_age=max_age)


IN_DOUBT = "?"
"""A ``remote_links`` value meaning "a create was sent and its outcome is unknown"."""


def _ensure(
    runtime: Runtime,
    namespace: str,
    code: str,
    find: Callable[[bool], int | None],
    create: Callable[[], int],
) -> int:
    """The id of ``code``: from the ledger, else looked up, else created -- exactly once.

    :func:`kinds.once.create_once` under a shared lock: the intent is the ``IN_DOUBT``
    placeholder in ``remote_links``; a create that ended ambiguously leaves it there, so the
    next caller looks the record up instead of trusting an index loaded before the create may
    have landed. ``find(in_doubt)`` may answer None at once when a fresh bulk index vouches
    for the absence and nothing is in doubt.
    """
    memo = runtime.dependency_ids.get((namespace, code))
    if memo is not None:
        return memo
    with runtime.sessions() as session:
        known = remote_id(session, namespace, code)
    if known is not None and known != IN_DOUBT:
        runtime.dependency_ids[(namespace, code)] = int(known)
        return int(known)
    lock = locked(runtime, f"create:{namespace}:{code}")
    try:
        with runtime.sessions() as session:
            known = remote_id(session, namespace, code)
        if known is not None and known != IN_DOUBT:
            return int(known)  # another worker created it while we waited

        def intent() -> None:
            with runtime.sessions.begin() as session:
                put_remote_id(session, namespace, code, IN_DOUBT)

        ident = create_once(
            create=create,
            lookup=lambda: find(known == IN_DOUBT),
            record_intent=intent,
            look_first=True,
        ).value
        with runtime.sessions.begin() as session:
            put_remote_id(session, namespace, code, str(ident))
        runtime.dependency_ids[(namespace, code)] = ident
        return ident
    finally:
        lock.release()


def ensure_product_group(runtime: Runtime, code: str, payload: ProductGroupPost) -> int:
    """R-PROD-4: the id of product group ``code``, created (with its accounts) when missing."""
    po = runtime.poweroffice

    def find(in_doubt: bool) -> int | None:
        if not must_look_first(
            in_doubt=in_doubt, absence_vouched=index_fresh(runtime, NS_PRODUCT_GROUP)
        ):
            return None  # the fresh bulk index did not have it: no lookup request needed
        found = po.find_product_group(code)
        return found.id if found is not None else None

    def create() -> int:
        return po.create_product_group(payload).id

    return _ensure(runtime, NS_PRODUCT_GROUP, code, find, create)


def ensure_contact_group(runtime: Runtime, name: str, payload: ContactGroupPost) -> int:
    """R-SUP-9: the id of the contact group called ``name``, created when missing."""
    po = runtime.poweroffice

    def find(in_doubt: bool) -> int | None:
        # After a create in doubt the scan must wait out replica lag, or a create that landed
        # stays invisible and a second group is made (contact group names are not unique).
        found = po.find_contact_group(name, settle=in_doubt)
        return found.id if found is not None else None

    def create() -> int:
        return po.create_contact_group(payload).id

    return _ensure(runtime, NS_CONTACT_GROUP, name.casefold(), find, create)


def ensure_payment_term(runtime: Runtime, days: int, payload: PaymentTermPost) -> int:
    """R-CUST-9: the id of the payment term with ``days`` credit days, created when missing."""
    po = runtime.poweroffice

    def find(in_doubt: bool) -> int | None:
        # As for contact groups: payment terms are not unique by their days either.
        found = po.find_payment_term(days, settle=in_doubt)
        return found.id if found is not None else None

    def create() -> int:
        return po.create_payment_term(payload).id

    return _ensure(runtime, NS_PAYMENT_TERM, str(days), find, create)

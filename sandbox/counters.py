"""Request and write counters of one emulator: the proof tests assert on.

Requests are counted per route template (``"GET /v2/Products/{id}"``), writes per resource
(``created``, ``updated``, ``deleted``, ``duplicates_refused``), and a few named events
(``token_requests``, ``rate_limited``, ...). Everything is guarded by one lock, and
:meth:`Counters.snapshot` returns plain dicts that serialise to JSON as they are.

An emulator serving several accounts (Rackbeat) or client companies (PowerOffice Go) gives each
its own :class:`Counters` with the emulator-wide one as ``parent``: whatever a tenant counts is
counted in the emulator-wide totals too, so those stay what they were with a single account.
Requests are also kept per wall-clock second (the last :data:`WINDOW_SECONDS_KEPT` seconds), so
that a benchmark can ask how many requests each tenant made, and how many were refused with
429, in any window (:meth:`Counters.window`).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Literal

from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.faults import ADMIN_PREFIX

__all__ = [
    "WRITE_KINDS",
    "Counters",
    "RequestCounterMiddleware",
    "WriteKind",
    "route_template",
]

WriteKind = Literal["created", "updated", "deleted", "duplicates_refused"]
WRITE_KINDS: tuple[WriteKind, ...] = ("created", "updated", "deleted", "duplicates_refused")

UNMATCHED = "(unmatched)"
WINDOW_SECONDS_KEPT = 3600
"""How many of the latest wall-clock seconds :meth:`Counters.window` can answer for."""
NO_STATUS = "none"
"""The status key of a request whose connection was dropped before an answer."""


class Counters:
    """Thread-safe counters; ``snapshot()`` is the JSON the admin surface serves."""

    def __init__(
        self, parent: Counters | None = None, *, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._statuses: Counter[str] = Counter()
        self._writes: dict[str, Counter[str]] = {}
        self._events: Counter[str] = Counter()
        self._seconds: dict[int, Counter[str]] = {}
        self._wall_clock = wall_clock
        self._parent = parent
        # A tenant's counters are reset with the emulator's; weak, so that a removed tenant
        # goes away with its counters.
        self._children: weakref.WeakSet[Counters] = weakref.WeakSet()
        if parent is not None:
            parent._children.add(self)

    @property
    def parent(self) -> Counters | None:
        return self._parent

    def count_request(self, key: str, status: int | None = None) -> None:
        """Count one request on ``key`` (``"METHOD /route/template"``) with its status."""
        status_key = NO_STATUS if status is None else str(status)
        second = int(self._wall_clock())
        with self._lock:
            self._requests[key] += 1
            if status is not None:
                self._statuses[status_key] += 1
            bucket = self._seconds.get(second)
            if bucket is None:
                bucket = self._seconds[second] = Counter()
                if len(self._seconds) > WINDOW_SECONDS_KEPT:
                    del self._seconds[min(self._seconds)]
            bucket[status_key] += 1
        if self._parent is not None:
            self._parent.count_request(key, status)

    def count_write(self, resource: str, kind: WriteKind, n: int = 1) -> None:
        """Count ``n`` writes of ``kind`` on ``resource`` (e.g. ``"Products"``)."""
        if kind not in WRITE_KINDS:
            raise ValueError(f"unknown write kind {kind!r}")
        with self._lock:
            self._writes.setdefault(resource, Counter())[kind] += n
        if self._parent is not None:
            self._parent.count_write(resource, kind, n)

    def count_event(self, name: str, n: int = 1) -> None:
        """Count a named event (``token_requests``, ``rate_limited``, ...)."""
        with self._lock:
            self._events[name] += n
        if self._parent is not None:
            self._parent.count_event(name, n)

    def total_requests(self) -> int:
        with self._lock:
            return sum(self._requests.values())

    def status_count(self, status: int) -> int:
        with self._lock:
            return self._statuses[str(status)]

    def window(self, since: float, until: float | None = None) -> dict[str, Any]:
        """Requests answered in the wall-clock seconds ``[floor(since), until)`` (``until``:
        now): ``{"since", "until", "requests": n, "statuses": {"200": n, "429": m, ...},
        "per_second": {"<epoch second>": n, ...}}``. Only the last
        :data:`WINDOW_SECONDS_KEPT` seconds are kept."""
        low = int(since)
        high = self._wall_clock() if until is None else until
        statuses: Counter[str] = Counter()
        per_second: dict[str, int] = {}
        with self._lock:
            for second, bucket in self._seconds.items():
                if low <= second < high:
                    statuses.update(bucket)
                    per_second[str(second)] = sum(bucket.values())
        return {
            "since": low,
            "until": high,
            "requests": sum(statuses.values()),
            "statuses": dict(sorted(statuses.items())),
            "per_second": dict(sorted(per_second.items())),
        }

    def requests(self, key: str) -> int:
        with self._lock:
            return self._requests[key]

    def writes(self, resource: str, kind: WriteKind) -> int:
        with self._lock:
            return self._writes.get(resource, Counter())[kind]

    def event(self, name: str) -> int:
        with self._lock:
            return self._events[name]

    def reset(self) -> None:
        """Every counter back to zero, the tenants' counters too (not the parent's)."""
        with self._lock:
            self._requests.clear()
            self._statuses.clear()
            self._writes.clear()
            self._events.clear()
            self._seconds.clear()
        for child in list(self._children):
            child.reset()

    def snapshot(self) -> dict[str, Any]:
        """``{"requests": {...}, "statuses": {...}, "writes": {resource: {kind: n}},
        "duplicates_refused": total, "events": {...}}``."""
        with self._lock:
            writes = {
                resource: {kind: counts[kind] for kind in WRITE_KINDS}
                for resource, counts in sorted(self._writes.items())
            }
            return {
                "requests": dict(sorted(self._requests.items())),
                "total_requests": sum(self._requests.values()),
                "statuses": dict(sorted(self._statuses.items())),
                "writes": writes,
                "duplicates_refused": sum(
                    counts["duplicates_refused"] for counts in self._writes.values()
                ),
                "events": dict(sorted(self._events.items())),
            }


def route_template(routes: Sequence[BaseRoute], scope: Scope, prefix: str = "") -> str | None:
    """The path template of the route that ``scope`` reaches (``/v2/Products/{id}``), if any."""
    for route in routes:
        if isinstance(route, Route):
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return prefix + route.path
        elif isinstance(route, Mount):
            match, child = route.matches(scope)
            if match is Match.FULL:
                child_scope = {**scope, **child}
                found = route_template(route.routes, child_scope, prefix + route.path)
                if found is not None:
                    return found
    return None


class RequestCounterMiddleware:
    """Counts every non-admin HTTP request as ``"METHOD /route/template"`` with its status.

    The template comes from ``template_of(scope)`` when given (an emulator with its own
    router), else from the Starlette ``routes``. With ``tenant_of``, a request of a known tenant
    (account, client company) is counted in that tenant's counters, which pass it on to the
    emulator-wide ones; any other request in the emulator-wide ones only.
    """

    def __init__(
        self,
        app: ASGIApp,
        counters: Counters,
        routes: Sequence[BaseRoute] = (),
        *,
        template_of: Callable[[Scope], str | None] | None = None,
        tenant_of: Callable[[Scope], Counters | None] | None = None,
    ) -> None:
        self.app = app
        self.counters = counters
        self.routes = routes
        self.template_of = template_of
        self.tenant_of = tenant_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        if self.template_of is not None:
            template = self.template_of(scope)
        else:
            template = route_template(self.routes, scope)
        key = f"{scope['method']} {template or UNMATCHED}"
        counters = self.counters
        if self.tenant_of is not None:
            counters = self.tenant_of(scope) or counters
        counted = False

        async def counting_send(message: Message) -> None:
            nonlocal counted
            if message["type"] == "http.response.start" and not counted:
                # Counted before the first byte leaves: a client that has its answer (and a
                # test that saw the client act on it) never finds the request uncounted.
                counted = True
                counters.count_request(key, int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            if not counted:
                # A dropped connection (no status) still counts as a request the server handled.
                counters.count_request(key, None)

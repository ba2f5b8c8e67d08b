"""Request and write counters of one emulator: the proof tests assert on.

Requests are counted per route template (``"GET /v2/Products/{id}"``), writes per resource
(``created``, ``updated``, ``deleted``, ``duplicates_refused``), and a few named events
(``token_requests``, ``rate_limited``, ...). Everything is guarded by one lock, and
:meth:`Counters.snapshot` returns plain dicts that serialise to JSON as they are.
"""

from __future__ import annotations

import threading
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


class Counters:
    """Thread-safe counters; ``snapshot()`` is the JSON the admin surface serves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._statuses: Counter[str] = Counter()
        self._writes: dict[str, Counter[str]] = {}
        self._events: Counter[str] = Counter()

    def count_request(self, key: str, status: int | None = None) -> None:
        """Count one request on ``key`` (``"METHOD /route/template"``) with its status."""
        with self._lock:
            self._requests[key] += 1
            if status is not None:
                self._statuses[str(status)] += 1

    def count_write(self, resource: str, kind: WriteKind, n: int = 1) -> None:
        """Count ``n`` writes of ``kind`` on ``resource`` (e.g. ``"Products"``)."""
        if kind not in WRITE_KINDS:
            raise ValueError(f"unknown write kind {kind!r}")
        with self._lock:
            self._writes.setdefault(resource, Counter())[kind] += n

    def count_event(self, name: str, n: int = 1) -> None:
        """Count a named event (``token_requests``, ``rate_limited``, ...)."""
        with self._lock:
            self._events[name] += n

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
        """Every counter back to zero."""
        with self._lock:
            self._requests.clear()
            self._statuses.clear()
            self._writes.clear()
            self._events.clear()

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
    router), else from the Starlette ``routes``.
    """

    def __init__(
        self,
        app: ASGIApp,
        counters: Counters,
        routes: Sequence[BaseRoute] = (),
        *,
        template_of: Callable[[Scope], str | None] | None = None,
    ) -> None:
        self.app = app
        self.counters = counters
        self.routes = routes
        self.template_of = template_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        if self.template_of is not None:
            template = self.template_of(scope)
        else:
            template = route_template(self.routes, scope)
        key = f"{scope['method']} {template or UNMATCHED}"
        counted = False

        async def counting_send(message: Message) -> None:
            nonlocal counted
            if message["type"] == "http.response.start" and not counted:
                # Counted before the first byte leaves: a client that has its answer (and a
                # test that saw the client act on it) never finds the request uncounted.
                counted = True
                self.counters.count_request(key, int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            if not counted:
                # A dropped connection (no status) still counts as a request the server handled.
                self.counters.count_request(key, None)

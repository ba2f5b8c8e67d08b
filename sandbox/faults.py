"""Fault injection for the emulators: latency, 5xx, 429 bursts, hangs, commit-then-drop,
commit-then-delay and malformed answers.

A :class:`FaultRule` matches requests by a glob on ``"METHOD /path"`` (``"POST /v2/Products"``,
``"GET /api/products*"``, ``"*"``). The :class:`FaultInjector` holds the rules, decides per
request (seeded RNG, thread-safe) and :class:`FaultMiddleware` applies the decision at the ASGI
layer, in front of the emulator's routes and behind nothing: the admin surface under
``/_sandbox/`` is never faulted, so a test can always switch faults off again.

Commit-then-drop is a real connection close. The handler runs, the state changes, the response
is thrown away and the TCP connection is closed without a byte of response, so the client sees
``httpx.RemoteProtocolError`` ("Server disconnected without sending a response"), exactly what a
load balancer dying mid-request looks like. The close is reached through the ASGI scope
extension :data:`DROP_EXTENSION`, which :mod:`sandbox.server`'s uvicorn protocol installs.

Commit-then-delay (``delay_after_commit_ms``) also lets the handler run at once: the write is
committed and visible to every other request, and only its answer is held back for the delay.
A client waiting for it is a worker with a create in flight whose record already exists: what
a test needs to kill that worker (or let its time limit fire) at exactly that moment.

A malformed answer (``body_patch``) also lets the handler run: its 2xx JSON answer is changed
by a JSON merge patch (RFC 7386) before it leaves, so the write happened and its answer is not
what the API documents (``{"product": {"group": 1010}}``: the group as a bare number).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ADMIN_PREFIX",
    "DROP_EXTENSION",
    "WRITE_METHODS",
    "FaultDecision",
    "FaultInjector",
    "FaultMiddleware",
    "FaultRule",
    "merge_patch",
]

ADMIN_PREFIX = "/_sandbox"
"""Requests under this path are never faulted, counted or rate limited."""

DROP_EXTENSION = "rbsync.drop_connection"
"""ASGI scope extension: a zero-argument callable that closes the client connection at once."""

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

DEFAULT_ERROR_STATUS = 503
DEFAULT_HANG_SECONDS = 30.0


class FaultRule(BaseModel):
    """One fault rule; every rate is a probability in [0, 1] drawn per matching request."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    route: str = "*"
    """Glob matched against ``"METHOD /path"`` (path without query string)."""
    latency_ms: float = Field(0.0, ge=0)
    """Added before the request is handled."""
    error_rate: float = Field(0.0, ge=0, le=1)
    """Answer ``status`` instead of handling the request (nothing changes)."""
    status: int = Field(DEFAULT_ERROR_STATUS, ge=400, le=599)
    burst_429: int = Field(0, ge=0)
    """The next N matching requests get the emulator's own 429 answer."""
    timeout_rate: float = Field(0.0, ge=0, le=1)
    """Hang ``hang_seconds`` before handling, so that a client with a shorter timeout gives up."""
    hang_seconds: float = Field(DEFAULT_HANG_SECONDS, ge=0)
    commit_then_drop_rate: float = Field(0.0, ge=0, le=1)
    """Writes only: handle the request (the state changes), then close the connection."""
    delay_after_commit_ms: float = Field(0.0, ge=0)
    """Writes only: handle the request at once (the state changes), then hold its answer back
    this long before sending it."""
    body_patch: dict[str, Any] | None = None
    """A JSON merge patch (RFC 7386) applied to every matching 2xx JSON answer, after the
    handler ran (the state changes): ``null`` removes a key, an object merges, anything else
    replaces."""
    times: int | None = Field(None, ge=0)
    """At most this many requests get a fault from this rule (``None``: no cap)."""
    tenant: str | None = None
    """Only requests of this tenant: a Rackbeat account id (the bearer token's account), a
    PowerOffice Go client key (the access token's client, or the token request's). ``None``:
    every request, whosever it is."""

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule applies to ``method`` ``path``."""
        return fnmatch.fnmatchcase(f"{method} {path}", self.route)


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What to do to one request; the empty decision means "handle it normally"."""

    latency_s: float = 0.0
    hang_s: float = 0.0
    error_status: int | None = None
    too_many_requests: bool = False
    drop_after_commit: bool = False
    delay_after_commit_s: float = 0.0
    body_patch: dict[str, Any] | None = None

    @property
    def is_clean(self) -> bool:
        return self == _CLEAN


_CLEAN = FaultDecision()


class _RuleState:
    """A rule plus its mutable counters (burst left, faults injected)."""

    __slots__ = ("burst_left", "hits", "rule")

    def __init__(self, rule: FaultRule) -> None:
        self.rule = rule
        self.burst_left = rule.burst_429
        self.hits = 0

    def exhausted(self) -> bool:
        return self.rule.times is not None and self.hits >= self.rule.times


class FaultInjector:
    """The fault rules of one emulator; thread-safe, reproducible with a seed."""

    def __init__(self, rules: Iterable[FaultRule] = (), *, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._rules = [_RuleState(rule) for rule in rules]
        self._scoped = any(state.rule.tenant is not None for state in self._rules)

    def set_rules(self, rules: Iterable[FaultRule]) -> None:
        """Replace every rule (their counters start afresh)."""
        states = [_RuleState(rule) for rule in rules]
        with self._lock:
            self._rules = states
            self._scoped = any(state.rule.tenant is not None for state in states)

    def set_tenant_rules(self, tenant: str, rules: Iterable[FaultRule]) -> None:
        """Replace the rules of ``tenant`` only (each given rule is scoped to it); the other
        rules and their counters stay."""
        states = [_RuleState(rule.model_copy(update={"tenant": tenant})) for rule in rules]
        with self._lock:
            kept = [state for state in self._rules if state.rule.tenant != tenant]
            self._rules = kept + states
            self._scoped = any(state.rule.tenant is not None for state in self._rules)

    def clear_tenant(self, tenant: str) -> None:
        """Remove the rules scoped to ``tenant``."""
        with self._lock:
            self._rules = [state for state in self._rules if state.rule.tenant != tenant]
            self._scoped = any(state.rule.tenant is not None for state in self._rules)

    @property
    def scoped(self) -> bool:
        """Whether some rule applies to one tenant only (the request's tenant is then needed)."""
        return self._scoped

    def add_rule(self, rule: FaultRule) -> None:
        """Add one rule after the existing ones."""
        with self._lock:
            self._rules.append(_RuleState(rule))
            self._scoped = self._scoped or rule.tenant is not None

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules = []
            self._scoped = False

    def reseed(self, seed: int) -> None:
        """Restart the random sequence (for reproducible runs)."""
        with self._lock:
            self._rng = random.Random(seed)

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return [state.rule for state in self._rules]

    def snapshot(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """The rules (with ``tenant``: that tenant's only) with how many faults each has
        injected so far."""
        with self._lock:
            return [
                {**state.rule.model_dump(), "injected": state.hits, "burst_left": state.burst_left}
                for state in self._rules
                if tenant is None or state.rule.tenant == tenant
            ]

    def decide(self, method: str, path: str, tenant: str | None = None) -> FaultDecision:
        """Draw the faults for one request of ``tenant`` (``None``: no known tenant). Every
        matching, non-exhausted rule contributes."""
        method = method.upper()
        with self._lock:
            if not self._rules:
                return _CLEAN
            latency = 0.0
            hang = 0.0
            error: int | None = None
            throttle = False
            drop = False
            held_back = 0.0
            patch: dict[str, Any] | None = None
            for state in self._rules:
                rule = state.rule
                if state.exhausted() or not rule.matches(method, path):
                    continue
                if rule.tenant is not None and rule.tenant != tenant:
                    continue
                hit = False
                if rule.latency_ms:
                    latency += rule.latency_ms / 1000.0
                    hit = True
                if state.burst_left > 0 and not throttle:
                    state.burst_left -= 1
                    throttle = True
                    hit = True
                if rule.error_rate and error is None and self._rng.random() < rule.error_rate:
                    error = rule.status
                    hit = True
                if rule.timeout_rate and not hang and self._rng.random() < rule.timeout_rate:
                    hang = rule.hang_seconds
                    hit = True
                if (
                    rule.commit_then_drop_rate
                    and method in WRITE_METHODS
                    and not drop
                    and self._rng.random() < rule.commit_then_drop_rate
                ):
                    drop = True
                    hit = True
                if rule.delay_after_commit_ms and method in WRITE_METHODS:
                    held_back += rule.delay_after_commit_ms / 1000.0
                    hit = True
                if rule.body_patch is not None and patch is None:
                    patch = rule.body_patch
                    hit = True
                if hit:
                    state.hits += 1
            return FaultDecision(
                latency_s=latency,
                hang_s=hang,
                error_status=error,
                too_many_requests=throttle,
                drop_after_commit=drop,
                delay_after_commit_s=held_back,
                body_patch=patch,
            )


def merge_patch(target: Any, patch: Any) -> Any:
    """``target`` changed by the JSON merge patch ``patch`` (RFC 7386); neither is modified."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def default_error_response(status: int) -> Response:
    """The body of an injected 5xx/4xx when the emulator supplies none of its own."""
    return JSONResponse({"message": f"Injected fault: HTTP {status}"}, status_code=status)


class FaultMiddleware:
    """ASGI middleware applying a :class:`FaultInjector` to every non-admin HTTP request.

    Order of effects: latency, then a hang (timeout), then 429 / error answers (the handler does
    not run), else the handler runs and, for commit-then-drop, its response is discarded and
    the connection closed; for commit-then-delay, its response is held back, then sent.
    """

    def __init__(
        self,
        app: ASGIApp,
        injector: FaultInjector,
        *,
        too_many_requests: Callable[[], Response],
        error_response: Callable[[int], Response] = default_error_response,
        normalise_path: Callable[[str], str] | None = None,
        tenant_of: Callable[[Scope], str | None] | None = None,
    ) -> None:
        self.app = app
        self.injector = injector
        # Which tenant a request belongs to; asked only while some rule is scoped to one.
        self.tenant_of = tenant_of
        self.too_many_requests = too_many_requests
        self.error_response = error_response
        # Rules match the canonical path (PowerOffice Go: ``/Demo/v2/X`` is ``/v2/X``).
        self.normalise_path = normalise_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if self.normalise_path is not None:
            path = self.normalise_path(path)
        tenant = None
        if self.tenant_of is not None and self.injector.scoped:
            tenant = self.tenant_of(scope)
        decision = self.injector.decide(scope["method"], path, tenant)
        if decision.is_clean:
            await self.app(scope, receive, send)
            return
        if decision.latency_s:
            await asyncio.sleep(decision.latency_s)
        if decision.hang_s:
            await asyncio.sleep(decision.hang_s)
        if decision.too_many_requests:
            await self.too_many_requests()(scope, receive, send)
            return
        if decision.error_status is not None:
            await self.error_response(decision.error_status)(scope, receive, send)
            return
        if decision.delay_after_commit_s and not decision.drop_after_commit:
            send = _held_back(send, decision.delay_after_commit_s)
        if decision.body_patch is not None and not decision.drop_after_commit:
            await self.app(scope, receive, _patching(send, decision.body_patch))
            return
        if not decision.drop_after_commit:
            await self.app(scope, receive, send)
            return
        drop = scope.get("extensions", {}).get(DROP_EXTENSION)
        if drop is None:
            raise RuntimeError(
                "commit-then-drop needs the server from sandbox.server (scope extension "
                f"{DROP_EXTENSION!r} is missing)"
            )

        async def swallow(message: Message) -> None:
            # The handler's answer is discarded: the client must never see it.
            del message

        await self.app(scope, receive, swallow)
        drop()
        # Let the event loop deliver connection_lost, so that the server does not try to
        # answer "500, no response started" on the closed transport.
        await asyncio.sleep(0)
        await asyncio.sleep(0)


def _held_back(send: Send, seconds: float) -> Send:
    """A ``send`` that holds the answer back ``seconds`` before its first byte (the handler has
    run by then: the write is committed)."""

    async def held(message: Message) -> None:
        if message["type"] == "http.response.start":
            await asyncio.sleep(seconds)
        await send(message)

    return held


def _patching(send: Send, patch: dict[str, Any]) -> Send:
    """A ``send`` that holds the answer back and applies ``patch`` to a 2xx JSON body."""
    held: list[Message] = []
    body = bytearray()

    async def patched(message: Message) -> None:
        if message["type"] == "http.response.start":
            held.append(message)
            return
        if message["type"] != "http.response.body" or not held:
            await send(message)
            return
        body.extend(message.get("body", b""))
        if message.get("more_body", False):
            return
        start = held[0]
        content = bytes(body)
        if 200 <= start["status"] < 300:
            # Not JSON: the answer goes out as the handler made it.
            with contextlib.suppress(ValueError):
                content = json.dumps(merge_patch(json.loads(content), patch)).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(content)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": content, "more_body": False})

    return patched

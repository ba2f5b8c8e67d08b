"""``POST /webhooks/rackbeat``: Rackbeat's deliveries into the ledger's outbox, then the broker.

The order of a delivery (``docs/webhooks.md``):

1. ``Rackbeat-Webhook-Token`` must be the token of a registered webhook (the ledger keeps their
   SHA-256 digests; compared in constant time): else 401, nothing stored.
2. A body over ``RBSYNC_WEBHOOK_MAX_BODY_BYTES``: 413, nothing stored.
3. ``Rackbeat-Webhook-Event`` picks what to do (``kinds.webhook_events``). An event rbsync does
   not handle is answered 200 and counted (``/healthz`` shows the counts): a refusal would only
   make Rackbeat retry it for a day.
4. The delivery is stored and **committed** (``webhook_events``), then answered 200. Only after
   the answer is its ``rbsync.webhook`` message sent and the row marked sent; a broker that is
   down costs nothing but a log line (the sweep sends the row later), and the answer never
   waits for it. A ledger that is down is answered 503: Rackbeat retries.

Duplicates and deliveries out of order are harmless: the worker fetches the record's current
version and the ledger's content hash decides whether anything is written. ``*.deleted`` events
are stored and shown (``rbsync webhooks list``), nothing is written to PowerOffice Go;
``plugin.uninstalled`` marks the connection disconnected (polls stop).

One receiver serves every connection: a delivery's ``Rackbeat-Account-Id`` names the Rackbeat
account, and so the connection (``rbsync connections add`` records each one's account id); a
delivery naming no stored account goes to ``default``. Its token is checked against that
connection's webhooks only, and it is stored and sent within that connection.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
from typing import Any

import sqlalchemy as sa
from celery import Celery
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kinds.webhook_events import HandledEvent, event_named
from ledger import DEFAULT_CONNECTION
from ledger.connections import connection_for_account
from ledger.webhooks import (
    ACTION_SYNC,
    ACTION_UNINSTALLED,
    UnsentEvent,
    disconnect,
    store_event,
    token_matches,
)
from tasks.webhooks import send_events
from wiring.runtime import Fleet, Runtime

__all__ = ["PATH", "Counters", "create_receiver"]

log = logging.getLogger(__name__)

PATH = "/webhooks/rackbeat"
TOKEN_HEADER = "rackbeat-webhook-token"  # noqa: S105 - a header name, not a secret
EVENT_HEADER = "rackbeat-webhook-event"
ACCOUNT_HEADER = "rackbeat-account-id"


class Counters:
    """What this receiver process answered, by outcome (``/healthz`` shows them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_outcome: collections.Counter[str] = collections.Counter()
        self.unhandled: collections.Counter[str] = collections.Counter()

    def count(self, outcome: str, *, unhandled: str | None = None) -> None:
        with self._lock:
            self.by_outcome[outcome] += 1
            if unhandled is not None:
                self.unhandled[unhandled[:64]] += 1

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {"answers": dict(self.by_outcome), "unhandled_events": dict(self.unhandled)}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _read_capped(request: Request, cap: int) -> bytes | None:
    """The body, or None when it is longer than ``cap`` bytes (reading stops there)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            return None
    return bytes(body)


def _key_of(payload: Any) -> str | None:
    """The delivery's ``key``, a string or an int (Rackbeat sends both), as text."""
    key = payload.get("key") if isinstance(payload, dict) else None
    if isinstance(key, bool):
        return None
    if isinstance(key, int):
        return str(key)
    if isinstance(key, str) and key.strip():
        return key.strip()
    return None


class _Receiver:
    def __init__(self, fleet: Fleet, celery_app: Celery, counters: Counters) -> None:
        self.fleet = fleet
        self.celery_app = celery_app
        self.counters = counters
        self.cap = fleet.settings.webhook_max_body_bytes

    def runtime_of(self, account: str | None) -> Runtime | None:
        """The runtime of the connection of Rackbeat account ``account`` (``default`` when no
        stored connection has it); None when that connection does not exist."""
        name = None
        if account:
            with self.fleet.sessions() as session:
                name = connection_for_account(session, account.strip())
        try:
            return self.fleet.runtime(name or DEFAULT_CONNECTION)
        except LookupError:  # UnknownConnectionError included
            return None

    def token_ok(self, account: str | None, token: str | None) -> Runtime | None:
        """The connection's runtime when ``token`` is one of its webhooks' tokens, else None."""
        runtime = self.runtime_of(account)
        if runtime is None:
            return None
        with runtime.sessions() as session:
            return runtime if token_matches(session, token) else None

    def store(
        self,
        runtime: Runtime,
        handled: HandledEvent,
        key: str | None,
        account: str | None,
        detail: Any,
    ) -> int:
        with runtime.sessions.begin() as session:
            event_id = store_event(
                session,
                event=handled.name,
                action=handled.action,
                kind=handled.kind,
                key=key,
                account_id=account,
                detail=detail if isinstance(detail, dict) else None,
            )
            if handled.action == ACTION_UNINSTALLED:
                disconnect(session, f"Rackbeat sent {handled.name} (account {account or '?'})")
        return event_id

    def send(self, runtime: Runtime, event: UnsentEvent) -> None:
        """After the answer: the message, then the row marked sent (or left for the sweep)."""
        try:
            send_events(self.celery_app, runtime, [event])
            self.counters.count("sent")
        except Exception as exc:
            self.counters.count("send_failed")
            log.warning(
                "webhook %s %s stored; its message did not go out (%s): the sweep sends it",
                event.kind,
                event.key,
                type(exc).__name__,
            )

    async def rackbeat(self, request: Request) -> Response:
        admitted = await self.admit(request)
        if isinstance(admitted, Response):
            return admitted
        runtime, body = admitted
        name = request.headers.get(EVENT_HEADER, "").strip()
        handled = event_named(name)
        if handled is None:
            self.counters.count("unhandled", unhandled=name or "(none)")
            log.info("webhook event %.64r not handled; answered 200", name)
            return JSONResponse({"ignored": name})
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            payload = None
        key = _key_of(payload)
        if handled.action != ACTION_UNINSTALLED and key is None:
            self.counters.count("malformed")
            return _error(422, "the body has no key (a JSON object with key: string or int)")
        account = request.headers.get(ACCOUNT_HEADER)
        try:
            event_id = await run_in_threadpool(self.store, runtime, handled, key, account, payload)
        except SQLAlchemyError as exc:
            why = type(exc).__name__
            log.error("webhook %s not stored: the ledger is unavailable (%s)", name, why)
            self.counters.count("ledger_unavailable")
            return _error(503, "the ledger is unavailable; retry later")
        self.counters.count(handled.action)
        return self.accepted(runtime, event_id, handled, key)

    async def admit(self, request: Request) -> tuple[Runtime, bytes] | Response:
        """The connection and body of a delivery with a token of that connection's webhooks and
        an acceptable size, else the refusal."""
        try:
            known = await run_in_threadpool(
                self.token_ok,
                request.headers.get(ACCOUNT_HEADER),
                request.headers.get(TOKEN_HEADER),
            )
        except SQLAlchemyError as exc:
            log.error("webhook refused: the ledger is unavailable (%s)", type(exc).__name__)
            self.counters.count("ledger_unavailable")
            return _error(503, "the ledger is unavailable; retry later")
        if known is None:
            self.counters.count("forbidden")
            log.warning("webhook refused: missing or unknown Rackbeat-Webhook-Token")
            return _error(401, "missing or unknown Rackbeat-Webhook-Token")
        body = await _read_capped(request, self.cap)
        if body is None:
            self.counters.count("too_large")
            return _error(413, f"body over {self.cap} bytes")
        return known, body

    def accepted(
        self, runtime: Runtime, event_id: int, handled: HandledEvent, key: str | None
    ) -> Response:
        """The 200 of a stored delivery; a ``sync`` one's message goes out after it."""
        background = None
        if handled.action == ACTION_SYNC and handled.kind is not None and key is not None:
            event = UnsentEvent(event_id, handled.kind, key, runtime.connection)
            background = BackgroundTask(self.send, runtime, event)
        return JSONResponse({"stored": event_id, "action": handled.action}, background=background)

    async def healthz(self, _request: Request) -> Response:
        def ledger_ok() -> bool:
            with self.fleet.sessions() as session:
                session.execute(sa.text("SELECT 1"))
            return True

        try:
            await run_in_threadpool(ledger_ok)
        except SQLAlchemyError as exc:
            return JSONResponse(
                {"status": "ledger unavailable", "error": type(exc).__name__}, status_code=503
            )
        return JSONResponse({"status": "ok", **self.counters.to_json()})


def create_receiver(
    wiring: Fleet | Runtime, celery_app: Celery, *, counters: Counters | None = None
) -> Starlette:
    """The ASGI app: ``POST /webhooks/rackbeat`` and ``GET /healthz``, for every connection of
    the fleet (a runtime alone: its connection only)."""
    if isinstance(wiring, Runtime):
        fleet = Fleet(settings=wiring.settings, engine=wiring.engine, locks=wiring.locks)
        fleet.adopt(wiring)
    else:
        fleet = wiring
    receiver = _Receiver(fleet, celery_app, counters or Counters())
    app = Starlette(
        routes=[
            Route(PATH, receiver.rackbeat, methods=["POST"]),
            Route("/healthz", receiver.healthz, methods=["GET"]),
        ]
    )
    app.state.receiver = receiver
    return app

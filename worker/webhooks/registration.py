"""Registering rbsync's receiver with Rackbeat: one webhook per handled event, tokens kept as
digests in the ledger (``ledger.webhooks``), idempotent.

Rackbeat returns a webhook's token only when it creates it; ``POST webhooks`` with an event and
URL it has already updates that webhook and returns none. When the ledger holds no token for
such a webhook (a new ledger, an unregister that could not reach the ledger), it is deleted and
created again, which yields a token.
"""

from __future__ import annotations

import dataclasses

from clients import PermanentError
from kinds.webhook_events import EVENTS, HandledEvent
from ledger.webhooks import (
    delete_subscription,
    has_subscription,
    reconnect,
    save_subscription,
    subscriptions,
)
from wiring.runtime import Runtime

__all__ = ["Registration", "register_receiver", "unregister_receiver"]


@dataclasses.dataclass(frozen=True)
class Registration:
    """What registering one event did."""

    event: HandledEvent
    webhook_id: int | None
    outcome: str
    """``created``, ``updated``, ``recreated`` (for its token) or ``refused: <why>``."""


def _register_one(runtime: Runtime, event: HandledEvent, url: str) -> Registration:
    client = runtime.rackbeat
    try:
        hook = client.create_webhook(event.name, url)
        outcome = "created"
        if hook.token is None:
            with runtime.sessions() as session:
                known = has_subscription(session, event.name, url)
            outcome = "updated"
            if not known:
                client.delete_webhook(hook.id)
                hook = client.create_webhook(event.name, url)
                outcome = "recreated"
    except PermanentError as exc:
        return Registration(event, None, f"refused: {exc}")
    token = hook.token.get_secret_value() if hook.token is not None else None
    if token is None and outcome != "updated":
        return Registration(event, hook.id, "refused: Rackbeat returned no token")
    with runtime.sessions.begin() as session:
        save_subscription(session, rackbeat_id=hook.id, event=event.name, url=url, token=token)
    return Registration(event, hook.id, outcome)


def register_receiver(runtime: Runtime, url: str) -> list[Registration]:
    """Register every handled event for ``url``; a registration clears a disconnection."""
    done = [_register_one(runtime, event, url) for event in EVENTS]
    if any(r.webhook_id is not None for r in done):
        with runtime.sessions.begin() as session:
            reconnect(session)
    return done


def unregister_receiver(runtime: Runtime, url: str | None = None) -> int:
    """Delete the webhooks the ledger holds (only those of ``url`` when given); how many."""
    with runtime.sessions() as session:
        held = [s for s in subscriptions(session) if url in (None, s.url)]
    for sub in held:
        runtime.rackbeat.delete_webhook(sub.rackbeat_id)
        with runtime.sessions.begin() as session:
            delete_subscription(session, sub.rackbeat_id)
    return len(held)

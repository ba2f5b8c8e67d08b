"""A connection whose credentials or PowerOffice Go module were refused stops, alone.

When Rackbeat or PowerOffice Go refuses a connection's credentials (401, the token endpoint's
``invalid_client``) or its client lacks a module (403), every further request of that
connection fails the same way: the connection is marked ``broken`` with the API's reason
(``rbsync connections list``, ``status``, the logs), its polls stop (the tick leaves it out, a
poll already sent skips) until an operator runs ``rbsync connections resume``; the other
connections go on, untouched. The entity whose sync met the refusal ends ``failed`` with the
same reason (``rbsync retry --connection NAME`` once it is fixed). An operator's ``paused``
stops polls the same way.

The environment's ``default`` has no stored row: it is logged as broken, not recorded (its
state is its environment; see ``wiring.connections.mark_connection``).
"""

from __future__ import annotations

import logging

from clients import AuthenticationError
from ledger.connections import get_connection
from wiring.connections import mark_connection
from wiring.runtime import Runtime

__all__ = ["BROKEN", "PAUSED", "mark_refused", "stopped_state"]

log = logging.getLogger(__name__)

BROKEN = "broken"
PAUSED = "paused"


def mark_refused(runtime: Runtime, error: AuthenticationError, what: str) -> None:
    """Mark the runtime's connection broken because ``what`` met ``error``. Best effort: a
    ledger that cannot be reached leaves it to the next refusal."""
    reason = f"{what}: {error}"
    logged = False  # mark_connection logs (WARNING) a connection it cannot record: the default
    try:
        logged = not mark_connection(runtime.sessions, runtime.connection, BROKEN, reason[:500])
    except Exception as exc:
        log.warning(
            "connection %s: could not be marked broken (%s)", runtime.connection, type(exc).__name__
        )
    if not logged:
        log.error("connection %s is broken: %s", runtime.connection, reason)


def stopped_state(runtime: Runtime) -> str | None:
    """Why the runtime's connection must not poll (``paused`` / ``broken`` and the reason), or
    None when it is active (or the environment's ``default``, which has no stored state)."""
    with runtime.sessions() as session:
        stored = get_connection(session, runtime.connection)
    if stored is None or stored.state not in (BROKEN, PAUSED):
        return None
    reason = f": {stored.state_reason}" if stored.state_reason else ""
    return f"connection {runtime.connection} is {stored.state}{reason}"

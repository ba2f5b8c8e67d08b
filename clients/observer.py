"""What a client reports about its own traffic, for whoever counts it (metrics, a benchmark).

``clients/`` knows nothing of Prometheus: the wiring injects an :class:`ApiObserver` per API
(``wiring.metrics``), and the clients call it at three points:

- :meth:`ApiObserver.waited`: the seconds a request waited for the rate limiter's slot (every
  request on the wire, token requests and 401 replays included: the transport asks);
- :meth:`ApiObserver.answered`: the method and status of every answer, or ``None`` when no
  answer came (a transport error);
- :meth:`ApiObserver.token_fetched`: every PowerOffice Go access-token request, and whether it
  gave a token.

Observers are called on the request's own thread and must be quick and never raise.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["NO_OBSERVER", "ApiObserver", "NullObserver"]


class ApiObserver(Protocol):
    """Receives one API's traffic facts (never a URL, a body or a credential)."""

    def waited(self, seconds: float) -> None:
        """A request waited ``seconds`` for the rate limiter (0.0 when a slot was free)."""
        ...

    def answered(self, method: str, status: int | None) -> None:
        """A request got an answer with ``status``; ``None``: no answer (transport error)."""
        ...

    def token_fetched(self, ok: bool) -> None:
        """An access-token request ended: ``ok`` when it gave a usable token."""
        ...


class NullObserver:
    """Counts nothing (the default)."""

    def waited(self, seconds: float) -> None:  # noqa: ARG002
        return None

    def answered(self, method: str, status: int | None) -> None:  # noqa: ARG002
        return None

    def token_fetched(self, ok: bool) -> None:  # noqa: ARG002
        return None


NO_OBSERVER = NullObserver()

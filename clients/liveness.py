"""A GET of a health endpoint of rbsync's own (the webhook receiver's ``/healthz``).

No API is spoken here; it lives in ``clients/`` because this package is where rbsync's HTTP
goes out. The answer is a plain value: callers need not know httpx.
"""

from __future__ import annotations

import dataclasses

import httpx

__all__ = ["LivenessAnswer", "get_liveness"]


@dataclasses.dataclass(frozen=True)
class LivenessAnswer:
    """The status code, or why there was none (``error``)."""

    status: int | None
    error: str | None = None


def get_liveness(url: str, *, timeout: float) -> LivenessAnswer:
    """GET ``url`` once (no retry: a probe must answer for the moment it asks)."""
    try:
        response = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        return LivenessAnswer(None, f"{type(exc).__name__}: {exc}")
    return LivenessAnswer(response.status_code)

"""A test's client of one emulator's admin surface (``/_sandbox/``, see ``sandbox.admin``).

Both emulators serve the same common admin routes, so both pytest handles share this base;
each adds what is its own (credentials, Rackbeat's ``touch``, PowerOffice Go's clock).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from sandbox.faults import FaultRule
from sandbox.server import RunningServer

__all__ = ["ADMIN_TIMEOUT_SECONDS", "AdminHandle"]

ADMIN_TIMEOUT_SECONDS = 30.0


class AdminHandle:
    """The common admin routes of a running emulator, spoken to over HTTP."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.url = server.url
        self.admin = httpx.Client(base_url=f"{server.url}/_sandbox/", timeout=ADMIN_TIMEOUT_SECONDS)

    def _ok(self, response: httpx.Response) -> Any:
        response.raise_for_status()
        return response.json()

    def reset(
        self, *, seed: int | None = None, scale: int | None = None, empty: bool = False
    ) -> dict[str, Any]:
        """Back to a seeded (or, with ``empty``, an empty) start state."""
        body: dict[str, Any] = {"empty": empty}
        if seed is not None:
            body["seed"] = seed
        if scale is not None:
            body["scale"] = scale
        return dict(self._ok(self.admin.post("reset", json=body)))

    def state(self) -> dict[str, Any]:
        """The emulator's whole state as JSON."""
        return dict(self._ok(self.admin.get("state")))

    def counters(self) -> dict[str, Any]:
        """Request counters per route and write counters per resource."""
        return dict(self._ok(self.admin.get("counters")))

    def reset_counters(self) -> dict[str, Any]:
        return dict(self._ok(self.admin.post("counters/reset")))

    def set_faults(self, rules: Sequence[FaultRule | Mapping[str, Any]]) -> list[Any]:
        """Replace the fault rules (see ``sandbox.faults.FaultRule``)."""
        payload = [r.model_dump() if isinstance(r, FaultRule) else dict(r) for r in rules]
        return list(self._ok(self.admin.put("faults", json=payload)))

    def faults(self) -> list[dict[str, Any]]:
        """The fault rules, each with how many requests it has changed (``injected``)."""
        return list(self._ok(self.admin.get("faults")))

    def clear_faults(self) -> None:
        self._ok(self.admin.delete("faults"))

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Change the emulator's knobs (each emulator documents its own)."""
        return dict(self._ok(self.admin.patch("config", json=knobs)))

    def close(self) -> None:
        self.admin.close()

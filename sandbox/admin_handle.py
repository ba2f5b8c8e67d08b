"""A test's client of one emulator's admin surface (``/_sandbox/``, see ``sandbox.admin``).

Both emulators serve the same common admin routes, so both pytest handles share this base;
each adds what is its own (credentials, Rackbeat's ``touch``, PowerOffice Go's clock). A handle
may be scoped to one tenant (``scope={"account": "4712"}``, ``{"client": key}``): every common
route it calls then acts on that tenant only (its data, counters and fault rules).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import httpx

from sandbox.faults import FaultRule
from sandbox.server import RunningServer

__all__ = ["ADMIN_TIMEOUT_SECONDS", "AdminHandle", "WindowCounts", "window_counts"]

ADMIN_TIMEOUT_SECONDS = 30.0


class WindowCounts(TypedDict):
    """Requests answered in a window of wall-clock seconds (``GET /_sandbox/counters/window``)."""

    requests: int
    statuses: dict[str, int]
    """By status (``"200"``, ``"429"``, ...; ``"none"``: the connection was dropped)."""
    per_second: dict[str, int]
    """Requests per epoch second (as a string), the seconds with none left out."""


def window_counts(figures: Mapping[str, Any]) -> WindowCounts:
    """The typed form of one ``counters/window`` answer (or one tenant's part of it)."""
    return WindowCounts(
        requests=int(figures["requests"]),
        statuses={k: int(v) for k, v in figures["statuses"].items()},
        per_second={k: int(v) for k, v in figures["per_second"].items()},
    )


class AdminHandle:
    """The common admin routes of a running emulator, spoken to over HTTP."""

    def __init__(
        self,
        server: RunningServer,
        *,
        admin: httpx.Client | None = None,
        scope: Mapping[str, str] | None = None,
    ) -> None:
        self.server = server
        self.url = server.url
        self._owns_admin = admin is None
        self.admin = admin or httpx.Client(
            base_url=f"{server.url}/_sandbox/", timeout=ADMIN_TIMEOUT_SECONDS
        )
        self.scope: dict[str, str] = dict(scope or {})
        """Query parameters naming the tenant this handle acts on (empty: the emulator)."""

    def _ok(self, response: httpx.Response) -> Any:
        response.raise_for_status()
        return response.json()

    def reset(
        self, *, seed: int | None = None, scale: int | None = None, empty: bool = False
    ) -> dict[str, Any]:
        """Back to a seeded (or, with ``empty``, an empty) start state. Unscoped, this is the
        whole emulator: every tenant but the default one is removed."""
        body: dict[str, Any] = {"empty": empty}
        if seed is not None:
            body["seed"] = seed
        if scale is not None:
            body["scale"] = scale
        return dict(self._ok(self.admin.post("reset", json=body, params=self.scope)))

    def state(self) -> dict[str, Any]:
        """The emulator's (the tenant's) whole state as JSON."""
        return dict(self._ok(self.admin.get("state", params=self.scope)))

    def counters(self) -> dict[str, Any]:
        """Request counters per route and write counters per resource."""
        return dict(self._ok(self.admin.get("counters", params=self.scope)))

    def reset_counters(self) -> dict[str, Any]:
        return dict(self._ok(self.admin.post("counters/reset", params=self.scope)))

    def window(self, since: float, until: float | None = None) -> WindowCounts:
        """Requests answered in wall-clock seconds ``[int(since), until)`` (``until``: now)."""
        return window_counts(self._window(since, until))

    def _window(self, since: float, until: float | None) -> dict[str, Any]:
        params: dict[str, Any] = {**self.scope, "since": since}
        if until is not None:
            params["until"] = until
        return dict(self._ok(self.admin.get("counters/window", params=params)))

    def set_faults(self, rules: Sequence[FaultRule | Mapping[str, Any]]) -> list[Any]:
        """Replace the fault rules (see ``sandbox.faults.FaultRule``); scoped, only the
        tenant's rules are replaced (and each applies to the tenant's requests only)."""
        payload = [
            r.model_dump(exclude_none=True) if isinstance(r, FaultRule) else dict(r) for r in rules
        ]
        return list(self._ok(self.admin.put("faults", json=payload, params=self.scope)))

    def faults(self) -> list[dict[str, Any]]:
        """The fault rules, each with how many requests it has changed (``injected``)."""
        return list(self._ok(self.admin.get("faults", params=self.scope)))

    def clear_faults(self) -> None:
        self._ok(self.admin.delete("faults", params=self.scope))

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Change the emulator's knobs (each emulator documents its own; emulator-wide)."""
        return dict(self._ok(self.admin.patch("config", json=knobs)))

    def close(self) -> None:
        if self._owns_admin:
            self.admin.close()

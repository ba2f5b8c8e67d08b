"""pytest plugin: the ``poweroffice_emulator`` and ``rackbeat_emulator`` fixtures.

Register it once with ``pytest_plugins = ["sandbox.testing"]`` in the root ``conftest.py``.
Each emulator starts once per test session on a free loopback port (cheap), and every test gets
it back fresh: default knobs, no faults, its default start state, zeroed counters, real time.
The handles speak to the admin surface over HTTP, as a test of another part would.

PowerOffice Go's default start state is the empty company with its reference data (accounts,
VAT codes, payment terms): the ongoing sync. ``reset(seed=..., scale=...)`` seeds it for the
initial sync (R-INIT-1..4). More client companies under the same subscription key:
``po.add_client(client_key="k2")`` returns a :class:`PowerOfficeClientHandle` (its own token,
``client()``, ``state()``, ``counters()``...); every test starts with the default client alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest

from sandbox.admin_handle import ADMIN_TIMEOUT_SECONDS, AdminHandle, WindowCounts, window_counts
from sandbox.poweroffice import PowerOfficeBackend, PowerOfficeConfig, create_app
from sandbox.server import RunningServer, serve_in_thread
from sandbox.testing_rackbeat import (
    RackbeatAccountHandle,
    RackbeatEmulatorHandle,
    rackbeat_emulator,
    rackbeat_server,
)

__all__ = [
    "SEEDED_CREATES",
    "SEEDED_SYNC",
    "PowerOfficeClientHandle",
    "PowerOfficeEmulatorHandle",
    "RackbeatAccountHandle",
    "RackbeatEmulatorHandle",
    "poweroffice_emulator",
    "poweroffice_server",
    "rackbeat_emulator",
    "rackbeat_server",
]

SEEDED_SYNC: dict[str, dict[str, int]] = {
    "product": {"synced": 50},
    "bom": {"synced": 2},
    "customer": {"synced": 8},
    "invoice": {"synced": 5},
    "supplier": {"synced": 4, "skipped": 1},
}
"""The ledger, by kind and status, after a full sync of the emulators' default dataset (seed 1,
scale 50): every entity synced but the supplier without a VAT number (R-SUP-10)."""

SEEDED_CREATES: dict[str, int] = {
    "Products": 52,
    "ProductGroups": 9,
    "Customers": 8,
    "SalesOrders": 5,
    "Suppliers": 4,
    "ContactGroups": 1,
}
"""What that sync creates in the PowerOffice Go emulator, per resource (products and BOMs are
both ``Products``)."""


class _PowerOfficeAdmin(AdminHandle):
    """What both the emulator's handle and a client company's handle offer."""

    def __init__(
        self,
        server: RunningServer,
        backend: PowerOfficeBackend,
        *,
        admin: httpx.Client | None = None,
        scope: dict[str, str] | None = None,
    ) -> None:
        super().__init__(server, admin=admin, scope=scope)
        self.backend = backend
        self.base_url = f"{server.url}/v2"
        self.token_url = f"{server.url}/OAuth/Token"
        self.demo_base_url = f"{server.url}/Demo/v2"
        self.demo_token_url = f"{server.url}/Demo/OAuth/Token"

    # --- the credentials it accepts (sandbox values, fine to print) ---------------------------
    @property
    def application_key(self) -> str:
        return self.backend.config.application_key

    @property
    def client_key(self) -> str:
        return self.backend.config.client_key

    @property
    def subscription_key(self) -> str:
        return self.backend.config.subscription_key

    def token_response(self) -> httpx.Response:
        """The token endpoint's answer to this client key (a refused key is a 400)."""
        return httpx.post(
            self.token_url,
            data={"grant_type": "client_credentials"},
            auth=(self.application_key, self.client_key),
            headers={"Ocp-Apim-Subscription-Key": self.subscription_key},
            timeout=ADMIN_TIMEOUT_SECONDS,
        )

    def fetch_token(self) -> str:
        """A fresh access token from the token endpoint (counts as a token request)."""
        response = self.token_response()
        response.raise_for_status()
        return str(response.json()["access_token"])

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` on ``base_url`` with the subscription key and a bearer token."""
        headers = {
            "Ocp-Apim-Subscription-Key": self.subscription_key,
            "Authorization": f"Bearer {token or self.fetch_token()}",
            "Accept": "application/json",
        }
        kwargs.setdefault("timeout", 30.0)
        return httpx.Client(base_url=self.base_url + "/", headers=headers, **kwargs)

    def duplicate(self, resource: str, record_id: int) -> dict[str, Any]:
        """A copy of record ``record_id`` of ``resource`` under a new id, past the API's
        uniqueness rules (as an import in PowerOffice Go's own screens may leave behind)."""
        return dict(
            self._ok(self.admin.post(f"duplicate/{resource}/{record_id}", params=self.scope))
        )


class PowerOfficeClientHandle(_PowerOfficeAdmin):
    """One client company of a running PowerOffice Go emulator: its key, its scoped admin
    routes (``state()``, ``counters()``, ``window()``, ``reset()``, faults)."""

    def __init__(
        self,
        server: RunningServer,
        backend: PowerOfficeBackend,
        admin: httpx.Client,
        summary: dict[str, Any],
    ) -> None:
        key = str(summary["client_key"])
        super().__init__(server, backend, admin=admin, scope={"client": key})
        self._client_key = key
        self.client_id = str(summary["client_id"])
        self.client_name = str(summary["client_name"])

    @property
    def client_key(self) -> str:
        return self._client_key

    def summary(self) -> dict[str, Any]:
        """``GET /_sandbox/clients/{key}``: flags, record counts, requests, 429s, tokens."""
        return dict(self._ok(self.admin.get(f"clients/{self._client_key}")))

    def update(
        self,
        *,
        refused: bool | None = None,
        module_missing: bool | None = None,
        missing_privileges: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """``PATCH /_sandbox/clients/{key}``: refuse its key at the token endpoint, or take
        modules away (403 on their resources); answers the summary."""
        body: dict[str, Any] = {}
        if refused is not None:
            body["refused"] = refused
        if module_missing is not None:
            body["module_missing"] = module_missing
        if missing_privileges is not None:
            body["missing_privileges"] = list(missing_privileges)
        return dict(self._ok(self.admin.patch(f"clients/{self._client_key}", json=body)))


class PowerOfficeEmulatorHandle(_PowerOfficeAdmin):
    """What a test needs of a running PowerOffice Go emulator (its default client's side too)."""

    def __init__(self, server: RunningServer, backend: PowerOfficeBackend) -> None:
        super().__init__(server, backend)

    def advance_clock(self, seconds: float) -> float:
        """Move the emulator's time forward (token expiry, replica lag) instead of sleeping."""
        return float(
            self._ok(self.admin.post("clock/advance", json={"seconds": seconds}))[
                "clock_offset_seconds"
            ]
        )

    # --- client companies ---------------------------------------------------------------------
    def add_client(
        self,
        client_key: str | None = None,
        *,
        client_name: str | None = None,
        seed: int | None = None,
        scale: int | None = None,
        empty: bool = False,
        refused: bool = False,
        module_missing: bool = False,
        missing_privileges: Sequence[str] = (),
    ) -> PowerOfficeClientHandle:
        """``POST /_sandbox/clients``: a new client company under the subscription key, with
        generated data (``seed``/``scale``: the emulator's knobs when omitted, i.e. empty) or
        ``empty``; ``refused`` / ``module_missing`` / ``missing_privileges`` as described in
        docs/sandbox.md."""
        body: dict[str, Any] = {
            "empty": empty,
            "refused": refused,
            "module_missing": module_missing,
            "missing_privileges": list(missing_privileges),
        }
        for name, value in (
            ("client_key", client_key),
            ("client_name", client_name),
            ("seed", seed),
            ("scale", scale),
        ):
            if value is not None:
                body[name] = value
        summary = self._ok(self.admin.post("clients", json=body))
        return PowerOfficeClientHandle(self.server, self.backend, self.admin, summary)

    def for_client(self, client_key: str) -> PowerOfficeClientHandle:
        """The handle of an existing client company (the default one's key is ``client_key``)."""
        summary = self._ok(self.admin.get(f"clients/{client_key}"))
        return PowerOfficeClientHandle(self.server, self.backend, self.admin, summary)

    def clients(self) -> list[dict[str, Any]]:
        """``GET /_sandbox/clients``: every client's summary, the default one first."""
        return list(self._ok(self.admin.get("clients")))

    def remove_client(self, client_key: str) -> None:
        """``DELETE /_sandbox/clients/{key}`` (not the default client)."""
        self.admin.delete(f"clients/{client_key}").raise_for_status()

    def requests_by_client(
        self, since: float, until: float | None = None
    ) -> dict[str, WindowCounts]:
        """Requests per client key in wall-clock seconds ``[int(since), until)``, 429s among
        the statuses (clients without any request left out). The gateway-wide figures are
        :meth:`window`."""
        body = self._window(since, until)
        return {name: window_counts(f) for name, f in body["clients"].items()}


@pytest.fixture(scope="session")
def poweroffice_server() -> Iterator[PowerOfficeEmulatorHandle]:
    """The session's PowerOffice Go emulator (use ``poweroffice_emulator`` for a clean one)."""
    app = create_app(PowerOfficeConfig())
    backend: PowerOfficeBackend = app.state.sandbox
    server = serve_in_thread(app)
    handle = PowerOfficeEmulatorHandle(server, backend)
    try:
        yield handle
    finally:
        handle.close()
        server.stop()


@pytest.fixture
def poweroffice_emulator(
    poweroffice_server: PowerOfficeEmulatorHandle,
) -> PowerOfficeEmulatorHandle:
    """PowerOffice Go in its default start state, default knobs, no faults, zero counts."""
    backend = poweroffice_server.backend
    backend.restore_defaults()
    backend.faults.clear()
    backend.reset(seed=None, scale=None, empty=False)
    backend.counters.reset()
    return poweroffice_server

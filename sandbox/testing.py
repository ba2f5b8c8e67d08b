"""pytest plugin: the ``poweroffice_emulator`` and ``rackbeat_emulator`` fixtures.

Register it once with ``pytest_plugins = ["sandbox.testing"]`` in the root ``conftest.py``.
Each emulator starts once per test session on a free loopback port (cheap), and every test gets
it back fresh: default knobs, no faults, its default start state, zeroed counters, real time.
The handles speak to the admin surface over HTTP, as a test of another part would.

PowerOffice Go's default start state is the empty company with its reference data (accounts,
VAT codes, payment terms): the ongoing sync. ``reset(seed=..., scale=...)`` seeds it for the
initial sync (R-INIT-1..4).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sandbox.admin_handle import ADMIN_TIMEOUT_SECONDS, AdminHandle
from sandbox.poweroffice import PowerOfficeBackend, PowerOfficeConfig, create_app
from sandbox.server import RunningServer, serve_in_thread
from sandbox.testing_rackbeat import RackbeatEmulatorHandle, rackbeat_emulator, rackbeat_server

__all__ = [
    "SEEDED_CREATES",
    "SEEDED_SYNC",
    "PowerOfficeEmulatorHandle",
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


class PowerOfficeEmulatorHandle(AdminHandle):
    """What a test needs of a running PowerOffice Go emulator."""

    def __init__(self, server: RunningServer, backend: PowerOfficeBackend) -> None:
        super().__init__(server)
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

    def fetch_token(self) -> str:
        """A fresh access token from the token endpoint (counts as a token request)."""
        response = httpx.post(
            self.token_url,
            data={"grant_type": "client_credentials"},
            auth=(self.application_key, self.client_key),
            headers={"Ocp-Apim-Subscription-Key": self.subscription_key},
            timeout=ADMIN_TIMEOUT_SECONDS,
        )
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

    # --- admin (the common routes are AdminHandle's) --------------------------------------------
    def duplicate(self, resource: str, record_id: int) -> dict[str, Any]:
        """A copy of record ``record_id`` of ``resource`` under a new id, past the API's
        uniqueness rules (as an import in PowerOffice Go's own screens may leave behind)."""
        return dict(self._ok(self.admin.post(f"duplicate/{resource}/{record_id}")))

    def advance_clock(self, seconds: float) -> float:
        """Move the emulator's time forward (token expiry, replica lag) instead of sleeping."""
        return float(
            self._ok(self.admin.post("clock/advance", json={"seconds": seconds}))[
                "clock_offset_seconds"
            ]
        )


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

"""The ``rackbeat_emulator`` pytest fixture: one Rackbeat emulator per session, fresh per test.

The server starts once per test session on a free loopback port; every test gets it back in its
default start state (seed 1, scale 50), with default knobs, no faults and zeroed counters. The
handle speaks to the admin surface over HTTP, as a test of another part would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from sandbox.admin_handle import AdminHandle
from sandbox.rackbeat.app import RackbeatConfig, RackbeatEmulator, create_app
from sandbox.server import RunningServer, serve_in_thread

__all__ = ["RackbeatEmulatorHandle", "rackbeat_emulator", "rackbeat_server"]

DEFAULT_SEED = 1
DEFAULT_SCALE = 50


class RackbeatEmulatorHandle(AdminHandle):
    """What a test needs of a running Rackbeat emulator.

    Its ``configure`` knobs: ``rate_limit_enabled``, ``rate_limit_per_minute``,
    ``ignore_updated_at_filter`` (endpoint names), ``frozen_time``, ``token``, ``other_tokens``.
    """

    def __init__(self, server: RunningServer, emulator: RackbeatEmulator) -> None:
        super().__init__(server)
        self.emulator = emulator
        self.base_url = f"{server.url}/api/"

    @property
    def token(self) -> str:
        """The bearer token the emulator accepts."""
        return self.emulator.knobs.token

    def client(self, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` on ``base_url`` with the bearer token (close it after use)."""
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30.0, **kwargs)

    def touch(self, resource: str, number: str | int, **fields: Any) -> dict[str, Any]:
        """Change a record as a Rackbeat user would; returns the rendered record."""
        segment = quote(str(number), safe="")
        return dict(self._ok(self.admin.post(f"touch/{resource}/{segment}", json=fields)))


@pytest.fixture(scope="session")
def rackbeat_server() -> Iterator[RackbeatEmulatorHandle]:
    """The session's Rackbeat emulator (use ``rackbeat_emulator`` for a clean one)."""
    app = create_app(RackbeatConfig(seed=DEFAULT_SEED, scale=DEFAULT_SCALE))
    emulator: RackbeatEmulator = app.state.emulator
    server = serve_in_thread(app)
    handle = RackbeatEmulatorHandle(server, emulator)
    try:
        yield handle
    finally:
        handle.close()
        server.stop()


@pytest.fixture
def rackbeat_emulator(rackbeat_server: RackbeatEmulatorHandle) -> RackbeatEmulatorHandle:
    """The Rackbeat emulator in its default start state, default knobs, no faults, zero counts."""
    emulator = rackbeat_server.emulator
    emulator.faults.clear()
    emulator.restore_defaults()
    emulator.reset(seed=DEFAULT_SEED, scale=DEFAULT_SCALE, empty=False)
    emulator.counters.reset()
    return rackbeat_server

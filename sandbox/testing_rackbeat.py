"""The ``rackbeat_emulator`` pytest fixture: one Rackbeat emulator per session, fresh per test.

The server starts once per test session on a free loopback port; every test gets it back in its
default start state (seed 1, scale 50), with default knobs, no faults and zeroed counters, and
with its default account alone (accounts a test added are gone). The handle speaks to the
admin surface over HTTP, as a test of another part would.

More accounts: ``rb.add_account(token="t2", seed=1)`` (the same records as the default account,
item numbers included) or ``rb.add_account(empty=True)``; the :class:`RackbeatAccountHandle` it
returns has the account's ``token``, ``client()``, ``state()``, ``counters()``, ``touch()``...
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from sandbox.admin_handle import AdminHandle, WindowCounts, window_counts
from sandbox.rackbeat.app import RackbeatConfig, RackbeatEmulator, create_app
from sandbox.server import RunningServer, serve_in_thread

__all__ = [
    "RackbeatAccountHandle",
    "RackbeatEmulatorHandle",
    "rackbeat_emulator",
    "rackbeat_server",
]

DEFAULT_SEED = 1
DEFAULT_SCALE = 50


class _RackbeatAdmin(AdminHandle, ABC):
    """What both the emulator's handle and an account's handle offer."""

    base_url: str

    @property
    @abstractmethod
    def token(self) -> str:
        """The bearer token of the account the handle speaks for."""

    def client(self, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` on ``base_url`` with the bearer token (close it after use)."""
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30.0, **kwargs)

    def touch(self, resource: str, number: str | int, **fields: Any) -> dict[str, Any]:
        """Change a record as a Rackbeat user would; returns the rendered record."""
        segment = quote(str(number), safe="")
        return dict(
            self._ok(self.admin.post(f"touch/{resource}/{segment}", json=fields, params=self.scope))
        )

    def emit(self, event: str, key: Any = None) -> int:
        """Deliver ``event`` for ``key`` to its webhooks; how many subscriptions it reached."""
        body = {"event": event, "key": key}
        return int(
            self._ok(self.admin.post("webhooks/emit", json=body, params=self.scope))["queued"]
        )


class RackbeatAccountHandle(_RackbeatAdmin):
    """One account of a running Rackbeat emulator: its token and its scoped admin routes."""

    def __init__(self, server: RunningServer, admin: httpx.Client, summary: dict[str, Any]) -> None:
        super().__init__(server, admin=admin, scope={"account": str(summary["account_id"])})
        self.account_id = int(summary["account_id"])
        self._token = str(summary["token"])
        self.company_name = str(summary["company_name"])
        self.base_url = f"{server.url}/api/"

    @property
    def token(self) -> str:
        """The account's (first) API token."""
        return self._token

    def summary(self) -> dict[str, Any]:
        """``GET /_sandbox/accounts/{id}``: tokens, seed, record counts, requests, 429s."""
        return dict(self._ok(self.admin.get(f"accounts/{self.account_id}")))


class RackbeatEmulatorHandle(_RackbeatAdmin):
    """What a test needs of a running Rackbeat emulator (its default account's side too).

    Its ``configure`` knobs: ``rate_limit_enabled``, ``rate_limit_per_minute``,
    ``ignore_updated_at_filter`` (endpoint names), ``frozen_time``, ``token``, ``other_tokens``.
    """

    def __init__(self, server: RunningServer, emulator: RackbeatEmulator) -> None:
        super().__init__(server)
        self.emulator = emulator
        self.base_url = f"{server.url}/api/"

    @property
    def token(self) -> str:
        """The bearer token the emulator accepts for its default account."""
        return self.emulator.knobs.token

    # --- accounts -----------------------------------------------------------------------------
    def add_account(
        self,
        token: str | None = None,
        *,
        account_id: int | None = None,
        seed: int | None = None,
        scale: int | None = None,
        empty: bool = False,
        include_bad: bool = False,
        company_name: str | None = None,
        other_tokens: Sequence[str] = (),
    ) -> RackbeatAccountHandle:
        """``POST /_sandbox/accounts``: a new account, generated from ``seed``/``scale`` (the
        emulator's start values when omitted: the default account's records) or ``empty``."""
        body: dict[str, Any] = {
            "empty": empty,
            "include_bad": include_bad,
            "other_tokens": list(other_tokens),
        }
        for name, value in (
            ("token", token),
            ("account_id", account_id),
            ("seed", seed),
            ("scale", scale),
            ("company_name", company_name),
        ):
            if value is not None:
                body[name] = value
        summary = self._ok(self.admin.post("accounts", json=body))
        return RackbeatAccountHandle(self.server, self.admin, summary)

    def account(self, account_id: int) -> RackbeatAccountHandle:
        """The handle of an existing account (the default one is 4711)."""
        return RackbeatAccountHandle(
            self.server, self.admin, self._ok(self.admin.get(f"accounts/{account_id}"))
        )

    def accounts(self) -> list[dict[str, Any]]:
        """``GET /_sandbox/accounts``: every account's summary, the default one first."""
        return list(self._ok(self.admin.get("accounts")))

    def remove_account(self, account_id: int) -> None:
        """``DELETE /_sandbox/accounts/{id}`` (not the default account)."""
        self.admin.delete(f"accounts/{account_id}").raise_for_status()

    def requests_by_account(
        self, since: float, until: float | None = None
    ) -> dict[str, WindowCounts]:
        """Requests per account id in wall-clock seconds ``[int(since), until)`` (accounts
        without any left out)."""
        body = self._window(since, until)
        return {name: window_counts(f) for name, f in body["accounts"].items()}


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

"""The PowerOffice Go emulator's state holder: client companies, tokens, limiter, knobs,
counters, faults.

:class:`PowerOfficeBackend` implements :class:`sandbox.admin.SandboxBackend` and
:class:`sandbox.admin.TenantDirectory` (the tenants are client companies, named by client key).
The client of the ``client_key`` knob is the default one; ``state`` is its tables. One
re-entrant lock serialises every access to the data, so the emulator is safe under uvicorn's
event loop and under a test thread calling ``reset`` at the same time.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Mapping
from typing import Any

from sandbox.clock import SandboxClock
from sandbox.counters import Counters
from sandbox.faults import FaultInjector
from sandbox.poweroffice import reference
from sandbox.poweroffice.clients import (
    CLIENT_ID_NAMESPACE,
    ClientRequest,
    ClientUpdate,
    PowerOfficeClient,
)
from sandbox.poweroffice.config import PowerOfficeConfig
from sandbox.poweroffice.generator import generate
from sandbox.poweroffice.state import PowerOfficeState
from sandbox.ratelimit import RateLimiter

__all__ = ["CLIENT_ID_STRIDE", "PowerOfficeBackend"]

_RUNTIME_ONLY: set[str] = {"faults"}
CLIENT_ID_STRIDE = 100_000_000
"""Record ids of the n-th client company start n x this higher (ids are global in PowerOffice
Go, so a record id of one company never names a record of another)."""


class PowerOfficeBackend:
    """Everything the PowerOffice Go emulator knows, behind one lock."""

    def __init__(self, config: PowerOfficeConfig | None = None) -> None:
        self._initial = (config or PowerOfficeConfig()).model_copy(deep=True)
        self.config = self._initial.model_copy(deep=True)
        self.lock = threading.RLock()
        self.clock = SandboxClock()
        self._counters = Counters()
        self._faults = FaultInjector(self.config.faults, seed=self.config.fault_seed)
        self.limiter = RateLimiter(
            self.config.rate_limit_per_second,
            self.config.rate_limit_window_seconds,
            enabled=self.config.rate_limit_enabled,
            clock=self.clock.monotonic,
        )
        self._tokens: dict[str, float] = {}
        self._token_clients: dict[str, PowerOfficeClient] = {}
        self.clients: dict[str, PowerOfficeClient] = {}
        self._ordinal = 0
        self.default = self._new_client(
            self.config.client_key,
            client_id=reference.CLIENT_ID,
            client_name=reference.CLIENT_NAME,
            seed=self.config.seed,
            scale=self.config.scale,
        )
        self.reset(seed=None, scale=None, empty=False)

    @property
    def state(self) -> PowerOfficeState:
        """The default client company's tables."""
        return self.default.state

    # --- SandboxBackend ----------------------------------------------------------------------
    @property
    def counters(self) -> Counters:
        return self._counters

    @property
    def faults(self) -> FaultInjector:
        return self._faults

    def reset(self, *, seed: int | None, scale: int | None, empty: bool) -> dict[str, Any]:
        """The default company alone again: reference data only (``empty`` or scale 0), else
        generated data on top. Every added client is removed."""
        with self.lock:
            for key in [k for k, c in self.clients.items() if c is not self.default]:
                self.remove_client(key)
            self._ordinal = 1  # the default company keeps id base 0
            self.default.seed, self.default.scale = self.config.seed, self.config.scale
            return self._load(self.default, seed=seed, scale=scale, empty=empty)

    def _load(
        self, client: PowerOfficeClient, *, seed: int | None, scale: int | None, empty: bool
    ) -> dict[str, Any]:
        client.state.clear()
        used_seed = client.seed if seed is None else seed
        used_scale = 0 if empty else (client.scale if scale is None else scale)
        if used_scale:
            client.state.load(generate(used_seed, used_scale))
        return {"seed": used_seed, "scale": used_scale, "records": client.state.summary()}

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "resources": self.state.dump(),
                "tokens_issued": len(self._tokens),
                "clock_offset_seconds": self.clock.offset,
            }

    def config_snapshot(self) -> dict[str, Any]:
        with self.lock:
            return self.config.model_dump(exclude=_RUNTIME_ONLY)

    def configure(self, knobs: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(knobs) - (set(PowerOfficeConfig.model_fields) - _RUNTIME_ONLY)
        if unknown:
            raise ValueError(f"unknown knob(s): {', '.join(sorted(unknown))}")
        with self.lock:
            merged = {**self.config.model_dump(), **knobs}
            config = PowerOfficeConfig.model_validate(merged)
            owner = self.clients.get(config.client_key)
            if owner is not None and owner is not self.default:
                raise ValueError("client_key: another client company has that key")
            self.config = config
            self._apply_config()
            return self.config_snapshot()

    def restore_defaults(self) -> None:
        with self.lock:
            self.config = self._initial.model_copy(deep=True)
            self._apply_config()
            self._faults.set_rules(self.config.faults)
            self._faults.reseed(self.config.fault_seed)
            self.clock.reset()
            self._tokens.clear()
            self._token_clients.clear()
            self.default.refused = False
            self.default.missing_privileges = frozenset()

    def _apply_config(self) -> None:
        self.limiter.configure(
            limit=self.config.rate_limit_per_second,
            period=self.config.rate_limit_window_seconds,
            enabled=self.config.rate_limit_enabled,
        )
        default = self.default
        if default.client_key != self.config.client_key:
            del self.clients[default.client_key]
            default.client_key = self.config.client_key
            self.clients[default.client_key] = default

    # --- client companies --------------------------------------------------------------------
    def _new_client(
        self, client_key: str, *, client_id: str, client_name: str, seed: int, scale: int
    ) -> PowerOfficeClient:
        counters = Counters(parent=self._counters)
        state = PowerOfficeState(
            counters=counters,
            now=self.clock.now,
            monotonic=self.clock.monotonic,
            lag=lambda: self.config.replica_lag_seconds,
            id_base=self._ordinal * CLIENT_ID_STRIDE,
        )
        self._ordinal += 1
        client = PowerOfficeClient(
            client_key=client_key,
            client_id=client_id,
            client_name=client_name,
            seed=seed,
            scale=scale,
            counters=counters,
            state=state,
        )
        self.clients[client_key] = client
        return client

    def add_client(self, request: ClientRequest) -> PowerOfficeClient:
        """A new client company under the subscription; ``ValueError`` when its key is taken."""
        with self.lock:
            key = request.client_key or str(uuid.uuid4())
            if key in self.clients:
                raise ValueError(f"client key {key!r} exists already")
            client = self._new_client(
                key,
                client_id=str(uuid.uuid5(CLIENT_ID_NAMESPACE, key)),
                client_name=request.client_name or f"Klient {len(self.clients) + 1} AS",
                seed=self.config.seed if request.seed is None else request.seed,
                # Created empty, it stays empty on a reset without arguments.
                scale=0
                if request.empty
                else (self.config.scale if request.scale is None else request.scale),
            )
            client.update(
                ClientUpdate(
                    refused=request.refused,
                    module_missing=request.module_missing or None,
                    missing_privileges=request.missing_privileges or None,
                )
            )
            self._load(client, seed=None, scale=None, empty=request.empty)
            return client

    def update_client(self, client_key: str, change: ClientUpdate) -> PowerOfficeClient:
        """Change a client's behaviour (``KeyError`` when unknown)."""
        with self.lock:
            client = self.clients[client_key]
            client.update(change)
            return client

    def remove_client(self, client_key: str) -> None:
        """Forget a client and its tokens (``KeyError`` when unknown, ``ValueError`` for the
        default one)."""
        with self.lock:
            client = self.clients[client_key]
            if client is self.default:
                raise ValueError("the default client company stays")
            del self.clients[client_key]
            for token in [t for t, c in self._token_clients.items() if c is client]:
                del self._token_clients[token]
                self._tokens.pop(token, None)
        self._faults.clear_tenant(client_key)

    def client(self, client_key: str) -> PowerOfficeClient:
        """The client company with this key; ``KeyError`` when there is none."""
        return self.clients[client_key]

    def client_for_token(self, token: str | None) -> PowerOfficeClient | None:
        """The client an access token was issued for (expired or not), by one dict lookup."""
        return self._token_clients.get(token) if token else None

    # --- TenantDirectory ---------------------------------------------------------------------
    @property
    def tenant_param(self) -> str:
        return "client"

    @property
    def tenant_plural(self) -> str:
        return "clients"

    def tenant_names(self) -> list[str]:
        with self.lock:
            return list(self.clients)

    def tenant_counters(self, name: str) -> Counters:
        return self.clients[name].counters

    def reset_tenant(
        self, name: str, *, seed: int | None, scale: int | None, empty: bool
    ) -> dict[str, Any]:
        with self.lock:
            client = self.clients[name]
            return {"client_key": name, **self._load(client, seed=seed, scale=scale, empty=empty)}

    def tenant_snapshot(self, name: str) -> dict[str, Any]:
        with self.lock:
            client = self.clients[name]
            return {
                "resources": client.state.dump(),
                "tokens_issued": sum(1 for c in self._token_clients.values() if c is client),
                "clock_offset_seconds": self.clock.offset,
            }

    # --- tokens ------------------------------------------------------------------------------
    def issue_token(self, client: PowerOfficeClient | None = None) -> tuple[str, int]:
        """A new access token for ``client`` (the default one) and its lifetime in seconds."""
        token = secrets.token_urlsafe(32)
        with self.lock:
            owner = client or self.default
            lifetime = self.config.token_expires_in
            self._tokens[token] = self.clock.monotonic() + lifetime
            self._token_clients[token] = owner
            owner.counters.count_event("token_requests")
        return token, lifetime

    def token_problem(self, token: str | None) -> str | None:
        """Why ``token`` is refused, or ``None`` when it is valid."""
        if not token:
            return "The access token is missing"
        with self.lock:
            expires = self._tokens.get(token)
        if expires is None:
            return "The access token is invalid"
        if self.clock.monotonic() >= expires:
            return "The access token expired"
        return None

    def advance_clock(self, seconds: float) -> float:
        """Move the emulator's time forward (token expiry, replica lag, timestamps)."""
        return self.clock.advance(seconds)

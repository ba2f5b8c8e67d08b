"""The PowerOffice Go emulator's state holder: data, tokens, limiter, knobs, counters, faults.

:class:`PowerOfficeBackend` implements :class:`sandbox.admin.SandboxBackend`. One re-entrant
lock serialises every access to the data, so the emulator is safe under uvicorn's event loop
and under a test thread calling ``reset`` at the same time.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping
from typing import Any

from sandbox.clock import SandboxClock
from sandbox.counters import Counters
from sandbox.faults import FaultInjector
from sandbox.poweroffice.config import PowerOfficeConfig
from sandbox.poweroffice.generator import generate
from sandbox.poweroffice.state import PowerOfficeState
from sandbox.ratelimit import RateLimiter

__all__ = ["PowerOfficeBackend"]

_RUNTIME_ONLY: set[str] = {"faults"}


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
        self.state = PowerOfficeState(
            counters=self._counters,
            now=self.clock.now,
            monotonic=self.clock.monotonic,
            lag=lambda: self.config.replica_lag_seconds,
        )
        self.reset(seed=None, scale=None, empty=False)

    # --- SandboxBackend ----------------------------------------------------------------------
    @property
    def counters(self) -> Counters:
        return self._counters

    @property
    def faults(self) -> FaultInjector:
        return self._faults

    def reset(self, *, seed: int | None, scale: int | None, empty: bool) -> dict[str, Any]:
        """Reference data only (``empty`` or scale 0), else generated data on top."""
        with self.lock:
            self.state.clear()
            used_seed = self.config.seed if seed is None else seed
            used_scale = 0 if empty else (self.config.scale if scale is None else scale)
            if used_scale:
                self.state.load(generate(used_seed, used_scale))
                self._counters.reset()
            return {"seed": used_seed, "scale": used_scale, "records": self.state.summary()}

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
            self.config = PowerOfficeConfig.model_validate(merged)
            self.limiter.configure(
                limit=self.config.rate_limit_per_second,
                period=self.config.rate_limit_window_seconds,
                enabled=self.config.rate_limit_enabled,
            )
            return self.config_snapshot()

    def restore_defaults(self) -> None:
        with self.lock:
            self.config = self._initial.model_copy(deep=True)
            self.limiter.configure(
                limit=self.config.rate_limit_per_second,
                period=self.config.rate_limit_window_seconds,
                enabled=self.config.rate_limit_enabled,
            )
            self._faults.set_rules(self.config.faults)
            self._faults.reseed(self.config.fault_seed)
            self.clock.reset()
            self._tokens.clear()

    # --- tokens ------------------------------------------------------------------------------
    def issue_token(self) -> tuple[str, int]:
        """A new access token and its lifetime in seconds."""
        token = secrets.token_urlsafe(32)
        with self.lock:
            lifetime = self.config.token_expires_in
            self._tokens[token] = self.clock.monotonic() + lifetime
            self._counters.count_event("token_requests")
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

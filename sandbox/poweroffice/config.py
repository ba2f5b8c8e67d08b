"""The PowerOffice Go emulator's knobs and the sandbox credentials it accepts."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from sandbox.faults import FaultRule

__all__ = [
    "DEFAULT_APPLICATION_KEY",
    "DEFAULT_CLIENT_KEY",
    "DEFAULT_SUBSCRIPTION_KEY",
    "PowerOfficeConfig",
]

# Sandbox credentials: fixed, public and harmless (they open nothing but the emulator).
DEFAULT_APPLICATION_KEY = "5a0c1e2f-3b4d-4c6e-8f70-9a1b2c3d4e5f"
DEFAULT_CLIENT_KEY = "c7d8e9f0-1a2b-4c3d-9e4f-5a6b7c8d9e0f"
DEFAULT_SUBSCRIPTION_KEY = "sandbox0subscription0key00000001"


class PowerOfficeConfig(BaseModel):
    """Start-up configuration; every field but ``faults`` is also a run-time knob."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    application_key: str = DEFAULT_APPLICATION_KEY
    client_key: str = DEFAULT_CLIENT_KEY
    subscription_key: str = DEFAULT_SUBSCRIPTION_KEY
    token_expires_in: int = Field(1200, ge=1)
    """Seconds a new access token lives (``expires_in``)."""
    rate_limit_enabled: bool = True
    rate_limit_per_second: int = Field(10, ge=1)
    """Requests per window per subscription key, all client keys together."""
    rate_limit_window_seconds: float = Field(1.0, gt=0)
    """The window of the limit: 1 s is the real service; tests may widen it to be exact."""
    retry_after_header: bool = True
    """Send ``Retry-After`` with the gateway's 429 (undocumented: switchable)."""
    replica_lag_seconds: float = Field(0.0, ge=0)
    """A write becomes visible to GETs only this many seconds later."""
    ignored_filters: list[str] = Field(default_factory=list)
    """``"Resource.filterName"`` entries the emulator ignores, as a drifting API might."""
    seed: int = 1
    """Seed of the generated data for a reset without one."""
    scale: int = Field(0, ge=0)
    """Size of the generated data for a reset without one; 0 = empty (ongoing sync)."""
    fault_seed: int = 0
    faults: list[FaultRule] = Field(default_factory=list)
    """Fault rules in force from the start."""

"""rbsync sandbox: faithful, stateful, fault-injectable emulators of both APIs.

The shared core is re-exported here; the emulators live in ``sandbox.poweroffice`` and
``sandbox.rackbeat``, the pytest fixtures in ``sandbox.testing``.
"""

from __future__ import annotations

from sandbox.admin import SandboxBackend, admin_mount
from sandbox.clock import SandboxClock
from sandbox.counters import Counters, RequestCounterMiddleware
from sandbox.faults import FaultInjector, FaultMiddleware, FaultRule
from sandbox.ratelimit import RateLimiter
from sandbox.server import RunningServer, serve_forever, serve_in_thread

__all__ = [
    "Counters",
    "FaultInjector",
    "FaultMiddleware",
    "FaultRule",
    "RateLimiter",
    "RequestCounterMiddleware",
    "RunningServer",
    "SandboxBackend",
    "SandboxClock",
    "admin_mount",
    "serve_forever",
    "serve_in_thread",
]

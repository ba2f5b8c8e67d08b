"""The Rackbeat emulator and its seeded data generator."""

from __future__ import annotations

from sandbox.rackbeat.app import (
    DEFAULT_TOKEN,
    RackbeatConfig,
    RackbeatEmulator,
    RackbeatKnobs,
    create_app,
)
from sandbox.rackbeat.data import Dataset, generate

__all__ = [
    "DEFAULT_TOKEN",
    "Dataset",
    "RackbeatConfig",
    "RackbeatEmulator",
    "RackbeatKnobs",
    "create_app",
    "generate",
]

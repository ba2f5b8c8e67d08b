"""The PowerOffice Go v2 emulator: ``create_app(config)`` and its backend."""

from __future__ import annotations

from sandbox.poweroffice.app import PowerOfficeApi, create_app
from sandbox.poweroffice.backend import PowerOfficeBackend
from sandbox.poweroffice.config import (
    DEFAULT_APPLICATION_KEY,
    DEFAULT_CLIENT_KEY,
    DEFAULT_SUBSCRIPTION_KEY,
    PowerOfficeConfig,
)
from sandbox.poweroffice.generator import GeneratedData, generate

__all__ = [
    "DEFAULT_APPLICATION_KEY",
    "DEFAULT_CLIENT_KEY",
    "DEFAULT_SUBSCRIPTION_KEY",
    "GeneratedData",
    "PowerOfficeApi",
    "PowerOfficeBackend",
    "PowerOfficeConfig",
    "create_app",
    "generate",
]

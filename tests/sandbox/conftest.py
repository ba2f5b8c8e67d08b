"""The Rackbeat emulator fixtures for the sandbox tests.

``sandbox.testing`` (registered in ``tests/conftest.py``) re-exports them for every test package;
importing them here keeps these tests runnable on their own as well.
"""

from __future__ import annotations

from sandbox.testing_rackbeat import rackbeat_emulator, rackbeat_server

__all__ = ["rackbeat_emulator", "rackbeat_server"]

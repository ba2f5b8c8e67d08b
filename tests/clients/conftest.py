"""Client tests run with retry waits removed (``clients.retry.set_testing``), unless a test
injects its own recording ``sleep`` and turns the switch off for itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clients.retry import set_testing


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    set_testing(True)
    try:
        yield
    finally:
        set_testing(False)

"""A clock an emulator can be moved forward on, so that tests never sleep.

Token expiry, replica lag and timestamps all read :class:`SandboxClock`; a test advances it
(``POST /_sandbox/clock/advance``) instead of waiting for real seconds to pass.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

__all__ = ["SandboxClock"]


class SandboxClock:
    """Real time plus an offset that only grows; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0

    @property
    def offset(self) -> float:
        with self._lock:
            return self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (>= 0); return the total offset."""
        if seconds < 0:
            raise ValueError(f"the sandbox clock only moves forward, not by {seconds}")
        with self._lock:
            self._offset += seconds
            return self._offset

    def reset(self) -> None:
        """Back to real time."""
        with self._lock:
            self._offset = 0.0

    def monotonic(self) -> float:
        """Seconds for durations (token lifetime, replica lag, rate windows)."""
        return time.monotonic() + self.offset

    def now(self) -> datetime:
        """The current UTC time, offset included (for ``...DateTimeOffset`` fields)."""
        return datetime.now(UTC) + timedelta(seconds=self.offset)

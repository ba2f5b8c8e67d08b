"""The emulator's clock: whole seconds, never going backwards, optionally frozen.

Rackbeat stamps ``updated_at`` with second resolution, so two changes within one second share
a timestamp; a poll cursor sitting on that boundary must cope, and the emulator reproduces it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Clock"]


class Clock:
    """``now()`` returns integer epoch seconds, monotonic non-decreasing; thread-safe."""

    def __init__(self, source: Callable[[], float] = time.time) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._last = 0
        self._frozen: int | None = None

    @property
    def frozen(self) -> int | None:
        return self._frozen

    def freeze(self, at: int | None) -> None:
        """Stop the clock at ``at`` (epoch seconds), or let it run again with ``None``."""
        with self._lock:
            self._frozen = at

    def restart(self) -> None:
        """Forget the stamps issued so far (the data they stamped has been replaced)."""
        with self._lock:
            self._last = 0

    def now(self) -> int:
        with self._lock:
            current = self._frozen if self._frozen is not None else int(self._source())
            # Never backwards: a frozen time earlier than a stamp already issued stays put.
            self._last = max(self._last, current)
            return self._last

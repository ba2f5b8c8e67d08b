"""Flower for rbsync: mandatory auth, persistent state, readable arguments, Retry buttons, and
entity pages (the ledger searched by kind and key, one entity's attempts, Resync).

``rbsync flower`` (``worker/commands/flower_cmd.py``) builds a :class:`FlowerConfig` from the
settings and calls ``worker.flower.server.run_flower``, which this package does not import: it
loads Flower and tornado, which the rest of the CLI does not need. The Retry button on a failed
``rbsync.sync`` / ``rbsync.retry`` task and the "Retry all failed" button on the tasks page send
``rbsync.retry(kind, key)`` / ``rbsync.retry()`` by name: the worker re-drives from the ledger.
An entity page's Resync (``worker.flower.entities``) does what ``rbsync enqueue KIND KEY`` does.
"""

from __future__ import annotations

from tasks.names import RETRY_TASK
from worker.flower.config import FlowerConfig, FlowerConfigError, flower_config
from worker.flower.retry import (
    RETRY_ALL_FAILED,
    NotRetriableError,
    RetryRequest,
    retry_request_for,
)

__all__ = [
    "RETRY_ALL_FAILED",
    "RETRY_TASK",
    "FlowerConfig",
    "FlowerConfigError",
    "NotRetriableError",
    "RetryRequest",
    "flower_config",
    "retry_request_for",
]

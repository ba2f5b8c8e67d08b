"""A stable content hash of an outbound payload: equal payloads, equal fingerprints."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from clients.models import OutboundModel

__all__ = ["FINGERPRINT_PREFIX", "fingerprint", "fingerprint_of_wire"]

FINGERPRINT_PREFIX = "sha256:"


def fingerprint_of_wire(body: Mapping[str, Any]) -> str:
    """Hash a wire body: canonical JSON (sorted keys, no spaces, ASCII), SHA-256 in hex."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return FINGERPRINT_PREFIX + hashlib.sha256(canonical.encode("ascii")).hexdigest()


def fingerprint(payload: OutboundModel) -> str:
    """The fingerprint of an outbound model, taken over exactly what would be sent."""
    return fingerprint_of_wire(payload.to_wire())

"""What ``rbsync flower`` runs with, taken from the settings: auth is on unless refused loudly.

Flower 2 serves its UI to anyone when no auth is configured (only its API asks for
``FLOWER_UNAUTHENTICATED_API``). rbsync turns that around: without ``RBSYNC_FLOWER_BASIC_AUTH``
Flower does not start, unless the operator passes the explicit insecure flag. Flower's own
remote control (worker shutdown, pool changes, revoke ...) is off unless ``RBSYNC_FLOWER_CONTROL``
turns it on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from wiring.settings import Settings

DEFAULT_ADDRESS = "127.0.0.1"
"""Loopback unless told otherwise; containers pass ``--address 0.0.0.0``."""
DEFAULT_STATE_FILE = "flower-state"
"""Under ``RBSYNC_DATA_DIR`` when ``RBSYNC_FLOWER_DB`` is unset (shelve may add a suffix)."""
STATE_SAVE_INTERVAL_MS = 60_000
"""Flower saves its state on a clean stop only, unless told to save periodically too: once a
minute bounds what a crash (OOM kill, power loss) can lose (mher/flower#476, #751)."""


class FlowerConfigError(ValueError):
    """The settings do not allow Flower to start; the message names the setting, not its value."""


@dataclass(frozen=True, kw_only=True)
class FlowerConfig:
    """Everything the Flower process needs, secrets kept as ``SecretStr``."""

    address: str = DEFAULT_ADDRESS
    port: int
    basic_auth: tuple[SecretStr, ...]
    """One ``user:password`` per entry; empty only when ``insecure`` is set."""
    state_db: Path
    state_save_interval_ms: int = STATE_SAVE_INTERVAL_MS
    insecure: bool = False
    url_prefix: str = ""
    control: bool = False
    """Flower's remote-control API and buttons (``RBSYNC_FLOWER_CONTROL``); rbsync's Retry is
    not part of it."""

    @property
    def users(self) -> tuple[str, ...]:
        """The user names (never the passwords), for the start-up log line."""
        return tuple(entry.get_secret_value().partition(":")[0] for entry in self.basic_auth)


def parse_basic_auth(value: SecretStr) -> tuple[SecretStr, ...]:
    """Split ``user:password[,user2:password2]``; each entry needs a user and a password."""
    entries = [part.strip() for part in value.get_secret_value().split(",")]
    credentials: list[SecretStr] = []
    for position, entry in enumerate(entries, start=1):
        user, colon, password = entry.partition(":")
        if not (user and colon and password):
            # The message names the position only: the entry itself is a secret.
            raise FlowerConfigError(
                f"RBSYNC_FLOWER_BASIC_AUTH entry {position} is not 'user:password'"
            )
        credentials.append(SecretStr(entry))
    return tuple(credentials)


def flower_config(
    settings: Settings,
    *,
    address: str = DEFAULT_ADDRESS,
    port: int | None = None,
    insecure: bool = False,
    url_prefix: str = "",
) -> FlowerConfig:
    """Build the Flower configuration, refusing to run without auth unless ``insecure``."""
    if settings.flower_basic_auth is not None:
        credentials = parse_basic_auth(settings.flower_basic_auth)
    elif insecure:
        credentials = ()
    else:
        raise FlowerConfigError(
            "RBSYNC_FLOWER_BASIC_AUTH is not set: Flower would let anyone inspect and retry "
            "tasks. Set it to 'user:password', or pass --insecure-no-auth for a local try-out."
        )
    state_db = settings.flower_db or settings.data_dir / DEFAULT_STATE_FILE
    return FlowerConfig(
        address=address,
        port=settings.flower_port if port is None else port,
        basic_auth=credentials,
        state_db=state_db,
        insecure=insecure and not credentials,
        url_prefix=url_prefix.strip("/"),
        control=settings.flower_control,
    )

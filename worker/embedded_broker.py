"""Atomic message files for kombu's ``filesystem://`` transport (the embedded broker).

kombu's filesystem ``Channel._put`` creates the message file under its final name and only
then writes the body; a consumer polling the same directory can move and read the file in
between, get an empty payload and die on ``JSONDecodeError`` ("Unrecoverable error", the
worker stops; kombu issue #1551, open). :func:`install_atomic_writes` replaces ``_put`` with a
version that writes a hidden temporary file first and renames it into place: a rename within
one directory is atomic, so a consumer sees either no file or the whole message.

Install it in every process that publishes to the embedded broker, before the first publish.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

__all__ = ["atomic_put", "install_atomic_writes"]

TEMP_PREFIX = ".rbsync-"
"""Temporary files start with a dot: their name never ends in ``.<queue>.msg``, so a consumer
listing the directory skips them."""


def atomic_put(self: Any, queue: str, payload: Any, **_kwargs: Any) -> None:
    """``Channel._put``, but the message file appears complete or not at all."""
    name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
    final = os.path.join(self.data_folder_out, name)
    temporary = os.path.join(self.data_folder_out, f"{TEMP_PREFIX}{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(str_to_bytes(dumps(payload)))
        os.replace(temporary, final)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise ChannelError(f"Cannot add file {final!r} to directory") from exc


def install_atomic_writes() -> None:
    """Make every filesystem channel of this process write its messages atomically."""
    filesystem.Channel._put = atomic_put  # type: ignore[method-assign]

"""Credentials at rest: the box that encrypts a connection's secrets before they reach the ledger.

A :class:`SecretBox` is built from the deployment's keys (``RBSYNC_SECRET_KEY``: one or more
Fernet keys, comma-separated), passed in as values: the ledger never reads settings. The first
key encrypts; every key decrypts (``MultiFernet``), so a key is rotated by putting the new one
first, re-encrypting every row (:meth:`SecretBox.rotate`, ``rbsync connections rotate-key``),
then dropping the old one. Fernet is AES-128-CBC with an HMAC-SHA256: a token that was altered,
or made with another key, is refused, never decrypted to garbage.

Error messages name the variable, never a key or a secret.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = [
    "SECRET_KEY_ENV",
    "SecretBox",
    "SecretKeyError",
    "UndecryptableError",
    "generate_key",
    "parse_keys",
]

SECRET_KEY_ENV = "RBSYNC_SECRET_KEY"  # noqa: S105 - the name of a variable, not a key
"""The variable the keys come from (named in messages; its value never is)."""

_FERNET_KEY_BYTES = 32


class SecretKeyError(ValueError):
    """The keys are missing or not Fernet keys (the message names the variable only)."""


class UndecryptableError(ValueError):
    """A stored secret was not encrypted with any of the keys given (or was altered)."""


def generate_key() -> str:
    """A new random Fernet key (32 bytes, URL-safe base64): one entry of RBSYNC_SECRET_KEY."""
    return Fernet.generate_key().decode("ascii")


def parse_keys(text: str | None) -> list[str]:
    """The keys of ``RBSYNC_SECRET_KEY``'s value (comma-separated, blanks ignored), checked.

    Raises :class:`SecretKeyError` naming the entry at fault by its position, never its value.
    """
    keys = [part.strip() for part in (text or "").split(",") if part.strip()]
    if not keys:
        raise SecretKeyError(f"{SECRET_KEY_ENV} is not set")
    for position, key in enumerate(keys, start=1):
        if not _is_fernet_key(key):
            where = f"entry {position} of {SECRET_KEY_ENV}" if len(keys) > 1 else SECRET_KEY_ENV
            raise SecretKeyError(
                f"{where} is not a Fernet key (32 bytes in URL-safe base64, 44 characters); "
                "make one with `rbsync connections generate-key`"
            )
    return keys


def _is_fernet_key(key: str) -> bool:
    try:
        raw = base64.urlsafe_b64decode(key.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False
    return len(raw) == _FERNET_KEY_BYTES


class SecretBox:
    """Encrypts with the first key, decrypts with any (``MultiFernet``)."""

    def __init__(self, keys: Sequence[str]) -> None:
        checked = parse_keys(",".join(keys))
        fernets = [Fernet(key.encode("ascii")) for key in checked]
        self._first = fernets[0]
        self._fernet = MultiFernet(fernets)
        self.key_count = len(checked)

    @classmethod
    def from_text(cls, text: str | None) -> SecretBox:
        """The box of ``RBSYNC_SECRET_KEY``'s value (see :func:`parse_keys`)."""
        return cls(parse_keys(text))

    def __repr__(self) -> str:
        return f"SecretBox(<{self.key_count} key(s)>)"

    def encrypt(self, plain: str) -> str:
        """A Fernet token (text) of ``plain``, made with the first key."""
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plain text of ``token``; :class:`UndecryptableError` when no key opens it."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise UndecryptableError(
                f"{SECRET_KEY_ENV} does not hold the key they were encrypted with"
            ) from None

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted with the first key (opened with any); see :meth:`decrypt`."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise UndecryptableError(
                f"{SECRET_KEY_ENV} does not hold the key they were encrypted with"
            ) from None

    def is_current(self, token: str) -> bool:
        """Whether ``token`` opens with the first key (so rotation has nothing to do for it)."""
        try:
            self._first.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeError):
            return False
        return True

"""What a text value may carry to PowerOffice Go: the pure checks behind ``RecordContext.text``.

Rackbeat's free-text fields accept anything a browser or an import can put there: escape
sequences, NUL bytes, line breaks in a name, a name that is only a zero-width space. None of it
is meant, and PowerOffice Go shows (or refuses) it as it comes. These functions remove what
cannot be meant and say when nothing visible is left; which field gets which treatment (one
line or several, cut or refuse when too long) is the mappers' choice, each in one call to
:class:`~mapping.context.RecordContext`.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "MAX_EMAIL_LENGTH",
    "clean_line",
    "clean_text",
    "first_control_character",
    "is_email_address",
    "shown",
    "trim",
]

MAX_EMAIL_LENGTH = 254
"""The longest address SMTP can carry (RFC 5321's 256-octet path, less the angle brackets)."""

_REMOVED_CATEGORIES = frozenset({"Cc", "Cs"})
"""Control characters (C0, DEL, C1) and lone surrogates (not encodable as UTF-8): never meant."""

_FILLERS = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0")
"""Letters and symbols that draw nothing (Hangul fillers, the blank braille pattern, ...):
the usual way to make a field look filled in. Together with whitespace and the format
characters (``Cf``: zero-width space, joiners, BOM, soft hyphen) they are invisible."""

_NOT_IN_ADDRESS = r"\s@,;:<>()\[\]\"\\"
_EMAIL = re.compile(
    rf"[^{_NOT_IN_ADDRESS}]+@[^{_NOT_IN_ADDRESS}.]+(?:\.[^{_NOT_IN_ADDRESS}.]+)+",
)
"""One address: a local part, one ``@``, a domain of non-empty dot-separated labels with at
least one dot; no spaces, and none of the characters that separate several addresses or wrap
one in a display name (``,;:<>()[]"\\``). Pragmatic, not RFC 5322: quoted local parts and
address literals are refused, international domains and ``+`` sub-addresses accepted."""

SHOWN_LENGTH = 40
"""A value quoted in a warning or a rejection is cut to this many characters."""


def _invisible(char: str) -> bool:
    return char.isspace() or char in _FILLERS or unicodedata.category(char) == "Cf"


def trim(text: str) -> str:
    """``text`` without invisible characters at either end (``str.strip`` knows only
    whitespace; a zero-width space or a byte-order mark survives it)."""
    start, end = 0, len(text)
    while start < end and _invisible(text[start]):
        start += 1
    while end > start and _invisible(text[end - 1]):
        end -= 1
    return text[start:end]


def _without_controls(line: str) -> str:
    if line.isprintable():  # the common case: nothing to remove
        return line
    return "".join(
        " " if char == "\t" else char
        for char in line
        if char == "\t" or unicodedata.category(char) not in _REMOVED_CATEGORIES
    )


def clean_line(value: str) -> str:
    """One-line text: line breaks and tabs become spaces, other control characters go, and
    invisible characters at the ends are trimmed. ``""`` when nothing visible is left."""
    return trim(" ".join(_without_controls(line) for line in value.splitlines()))


def clean_text(value: str) -> str:
    """Multi-line text: every kind of line break becomes ``\\n``, tabs become spaces, other
    control characters go, invisible characters at the ends are trimmed."""
    return trim("\n".join(_without_controls(line) for line in value.splitlines()))


def first_control_character(value: str) -> str | None:
    """The first control character (or lone surrogate) in ``value``, if any."""
    if value.isprintable():
        return None
    for char in value:
        if unicodedata.category(char) in _REMOVED_CATEGORIES:
            return char
    return None


def is_email_address(value: str) -> bool:
    """Whether ``value`` is one plausible e-mail address (see :data:`_EMAIL`), nothing else:
    no invisible or control character anywhere, at most :data:`MAX_EMAIL_LENGTH`."""
    return (
        len(value) <= MAX_EMAIL_LENGTH
        and value.isprintable()
        and _EMAIL.fullmatch(value) is not None
    )


def shown(value: str) -> str:
    """``value`` quoted for a message, cut when long: a warning must stay readable."""
    if len(value) <= SHOWN_LENGTH:
        return repr(value)
    return f"{value[:SHOWN_LENGTH] + '…'!r} ({len(value)} characters)"

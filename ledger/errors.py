"""Database errors as one line an operator may read: no SQL statement, no parameters.

SQLAlchemy's message of a failed statement carries the statement (``[SQL: ...]``), its bound
parameters (``[parameters: ...]``: record content, up to whole batches of it) and a link;
PostgreSQL's own message may add ``DETAIL``/``CONTEXT`` lines quoting the data. Whatever the
ledger stores for the operator (a poll cycle's error, a failed row's reason) or a command
prints goes through :func:`describe_error` (an exception) or :func:`one_line` (text already
stored, from before this rule).
"""

from __future__ import annotations

import re

import sqlalchemy as sa

__all__ = ["MAX_REASON_LENGTH", "describe_error", "is_transient", "one_line", "without_sql"]

MAX_REASON_LENGTH = 500
"""Longest reason kept: a table cell's worth, not a dump."""

# SQLAlchemy appends these sections to the driver's message, each on a line of its own; the
# statement may span lines, so everything from the first of them on goes.
_SQL_SECTIONS = re.compile(r"\s*(\[SQL: |\[parameters: |\(Background on this error at: ).*", re.S)


def without_sql(text: str) -> str:
    """``text`` without SQLAlchemy's ``[SQL: ...]``, ``[parameters: ...]`` and link sections."""
    return _SQL_SECTIONS.sub("", text).rstrip()


def one_line(text: str, *, limit: int = MAX_REASON_LENGTH) -> str:
    """The first non-blank line of ``text`` without SQL sections, at most ``limit`` chars."""
    lines = [line.strip() for line in without_sql(text).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"


def describe_error(exc: BaseException) -> str:
    """``Class: message`` in one line; for a database error the driver's error and its first
    line (``DataError (StringDataRightTruncation): value too long for ...``), never the
    statement or its parameters."""
    if isinstance(exc, sa.exc.StatementError) and exc.orig is not None:
        orig = exc.orig
        name = type(exc).__name__
        if type(orig).__name__ != name:
            name = f"{name} ({type(orig).__name__})"
        message = one_line(str(orig))
    else:
        name = type(exc).__name__
        message = one_line(str(exc))
    return one_line(f"{name}: {message}" if message else name)


def is_transient(exc: BaseException) -> bool:
    """True for a failure of the database itself, not of one record: a lost connection, a
    deadlock or lock timeout, an exhausted pool. Retrying the whole poll is right for those;
    turning each record into a failed row would be wrong."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(
        exc,
        sa.exc.OperationalError
        | sa.exc.InterfaceError
        | sa.exc.DisconnectionError
        | sa.exc.TimeoutError
        | sa.exc.ResourceClosedError,
    )

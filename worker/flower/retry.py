"""What Flower's Retry button sends for a failed rbsync task: a ledger re-drive, by name.

Flower keeps only ``saferepr`` strings of a task's arguments (capped at 1024 characters by
Celery), so re-sending them is unsafe (mher/flower#737). rbsync never needs to: a sync task's
arguments are just the entity's identity, ``(kind, key)`` and its ``connection``, and
``rbsync.retry(kind, key, connection=...)`` re-drives that entity, within its connection, from
the ledger's own stored snapshot. This module turns Flower's strings
back into that identity, refusing anything it cannot read exactly.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Protocol

from tasks.names import POLL_TASK, RETRY_TASK, SYNC_BATCH_TASK, SYNC_TASK

FAILURE_STATE = "FAILURE"
SUCCESS_STATE = "SUCCESS"
RESULT_STATUS_KEY = "status"
"""The result of a sync task of an older rbsync (``tasks.pipeline.SyncResult.to_json``) carried
the ledger status it left behind, and the task ended SUCCESS even for a failed entity. Such
results are still read (a Flower that persisted its state shows them)."""
FAILED_STATUSES = frozenset({"failed", "dead", "unknown"})
"""Ledger statuses that ``rbsync.retry`` re-drives, and that earn a task page a Retry button."""

BATCH_FAILED_ERROR = "BatchFailedError"
"""A failed ``rbsync.sync_batch`` ends with ``BatchFailedError(kind, [keys], reason)``
(``tasks.errors``): the keys that need a human, read back from the exception's repr."""
NOT_IN_RACKBEAT_ERROR = "NotInRackbeatError"
"""A sync of a key Rackbeat does not have: nothing was stored, nothing to re-drive."""

TASK_PARAMETERS: dict[str, tuple[str, ...]] = {
    POLL_TASK: ("kind",),
    SYNC_TASK: ("kind", "key"),
    RETRY_TASK: ("kind", "key"),
}
"""The signatures of rbsync's tasks, to bind Flower's positional and keyword copies to names."""

CONNECTION = "connection"
"""Every rbsync task names its connection by this keyword: part of the identity, so that Retry
re-drives within the failed task's connection."""

OTHER_KEYWORDS: dict[str, frozenset[str]] = {
    POLL_TASK: frozenset({"scheduled"}),
    SYNC_TASK: frozenset({"waited"}),
}
"""Keywords a task may carry that are not part of an entity's identity (left out, unchecked)."""

RE_DRIVEN_TASKS = frozenset({SYNC_TASK, SYNC_BATCH_TASK, RETRY_TASK})
"""Tasks whose entities the Retry button re-drives. A failed poll needs no button: its cursor
did not move, so the next beat tick polls the same window again. A batch's button re-drives the
keys its result lists as ``failed``."""

BATCH_FAILED_KEY = "failed"
"""A batch's result (``tasks.sync.summary``) lists the keys that ended failed, dead or unknown."""

Identity = str | int | None

TRUNCATION_MARK = "..."
"""Celery's ``saferepr`` cuts a long string *inside* its quotes (``'PPPP...'``), which still
parses: a string value ending like this is taken for a cut one, never sent on."""


class NotRetriableError(ValueError):
    """This task cannot be re-driven from Flower; the message says why (no argument values)."""


class TaskView(Protocol):
    """The part of a Flower/Celery event-state task this module reads."""

    @property
    def name(self) -> str | None: ...
    @property
    def state(self) -> str | None: ...
    @property
    def args(self) -> str | None: ...
    @property
    def kwargs(self) -> str | None: ...
    @property
    def result(self) -> str | None: ...
    @property
    def exception(self) -> str | None: ...


@dataclass(frozen=True)
class RetryRequest:
    """A task to send by name, with keyword arguments only (JSON-serialisable)."""

    task_name: str
    kwargs: dict[str, Identity | list[str]] = field(default_factory=dict)

    def describe(self) -> str:
        """``rbsync.retry(kind='product', key='P-1')``: for pages and log lines."""
        inner = ", ".join(f"{name}={value!r}" for name, value in self.kwargs.items())
        return f"{self.task_name}({inner})"


RETRY_ALL_FAILED = RetryRequest(RETRY_TASK)
"""``rbsync.retry()`` with no filter re-drives every failed, dead and unknown ledger row."""


def bind_arguments(
    task_name: str, args_repr: str | None, kwargs_repr: str | None
) -> dict[str, Identity]:
    """Flower's repr strings of an rbsync task's arguments, bound to the task's parameter names.

    Raises :class:`NotRetriableError` when the task is not an rbsync task, or the strings are not
    exact Python literals (a truncated repr ends in ``...`` and is refused, never guessed at),
    or a value is not a plain identity (``str``, ``int`` or ``None``).
    """
    parameters = TASK_PARAMETERS.get(task_name)
    if parameters is None:
        raise NotRetriableError(f"{task_name!r} is not an rbsync task")
    args = _literal(args_repr or "()", "arguments")
    kwargs = _literal(kwargs_repr or "{}", "keyword arguments")
    if isinstance(args, list):
        args = tuple(args)
    if not isinstance(args, tuple):
        raise NotRetriableError(f"the arguments of this {task_name} task are not a tuple")
    if not isinstance(kwargs, dict) or not all(isinstance(name, str) for name in kwargs):
        raise NotRetriableError(f"the keyword arguments of this {task_name} task are not a mapping")
    if len(args) > len(parameters):
        raise NotRetriableError(f"this {task_name} task has more arguments than {parameters}")
    bound: dict[str, object] = dict(zip(parameters, args, strict=False))
    for name, value in kwargs.items():
        if name in OTHER_KEYWORDS.get(task_name, ()):
            continue
        if name not in parameters and name != CONNECTION:
            raise NotRetriableError(f"{task_name} has no parameter {name!r}")
        if name in bound:
            raise NotRetriableError(f"{task_name} got {name!r} twice")
        bound[name] = value
    identity: dict[str, Identity] = {}
    named = (*parameters, CONNECTION) if CONNECTION in bound else parameters
    for name in named:
        value = bound.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
            raise NotRetriableError(
                f"the {name} of this {task_name} task is not a string or number"
            )
        if isinstance(value, str) and value.endswith(TRUNCATION_MARK):
            raise NotRetriableError(f"the {name} of this {task_name} task looks truncated")
        identity[name] = value
    return identity


def retry_request_for(task: TaskView) -> RetryRequest:
    """The ``rbsync.retry`` call that re-drives the entity a failed rbsync task was about."""
    name = task.name or ""
    if name not in RE_DRIVEN_TASKS:
        raise NotRetriableError(f"{name or 'this task'!r} is not an rbsync entity task")
    if not entity_failed(task):
        raise NotRetriableError(
            f"the task is {task.state} and left its entity neither failed, dead nor unknown"
        )
    if _exception_name(task) == NOT_IN_RACKBEAT_ERROR:
        raise NotRetriableError("the record is not in Rackbeat: there is nothing to re-drive")
    if name == SYNC_BATCH_TASK:
        return _batch_retry(task)
    identity = bind_arguments(name, task.args, task.kwargs)
    if name == SYNC_TASK and (identity["kind"] is None or identity["key"] is None):
        raise NotRetriableError(f"this {SYNC_TASK} task has no kind or no key")
    # Only the filters that were given: rbsync.retry() with none re-drives every failed row.
    return RetryRequest(
        RETRY_TASK, {name: value for name, value in identity.items() if value is not None}
    )


def _exception_name(task: TaskView) -> str:
    """The class name of the exception a failed task ended with (``''`` when none)."""
    text = task.exception or ""
    return text.split("(", 1)[0].strip() if "(" in text else ""


def _exception_args(task: TaskView) -> tuple[object, ...]:
    """The arguments of the exception a failed task ended with, read back from its repr."""
    text = (task.exception or "").strip()
    name = _exception_name(task)
    if not name or not text.endswith(")"):
        raise NotRetriableError("the task's exception is not an exact literal (truncated?)")
    args = _literal(f"({text[len(name) + 1 : -1]},)", "exception")
    if not isinstance(args, tuple):
        raise NotRetriableError("the task's exception is not an exact literal")
    return args


def _batch_retry(task: TaskView) -> RetryRequest:
    """``rbsync.retry(kind=..., keys=[...])`` for the keys a batch's error (or, from an older
    rbsync, its result) lists as failed."""
    kind: object = None
    failed: object = None
    if task.state == FAILURE_STATE:
        if _exception_name(task) != BATCH_FAILED_ERROR:
            raise NotRetriableError(
                f"this {SYNC_BATCH_TASK} task failed as a whole, not per entity"
            )
        args = _exception_args(task)
        if len(args) >= 2:
            kind, failed = args[0], args[1]
    else:
        result = _literal(task.result or "None", "result")
        kind = result.get("kind") if isinstance(result, dict) else None
        failed = result.get(BATCH_FAILED_KEY) if isinstance(result, dict) else None
    if not isinstance(kind, str) or not isinstance(failed, list) or not failed:
        raise NotRetriableError(f"this {SYNC_BATCH_TASK} task lists no failed entity")
    keywords = _literal(task.kwargs or "{}", "keyword arguments")
    connection = keywords.get(CONNECTION) if isinstance(keywords, dict) else None
    # A cut list ends in an Ellipsis or a cut string: refuse rather than re-drive a part.
    if kind.endswith(TRUNCATION_MARK) or not all(
        isinstance(key, str) and not key.endswith(TRUNCATION_MARK) for key in failed
    ):
        raise NotRetriableError(f"the failed keys of this {SYNC_BATCH_TASK} task look truncated")
    if connection is not None and (
        not isinstance(connection, str) or connection.endswith(TRUNCATION_MARK)
    ):
        raise NotRetriableError(f"the connection of this {SYNC_BATCH_TASK} task is not readable")
    request: dict[str, Identity | list[str]] = {"kind": kind, "keys": list(failed)}
    if connection is not None:
        request[CONNECTION] = connection
    return RetryRequest(RETRY_TASK, request)


def entity_failed(task: TaskView) -> bool:
    """Whether the task failed: it raised (``FAILURE``), or it returned a failed ledger status.

    A result Celery truncated still parses (``saferepr`` keeps the structure and cuts inside
    strings), and its short ``status`` value survives the cut.
    """
    if task.state == FAILURE_STATE:
        return True
    if task.state != SUCCESS_STATE or not task.result:
        return False
    try:
        result = ast.literal_eval(task.result)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
    return isinstance(result, dict) and result.get(RESULT_STATUS_KEY) in FAILED_STATUSES


def retry_offer(task: TaskView | None) -> RetryRequest | None:
    """The re-drive for ``task``, or ``None`` when its page should show no Retry button."""
    if task is None:
        return None
    try:
        return retry_request_for(task)
    except NotRetriableError:
        return None


def _literal(text: str, what: str) -> object:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        # Celery truncates long reprs with '...': refuse rather than send a guess.
        raise NotRetriableError(f"the task's {what} are not an exact literal (truncated?)") from exc

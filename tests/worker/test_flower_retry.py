"""What the Retry button sends, from Flower's repr strings: pure, table-driven."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from worker.flower.display import readable_task
from worker.flower.retry import (
    RETRY_ALL_FAILED,
    NotRetriableError,
    RetryRequest,
    bind_arguments,
    retry_offer,
    retry_request_for,
)


@dataclass
class FakeTask:
    """The attributes of a Flower event-state task that the retry code reads."""

    name: str | None
    state: str | None
    args: str | None
    kwargs: str | None = "{}"
    result: str | None = None
    exception: str | None = None


def _returned(status: str, error: str = "PowerOffice Go said 400") -> str:
    """The repr of what rbsync.sync returns (tasks.pipeline.SyncResult.to_json)."""
    return repr(
        {"kind": "product", "key": "P-1", "outcome": status, "status": status, "error": error}
    )


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        (
            FakeTask("rbsync.sync", "FAILURE", "('product', 'P-1')"),
            RetryRequest("rbsync.retry", {"kind": "product", "key": "P-1"}),
        ),
        (
            FakeTask("rbsync.sync", "FAILURE", "('customer',)", "{'key': 1042}"),
            RetryRequest("rbsync.retry", {"kind": "customer", "key": 1042}),
        ),
        (
            FakeTask("rbsync.sync", "FAILURE", "()", "{'kind': 'supplier', 'key': 'S 7'}"),
            RetryRequest("rbsync.retry", {"kind": "supplier", "key": "S 7"}),
        ),
        (
            FakeTask("rbsync.sync", "FAILURE", "['bom', 'B-1']", None),
            RetryRequest("rbsync.retry", {"kind": "bom", "key": "B-1"}),
        ),
        (
            FakeTask("rbsync.retry", "FAILURE", "()", "{'kind': 'invoice'}"),
            RetryRequest("rbsync.retry", {"kind": "invoice"}),
        ),
        (FakeTask("rbsync.retry", "FAILURE", "()"), RETRY_ALL_FAILED),
        (
            FakeTask("rbsync.sync", "SUCCESS", "('product', 'P-1')", "{}", _returned("failed")),
            RetryRequest("rbsync.retry", {"kind": "product", "key": "P-1"}),
        ),
        (
            FakeTask("rbsync.sync", "SUCCESS", "('product', 'P-1')", "{}", _returned("dead")),
            RetryRequest("rbsync.retry", {"kind": "product", "key": "P-1"}),
        ),
        (
            # Every task names its connection: Retry re-drives within it.
            FakeTask(
                "rbsync.sync",
                "FAILURE",
                "('product', 'P-1')",
                "{'waited': 1, 'connection': 'acme'}",
            ),
            RetryRequest("rbsync.retry", {"kind": "product", "key": "P-1", "connection": "acme"}),
        ),
        (
            # Celery cut a long error inside its quotes: the status still reads.
            FakeTask("rbsync.sync", "SUCCESS", "('bom', 'B')", "{}", _returned("failed", "x...")),
            RetryRequest("rbsync.retry", {"kind": "bom", "key": "B"}),
        ),
    ],
)
def test_a_failed_rbsync_task_is_re_driven_by_rbsync_retry(
    task: FakeTask, expected: RetryRequest
) -> None:
    assert retry_request_for(task) == expected


@pytest.mark.parametrize(
    ("task", "reason"),
    [
        (FakeTask("other.task", "FAILURE", "(1,)"), "'other.task' is not an rbsync entity task"),
        (FakeTask(None, "FAILURE", "()"), "'this task' is not an rbsync entity task"),
        (
            FakeTask("rbsync.poll", "FAILURE", "('product',)"),
            "'rbsync.poll' is not an rbsync entity task",
        ),
        (
            FakeTask("rbsync.sync", "SUCCESS", "('product', 'P-1')", "{}", _returned("synced")),
            "the task is SUCCESS and left its entity neither failed, dead nor unknown",
        ),
        (
            FakeTask("rbsync.sync", "SUCCESS", "('product', 'P-1')", "{}", "{'status': 'fa..."),
            "the task is SUCCESS and left its entity neither failed, dead nor unknown",
        ),
        (
            FakeTask("rbsync.sync", "SUCCESS", "('product', 'P-1')", "{}", "['failed']"),
            "the task is SUCCESS and left its entity neither failed, dead nor unknown",
        ),
        (
            FakeTask("rbsync.sync", "SUCCESS", "('product', 'P-1')"),
            "the task is SUCCESS and left its entity neither failed, dead nor unknown",
        ),
        (
            FakeTask("rbsync.sync", "RETRY", "('product', 'P-1')", "{}", _returned("failed")),
            "the task is RETRY and left its entity neither failed, dead nor unknown",
        ),
        (
            # Celery's saferepr cuts a long string inside its quotes: still a literal.
            FakeTask("rbsync.sync", "FAILURE", "('product', 'P-1-very-long...')"),
            "the key of this rbsync.sync task looks truncated",
        ),
        (
            FakeTask("rbsync.sync", "FAILURE", "('product', 'P-1', ...)"),
            "this rbsync.sync task has more arguments than ('kind', 'key')",
        ),
        (
            FakeTask("rbsync.sync", "FAILURE", "('product', ...)"),
            "the key of this rbsync.sync task is not a string or number",
        ),
        (
            FakeTask("rbsync.sync", "FAILURE", "('product', 'P-1')", "{'key': 'P-..."),
            "the task's keyword arguments are not an exact literal (truncated?)",
        ),
        (
            FakeTask("rbsync.sync", "FAILURE", "('product', 'P-1', 'extra')"),
            "this rbsync.sync task has more arguments than ('kind', 'key')",
        ),
        (
            FakeTask("rbsync.sync", "FAILURE", "('product',)", "{'kind': 'bom'}"),
            "rbsync.sync got 'kind' twice",
        ),
        (
            FakeTask("rbsync.sync", "FAILURE", "('product',)", "{'sku': 'x'}"),
            "rbsync.sync has no parameter 'sku'",
        ),
        (
            FakeTask("rbsync.sync", "FAILURE", "('product', 'P-1')", "{'connection': ['a']}"),
            "the connection of this rbsync.sync task is not a string or number",
        ),
        (
            FakeTask("rbsync.sync", "FAILURE", "('product', 'P-1')", "{'connection': 'acm...'}"),
            "the connection of this rbsync.sync task looks truncated",
        ),
        (
            FakeTask("rbsync.sync", "FAILURE", "('product', ['P-1'])"),
            "the key of this rbsync.sync task is not a string or number",
        ),
        (
            FakeTask("rbsync.sync", "FAILURE", "('product', True)"),
            "the key of this rbsync.sync task is not a string or number",
        ),
        (
            FakeTask("rbsync.sync", "FAILURE", "('product',)"),
            "this rbsync.sync task has no kind or no key",
        ),
        (
            FakeTask("rbsync.sync", "FAILURE", "'product'"),
            "the arguments of this rbsync.sync task are not a tuple",
        ),
        (
            FakeTask("rbsync.sync", "FAILURE", "()", "['kind']"),
            "the keyword arguments of this rbsync.sync task are not a mapping",
        ),
        (
            FakeTask("rbsync.sync", "FAILURE", "(__import__('os'),)"),
            "the task's arguments are not an exact literal (truncated?)",
        ),
    ],
)
def test_anything_else_is_refused_with_a_reason(task: FakeTask, reason: str) -> None:
    with pytest.raises(NotRetriableError) as refused:
        retry_request_for(task)
    assert str(refused.value) == reason
    assert retry_offer(task) is None


def test_retry_offer_is_none_for_an_unknown_task() -> None:
    assert retry_offer(None) is None


def test_retry_request_describes_itself_for_pages_and_logs() -> None:
    request = RetryRequest("rbsync.retry", {"kind": "product", "key": "P-1"})
    assert request.describe() == "rbsync.retry(kind='product', key='P-1')"
    assert RETRY_ALL_FAILED.describe() == "rbsync.retry()"


def test_bind_arguments_names_a_poll_task_kind() -> None:
    assert bind_arguments("rbsync.poll", "('customer',)", "{}") == {"kind": "customer"}


def test_readable_task_names_kind_and_key_of_rbsync_tasks_only() -> None:
    sync = readable_task(FakeTask("rbsync.sync", "FAILURE", "('customer',)", "{'key': 7}"))
    poll = readable_task(FakeTask("rbsync.poll", "SUCCESS", "('product',)"))
    foreign = FakeTask("other.task", "SUCCESS", "(1, 2)", "{'a': 1}")
    truncated = FakeTask("rbsync.sync", "FAILURE", "('product', 'P-...")
    assert (sync.args, sync.kwargs) == ("kind='customer', key=7", "{}")
    assert (poll.args, poll.kwargs) == ("kind='product'", "{}")
    assert readable_task(replace(foreign)) == foreign
    assert readable_task(replace(truncated)) == truncated


def _batch(failed: list[str], keys: int = 50) -> str:
    """What rbsync.sync_batch returns (tasks.sync.summary), as Celery's saferepr keeps it."""
    from celery.utils.saferepr import saferepr

    return saferepr(
        {
            "kind": "product",
            "status": "failed" if failed else "done",
            "failed": failed,
            "outcomes": {"created": keys - len(failed), "failed": len(failed)},
            "entities": [[f"PRODUCT-{n:05d}", "created", "synced"] for n in range(keys)],
        },
        1024,
    )


def test_a_batch_with_failed_entities_re_drives_exactly_those() -> None:
    # The batch's result is cut by Celery (its 100 keys), but the failed keys come first.
    task = FakeTask(
        "rbsync.sync_batch", "SUCCESS", "('product', [...])", "{}", _batch(["P 1", "Q/2"], 100)
    )
    assert "..." in (task.result or "")
    assert retry_request_for(task) == RetryRequest(
        "rbsync.retry", {"kind": "product", "keys": ["P 1", "Q/2"]}
    )
    assert retry_request_for(task).describe() == "rbsync.retry(kind='product', keys=['P 1', 'Q/2'])"


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        (_batch([]), "the task is SUCCESS and left its entity neither failed, dead nor unknown"),
        (
            # Hundreds of failed keys: Celery cut the list itself; nothing partial is sent.
            _batch([f"FAILED-PRODUCT-{n:05d}" for n in range(200)], 200),
            "the failed keys of this rbsync.sync_batch task look truncated",
        ),
        (
            "{'status': 'failed', 'kind': 'product'}",
            "this rbsync.sync_batch task lists no failed entity",
        ),
    ],
)
def test_a_batch_without_an_exact_failed_list_offers_no_retry(result: str, reason: str) -> None:
    task = FakeTask("rbsync.sync_batch", "SUCCESS", "('product', [...])", "{}", result)
    with pytest.raises(NotRetriableError) as raised:
        retry_request_for(task)
    assert str(raised.value) == reason
    assert retry_offer(task) is None


def _batch_failed(kind: str, keys: list[str], reason: str = "P 1: failed: 400") -> str:
    """The repr a worker's task-failed event carries for a batch that left entities failed."""
    from kombu.utils.encoding import safe_repr

    from tasks.errors import BatchFailedError

    return str(safe_repr(BatchFailedError(kind, keys, reason)))


def test_a_failed_batch_re_drives_exactly_the_keys_its_error_names() -> None:
    keys = [f"FAILED-PRODUCT-{n:05d}" for n in range(200)]  # far past any saferepr cut
    task = FakeTask(
        "rbsync.sync_batch",
        "FAILURE",
        "('product', [...])",
        exception=_batch_failed("product", keys),
    )
    assert retry_request_for(task) == RetryRequest(
        "rbsync.retry", {"kind": "product", "keys": keys}
    )
    # Within the batch's connection.
    task.kwargs = "{'connection': 'acme'}"
    assert retry_request_for(task) == RetryRequest(
        "rbsync.retry", {"kind": "product", "keys": keys, "connection": "acme"}
    )


@pytest.mark.parametrize(
    ("exception", "reason"),
    [
        (
            "SoftTimeLimitExceeded()",
            "this rbsync.sync_batch task failed as a whole, not per entity",
        ),
        (
            "BatchFailedError('product', ['P 1', 'Q...",
            "the task's exception is not an exact literal (truncated?)",
        ),
        (
            "BatchFailedError('product', [], 'x')",
            "this rbsync.sync_batch task lists no failed entity",
        ),
    ],
)
def test_a_failed_batch_without_an_exact_key_list_offers_no_retry(
    exception: str, reason: str
) -> None:
    task = FakeTask("rbsync.sync_batch", "FAILURE", "('product', [...])", exception=exception)
    with pytest.raises(NotRetriableError) as raised:
        retry_request_for(task)
    assert str(raised.value) == reason


def test_a_sync_of_a_key_rackbeat_does_not_have_offers_no_retry() -> None:
    task = FakeTask(
        "rbsync.sync",
        "FAILURE",
        "('product', 'NOPE-999')",
        exception="NotInRackbeatError('product', 'NOPE-999')",
    )
    with pytest.raises(NotRetriableError, match="not in Rackbeat"):
        retry_request_for(task)

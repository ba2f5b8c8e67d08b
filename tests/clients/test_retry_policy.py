"""The retry policy: named errors only, the server's wait hint, two bounds, a test switch."""

from __future__ import annotations

import pytest

from clients.errors import (
    AmbiguousWriteError,
    InvalidRequestError,
    RateLimitedError,
    ServerError,
)
from clients.retry import (
    RETRY_AFTER_JITTER_SECONDS,
    ReplicaLagPolicy,
    RetryPolicy,
    set_testing,
)


class Flaky:
    """Raises the given errors in turn, then returns ``"ok"``."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def _rate_limited(retry_after: float | None) -> RateLimitedError:
    return RateLimitedError(
        "Too Many Requests", method="GET", path="/v2/Products", status=429, retry_after=retry_after
    )


def _server_error() -> ServerError:
    return ServerError("Service Unavailable", method="GET", path="/v2/Products", status=503)


@pytest.fixture
def waits() -> list[float]:
    set_testing(False)  # these tests record the waits instead of removing them
    return []


def test_retry_after_is_honoured(waits: list[float]) -> None:
    flaky = Flaky(_rate_limited(3.0))
    assert RetryPolicy(sleep=waits.append).call(flaky) == "ok"
    assert flaky.calls == 2
    assert len(waits) == 1
    assert 3.0 <= waits[0] <= 3.0 + RETRY_AFTER_JITTER_SECONDS


def test_backoff_grows_exponentially_with_jitter(waits: list[float]) -> None:
    flaky = Flaky(_server_error(), _server_error(), _server_error())
    policy = RetryPolicy(wait_initial=0.5, wait_exp_base=2.0, wait_jitter=0.1, sleep=waits.append)
    assert policy.call(flaky) == "ok"
    assert len(waits) == 3
    for wait, base in zip(waits, (0.5, 1.0, 2.0), strict=True):
        assert base <= wait <= base + 0.1


def test_backoff_is_capped(waits: list[float]) -> None:
    policy = RetryPolicy(wait_initial=1.0, wait_max=1.5, wait_jitter=0.0)
    assert policy.wait_for(_server_error(), 10) == 1.5


def test_permanent_errors_are_not_retried(waits: list[float]) -> None:
    error = InvalidRequestError("Bad Request", method="POST", path="/v2/Customers", status=400)
    flaky = Flaky(error)
    with pytest.raises(InvalidRequestError):
        RetryPolicy(sleep=waits.append).call(flaky)
    assert flaky.calls == 1
    assert waits == []


def test_an_ambiguous_write_is_never_retried_blindly(waits: list[float]) -> None:
    flaky = Flaky(AmbiguousWriteError("dropped", method="POST", path="/v2/Products"))
    with pytest.raises(AmbiguousWriteError):
        RetryPolicy(sleep=waits.append).call(flaky)
    assert flaky.calls == 1


def test_attempts_are_bounded(waits: list[float]) -> None:
    flaky = Flaky(*[_server_error() for _ in range(10)])
    with pytest.raises(ServerError):
        RetryPolicy(attempts=3, wait_jitter=0.0, sleep=waits.append).call(flaky)
    assert flaky.calls == 3
    assert len(waits) == 2


def test_total_time_is_bounded_a_wait_past_the_budget_is_not_taken(waits: list[float]) -> None:
    flaky = Flaky(_rate_limited(60.0))
    with pytest.raises(RateLimitedError):
        RetryPolicy(timeout=10.0, sleep=waits.append).call(flaky)
    assert flaky.calls == 1
    assert waits == []


def test_the_testing_switch_removes_waits() -> None:
    slept: list[float] = []
    flaky = Flaky(_rate_limited(30.0), _server_error())
    assert RetryPolicy(sleep=slept.append).call(flaky) == "ok"
    assert flaky.calls == 3
    assert slept == []


def test_replica_lag_rereads_until_found(waits: list[float]) -> None:
    answers = iter([None, None, "found"])
    policy = ReplicaLagPolicy(rereads=4, wait_seconds=0.5, sleep=waits.append)
    assert policy.settle(lambda: next(answers)) == "found"
    assert waits == [0.5, 0.5]


def test_replica_lag_answers_absent_after_its_budget(waits: list[float]) -> None:
    calls: list[None] = []

    def lookup() -> str | None:
        calls.append(None)
        return None

    assert ReplicaLagPolicy(rereads=3, wait_seconds=0.2, sleep=waits.append).settle(lookup) is None
    assert len(calls) == 4
    assert waits == [0.2, 0.2, 0.2]

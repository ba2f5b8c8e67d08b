"""The status table and the error texts: one error class per recovery intent."""

from __future__ import annotations

import pickle

import httpx
import pytest

from clients.errors import (
    AmbiguousWriteError,
    AuthenticationError,
    ClientError,
    InvalidRequestError,
    NotFoundError,
    PermanentError,
    RateLimitedError,
    RetriableError,
    ServerError,
    UnexpectedStatusError,
)
from clients.http import Scrubber, error_class_for_status, error_from_response, retry_after_seconds


@pytest.mark.parametrize(
    ("status", "method", "expected"),
    [
        (400, "POST", InvalidRequestError),
        (401, "GET", AuthenticationError),
        (403, "PATCH", AuthenticationError),
        (404, "GET", NotFoundError),
        (405, "GET", UnexpectedStatusError),
        (408, "GET", UnexpectedStatusError),
        (409, "DELETE", InvalidRequestError),
        (410, "GET", UnexpectedStatusError),
        (418, "GET", UnexpectedStatusError),
        (422, "POST", InvalidRequestError),
        (429, "GET", RateLimitedError),
        (429, "POST", RateLimitedError),
        (500, "GET", ServerError),
        (502, "PATCH", ServerError),
        (503, "PUT", ServerError),
        (500, "POST", AmbiguousWriteError),
        (504, "POST", AmbiguousWriteError),
        (599, "POST", AmbiguousWriteError),
        (100, "GET", UnexpectedStatusError),
        (302, "GET", UnexpectedStatusError),
        (304, "GET", UnexpectedStatusError),
        (600, "GET", UnexpectedStatusError),
    ],
)
def test_every_status_class_has_one_recovery_intent(
    status: int, method: str, expected: type[ClientError]
) -> None:
    assert error_class_for_status(status, method) is expected


def test_the_three_intents_do_not_overlap() -> None:
    assert not issubclass(AmbiguousWriteError, RetriableError)
    assert not issubclass(AmbiguousWriteError, PermanentError)
    assert not issubclass(UnexpectedStatusError, RetriableError)
    assert issubclass(RateLimitedError, RetriableError)
    assert issubclass(ServerError, RetriableError)


def _response(
    status: int, *, method: str = "GET", body: str = "", **headers: str
) -> httpx.Response:
    request = httpx.Request(method, "https://api.example/v2/Products?codes=A%2FB")
    return httpx.Response(status, request=request, text=body, headers=headers)


def test_error_carries_status_method_path_request_id_and_a_scrubbed_excerpt() -> None:
    secret = "s3cr3t-subscription-key"
    response = _response(
        400,
        method="POST",
        body='{"title": "validation", "detail": "key s3cr3t-subscription-key is wrong"}',
        **{"x-request-id": "req-42"},
    )
    error = error_from_response(response, Scrubber([secret]))
    assert isinstance(error, InvalidRequestError)
    assert error.status == 400
    assert error.method == "POST"
    assert error.path == "/v2/Products?codes=A%2FB"
    assert error.request_id == "req-42"
    assert error.body_excerpt == '{"title": "validation", "detail": "key *** is wrong"}'
    assert secret not in str(error)
    assert str(error) == (
        "POST /v2/Products?codes=A%2FB -> 400: Bad Request (request id req-42); "
        'body: {"title": "validation", "detail": "key *** is wrong"}'
    )


def test_the_scrubber_keeps_only_recent_tokens_but_every_configured_key() -> None:
    scrub = Scrubber(["configured-key-1"])
    tokens = [f"access-token-{n:03d}" for n in range(20)]
    for token in tokens:
        scrub.add(token)
    text = " ".join(["configured-key-1", *tokens])
    masked = scrub(text).split()
    assert masked[0] == "***"
    assert masked[-Scrubber.RECENT_SECRETS :] == ["***"] * Scrubber.RECENT_SECRETS
    assert masked[1] == "access-token-000"


def test_body_excerpt_is_bounded() -> None:
    error = error_from_response(_response(422, body="x" * 5000), Scrubber())
    assert len(error.body_excerpt) == 300


def test_retry_after_header_in_seconds() -> None:
    response = _response(429, **{"Retry-After": "7"})
    assert retry_after_seconds(response) == 7.0
    error = error_from_response(response, Scrubber())
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 7.0


def test_retry_after_from_the_poweroffice_gateway_body() -> None:
    body = '{"statusCode": "429", "message": "Rate limit is exceeded. Try again in 3 seconds."}'
    assert retry_after_seconds(_response(429, body=body)) == 3.0


def test_retry_after_as_http_date_in_the_past_is_zero() -> None:
    response = _response(503, **{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after_seconds(response) == 0.0


def test_a_garbled_retry_after_falls_back_to_the_body_then_to_none() -> None:
    assert retry_after_seconds(_response(429, **{"Retry-After": "soon"})) is None
    body = "Rate limit is exceeded. Try again in 2 seconds."
    assert retry_after_seconds(_response(429, body=body, **{"Retry-After": "soon"})) == 2.0


def test_no_retry_hint_is_none() -> None:
    assert retry_after_seconds(_response(503, body="busy")) is None


def test_a_5xx_on_a_create_says_it_may_have_been_applied() -> None:
    error = error_from_response(_response(502, method="POST"), Scrubber())
    assert isinstance(error, AmbiguousWriteError)
    assert error.message == "Bad Gateway on a write: it may or may not have been applied"


@pytest.mark.parametrize(
    "error",
    [
        AuthenticationError("refused", method="GET", path="/api/self", status=401),
        RateLimitedError("slow down", method="GET", path="/api/products", retry_after=3.5),
        AmbiguousWriteError("dropped", method="POST", path="/v2/Products", body_excerpt="{}"),
    ],
)
def test_every_client_error_survives_pickle_as_celery_sends_it(error: ClientError) -> None:
    # Celery pickles a failed task's exception; one that does not survive reaches Flower and
    # the CLI as UnpickleableExceptionWrapper(...) instead of the message.
    from celery.utils.serialization import get_pickleable_exception

    assert get_pickleable_exception(error) is error
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert (str(copy), copy.__dict__) == (str(error), error.__dict__)


def test_at_names_another_target_and_keeps_everything_else() -> None:
    error = AuthenticationError("refused", method="GET", path="/api/products?x=2126", status=401)
    moved = error.at("/api/products (filter probe)")
    assert str(moved) == "GET /api/products (filter probe) -> 401: refused"
    assert (type(moved), moved.status) == (AuthenticationError, 401)

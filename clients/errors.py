"""The one error tree of the API clients, grouped by what the caller can do about it.

```
ClientError                    every failure the clients raise; never a bare httpx error
├── RetriableError             nothing happened remotely (or it was a read): call again
│   ├── NetworkError           no connection, or a timeout / drop on a read or before a write
│   ├── RateLimitedError       429; ``retry_after`` holds the server's hint when it gave one
│   ├── ServerError            5xx on a read
│   ├── RateLimitWaitError     our own limiter had no slot within its wait budget
│   └── TokenUnavailableError  another process was renewing the token; it did not appear
├── PermanentError             the same call will fail again: fix the data or the setup
│   ├── AuthenticationError    401 / 403 (after one token refresh), or refused credentials
│   ├── NotFoundError          404
│   ├── InvalidRequestError    400 / 409 / 422: the API refused the record
│   ├── UnexpectedStatusError  any other status (unknown statuses are never retried)
│   └── MalformedResponseError a 2xx to a read whose body is not what the API documents
└── AmbiguousWriteError        a create whose outcome is unknown: a timeout or a dropped
                               connection after the body was sent, a 5xx answer to it, or a
                               2xx answer that does not say which record it created.
                               Never retried blindly: look the record up before creating again.
```

Every error carries ``status``, ``method``, ``path``, ``request_id`` and ``body_excerpt`` (a
short, secret-scrubbed prefix of the response body), so that a ledger row or a log line can say
what happened without holding the response. Transport errors are translated once, at the client
boundary (``clients.http``), with ``raise ... from exc``.
"""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = [
    "AmbiguousWriteError",
    "AuthenticationError",
    "ClientError",
    "InvalidRequestError",
    "MalformedResponseError",
    "NetworkError",
    "NotFoundError",
    "PermanentError",
    "RateLimitWaitError",
    "RateLimitedError",
    "RetriableError",
    "ServerError",
    "TokenUnavailableError",
    "UnexpectedStatusError",
]


class ClientError(Exception):
    """Base of every error the API clients raise.

    The message is built from the request line and status only; ``body_excerpt`` was scrubbed
    of every configured secret before it got here.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        path: str,
        status: int | None = None,
        request_id: str | None = None,
        body_excerpt: str = "",
    ) -> None:
        self.message = message
        self.method = method
        self.path = path
        self.status = status
        self.request_id = request_id
        self.body_excerpt = body_excerpt
        super().__init__(self._render())

    def at(self, path: str) -> ClientError:
        """A copy of this error that names ``path`` as the request's target."""
        copy = _restore(type(self), {**self.__dict__, "path": path})
        copy.__cause__ = self.__cause__
        return copy

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors do not survive pickle's default (``cls(*args)``); Celery
        # pickles a task's exception (and wraps one that fails in UnpickleableExceptionWrapper,
        # which is what an operator would then read): rebuild from the attributes instead.
        return (_restore, (type(self), dict(self.__dict__)))

    def _render(self) -> str:
        text = f"{self.method} {self.path}"
        if self.status is not None:
            text += f" -> {self.status}"
        text += f": {self.message}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        if self.body_excerpt:
            text += f"; body: {self.body_excerpt}"
        return text


class RetriableError(ClientError):
    """The request had no effect (or was a read): making the same call again is safe.

    ``retry_after`` is the server's own hint in seconds (``Retry-After``, or PowerOffice Go's
    "Try again in N seconds"), or ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        path: str,
        status: int | None = None,
        request_id: str | None = None,
        body_excerpt: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(
            message,
            method=method,
            path=path,
            status=status,
            request_id=request_id,
            body_excerpt=body_excerpt,
        )


class NetworkError(RetriableError):
    """No connection, or a timeout / dropped connection on a read or before a write was sent."""


class RateLimitedError(RetriableError):
    """HTTP 429: the API's rate limit was hit; the request was not processed."""


class ServerError(RetriableError):
    """HTTP 5xx on a read."""


class RateLimitWaitError(RetriableError):
    """Our own rate limiter had no free slot within the wait it was allowed."""


class TokenUnavailableError(RetriableError):
    """Another process held the token-renewal lock and no fresh token appeared in time."""


class PermanentError(ClientError):
    """Making the same call again will fail the same way."""


class AuthenticationError(PermanentError):
    """401 / 403, or the token endpoint refused the credentials."""


class NotFoundError(PermanentError):
    """404: the resource (or a record it refers to) does not exist."""


class InvalidRequestError(PermanentError):
    """400 / 409 / 422: the API refused the record (duplicate key, missing field, ...)."""


class UnexpectedStatusError(PermanentError):
    """A status the clients have no rule for; never retried."""


class MalformedResponseError(PermanentError):
    """A 2xx answer to a read whose body could not be read as the API documents it.

    Never raised for the answer to a create: the record exists (see :mod:`clients.answers`).
    """


class AmbiguousWriteError(ClientError):
    """A write whose outcome is unknown: it may or may not have taken effect.

    Raised for a timeout or a dropped connection after the request body was sent, for a 5xx
    answer to a write, and for a 2xx answer to a create that does not carry the new record's
    key. The caller must look the record up (by its code or external reference) before it may
    create it again.
    """


_E = TypeVar("_E", bound=ClientError)


def _restore(cls: type[_E], state: dict[str, Any]) -> _E:
    """An error of ``cls`` with the attributes ``state`` (see ``ClientError.__reduce__``)."""
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, error._render())
    return error

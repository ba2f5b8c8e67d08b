"""The HTTP boundary: building the ``httpx.Client`` and translating every failure once.

Both API clients send through :func:`send`, so that the rules below hold everywhere:

- any 2xx is success (Rackbeat answers lists with 206, PowerOffice Go creates with 200 or 201);
- every other status becomes one error of :mod:`clients.errors`, chosen by
  :func:`error_class_for_status`;
- transport errors become :class:`NetworkError` when nothing can have happened remotely, and
  :class:`AmbiguousWriteError` when a non-idempotent write may have been applied;
- every error text is scrubbed of the credentials the client knows (:class:`Scrubber`).
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
from collections import deque
from collections.abc import Iterable
from importlib import metadata

import httpx

from clients.errors import (
    AmbiguousWriteError,
    AuthenticationError,
    ClientError,
    InvalidRequestError,
    NetworkError,
    NotFoundError,
    PermanentError,
    RateLimitedError,
    RateLimitWaitError,
    RetriableError,
    ServerError,
    UnexpectedStatusError,
)
from clients.observer import NO_OBSERVER, ApiObserver
from clients.ratelimit import RateLimiter, SlotUnavailableError

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_SECONDS",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_TIMEOUT_SECONDS",
    "NON_IDEMPOTENT_METHODS",
    "ApiHttpClient",
    "RateLimitedTransport",
    "Scrubber",
    "build_http_client",
    "error_class_for_status",
    "error_from_response",
    "retry_after_seconds",
    "send",
    "user_agent",
]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_CONNECT_TIMEOUT_SECONDS = 5.0
DEFAULT_MAX_CONNECTIONS = 10
DEFAULT_KEEPALIVE_EXPIRY_SECONDS = 30.0
BODY_EXCERPT_CHARS = 300
CONTACT = "rbsync operators <ops@rbsync.invalid>"

NON_IDEMPOTENT_METHODS = frozenset({"POST"})
"""Methods whose replay may do the work twice. PATCH (JSON-Patch ``replace`` ops only) and PUT
leave the same state when replayed, so a lost answer to them is retried, not ambiguous."""

REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-ms-request-id", "apim-request-id")

_TRY_AGAIN = re.compile(r"try again in (\d+(?:\.\d+)?) seconds?", re.IGNORECASE)


def user_agent() -> str:
    """A descriptive ``User-Agent``: product/version plus who to contact."""
    try:
        version = metadata.version("rbsync")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        version = "0"
    return f"rbsync/{version} (Rackbeat-PowerOffice Go sync; {CONTACT})"


class Scrubber:
    """Removes known secrets from any text that may end up in an exception or a log line.

    ``secrets`` (the configured keys) are kept for good; secrets added later (access tokens,
    renewed every few minutes) only the latest :data:`RECENT_SECRETS`, so a long-running
    worker does not collect them without bound.
    """

    MASK = "***"
    RECENT_SECRETS = 8

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._fixed = {secret for secret in secrets if self._long_enough(secret)}
        self._recent: deque[str] = deque(maxlen=self.RECENT_SECRETS)

    @staticmethod
    def _long_enough(secret: str) -> bool:
        # Very short values would mask ordinary words; real keys and tokens are long.
        return len(secret) >= 6

    def add(self, secret: str) -> None:
        """Remember one more secret (e.g. a freshly fetched access token)."""
        if self._long_enough(secret) and secret not in self._recent:
            self._recent.append(secret)

    def __call__(self, text: str) -> str:
        for secret in sorted({*self._fixed, *self._recent}, key=len, reverse=True):
            text = text.replace(secret, self.MASK)
        return text


class RateLimitedTransport(httpx.BaseTransport):
    """Takes a slot from a rate limiter before every request that goes on the wire, and tells
    the observer how long that took and what the answer's status was.

    Sitting at the transport, the limiter and the observer also see token requests and 401
    replays, which an ``Auth`` flow sends on its own.
    """

    def __init__(
        self,
        inner: httpx.BaseTransport,
        limiter: RateLimiter | None,
        *,
        observer: ApiObserver = NO_OBSERVER,
    ) -> None:
        self._inner = inner
        self._limiter = limiter
        self._observer = observer

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        observer = self._observer
        if self._limiter is not None:
            started = time.monotonic()
            try:
                self._limiter.acquire()
            except SlotUnavailableError as exc:
                observer.waited(time.monotonic() - started)
                raise RateLimitWaitError(
                    str(exc), method=request.method, path=request_target(request)
                ) from exc
            observer.waited(time.monotonic() - started)
        try:
            response = self._inner.handle_request(request)
        except BaseException:
            # No answer: a transport error, or the task's soft time limit firing mid-request
            # (the request may still have reached the API, which then counted it).
            observer.answered(request.method, None)
            raise
        observer.answered(request.method, response.status_code)
        return response

    def close(self) -> None:
        self._inner.close()


class _NoCookies(httpx.Cookies):
    """A cookie store that keeps nothing: both APIs authenticate by header, never by cookie."""

    def extract_cookies(self, response: httpx.Response) -> None:  # noqa: ARG002
        return None


URL_CACHE_SIZE = 1024
"""Relative URLs whose absolute form :class:`ApiHttpClient` keeps (paths repeat: a handful of
resources, plus record ids for PATCH)."""


class ApiHttpClient(httpx.Client):
    """``httpx.Client`` for a JSON API with a ``base_url``, minus two per-request costs that
    buy nothing here (measured: about a tenth of the client's CPU per request):

    - cookies are neither stored nor sent (a server's ``Set-Cookie`` would otherwise be parsed
      on every response);
    - the absolute URL of a relative path is built once: httpx's URL parsing is pure Python.
      The merge is httpx's own rule: the base's path plus the relative path, its leading ``/``
      dropped.
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._no_cookies = _NoCookies()
        self._absolute: dict[str, httpx.URL] = {}

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, _cookies: object) -> None:
        raise TypeError("this client keeps no cookies")

    def build_request(self, method: str, url: httpx.URL | str, **kwargs: object) -> httpx.Request:
        if isinstance(url, str):
            url = self._absolute_url(url)
        return super().build_request(method, url, **kwargs)  # type: ignore[arg-type]

    def _absolute_url(self, url: str) -> httpx.URL:
        cached = self._absolute.get(url)
        if cached is None:
            parsed = httpx.URL(url)
            if parsed.is_relative_url:
                base = self.base_url
                parsed = base.copy_with(raw_path=base.raw_path + parsed.raw_path.lstrip(b"/"))
            if len(self._absolute) >= URL_CACHE_SIZE:
                self._absolute.clear()
            self._absolute[url] = cached = parsed
        return cached


def build_http_client(
    *,
    base_url: str,
    headers: dict[str, str] | None = None,
    limiter: RateLimiter | None = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    transport: httpx.BaseTransport | None = None,
    observer: ApiObserver | None = None,
) -> httpx.Client:
    """An ``httpx.Client`` with explicit timeouts, a bounded keep-alive pool and our User-Agent.

    ``limiter`` wraps the transport so that every request waits for a slot first; ``observer``
    hears of each wait and each answer (``clients.observer``); ``transport`` replaces the
    network (``httpx.MockTransport`` in unit tests).
    """
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=DEFAULT_KEEPALIVE_EXPIRY_SECONDS,
    )
    inner = transport or httpx.HTTPTransport(limits=limits, retries=0)
    return ApiHttpClient(
        base_url=base_url,
        headers={"User-Agent": user_agent(), "Accept": "application/json", **(headers or {})},
        timeout=httpx.Timeout(timeout_seconds, connect=connect_timeout_seconds),
        limits=limits,
        transport=(
            RateLimitedTransport(inner, limiter, observer=observer or NO_OBSERVER)
            if limiter is not None or observer is not None
            else inner
        ),
        follow_redirects=False,
    )


def error_class_for_status(status: int, method: str) -> type[ClientError]:
    """The error a non-2xx status becomes; the one table of status -> recovery intent."""
    if status in (401, 403):
        return AuthenticationError
    if status == 404:
        return NotFoundError
    if status in (400, 409, 422):
        return InvalidRequestError
    if status == 429:
        return RateLimitedError
    if 500 <= status <= 599:
        return AmbiguousWriteError if method in NON_IDEMPOTENT_METHODS else ServerError
    return UnexpectedStatusError


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The server's wait hint: ``Retry-After`` (seconds or HTTP date), else the PowerOffice Go
    gateway's body "Try again in N seconds"; ``None`` when there is neither."""
    header = response.headers.get("retry-after")
    if header:
        header = header.strip()
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
        try:
            parsed = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            parsed = None  # not a date either: fall back to the body, then to our backoff
        if parsed is not None:
            return max(0.0, parsed.timestamp() - time.time())
    match = _TRY_AGAIN.search(_body_text(response))
    return float(match.group(1)) if match else None


def _body_text(response: httpx.Response) -> str:
    try:
        return response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        return ""


def _request_id(response: httpx.Response) -> str | None:
    for name in REQUEST_ID_HEADERS:
        if value := response.headers.get(name):
            return str(value)
    return None


def request_target(request: httpx.Request) -> str:
    """Path and query of a request, as errors and logs show it."""
    return request.url.raw_path.decode("ascii", "replace")


def error_from_response(response: httpx.Response, scrub: Scrubber) -> ClientError:
    """The error for a non-2xx response, with a scrubbed excerpt of its body."""
    request = response.request
    method = request.method
    cls = error_class_for_status(response.status_code, method)
    excerpt = scrub(" ".join(_body_text(response).split()))[:BODY_EXCERPT_CHARS]
    reason = response.reason_phrase or "unexpected status"
    path = scrub(request_target(request))
    request_id = _request_id(response)
    status = response.status_code
    if issubclass(cls, RetriableError):
        return cls(
            reason,
            method=method,
            path=path,
            status=status,
            request_id=request_id,
            body_excerpt=excerpt,
            retry_after=retry_after_seconds(response),
        )
    if cls is AmbiguousWriteError:
        reason += " on a write: it may or may not have been applied"
    return cls(
        reason, method=method, path=path, status=status, request_id=request_id, body_excerpt=excerpt
    )


def _transport_error(
    exc: httpx.TransportError, request: httpx.Request, scrub: Scrubber
) -> ClientError:
    method = request.method
    path = scrub(request_target(request))
    kind = type(exc).__name__
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError | httpx.ProxyError):
        return PermanentError(f"{kind}: the request could not be sent", method=method, path=path)
    # Nothing reached the server: no connection, or no free connection in the pool.
    never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    if never_sent or method not in NON_IDEMPOTENT_METHODS:
        return NetworkError(f"{kind} before a response", method=method, path=path)
    return AmbiguousWriteError(
        f"{kind} after the request was sent: it may or may not have been applied",
        method=method,
        path=path,
    )


def send(
    client: httpx.Client,
    request: httpx.Request,
    *,
    scrub: Scrubber,
    auth: httpx.Auth | None = None,
) -> httpx.Response:
    """Send one request; return the 2xx response (body read) or raise a :class:`ClientError`."""
    started = time.monotonic()
    try:
        response = client.send(request, auth=auth)
    except httpx.TransportError as exc:
        error = _transport_error(exc, request, scrub)
        log.warning("%s", error)
        raise error from exc
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "%s %s -> %s in %.0f ms",
            request.method,
            scrub(request_target(request)),
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
    if response.is_success:
        return response
    raise error_from_response(response, scrub)

"""The shapes PowerOffice Go answers with when something is refused, kept in one place.

Facts marked inferred in docs/api-facts.md ("PowerOffice Go") are decided here and nowhere else:

- ProblemDetails keys are lowercase (``type``, ``title``, ``status``, ``detail``,
  ``instance``), as in the spec's examples; validation errors add an ``errors`` dictionary
  (ASP.NET ``ValidationProblemDetails``).
- The gateway (Azure API Management) answers 401 for a missing or wrong subscription key and
  429 ``{"statusCode": "429", "message": "Rate limit is exceeded. Try again in N seconds."}``
  with a ``Retry-After`` header (switchable: the spec says the header is undocumented).
- An expired or unknown bearer token gets 401 with an empty body and
  ``WWW-Authenticate: Bearer error="invalid_token"`` (ASP.NET JwtBearer).
- Unknown routes get the gateway's 404 ``{"statusCode": 404, "message": "Resource not found"}``.
- A client company that lacks the module (privilege) a resource needs gets 403 as
  ProblemDetails, title "Forbidden", the detail naming the privilege (the spec gives the status
  only: "the integration lacks a privilege").
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

__all__ = [
    "INVALID_SUBSCRIPTION_KEY",
    "MISSING_SUBSCRIPTION_KEY",
    "ApiError",
    "gateway_error",
    "invalid_client",
    "invalid_token",
    "missing_privilege",
    "problem",
    "rate_limited",
    "unsupported_grant_type",
]

PROBLEM_TYPES = {
    400: "https://tools.ietf.org/html/rfc9110#section-15.5.1",
    403: "https://tools.ietf.org/html/rfc9110#section-15.5.4",
    404: "https://tools.ietf.org/html/rfc9110#section-15.5.5",
    409: "https://tools.ietf.org/html/rfc9110#section-15.5.10",
    415: "https://tools.ietf.org/html/rfc9110#section-15.5.16",
    500: "https://tools.ietf.org/html/rfc9110#section-15.6.1",
}

MISSING_SUBSCRIPTION_KEY = (
    "Access denied due to missing subscription key. Make sure to include subscription key "
    "when making requests to an API."
)
INVALID_SUBSCRIPTION_KEY = (
    "Access denied due to invalid subscription key. Make sure to provide a valid key for an "
    "active subscription."
)
RATE_LIMIT_MESSAGE = "Rate limit is exceeded. Try again in {seconds} seconds."
INVALID_CLIENT_DESCRIPTION = (
    "Client integration not found. Please ensure the provided keys are matching the desired "
    "environment."
)


class ApiError(Exception):
    """A refusal the emulator answers as ProblemDetails."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        errors: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors

    def response(self, instance: str | None = None) -> Response:
        return problem(self.status, self.title, self.detail, errors=self.errors, instance=instance)


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    errors: dict[str, list[str]] | None = None,
    instance: str | None = None,
) -> Response:
    """A ProblemDetails response (``application/problem+json``)."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPES.get(status, PROBLEM_TYPES[400]),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def gateway_error(status: int, message: str) -> Response:
    """An Azure API Management error body."""
    return JSONResponse({"statusCode": status, "message": message}, status_code=status)


def rate_limited(seconds: int, *, retry_after_header: bool = True) -> Response:
    """The gateway's 429: statusCode is a string in its body."""
    headers = {"Retry-After": str(seconds)} if retry_after_header else None
    return JSONResponse(
        {"statusCode": "429", "message": RATE_LIMIT_MESSAGE.format(seconds=seconds)},
        status_code=429,
        headers=headers,
    )


def invalid_token(description: str) -> Response:
    """401 for a missing, unknown or expired bearer token."""
    return Response(
        status_code=401,
        headers={
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'
        },
    )


def missing_privilege(privilege: str, *, instance: str | None = None) -> Response:
    """403 for a client company that lacks the module (privilege) the resource needs."""
    return problem(
        403,
        "Forbidden",
        f"The client integration lacks the privilege '{privilege}' needed for this resource.",
        instance=instance,
    )


def invalid_client() -> Response:
    """The token endpoint's 400 for keys it does not know (RFC 6749)."""
    return JSONResponse(
        {"error": "invalid_client", "error_description": INVALID_CLIENT_DESCRIPTION},
        status_code=400,
    )


def unsupported_grant_type() -> Response:
    """The token endpoint's 400 for anything but ``grant_type=client_credentials``."""
    return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)

"""The PowerOffice Go v2 emulator as an ASGI app: ``create_app(config) -> Starlette``.

Served paths (each also under ``/Demo``; matched case-insensitively, as ASP.NET routes):

- ``POST /OAuth/Token``: client credentials (``Authorization: Basic base64(app key:client
  key)``, form ``grant_type=client_credentials``, ``Ocp-Apim-Subscription-Key``).
- ``/v2/Products``, ``/v2/ProductGroups``, ``/v2/Customers``, ``/v2/Suppliers``: list
  (filters, paging), create, get, JSON-Patch, delete.
- ``/v2/SalesOrders``: list, ``POST /Complete``, get, ``GET /{id}/Complete``, patch, delete.
- ``/v2/ContactGroups``, ``/v2/PaymentTerms``: list, create, get.
- ``/v2/GeneralLedgerAccounts``, ``/v2/VatCodes``: list, get. ``/v2/ClientIntegrationInformation``.

Every request goes gateway first (route known? subscription key? rate limit?), then the
bearer token, then the handler. The admin surface is under ``/_sandbox/`` (see
``sandbox.admin``) plus ``POST /_sandbox/clock/advance`` ``{"seconds": n}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from sandbox.admin import admin_mount
from sandbox.counters import RequestCounterMiddleware
from sandbox.faults import FaultMiddleware
from sandbox.poweroffice import reference
from sandbox.poweroffice.backend import PowerOfficeBackend
from sandbox.poweroffice.config import PowerOfficeConfig
from sandbox.poweroffice.dtos import DTOS
from sandbox.poweroffice.listing import list_records
from sandbox.poweroffice.schema import VALIDATION_TITLE
from sandbox.poweroffice.state import RESOURCES
from sandbox.poweroffice.store import Record
from sandbox.poweroffice.wire import (
    INVALID_SUBSCRIPTION_KEY,
    MISSING_SUBSCRIPTION_KEY,
    ApiError,
    gateway_error,
    invalid_client,
    invalid_token,
    problem,
    rate_limited,
    unsupported_grant_type,
)
from sandbox.ratelimit import RateLimiter

__all__ = ["PowerOfficeApi", "create_app"]

logger = logging.getLogger(__name__)

DEMO_PREFIX = re.compile(r"^/demo(?=/)", re.IGNORECASE)
SUBSCRIPTION_HEADER = "ocp-apim-subscription-key"
SUBSCRIPTION_QUERY = "subscription-key"
JSON_PATCH = "application/json-patch+json"

Handler = Callable[[Request, dict[str, str]], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler
    authenticated: bool = True


def canonical_path(path: str) -> str:
    """The path without its ``/Demo`` prefix (fault rules and counters use this form)."""
    return DEMO_PREFIX.sub("", path, count=1)


def _compile(template: str) -> re.Pattern[str]:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return re.compile(f"^{regex}/?$", re.IGNORECASE)


def _json_response(data: Any, status: int = 200) -> Response:
    return JSONResponse(data, status_code=status)


def _sales_order_header(record: Record) -> Record:
    return {name: record.get(name) for name in DTOS["SalesOrderDto"]}


class PowerOfficeApi:
    """The v2 API and the token endpoint behind the emulated API Management gateway."""

    def __init__(self, backend: PowerOfficeBackend) -> None:
        self.backend = backend
        self.routes: list[_Route] = []
        self._build_routes()

    # --- routing -----------------------------------------------------------------------------
    def _add(self, method: str, template: str, handler: Handler, *, auth: bool = True) -> None:
        self.routes.append(_Route(method, template, _compile(template), handler, auth))

    def _build_routes(self) -> None:
        self._add("POST", "/OAuth/Token", self._token, auth=False)
        self._add("GET", "/v2/ClientIntegrationInformation", self._client_information)
        for name in (
            "Products", "ProductGroups", "Customers", "Suppliers", "ContactGroups",
            "PaymentTerms", "GeneralLedgerAccounts", "VatCodes",
        ):  # fmt: skip
            res = RESOURCES[name]
            self._add("GET", f"/v2/{name}", self._lister(name))
            if res.post_dto is not None:
                self._add("POST", f"/v2/{name}", self._creator(name))
            self._add("GET", f"/v2/{name}/{{id}}", self._getter(name))
            if res.patch_dto is not None:
                self._add("PATCH", f"/v2/{name}/{{id}}", self._patcher(name))
                self._add("DELETE", f"/v2/{name}/{{id}}", self._deleter(name))
        self._add("GET", "/v2/SalesOrders", self._lister("SalesOrders"))
        self._add("POST", "/v2/SalesOrders/Complete", self._creator("SalesOrders"))
        self._add("GET", "/v2/SalesOrders/{id}", self._getter("SalesOrders", header_only=True))
        self._add("GET", "/v2/SalesOrders/{id}/Complete", self._getter("SalesOrders"))
        self._add("PATCH", "/v2/SalesOrders/{id}", self._patcher("SalesOrders"))
        self._add("DELETE", "/v2/SalesOrders/{id}", self._deleter("SalesOrders"))

    def match(self, method: str, path: str) -> tuple[_Route, dict[str, str]] | None:
        """The route for ``method`` ``path`` (``/Demo`` stripped), with its path parameters."""
        path = canonical_path(path)
        for route in self.routes:
            if route.method != method:
                continue
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
        return None

    def template_of(self, scope: Scope) -> str | None:
        """``/v2/Products/{id}`` for the counters (``None`` when no route matches)."""
        matched = self.match(scope["method"], scope["path"])
        return matched[0].template if matched else None

    # --- the gateway -------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self._respond(request)
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> Response:  # noqa: PLR0911
        matched = self.match(request.method, request.url.path)
        if matched is None:
            return gateway_error(404, "Resource not found")
        route, params = matched
        config = self.backend.config
        key = request.headers.get(SUBSCRIPTION_HEADER) or request.query_params.get(
            SUBSCRIPTION_QUERY
        )
        if not key:
            return gateway_error(401, MISSING_SUBSCRIPTION_KEY)
        if key != config.subscription_key:
            return gateway_error(401, INVALID_SUBSCRIPTION_KEY)
        wait = self.backend.limiter.hit(key)
        if wait is not None:
            self.backend.counters.count_event("rate_limited")
            return rate_limited(
                RateLimiter.whole_seconds(wait), retry_after_header=config.retry_after_header
            )
        if route.authenticated:
            authorization = request.headers.get("authorization", "")
            scheme, _, token = authorization.partition(" ")
            reason = self.backend.token_problem(
                token.strip() if scheme.lower() == "bearer" else None
            )
            if reason is not None:
                return invalid_token(reason)
        try:
            return await route.handler(request, params)
        except ApiError as exc:
            return exc.response(instance=request.url.path)
        except Exception:
            # Never let a request take the emulator down; the traceback goes to the log.
            logger.exception(
                "PowerOffice Go emulator failed on %s %s", request.method, route.template
            )
            return problem(500, "Internal Server Error", "The emulator failed; see its log.")

    # --- token -------------------------------------------------------------------------------
    async def _token(self, request: Request, params: dict[str, str]) -> Response:
        del params
        body = (await request.body()).decode("utf-8", errors="replace")
        form = dict(parse_qsl(body))
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        application_key, _, client_key = decoded.partition(":")
        config = self.backend.config
        if (
            scheme.lower() != "basic"
            or application_key != config.application_key
            or client_key != config.client_key
        ):
            return invalid_client()
        if form.get("grant_type") != "client_credentials":
            return unsupported_grant_type()
        token, lifetime = self.backend.issue_token()
        return _json_response(
            {"access_token": token, "token_type": "bearer", "expires_in": lifetime}
        )

    async def _client_information(self, request: Request, params: dict[str, str]) -> Response:
        del request, params
        return _json_response(
            {
                "ClientId": reference.CLIENT_ID,
                "ClientName": reference.CLIENT_NAME,
                "ValidPrivileges": list(reference.PRIVILEGES),
                "InvalidPrivileges": [],
                "ActiveClientSubscriptions": ["GoApiV2"],
            }
        )

    # --- resources ---------------------------------------------------------------------------
    def _lister(self, resource: str) -> Handler:
        project = _sales_order_header if resource == "SalesOrders" else None

        async def handler(request: Request, params: dict[str, str]) -> Response:
            del params
            query = {k.lower(): v for k, v in request.query_params.items()}
            with self.backend.lock:
                page = list_records(
                    resource,
                    self.backend.state.tables[resource],
                    query,
                    ignored=self.backend.config.ignored_filters,
                    project=project,
                )
            if not page.items:
                return Response(status_code=204)
            return _json_response(page.items)

        return handler

    def _getter(self, resource: str, *, header_only: bool = False) -> Handler:
        async def handler(request: Request, params: dict[str, str]) -> Response:
            del request
            record_id = _record_id(resource, params["id"])
            with self.backend.lock:
                record = self.backend.state.get(resource, record_id)
            return _json_response(_sales_order_header(record) if header_only else record)

        return handler

    def _creator(self, resource: str) -> Handler:
        status = RESOURCES[resource].create_status

        async def handler(request: Request, params: dict[str, str]) -> Response:
            del params
            body = await _json_body(request, ("application/json", "text/json", "+json"))
            with self.backend.lock:
                record = self.backend.state.create(resource, body)
            return _json_response(record, status)

        return handler

    def _patcher(self, resource: str) -> Handler:
        async def handler(request: Request, params: dict[str, str]) -> Response:
            record_id = _record_id(resource, params["id"])
            operations = await _json_body(request, (JSON_PATCH,))
            with self.backend.lock:
                record = self.backend.state.patch(resource, record_id, operations)
            return _json_response(record)

        return handler

    def _deleter(self, resource: str) -> Handler:
        async def handler(request: Request, params: dict[str, str]) -> Response:
            del request
            record_id = _record_id(resource, params["id"])
            with self.backend.lock:
                self.backend.state.delete(resource, record_id)
            return Response(status_code=200)

        return handler


def _record_id(resource: str, raw: str) -> Any:
    """Ids are int64, sales orders UUIDs; anything else matches no route (404)."""
    try:
        return str(uuid.UUID(raw)) if resource == "SalesOrders" else int(raw)
    except ValueError:
        raise ApiError(404, "Not Found", f"No {resource} resource has the id '{raw}'.") from None


async def _json_body(request: Request, media_types: tuple[str, ...]) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not any(
        content_type == m or (m.startswith("+") and content_type.endswith(m)) for m in media_types
    ):
        raise ApiError(
            415,
            "Unsupported Media Type",
            f"Content-Type '{content_type or '(none)'}' is not supported here; use "
            f"{' or '.join(m for m in media_types if not m.startswith('+'))}.",
        )
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, VALIDATION_TITLE, "The request body is not valid JSON.") from None


def create_app(config: PowerOfficeConfig | None = None) -> Starlette:
    """The emulator app; ``app.state.sandbox`` is its :class:`PowerOfficeBackend`."""
    backend = PowerOfficeBackend(config)
    api = PowerOfficeApi(backend)

    async def advance_clock(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
            seconds = float(body["seconds"])
            offset = backend.advance_clock(seconds)
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"clock: {exc}"}, status_code=400)
        return JSONResponse({"clock_offset_seconds": offset})

    async def duplicate(request: Request) -> Response:
        resource = request.path_params["resource"]
        try:
            record_id = int(request.path_params["id"])
            with backend.lock:
                record = backend.state.duplicate(resource, record_id)
        except ValueError:
            return JSONResponse({"error": "the id is not a number"}, status_code=400)
        except ApiError as exc:
            return exc.response(instance=request.url.path)
        return JSONResponse(record)

    def too_many_requests() -> Response:
        return rate_limited(1, retry_after_header=backend.config.retry_after_header)

    def injected_error(status: int) -> Response:
        return gateway_error(status, HTTPStatus(status).phrase)

    app = Starlette(
        routes=[
            admin_mount(
                backend,
                [
                    Route("/clock/advance", advance_clock, methods=["POST"]),
                    Route("/duplicate/{resource}/{id}", duplicate, methods=["POST"]),
                ],
            ),
            Mount("", app=api),
        ],
        middleware=[
            Middleware(
                RequestCounterMiddleware, counters=backend.counters, template_of=api.template_of
            ),
            Middleware(
                FaultMiddleware,
                injector=backend.faults,
                too_many_requests=too_many_requests,
                error_response=injected_error,
                normalise_path=canonical_path,
            ),
        ],
    )
    app.state.sandbox = backend
    return app

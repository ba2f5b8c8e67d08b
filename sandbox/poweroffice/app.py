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

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from sandbox.admin import UNKNOWN_TENANT_HANDLERS, admin_mount, tenant_query
from sandbox.counters import Counters, RequestCounterMiddleware
from sandbox.faults import FaultMiddleware
from sandbox.poweroffice.backend import PowerOfficeBackend
from sandbox.poweroffice.clients import ClientRequest, ClientUpdate, PowerOfficeClient
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
    missing_privilege,
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

CLIENT_SCOPE_KEY = "rbsync.poweroffice_client"
"""Where a request's client company (or ``None``) is kept in its ASGI scope once looked up."""

Handler = Callable[[Request, dict[str, str], PowerOfficeClient], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler
    authenticated: bool = True
    resource: str | None = None
    """The v2 resource, whose privilege (module) the client needs."""


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
        resource = template.split("/")[2] if template.startswith("/v2/") else None
        self.routes.append(_Route(method, template, _compile(template), handler, auth, resource))

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

    def client_of_scope(self, scope: Scope) -> PowerOfficeClient | None:
        """The client company a request speaks for, looked up once per request: its access
        token's client, or on the token endpoint the client key of its Basic credentials."""
        if CLIENT_SCOPE_KEY in scope:
            found: PowerOfficeClient | None = scope[CLIENT_SCOPE_KEY]
            return found
        client: PowerOfficeClient | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, credential = value.decode("latin-1").partition(" ")
                scheme = scheme.lower()
                if scheme == "bearer":
                    client = self.backend.client_for_token(credential.strip())
                elif scheme == "basic":
                    client = self.backend.clients.get(_basic_credentials(credential)[1])
                break
        scope[CLIENT_SCOPE_KEY] = client
        return client

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
        client = self.client_of_scope(request.scope)
        if wait is not None:
            # The budget is the subscription's; the refusal is counted for the client asking.
            (client.counters if client else self.backend.counters).count_event("rate_limited")
            return rate_limited(
                RateLimiter.whole_seconds(wait), retry_after_header=config.retry_after_header
            )
        if route.authenticated:
            authorization = request.headers.get("authorization", "")
            scheme, _, token = authorization.partition(" ")
            reason = self.backend.token_problem(
                token.strip() if scheme.lower() == "bearer" else None
            )
            if reason is not None or client is None:
                return invalid_token(reason or "The access token is invalid")
            lacking = client.lacks(route.resource) if route.resource else None
            if lacking is not None:
                return missing_privilege(lacking, instance=request.url.path)
        try:
            return await route.handler(request, params, client or self.backend.default)
        except ApiError as exc:
            return exc.response(instance=request.url.path)
        except Exception:
            # Never let a request take the emulator down; the traceback goes to the log.
            logger.exception(
                "PowerOffice Go emulator failed on %s %s", request.method, route.template
            )
            return problem(500, "Internal Server Error", "The emulator failed; see its log.")

    # --- token -------------------------------------------------------------------------------
    async def _token(
        self, request: Request, params: dict[str, str], client: PowerOfficeClient
    ) -> Response:
        del params, client  # the client is the Basic credentials' own, checked here
        body = (await request.body()).decode("utf-8", errors="replace")
        form = dict(parse_qsl(body))
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        application_key, client_key = _basic_credentials(encoded)
        config = self.backend.config
        found = self.backend.clients.get(client_key)
        if (
            scheme.lower() != "basic"
            or application_key != config.application_key
            or found is None
            or found.refused
        ):
            return invalid_client()
        if form.get("grant_type") != "client_credentials":
            return unsupported_grant_type()
        token, lifetime = self.backend.issue_token(found)
        return _json_response(
            {"access_token": token, "token_type": "bearer", "expires_in": lifetime}
        )

    async def _client_information(
        self, request: Request, params: dict[str, str], client: PowerOfficeClient
    ) -> Response:
        del request, params
        return _json_response(client.integration_information())

    # --- resources ---------------------------------------------------------------------------
    def _lister(self, resource: str) -> Handler:
        project = _sales_order_header if resource == "SalesOrders" else None

        async def handler(
            request: Request, params: dict[str, str], client: PowerOfficeClient
        ) -> Response:
            del params
            query = {k.lower(): v for k, v in request.query_params.items()}
            with self.backend.lock:
                page = list_records(
                    resource,
                    client.state.tables[resource],
                    query,
                    ignored=self.backend.config.ignored_filters,
                    project=project,
                )
            if not page.items:
                return Response(status_code=204)
            return _json_response(page.items)

        return handler

    def _getter(self, resource: str, *, header_only: bool = False) -> Handler:
        async def handler(
            request: Request, params: dict[str, str], client: PowerOfficeClient
        ) -> Response:
            del request
            record_id = _record_id(resource, params["id"])
            with self.backend.lock:
                record = client.state.get(resource, record_id)
            return _json_response(_sales_order_header(record) if header_only else record)

        return handler

    def _creator(self, resource: str) -> Handler:
        status = RESOURCES[resource].create_status

        async def handler(
            request: Request, params: dict[str, str], client: PowerOfficeClient
        ) -> Response:
            del params
            body = await _json_body(request, ("application/json", "text/json", "+json"))
            with self.backend.lock:
                record = client.state.create(resource, body)
            return _json_response(record, status)

        return handler

    def _patcher(self, resource: str) -> Handler:
        async def handler(
            request: Request, params: dict[str, str], client: PowerOfficeClient
        ) -> Response:
            record_id = _record_id(resource, params["id"])
            operations = await _json_body(request, (JSON_PATCH,))
            with self.backend.lock:
                record = client.state.patch(resource, record_id, operations)
            return _json_response(record)

        return handler

    def _deleter(self, resource: str) -> Handler:
        async def handler(
            request: Request, params: dict[str, str], client: PowerOfficeClient
        ) -> Response:
            del request
            record_id = _record_id(resource, params["id"])
            with self.backend.lock:
                client.state.delete(resource, record_id)
            return Response(status_code=200)

        return handler


def _basic_credentials(encoded: str) -> tuple[str, str]:
    """``(application key, client key)`` of a Basic credential (blank when unreadable)."""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    application_key, _, client_key = decoded.partition(":")
    return application_key, client_key


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


def _client_routes(backend: PowerOfficeBackend) -> list[Route]:
    """``/_sandbox/clients``: add, list, show, change and remove client companies."""

    def missing(key: str) -> Response:
        return JSONResponse({"error": f"no client {key!r}"}, status_code=404)

    async def body_of(request: Request) -> Any:
        raw = await request.body()
        return json.loads(raw) if raw.strip() else {}

    async def add(request: Request) -> Response:
        try:
            client = backend.add_client(ClientRequest.model_validate(await body_of(request)))
        except (ValueError, ValidationError) as exc:
            return JSONResponse({"error": f"client: {exc}"}, status_code=400)
        return JSONResponse(client.summary(default=False), status_code=201)

    async def listing(request: Request) -> Response:
        del request
        with backend.lock:
            clients = list(backend.clients.values())
            return JSONResponse([c.summary(default=c is backend.default) for c in clients])

    async def show(request: Request) -> Response:
        key = request.path_params["key"]
        with backend.lock:
            client = backend.clients.get(key)
            if client is None:
                return missing(key)
            return JSONResponse(client.summary(default=client is backend.default))

    async def change(request: Request) -> Response:
        key = request.path_params["key"]
        try:
            update = ClientUpdate.model_validate(await body_of(request))
            client = backend.update_client(key, update)
        except KeyError:
            return missing(key)
        except (ValueError, ValidationError) as exc:
            return JSONResponse({"error": f"client: {exc}"}, status_code=400)
        return JSONResponse(client.summary(default=client is backend.default))

    async def remove(request: Request) -> Response:
        key = request.path_params["key"]
        try:
            backend.remove_client(key)
        except KeyError:
            return missing(key)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return Response(status_code=204)

    return [
        Route("/clients", add, methods=["POST"]),
        Route("/clients", listing, methods=["GET"]),
        Route("/clients/{key}", show, methods=["GET"]),
        Route("/clients/{key}", change, methods=["PATCH"]),
        Route("/clients/{key}", remove, methods=["DELETE"]),
    ]


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
        name = tenant_query(request, backend)
        client = backend.default if name is None else backend.client(name)
        try:
            record_id = int(request.path_params["id"])
            with backend.lock:
                record = client.state.duplicate(resource, record_id)
        except ValueError:
            return JSONResponse({"error": "the id is not a number"}, status_code=400)
        except ApiError as exc:
            return exc.response(instance=request.url.path)
        return JSONResponse(record)

    def too_many_requests() -> Response:
        return rate_limited(1, retry_after_header=backend.config.retry_after_header)

    def injected_error(status: int) -> Response:
        return gateway_error(status, HTTPStatus(status).phrase)

    def client_counters(scope: Scope) -> Counters | None:
        client = api.client_of_scope(scope)
        return client.counters if client is not None else None

    def client_key(scope: Scope) -> str | None:
        client = api.client_of_scope(scope)
        return client.client_key if client is not None else None

    app = Starlette(
        routes=[
            admin_mount(
                backend,
                [
                    Route("/clock/advance", advance_clock, methods=["POST"]),
                    Route("/duplicate/{resource}/{id}", duplicate, methods=["POST"]),
                    *_client_routes(backend),
                ],
                tenants=backend,
            ),
            Mount("", app=api),
        ],
        middleware=[
            Middleware(
                RequestCounterMiddleware,
                counters=backend.counters,
                template_of=api.template_of,
                tenant_of=client_counters,
            ),
            Middleware(
                FaultMiddleware,
                injector=backend.faults,
                too_many_requests=too_many_requests,
                error_response=injected_error,
                normalise_path=canonical_path,
                tenant_of=client_key,
            ),
        ],
        exception_handlers=dict(UNKNOWN_TENANT_HANDLERS),
    )
    app.state.sandbox = backend
    return app

"""The Rackbeat emulator as a Starlette app: ``create_app(config)``.

Serves Rackbeat's public contract (docs/api-facts.md, "Rackbeat") under ``/api/``: bearer auth
(401), list envelopes answered with 206, single objects under the singular key, paging,
``updated_at_from``/``_to``, ``is_booked``, ``fields=``, ``order_by``/``order_direction``,
double-encoded item numbers,
POST 201 / PUT 200 / 422 writes, and a 480/minute per-token rate limit with ``Retry-After`` and
``X-RateLimit-*`` headers. The common admin surface is mounted under ``/_sandbox/`` plus
``POST /_sandbox/touch/{resource}/{number}``.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.admin import UNKNOWN_TENANT_HANDLERS, admin_mount, tenant_query
from sandbox.counters import Counters, RequestCounterMiddleware, route_template
from sandbox.faults import ADMIN_PREFIX, FaultInjector, FaultMiddleware
from sandbox.rackbeat.accounts import DEFAULT_COMPANY_NAME, AccountRequest, RackbeatAccount
from sandbox.rackbeat.clock import Clock
from sandbox.rackbeat.ratelimit import TokenRateLimiter
from sandbox.rackbeat.resources import RESOURCES, Resource
from sandbox.rackbeat.state import RackbeatState, WriteRejectedError
from sandbox.rackbeat.store import ListQuery
from sandbox.rackbeat.webhooks import ACCOUNT_ID, HubKnobs, WebhookHub, event_for
from sandbox.rackbeat.wire import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    DatetimeError,
    format_datetime,
    number_from_path,
    pages_for,
    parse_datetime,
)

__all__ = [
    "DEFAULT_TOKEN",
    "RackbeatConfig",
    "RackbeatEmulator",
    "RackbeatKnobs",
    "create_app",
]

DEFAULT_TOKEN = "rackbeat-sandbox-token"  # noqa: S105 - a sandbox credential, fine to print
ACCOUNT_SCOPE_KEY = "rbsync.rackbeat_account"
"""Where a request's account (or ``None``) is kept in its ASGI scope once looked up."""
RATE_LIMIT_PER_MINUTE = 480
"""The SDK's 480 requests/minute per token (docs/api-facts.md, Rackbeat 4)."""

Errors = dict[str, list[str]]


class RackbeatKnobs(BaseModel):
    """What ``PATCH /_sandbox/config`` may change at run time."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    rate_limit_enabled: bool = True
    rate_limit_per_minute: int = Field(RATE_LIMIT_PER_MINUTE, ge=1)
    ignore_updated_at_filter: list[str] = Field(default_factory=list)
    """Endpoints (``products``, ``customers``, …) where ``updated_at_from/_to`` is ignored."""
    frozen_time: str | None = None
    """Freeze the clock at this date-time (both filter formats); ``null`` lets it run."""
    token: str = DEFAULT_TOKEN
    other_tokens: list[str] = Field(default_factory=list)
    """More accepted API keys (each user has their own; the rate limit is per key)."""
    webhook_retry_base_seconds: float = Field(1.0, gt=0)
    """First retry of a failed delivery after this, doubling (Rackbeat: backoff over a day)."""
    webhook_max_attempts: int = Field(10, ge=1)
    webhook_timeout_seconds: float = Field(15.0, gt=0)
    """A delivery not answered within this is a failure (Rackbeat: 15 s)."""
    webhook_fault: Literal["drop", "duplicate"] | None = None
    """``drop``: deliveries are lost; ``duplicate``: each is delivered twice."""

    @field_validator("ignore_updated_at_filter")
    @classmethod
    def _known_endpoints(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(RESOURCES))
        if unknown:
            raise ValueError(f"unknown endpoints {unknown}; known: {sorted(RESOURCES)}")
        return value

    @field_validator("frozen_time")
    @classmethod
    def _parsable(cls, value: str | None) -> str | None:
        if value is not None:
            parse_datetime(value)
        return value


class RackbeatConfig(RackbeatKnobs):
    """Start-up configuration: the knobs plus the initial data."""

    seed: int = 1
    scale: int = Field(50, ge=0)
    include_bad: bool = False
    empty: bool = False


def _problem(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status, headers=headers)


def _unprocessable(errors: Errors) -> JSONResponse:
    return JSONResponse({"errors": errors}, status_code=422)


class RackbeatEmulator:
    """Knobs, counters, faults and limiter of the emulated Rackbeat, and its accounts.

    The account created from the config is the default one (id 4711, the ``token`` and
    ``other_tokens`` knobs); ``state``, ``webhooks`` and ``clock`` are its. More accounts come
    from :meth:`add_account`, each with its own tokens, records, clock and webhooks; the rate
    limit is per token, whichever account it belongs to.
    """

    def __init__(self, config: RackbeatConfig) -> None:
        knob_names = set(RackbeatKnobs.model_fields)
        self._defaults = RackbeatKnobs.model_validate(config.model_dump(include=knob_names))
        self.config = config
        self.knobs = self._defaults.model_copy()
        self._counters = Counters()
        self._faults = FaultInjector(seed=config.seed)
        self.limiter = TokenRateLimiter(self.knobs.rate_limit_per_minute, 60.0)
        self._lock = threading.RLock()
        self.accounts: dict[str, RackbeatAccount] = {}
        self._by_token: dict[str, RackbeatAccount] = {}
        self.default = self._new_account(
            account_id=int(ACCOUNT_ID),
            tokens=[self.knobs.token, *self.knobs.other_tokens],
            company_name=DEFAULT_COMPANY_NAME,
            seed=config.seed,
            scale=config.scale,
            include_bad=config.include_bad,
            empty=config.empty,
        )
        self._apply_knobs()
        self.reset(seed=None, scale=None, empty=config.empty)

    # --- the default account's parts (what a single-account emulator had) -------------------
    @property
    def state(self) -> RackbeatState:
        return self.default.state

    @property
    def webhooks(self) -> WebhookHub:
        return self.default.webhooks

    @property
    def clock(self) -> Clock:
        return self.default.clock

    def _hub_knobs(self) -> HubKnobs:
        knobs = self.knobs
        return HubKnobs(
            retry_base_seconds=knobs.webhook_retry_base_seconds,
            max_attempts=knobs.webhook_max_attempts,
            timeout_seconds=knobs.webhook_timeout_seconds,
            fault=knobs.webhook_fault,
        )

    def _now_text(self) -> str:
        return format_datetime(self.default.clock.now())

    def emit(self, path: str, verb: str, record: Mapping[str, Any]) -> None:
        """Deliver the change of ``record`` (of the default account) to its webhooks."""
        self.default.webhooks.emit(event_for(path, verb), record["number"])

    @property
    def counters(self) -> Counters:
        return self._counters

    @property
    def faults(self) -> FaultInjector:
        return self._faults

    # --- accounts ---------------------------------------------------------------------------
    def _new_account(
        self,
        *,
        account_id: int,
        tokens: list[str],
        company_name: str,
        seed: int,
        scale: int,
        include_bad: bool,
        empty: bool,
    ) -> RackbeatAccount:
        with self._lock:
            if str(account_id) in self.accounts:
                raise ValueError(f"account {account_id} exists already")
            taken = sorted(t for t in tokens if t in self._by_token)
            if taken or len(set(tokens)) != len(tokens):
                raise ValueError("a token belongs to one account only")
            account = RackbeatAccount(
                account_id=account_id,
                tokens=list(tokens),
                company_name=company_name,
                seed=seed,
                scale=scale,
                include_bad=include_bad,
                empty=empty,
                counters=Counters(parent=self._counters),
                hub_knobs=self._hub_knobs,
                now_text=self._now_text,
            )
            frozen = self.knobs.frozen_time
            account.clock.freeze(parse_datetime(frozen) if frozen is not None else None)
            self.accounts[account.name] = account
            for token in tokens:
                self._by_token[token] = account
            return account

    def add_account(self, request: AccountRequest) -> RackbeatAccount:
        """A new account, seeded (``seed``/``scale``, the start values when omitted) or
        ``empty``; ``ValueError`` when its id or a token is taken."""
        with self._lock:
            account_id = request.account_id
            if account_id is None:
                account_id = max(int(name) for name in self.accounts) + 1
            account = self._new_account(
                account_id=account_id,
                tokens=[request.token or secrets.token_hex(20), *request.other_tokens],
                company_name=request.company_name or f"Lager {account_id} AS",
                seed=self.config.seed if request.seed is None else request.seed,
                scale=self.config.scale if request.scale is None else request.scale,
                include_bad=request.include_bad,
                empty=request.empty,
            )
        if not account.empty:
            account.load(seed=None, scale=None, empty=False)
        return account

    def remove_account(self, name: str) -> None:
        """Forget an account (``KeyError`` when unknown, ``ValueError`` for the default)."""
        with self._lock:
            account = self.accounts[name]
            if account is self.default:
                raise ValueError("the default account stays")
            del self.accounts[name]
            for token in account.tokens:
                self._by_token.pop(token, None)
                self.limiter.forget(token)
        account.webhooks.reset()
        self._faults.clear_tenant(name)

    def account(self, name: str) -> RackbeatAccount:
        """The account with id ``name``; ``KeyError`` when there is none."""
        return self.accounts[name]

    def account_for(self, token: str | None) -> RackbeatAccount | None:
        """The account a bearer token belongs to (one dict lookup)."""
        return self._by_token.get(token) if token is not None else None

    def account_of_scope(self, scope: Scope) -> RackbeatAccount | None:
        """The account of a request's bearer token, looked up once per request."""
        if ACCOUNT_SCOPE_KEY in scope:
            found: RackbeatAccount | None = scope[ACCOUNT_SCOPE_KEY]
            return found
        account = self.account_for(bearer_token(scope))
        scope[ACCOUNT_SCOPE_KEY] = account
        return account

    # --- TenantDirectory --------------------------------------------------------------------
    @property
    def tenant_param(self) -> str:
        return "account"

    @property
    def tenant_plural(self) -> str:
        return "accounts"

    def tenant_names(self) -> list[str]:
        with self._lock:
            return list(self.accounts)

    def tenant_counters(self, name: str) -> Counters:
        return self.accounts[name].counters

    def reset_tenant(
        self, name: str, *, seed: int | None, scale: int | None, empty: bool
    ) -> dict[str, Any]:
        account = self.accounts[name]
        for token in account.tokens:
            self.limiter.forget(token)
        return {
            "account_id": account.account_id,
            "records": account.load(seed=seed, scale=scale, empty=empty),
        }

    def tenant_snapshot(self, name: str) -> dict[str, Any]:
        return self.accounts[name].state.snapshot("/api/")

    # --- SandboxBackend ---------------------------------------------------------------------
    def reset(self, *, seed: int | None, scale: int | None, empty: bool) -> dict[str, Any]:
        """The whole emulator back to its default account alone, reloaded."""
        with self._lock:
            extra = [name for name, a in self.accounts.items() if a is not self.default]
        for name in extra:
            self.remove_account(name)
        # As ever: without ``empty``, generated data (even when the emulator started empty).
        used_scale = self.default.scale if scale is None else scale
        records = self.default.load(seed=seed, scale=used_scale, empty=empty)
        self.limiter.reset()
        return {"records": records}

    def snapshot(self) -> dict[str, Any]:
        return self.state.snapshot("/api/")

    def config_snapshot(self) -> dict[str, Any]:
        return self.knobs.model_dump()

    def configure(self, knobs: Mapping[str, Any]) -> dict[str, Any]:
        new = RackbeatKnobs.model_validate({**self.knobs.model_dump(), **knobs})
        with self._lock:
            tokens = [new.token, *new.other_tokens]
            owners = {self._by_token.get(t, self.default) for t in tokens}
            if owners != {self.default} or len(set(tokens)) != len(tokens):
                raise ValueError("token: another account has it (a token is one account's)")
            self.knobs = new
            self._apply_knobs()
        return self.config_snapshot()

    def restore_defaults(self) -> None:
        with self._lock:
            self.knobs = self._defaults.model_copy()
            self._apply_knobs()

    def accepts(self, token: str | None) -> bool:
        return self.account_for(token) is not None

    def _apply_knobs(self) -> None:
        limiter = self.limiter
        limit, enabled = self.knobs.rate_limit_per_minute, self.knobs.rate_limit_enabled
        # Reconfiguring restarts the windows, so only do it when the limit itself changes.
        if (limiter.limit, limiter.enabled) != (limit, enabled):
            limiter.configure(limit=limit, enabled=enabled)
        frozen = self.knobs.frozen_time
        at = parse_datetime(frozen) if frozen is not None else None
        with self._lock:
            for account in self.accounts.values():
                account.clock.freeze(at)
            default = self.default
            tokens = [self.knobs.token, *self.knobs.other_tokens]
            if default.tokens != tokens:
                for token in default.tokens:
                    self._by_token.pop(token, None)
                default.tokens = tokens
                for token in tokens:
                    self._by_token[token] = default

    def rate_headers(self, token: str | None) -> dict[str, str]:
        remaining = self.limiter.remaining(token) if token is not None else self.limiter.limit
        return {
            "X-RateLimit-Limit": str(self.limiter.limit),
            "X-RateLimit-Remaining": str(remaining),
        }

    def throttled(self, wait_seconds: int, token: str | None) -> JSONResponse:
        headers = self.rate_headers(token)
        headers["X-RateLimit-Remaining"] = "0"
        headers["Retry-After"] = str(wait_seconds)
        return _problem(429, "Too Many Attempts.", headers)


def bearer_token(scope: Scope) -> str | None:
    """The bearer token of a request's ``Authorization`` header, if it has one."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credential = value.decode("latin-1").partition(" ")
            return credential.strip() if scheme.lower() == "bearer" else None
    return None


def request_account(request: Request) -> RackbeatAccount:
    """The account the gate found for this API request."""
    account: RackbeatAccount = request.scope[ACCOUNT_SCOPE_KEY]
    return account


class RackbeatGate:
    """Bearer auth, then the per-token rate limit; rate headers go on every API response."""

    def __init__(self, app: ASGIApp, emulator: RackbeatEmulator) -> None:
        self.app = app
        self.emulator = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        emulator = self.emulator
        account = emulator.account_of_scope(scope)
        token = bearer_token(scope)
        if account is None or token is None:
            response = _problem(401, "Unauthenticated.", emulator.rate_headers(None))
            await response(scope, receive, send)
            return
        wait = emulator.limiter.hit(token)
        if wait is not None:
            account.counters.count_event("rate_limited")
            await emulator.throttled(emulator.limiter.whole_seconds(wait), token)(
                scope, receive, send
            )
            return
        extra = [(k.lower().encode(), v.encode()) for k, v in emulator.rate_headers(token).items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _int_param(request: Request, name: str, default: int, errors: Errors) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        errors[name] = [f"The {name} must be an integer."]
        return default
    if value < 1:
        errors[name] = [f"The {name} must be at least 1."]
    return value


def _parse_bool(raw: str) -> bool | None:
    lowered = raw.strip().lower()
    if lowered in ("1", "true"):
        return True
    if lowered in ("0", "false"):
        return False
    return None


def _list_query(
    request: Request, resource: Resource, emulator: RackbeatEmulator
) -> ListQuery | Errors:
    errors: Errors = {}
    params = request.query_params
    page = _int_param(request, "page", 1, errors)
    limit = _int_param(request, "limit", DEFAULT_LIMIT, errors)
    if limit > MAX_LIMIT:
        errors["limit"] = [f"The limit may not be greater than {MAX_LIMIT}."]
    bounds: dict[str, int | None] = {"updated_at_from": None, "updated_at_to": None}
    if resource.path not in emulator.knobs.ignore_updated_at_filter:
        for name in bounds:
            raw = params.get(name)
            if raw:
                try:
                    bounds[name] = parse_datetime(raw)
                except DatetimeError:
                    errors[name] = [f"The {name} is not a valid date."]
    predicate: Callable[[dict[str, Any]], bool] | None = None
    raw_booked = params.get("is_booked")
    if resource.booked_filter and raw_booked is not None:
        booked = _parse_bool(raw_booked)
        if booked is None:
            errors["is_booked"] = ["The is_booked field must be true or false."]
        else:
            predicate = lambda record: record["is_booked"] is booked  # noqa: E731
    order_by = params.get("order_by") or None
    direction = params.get("order_direction")
    if direction is not None and direction.upper() not in ("ASC", "DESC"):
        errors["order_direction"] = ["The selected order_direction is invalid."]
    if order_by is None and direction is not None:
        order_by = "number"
    if order_by is not None and order_by not in resource.sortable:
        errors["order_by"] = ["The selected order_by is invalid."]
    if errors:
        return errors
    return ListQuery(
        page=page,
        limit=limit,
        updated_from=bounds["updated_at_from"],
        updated_to=bounds["updated_at_to"],
        predicate=predicate,
        order_by=order_by,
        descending=(direction or "ASC").upper() == "DESC",
    )


def _select(rendered: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    if fields is None:
        return rendered
    return {name: rendered[name] for name in fields if name in rendered}


def _fields(request: Request) -> list[str] | None:
    raw = request.query_params.get("fields")
    if not raw:
        return None
    return [name.strip() for name in raw.split(",") if name.strip()]


def _base(request: Request) -> str:
    return f"{request.base_url}api/"


def _envelope(key: str, items: list[Any], total: int, page: int, limit: int) -> JSONResponse:
    body = {key: items, "total": total, "pages": pages_for(total, limit), "limit": limit}
    body["page"] = page
    return JSONResponse(body, status_code=206)


async def _json_object(request: Request) -> dict[str, Any] | Errors:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        return {"body": ["The body must be valid JSON."]}
    if not isinstance(body, dict):
        return {"body": ["The body must be a JSON object."]}
    return body


Handler = Callable[[Request], Awaitable[Response]]


def _resource_routes(emulator: RackbeatEmulator, resource: Resource) -> list[BaseRoute]:
    path = resource.path

    def key_of(request: Request) -> str:
        raw = request.path_params["number"]
        return str(raw) if resource.int_key else number_from_path(raw)

    async def list_records(request: Request) -> Response:
        query = _list_query(request, resource, emulator)
        if not isinstance(query, ListQuery):
            return _unprocessable(query)
        state = request_account(request).state
        page = state.query(path, query)
        base = _base(request)
        fields = _fields(request)
        items = [_select(state.render(path, r, base), fields) for r in page.records]
        return _envelope(resource.plural, items, page.total, query.page, query.limit)

    async def get_record(request: Request) -> Response:
        state = request_account(request).state
        record = state.get(path, key_of(request))
        if record is None:
            return _problem(404, "Not found.")
        rendered = _select(state.render(path, record, _base(request)), _fields(request))
        return JSONResponse({resource.singular: rendered})

    async def create_record(request: Request) -> Response:
        body = await _json_object(request)
        if "body" in body and isinstance(body["body"], list):
            return _unprocessable(body)
        account = request_account(request)
        state = account.state
        try:
            outcome = state.create(path, body)
        except WriteRejectedError as exc:
            if exc.duplicate:
                account.counters.count_write(path, "duplicates_refused")
            return _unprocessable(exc.errors)
        account.counters.count_write(path, "created")
        account.webhooks.emit(event_for(path, "created"), outcome.record["number"])
        rendered = state.render(path, outcome.record, _base(request))
        return JSONResponse({resource.singular: rendered}, status_code=201)

    async def update_record(request: Request) -> Response:
        body = await _json_object(request)
        if "body" in body and isinstance(body["body"], list):
            return _unprocessable(body)
        account = request_account(request)
        state = account.state
        try:
            record = state.update(path, key_of(request), body)
        except KeyError:
            return _problem(404, "Not found.")
        except WriteRejectedError as exc:
            return _unprocessable(exc.errors)
        account.counters.count_write(path, "updated")
        account.webhooks.emit(event_for(path, "updated"), record["number"])
        return JSONResponse({resource.singular: state.render(path, record, _base(request))})

    number = "{number:int}" if resource.int_key else "{number}"
    routes: list[BaseRoute] = [
        Route(f"/api/{path}", list_records, methods=["GET"]),
        Route(f"/api/{path}/{number}", get_record, methods=["GET"]),
    ]
    if resource.writable:
        routes.append(Route(f"/api/{path}", create_record, methods=["POST"]))
        routes.append(Route(f"/api/{path}/{number}", update_record, methods=["PUT"]))
    return routes


def _sub_routes() -> list[BaseRoute]:
    def paged(request: Request, key: str, items: list[Any]) -> Response:
        errors: Errors = {}
        page = _int_param(request, "page", 1, errors)
        limit = _int_param(request, "limit", DEFAULT_LIMIT, errors)
        if limit > MAX_LIMIT:
            errors["limit"] = [f"The limit may not be greater than {MAX_LIMIT}."]
        if errors:
            return _unprocessable(errors)
        fields = _fields(request)
        start = (page - 1) * limit
        window = [_select(item, fields) for item in items[start : start + limit]]
        return _envelope(key, window, len(items), page, limit)

    async def lot_lines(request: Request) -> Response:
        state = request_account(request).state
        lot = state.get("lots", number_from_path(request.path_params["number"]))
        if lot is None:
            return _problem(404, "Not found.")
        return paged(request, "lines", state.lot_lines(lot))

    async def customer_contacts(request: Request) -> Response:
        customer = request_account(request).state.get(
            "customers", str(request.path_params["number"])
        )
        if customer is None:
            return _problem(404, "Not found.")
        return paged(request, "customer_contacts", [dict(c) for c in customer["contacts"]])

    async def who_am_i(request: Request) -> Response:
        account = request_account(request)
        return JSONResponse(
            {
                "user_account": {
                    "id": account.account_id,
                    "company_name": account.company_name,
                    "address": "Industriveien 12, 0581 Oslo",
                },
                "user": {"id": 1, "name": "Kari Nordmann", "email": "kari@lagerhuset.no"},
            }
        )

    return [
        Route("/api/self", who_am_i, methods=["GET"]),
        Route("/api/lots/{number}/lines", lot_lines, methods=["GET"]),
        Route("/api/customers/{number:int}/contacts", customer_contacts, methods=["GET"]),
    ]


def _webhook_routes() -> list[BaseRoute]:
    def hub_of(request: Request) -> WebhookHub:
        return request_account(request).webhooks

    async def create(request: Request) -> Response:
        body = await _json_object(request)
        errors: Errors = {}
        event, url = body.get("event"), body.get("url")
        active = body.get("is_active", True)
        if not isinstance(event, str) or not event.strip():
            errors["event"] = ["The event field is required."]
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            errors["url"] = ["The url must be a valid URL."]
        if not isinstance(active, bool):
            errors["is_active"] = ["The is_active field must be true or false."]
        if errors or not isinstance(event, str) or not isinstance(url, str):
            return _unprocessable(errors)
        webhook, created = hub_of(request).create(event.strip(), url, is_active=active is True)
        return JSONResponse({"webhook": webhook}, status_code=201 if created else 200)

    async def list_webhooks(request: Request) -> Response:
        items = hub_of(request).subscriptions(request.query_params.get("event") or None)
        return _envelope("webhooks", items, len(items), 1, max(len(items), DEFAULT_LIMIT))

    async def get_webhook(request: Request) -> Response:
        webhook = hub_of(request).get(int(request.path_params["id"]))
        return JSONResponse({"webhook": webhook}) if webhook else _problem(404, "Not found.")

    async def delete_webhook(request: Request) -> Response:
        if not hub_of(request).delete(int(request.path_params["id"])):
            return _problem(404, "Not found.")
        return Response(status_code=204)

    async def logs(request: Request) -> Response:
        entries = hub_of(request).logs(int(request.path_params["id"]))
        if entries is None:
            return _problem(404, "Not found.")
        return _envelope("logs", entries, len(entries), 1, max(len(entries), DEFAULT_LIMIT))

    return [
        Route("/api/webhooks", create, methods=["POST"]),
        Route("/api/webhooks", list_webhooks, methods=["GET"]),
        Route("/api/webhooks/{id:int}", get_webhook, methods=["GET"]),
        Route("/api/webhooks/{id:int}", delete_webhook, methods=["DELETE"]),
        Route("/api/webhooks/{id:int}/logs", logs, methods=["GET"]),
    ]


def _touch_route(emulator: RackbeatEmulator) -> Route:
    async def touch(request: Request) -> Response:
        resource = RESOURCES.get(request.path_params["resource"])
        if resource is None:
            return _problem(404, f"unknown resource {request.path_params['resource']!r}")
        key = number_from_path(request.path_params["number"])
        account = _admin_account(emulator, request)
        body = await _json_object(request)
        if "body" in body and isinstance(body["body"], list):
            return _unprocessable(body)
        state = account.state
        booked_before = (state.get(resource.path, key) or {}).get("is_booked")
        try:
            record = state.touch(resource.path, key, body)
        except KeyError:
            return _problem(404, f"no {resource.singular} {key!r}")
        except WriteRejectedError as exc:
            return _unprocessable(exc.errors)
        booked = record.get("is_booked") is True and booked_before is False
        verb = "booked" if booked else "updated"
        account.webhooks.emit(event_for(resource.path, verb), record["number"])
        rendered = state.render(resource.path, record, _base(request))
        return JSONResponse({resource.singular: rendered})

    return Route("/touch/{resource}/{number:path}", touch, methods=["POST"])


def _emit_route(emulator: RackbeatEmulator) -> Route:
    """``POST /_sandbox/webhooks/emit`` ``{"event": ..., "key": ...}``: deliver an event that
    no API call causes (``plugin.uninstalled``, a deletion) to its subscribers."""

    async def emit(request: Request) -> Response:
        account = _admin_account(emulator, request)
        body = await _json_object(request)
        event = body.get("event")
        if not isinstance(event, str) or not event:
            return _unprocessable({"event": ["The event field is required."]})
        queued = account.webhooks.emit(event, body.get("key"))
        return JSONResponse({"queued": queued})

    return Route("/webhooks/emit", emit, methods=["POST"])


def _admin_account(emulator: RackbeatEmulator, request: Request) -> RackbeatAccount:
    """The account an admin request names with ``?account=<id>`` (the default without)."""
    name = tenant_query(request, emulator)
    return emulator.default if name is None else emulator.account(name)


def _account_routes(emulator: RackbeatEmulator) -> list[BaseRoute]:
    """``/_sandbox/accounts``: add, list, show and remove accounts at run time."""

    async def add(request: Request) -> Response:
        try:
            body = AccountRequest.model_validate(await _json_object_or_raise(request))
            account = emulator.add_account(body)
        except (ValueError, ValidationError) as exc:
            return JSONResponse({"error": f"account: {exc}"}, status_code=400)
        return JSONResponse(account.summary(default=False), status_code=201)

    async def listing(request: Request) -> Response:
        del request
        return JSONResponse(
            [
                emulator.accounts[name].summary(default=name == emulator.default.name)
                for name in emulator.tenant_names()
            ]
        )

    async def show(request: Request) -> Response:
        name = str(request.path_params["id"])
        account = emulator.accounts.get(name)
        if account is None:
            return JSONResponse({"error": f"no account {name!r}"}, status_code=404)
        return JSONResponse(account.summary(default=account is emulator.default))

    async def remove(request: Request) -> Response:
        name = str(request.path_params["id"])
        try:
            emulator.remove_account(name)
        except KeyError:
            return JSONResponse({"error": f"no account {name!r}"}, status_code=404)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return Response(status_code=204)

    return [
        Route("/accounts", add, methods=["POST"]),
        Route("/accounts", listing, methods=["GET"]),
        Route("/accounts/{id:int}", show, methods=["GET"]),
        Route("/accounts/{id:int}", remove, methods=["DELETE"]),
    ]


async def _json_object_or_raise(request: Request) -> dict[str, Any]:
    raw = await request.body()
    body = json.loads(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


async def _not_found(request: Request, exc: Exception) -> Response:
    del request
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    return _problem(status, "Not found." if status == 404 else "Method not allowed.")


def _template(routes: list[BaseRoute], scope: Scope) -> str | None:
    """The route template a request reaches, without convertors: ``/api/customers/{number}``."""
    template = route_template(routes, scope)
    return template.replace(":int}", "}") if template is not None else None


def create_app(config: RackbeatConfig | None = None) -> Starlette:
    """The emulator app; its :class:`RackbeatEmulator` is ``app.state.emulator``."""
    emulator = RackbeatEmulator(config or RackbeatConfig())
    api_routes: list[BaseRoute] = [*_sub_routes(), *_webhook_routes()]
    for resource in RESOURCES.values():
        api_routes.extend(_resource_routes(emulator, resource))
    routes: list[BaseRoute] = [
        admin_mount(
            emulator,
            [_touch_route(emulator), _emit_route(emulator), *_account_routes(emulator)],
            tenants=emulator,
        ),
        *api_routes,
    ]

    def account_counters(scope: Scope) -> Counters | None:
        account = emulator.account_of_scope(scope)
        return account.counters if account is not None else None

    def account_name(scope: Scope) -> str | None:
        account = emulator.account_of_scope(scope)
        return account.name if account is not None else None

    def throttled_by_fault() -> Response:
        return emulator.throttled(1, None)

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                RequestCounterMiddleware,
                counters=emulator.counters,
                template_of=lambda scope: _template(api_routes, scope),
                tenant_of=account_counters,
            ),
            Middleware(
                FaultMiddleware,
                injector=emulator.faults,
                too_many_requests=throttled_by_fault,
                tenant_of=account_name,
            ),
            Middleware(RackbeatGate, emulator=emulator),
        ],
        exception_handlers={404: _not_found, 405: _not_found, **UNKNOWN_TENANT_HANDLERS},
    )
    app.state.emulator = emulator
    return app

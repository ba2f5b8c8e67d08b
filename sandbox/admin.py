"""The admin surface every emulator mounts under ``/_sandbox/``.

An emulator implements :class:`SandboxBackend` (reset, state, config knobs, its counters and
fault injector) and mounts :func:`admin_mount`. The routes:

- ``POST /_sandbox/reset``: body ``{"seed": int, "scale": int}`` or ``{"empty": true}``
  (``{}`` = the emulator's default start state).
- ``GET /_sandbox/state``: the full state as JSON.
- ``GET /_sandbox/counters`` / ``POST /_sandbox/counters/reset``.
- ``GET /_sandbox/faults`` / ``PUT /_sandbox/faults`` (a list of :class:`FaultRule`) /
  ``DELETE /_sandbox/faults``.
- ``GET /_sandbox/config`` / ``PATCH /_sandbox/config`` (emulator knobs; unknown knob -> 400).

- ``GET /_sandbox/counters/window?since=<epoch s>&until=<epoch s>``: requests and statuses
  per wall-clock second in that window, emulator-wide and per tenant.

An emulator serving several tenants (Rackbeat accounts, PowerOffice Go client companies) passes
a :class:`TenantDirectory`; then ``reset``, ``state``, ``counters``, ``counters/reset``,
``counters/window`` and ``faults`` take ``?<tenant_param>=<name>`` (``?account=4712``,
``?client=<client key>``) to act on that tenant only. Without it they act as before: on the
whole emulator (``reset`` then drops every tenant but the default one). An unknown tenant is a
404; knobs (``config``) are emulator-wide, so ``config`` with a tenant is a 400.

Each emulator may add its own routes (``extra_routes``), e.g. Rackbeat's ``touch``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from sandbox.counters import Counters
from sandbox.faults import ADMIN_PREFIX, FaultInjector, FaultRule

__all__ = [
    "UNKNOWN_TENANT_HANDLERS",
    "ResetRequest",
    "SandboxBackend",
    "TenantDirectory",
    "admin_mount",
    "admin_routes",
    "tenant_query",
]


class SandboxBackend(Protocol):
    """What an emulator exposes to the admin surface and to the pytest fixtures."""

    @property
    def counters(self) -> Counters: ...

    @property
    def faults(self) -> FaultInjector: ...

    def reset(self, *, seed: int | None, scale: int | None, empty: bool) -> dict[str, Any]:
        """Replace the whole state; return a short summary (record counts)."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """The full state as JSON-ready data."""
        ...

    def config_snapshot(self) -> dict[str, Any]:
        """The current knobs."""
        ...

    def configure(self, knobs: Mapping[str, Any]) -> dict[str, Any]:
        """Change knobs (``ValueError``/``ValidationError`` on a bad one); return all knobs."""
        ...

    def restore_defaults(self) -> None:
        """Knobs back to the values the emulator was created with."""
        ...


class TenantDirectory(Protocol):
    """The tenants (accounts, client companies) of an emulator that serves several."""

    @property
    def tenant_param(self) -> str:
        """The query parameter naming a tenant on the admin routes (``account``, ``client``)."""
        ...

    @property
    def tenant_plural(self) -> str:
        """The key of the per-tenant figures in ``counters/window`` (``accounts``)."""
        ...

    def tenant_names(self) -> list[str]:
        """Every tenant's name, the default one first."""
        ...

    def tenant_counters(self, name: str) -> Counters:
        """The counters of tenant ``name``; ``KeyError`` when there is no such tenant."""
        ...

    def reset_tenant(
        self, name: str, *, seed: int | None, scale: int | None, empty: bool
    ) -> dict[str, Any]:
        """Replace one tenant's data (``KeyError`` when unknown); a short summary."""
        ...

    def tenant_snapshot(self, name: str) -> dict[str, Any]:
        """One tenant's full state as JSON-ready data (``KeyError`` when unknown)."""
        ...


class ResetRequest(BaseModel):
    """Body of ``POST /_sandbox/reset``."""

    model_config = ConfigDict(extra="forbid")

    seed: int | None = None
    scale: int | None = Field(None, ge=0)
    empty: bool = False


_RULES = TypeAdapter(list[FaultRule])


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"error": detail}, status_code=status)


async def _json_body(request: Request, *, default: Any) -> Any:
    raw = await request.body()
    if not raw.strip():
        return default
    return json.loads(raw)


class _UnknownTenantError(Exception):
    def __init__(self, param: str, name: str) -> None:
        super().__init__(f"no {param} {name!r}")


def tenant_query(request: Request, tenants: TenantDirectory | None) -> str | None:
    """The tenant a request names (``?account=``/``?client=``), if any; ``_UnknownTenantError``
    (a 404) when the emulator has no such tenant."""
    if tenants is None:
        return None
    name = request.query_params.get(tenants.tenant_param)
    if name is None:
        return None
    try:
        tenants.tenant_counters(name)
    except KeyError:
        raise _UnknownTenantError(tenants.tenant_param, name) from None
    return name


def _float_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    return float(raw)


def admin_routes(  # noqa: PLR0915 - one closure per route
    backend: SandboxBackend, tenants: TenantDirectory | None = None
) -> list[BaseRoute]:
    """The common admin routes (relative to ``/_sandbox``) bound to ``backend`` (and, for an
    emulator serving several tenants, ``tenants``)."""

    def counters_of(tenant: str | None) -> Counters:
        if tenant is None or tenants is None:
            return backend.counters
        return tenants.tenant_counters(tenant)

    async def reset(request: Request) -> Response:
        tenant = tenant_query(request, tenants)
        try:
            body = ResetRequest.model_validate(await _json_body(request, default={}))
        except (ValueError, ValidationError) as exc:
            return _problem(400, f"reset body: {exc}")
        if tenant is not None and tenants is not None:
            summary = tenants.reset_tenant(
                tenant, seed=body.seed, scale=body.scale, empty=body.empty
            )
            counters_of(tenant).reset()
            return JSONResponse(summary)
        summary = backend.reset(seed=body.seed, scale=body.scale, empty=body.empty)
        backend.counters.reset()
        return JSONResponse(summary)

    async def state(request: Request) -> Response:
        tenant = tenant_query(request, tenants)
        if tenant is not None and tenants is not None:
            return JSONResponse(tenants.tenant_snapshot(tenant))
        return JSONResponse(backend.snapshot())

    async def counters(request: Request) -> Response:
        return JSONResponse(counters_of(tenant_query(request, tenants)).snapshot())

    async def counters_reset(request: Request) -> Response:
        found = counters_of(tenant_query(request, tenants))
        found.reset()
        return JSONResponse(found.snapshot())

    async def counters_window(request: Request) -> Response:
        tenant = tenant_query(request, tenants)
        try:
            since = _float_param(request, "since")
            until = _float_param(request, "until")
        except ValueError as exc:
            return _problem(400, f"window: {exc}")
        if since is None:
            return _problem(400, "window: since (epoch seconds) is required")
        if tenant is not None or tenants is None:
            return JSONResponse(counters_of(tenant).window(since, until))
        body = backend.counters.window(since, until)
        per_tenant: dict[str, Any] = {}
        for name in tenants.tenant_names():
            figures = tenants.tenant_counters(name).window(since, body["until"])
            if figures["requests"]:
                del figures["since"], figures["until"]
                per_tenant[name] = figures
        body[tenants.tenant_plural] = per_tenant
        return JSONResponse(body)

    async def get_faults(request: Request) -> Response:
        return JSONResponse(backend.faults.snapshot(tenant_query(request, tenants)))

    async def put_faults(request: Request) -> Response:
        tenant = tenant_query(request, tenants)
        try:
            rules = _RULES.validate_python(await _json_body(request, default=[]))
        except (ValueError, ValidationError) as exc:
            return _problem(400, f"fault rules: {exc}")
        if tenant is not None:
            backend.faults.set_tenant_rules(tenant, rules)
        else:
            backend.faults.set_rules(rules)
        return JSONResponse(backend.faults.snapshot(tenant))

    async def delete_faults(request: Request) -> Response:
        tenant = tenant_query(request, tenants)
        if tenant is not None:
            backend.faults.clear_tenant(tenant)
        else:
            backend.faults.clear()
        return JSONResponse([])

    async def get_config(request: Request) -> Response:
        if tenants is not None and tenants.tenant_param in request.query_params:
            return _problem(400, "config: the knobs are emulator-wide, not per tenant")
        return JSONResponse(backend.config_snapshot())

    async def patch_config(request: Request) -> Response:
        if tenants is not None and tenants.tenant_param in request.query_params:
            return _problem(400, "config: the knobs are emulator-wide, not per tenant")
        try:
            knobs = await _json_body(request, default={})
            if not isinstance(knobs, dict):
                raise ValueError("the body must be a JSON object of knobs")
            return JSONResponse(backend.configure(knobs))
        except (ValueError, ValidationError) as exc:
            return _problem(400, f"config: {exc}")

    return [
        Route("/reset", reset, methods=["POST"]),
        Route("/state", state, methods=["GET"]),
        Route("/counters", counters, methods=["GET"]),
        Route("/counters/reset", counters_reset, methods=["POST"]),
        Route("/counters/window", counters_window, methods=["GET"]),
        Route("/faults", get_faults, methods=["GET"]),
        Route("/faults", put_faults, methods=["PUT"]),
        Route("/faults", delete_faults, methods=["DELETE"]),
        Route("/config", get_config, methods=["GET"]),
        Route("/config", patch_config, methods=["PATCH"]),
    ]


async def _unknown_tenant(request: Request, exc: Exception) -> Response:
    del request
    return _problem(404, str(exc))


def admin_mount(
    backend: SandboxBackend,
    extra_routes: Sequence[BaseRoute] = (),
    *,
    tenants: TenantDirectory | None = None,
) -> Mount:
    """``Mount("/_sandbox", ...)`` with the common routes plus the emulator's own."""
    return Mount(ADMIN_PREFIX, routes=[*admin_routes(backend, tenants), *extra_routes])


UNKNOWN_TENANT_HANDLERS = {_UnknownTenantError: _unknown_tenant}
"""Exception handlers an emulator app installs, so that an unknown ``?account=`` /
``?client=`` on any admin route (its own routes too, through :func:`tenant_query`) is a 404."""

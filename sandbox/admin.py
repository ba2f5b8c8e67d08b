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

__all__ = ["ResetRequest", "SandboxBackend", "admin_mount", "admin_routes"]


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


def admin_routes(backend: SandboxBackend) -> list[BaseRoute]:
    """The common admin routes (relative to ``/_sandbox``) bound to ``backend``."""

    async def reset(request: Request) -> Response:
        try:
            body = ResetRequest.model_validate(await _json_body(request, default={}))
        except (ValueError, ValidationError) as exc:
            return _problem(400, f"reset body: {exc}")
        summary = backend.reset(seed=body.seed, scale=body.scale, empty=body.empty)
        backend.counters.reset()
        return JSONResponse(summary)

    async def state(request: Request) -> Response:
        del request
        return JSONResponse(backend.snapshot())

    async def counters(request: Request) -> Response:
        del request
        return JSONResponse(backend.counters.snapshot())

    async def counters_reset(request: Request) -> Response:
        del request
        backend.counters.reset()
        return JSONResponse(backend.counters.snapshot())

    async def get_faults(request: Request) -> Response:
        del request
        return JSONResponse(backend.faults.snapshot())

    async def put_faults(request: Request) -> Response:
        try:
            rules = _RULES.validate_python(await _json_body(request, default=[]))
        except (ValueError, ValidationError) as exc:
            return _problem(400, f"fault rules: {exc}")
        backend.faults.set_rules(rules)
        return JSONResponse(backend.faults.snapshot())

    async def delete_faults(request: Request) -> Response:
        del request
        backend.faults.clear()
        return JSONResponse([])

    async def get_config(request: Request) -> Response:
        del request
        return JSONResponse(backend.config_snapshot())

    async def patch_config(request: Request) -> Response:
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
        Route("/faults", get_faults, methods=["GET"]),
        Route("/faults", put_faults, methods=["PUT"]),
        Route("/faults", delete_faults, methods=["DELETE"]),
        Route("/config", get_config, methods=["GET"]),
        Route("/config", patch_config, methods=["PATCH"]),
    ]


def admin_mount(backend: SandboxBackend, extra_routes: Sequence[BaseRoute] = ()) -> Mount:
    """``Mount("/_sandbox", ...)`` with the common routes plus the emulator's own."""
    return Mount(ADMIN_PREFIX, routes=[*admin_routes(backend), *extra_routes])

"""Flower for the rbsync Celery app, built in-process: auth, persistence, Retry, readable args,
entity pages.

Flower 2 has no extension API; what ``celery flower`` does in ``flower/command.py`` is done here
with rbsync's choices: options set from :class:`FlowerConfig` rather than ``FLOWER_*`` variables,
rbsync's handlers added in front of Flower's routes (the two Retry endpoints, the entity pages
and their Resync, ``/metrics`` behind the login, and, unless ``RBSYNC_FLOWER_CONTROL`` is on, a
403 on every endpoint of Flower's remote control), and a template loader that puts the Retry
buttons, the entity links and the Entities tab on Flower's pages.
"""

from __future__ import annotations

import atexit
import logging
import signal
import sys
from types import FrameType
from typing import Any

from celery import Celery
from tornado.routing import URLSpec
from tornado.web import RequestHandler, url

from worker.flower.config import FlowerConfig
from worker.flower.display import readable_task
from worker.flower.entities import ENTITIES_PATH, RESYNC_PATH
from worker.flower.handlers import (
    AuthenticatedMetricsHandler,
    ControlOffHandler,
    EntityHandler,
    EntityResyncHandler,
    EntitySearchHandler,
    RetryAllFailedHandler,
    RetryTaskHandler,
)
from worker.flower.templates import RbsyncTemplateLoader

logger = logging.getLogger(__name__)

TASKS_COLUMNS = "name,uuid,state,args,received,runtime,worker"
"""The task list's columns: Flower's default plus ``args``, which reads ``kind=…, key=…``."""


WRITE_METHODS = ("post", "put", "patch", "delete")
"""HTTP methods that change something; Flower's API reads with GET and acts with POST."""


def flower_control_routes() -> list[str]:
    """The path patterns of Flower's remote control: every ``/api/`` route of the installed
    Flower whose handler takes a write method (shutdown, pool, consumers, revoke, abort, rate
    and time limits, apply and send-task), as Flower registers them (without a url prefix).

    Read from Flower's own route table, so a Flower upgrade that adds such an endpoint has it
    refused too (``tests/worker/test_flower_config.py`` lists today's).
    """
    from flower.urls import handlers

    routes: list[str] = []
    for rule in handlers:
        if isinstance(rule, URLSpec):
            pattern, handler = rule.regex.pattern, rule.handler_class
        else:
            pattern, handler = rule[0], rule[1]
        acts = any(
            getattr(handler, method, None) is not getattr(RequestHandler, method)
            for method in WRITE_METHODS
        )
        if pattern.startswith("/api/") and acts:
            routes.append(pattern)
    return routes


def rbsync_handlers(url_prefix: str = "", *, control: bool = False) -> list[Any]:
    """Tornado rules for rbsync's endpoints (named, so templates can ``reverse_url`` them).

    They are matched before Flower's own, so ``/metrics`` here replaces Flower's open one and,
    unless ``control``, :class:`ControlOffHandler` answers Flower's remote-control paths.
    """
    prefix = f"/{url_prefix.strip('/')}" if url_prefix.strip("/") else ""
    rules: list[Any] = [
        url(rf"{prefix}/rbsync/retry/([0-9a-fA-F-]+)", RetryTaskHandler, name="rbsync-retry-task"),
        url(rf"{prefix}/rbsync/retry-failed", RetryAllFailedHandler, name="rbsync-retry-failed"),
        url(rf"{prefix}{ENTITIES_PATH}", EntitySearchHandler, name="rbsync-entities"),
        # Kind and key are percent-encoded one by one (a key may hold "/"): one segment each.
        url(rf"{prefix}{ENTITIES_PATH}/([^/]+)/([^/]+)", EntityHandler),
        url(rf"{prefix}{RESYNC_PATH}/([^/]+)/([^/]+)", EntityResyncHandler),
        url(rf"{prefix}/metrics", AuthenticatedMetricsHandler),
    ]
    if not control:
        gated = flower_control_routes()
        rules.extend(url(f"{prefix}{route}", ControlOffHandler) for route in gated)
    return rules


def build_flower(capp: Celery, config: FlowerConfig) -> Any:
    """A ready-to-serve ``flower.app.Flower`` for ``capp``, configured from ``config``.

    Flower's options are tornado's process-wide ``options``: build one Flower per process.
    """
    from flower.app import Flower
    from flower.options import default_options as options
    from flower.urls import settings as flower_settings
    from flower.utils import prepend_url

    options.address = config.address
    options.port = config.port
    options.basic_auth = [entry.get_secret_value() for entry in config.basic_auth]
    options.auth = ""
    options.persistent = True
    options.db = str(config.state_db)
    options.state_save_interval = config.state_save_interval_ms
    options.format_task = readable_task
    options.tasks_columns = TASKS_COLUMNS
    options.url_prefix = config.url_prefix or None
    # Flower's read-only mode hides its control buttons (Terminate, Revoke, Shut down, pool and
    # consumer controls, limits) and makes its handlers refuse; rbsync's gate refuses first.
    options.read_only = not config.control

    settings = dict(flower_settings)
    settings["debug"] = False
    settings["template_loader"] = RbsyncTemplateLoader()
    if config.url_prefix:
        for name in ("login_url", "static_url_prefix"):
            settings[name] = prepend_url(settings[name], config.url_prefix)

    config.state_db.parent.mkdir(parents=True, exist_ok=True)
    flower_app = Flower(capp=capp, options=options, **settings)
    # add_handlers puts a host rule before the default one, so these win over Flower's ".*" 404.
    flower_app.add_handlers(r".*", rbsync_handlers(config.url_prefix, control=config.control))
    return flower_app


def run_flower(capp: Celery, config: FlowerConfig) -> None:
    """Serve Flower until SIGTERM or Ctrl-C, then save its state (``persistent``) and return."""
    # Flower's access log would print every URL at INFO; Flower itself silences it too.
    logging.getLogger("tornado.access").propagate = False
    flower_app = build_flower(capp, config)
    atexit.register(flower_app.stop)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    port = flower_app.start_http_server()
    with capp.connection() as conn:
        broker = conn.as_uri()  # kombu masks the password
    if config.insecure:
        logger.warning("Flower runs WITHOUT authentication (--insecure-no-auth): loopback only!")
    if config.control:
        logger.warning(
            "Flower's remote control is ON (RBSYNC_FLOWER_CONTROL): every Flower user can shut "
            "workers down, change their pools and revoke or terminate tasks"
        )
    else:
        logger.info(
            "Flower's remote control is off (shutdown, pool, revoke, limits; "
            "RBSYNC_FLOWER_CONTROL=true turns it on); rbsync's Retry works"
        )
    logger.info(
        "Flower for rbsync on http://%s:%s/%s (login as: %s; state in %s; broker %s)",
        config.address,
        port,
        config.url_prefix,
        ", ".join(config.users) or "anyone, no login",
        config.state_db,
        broker,
    )
    try:
        flower_app.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        flower_app.stop()
        # The ledger (and Rackbeat client) the entity pages opened, if any.
        from wiring.runtime import set_runtime

        set_runtime(capp, None)


def _exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    # SystemExit unwinds the I/O loop into run_flower's finally, which saves the state.
    logger.info("signal %s: stopping Flower", signum)
    sys.exit(0)

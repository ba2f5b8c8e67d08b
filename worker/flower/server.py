"""Flower for the rbsync Celery app, built in-process: auth, persistence, Retry, readable args.

Flower 2 has no extension API; what ``celery flower`` does in ``flower/command.py`` is done here
with rbsync's choices: options set from :class:`FlowerConfig` rather than ``FLOWER_*`` variables,
rbsync's two handlers added in front of Flower's catch-all route, and a template loader that
puts the Retry buttons on Flower's pages.
"""

from __future__ import annotations

import atexit
import logging
import signal
import sys
from types import FrameType
from typing import Any

from celery import Celery
from tornado.web import url

from worker.flower.config import FlowerConfig
from worker.flower.display import readable_task
from worker.flower.handlers import RetryAllFailedHandler, RetryTaskHandler
from worker.flower.templates import RbsyncTemplateLoader

logger = logging.getLogger(__name__)

TASKS_COLUMNS = "name,uuid,state,args,received,runtime,worker"
"""The task list's columns: Flower's default plus ``args``, which reads ``kind=…, key=…``."""


def rbsync_handlers(url_prefix: str = "") -> list[Any]:
    """Tornado rules for rbsync's endpoints (named, so templates can ``reverse_url`` them)."""
    prefix = f"/{url_prefix.strip('/')}" if url_prefix.strip("/") else ""
    return [
        url(rf"{prefix}/rbsync/retry/([0-9a-fA-F-]+)", RetryTaskHandler, name="rbsync-retry-task"),
        url(rf"{prefix}/rbsync/retry-failed", RetryAllFailedHandler, name="rbsync-retry-failed"),
    ]


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
    options.read_only = False

    settings = dict(flower_settings)
    settings["debug"] = False
    settings["template_loader"] = RbsyncTemplateLoader()
    if config.url_prefix:
        for name in ("login_url", "static_url_prefix"):
            settings[name] = prepend_url(settings[name], config.url_prefix)

    config.state_db.parent.mkdir(parents=True, exist_ok=True)
    flower_app = Flower(capp=capp, options=options, **settings)
    # add_handlers puts a host rule before the default one, so these win over Flower's ".*" 404.
    flower_app.add_handlers(r".*", rbsync_handlers(config.url_prefix))
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


def _exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    # SystemExit unwinds the I/O loop into run_flower's finally, which saves the state.
    logger.info("signal %s: stopping Flower", signum)
    sys.exit(0)

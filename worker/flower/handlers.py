"""rbsync's handlers in Flower: the two Retry endpoints, ``/metrics`` behind the login, and the
gate that refuses Flower's remote control while ``RBSYNC_FLOWER_CONTROL`` is off.

The two POST endpoints behind rbsync's buttons retry one task or all failed ones.

They are Flower handlers, so Flower's own authentication applies (basic auth on every request)
and so do its cross-site checks (``Sec-Fetch-Site`` / ``Origin``). With basic auth alone Flower
does not check the XSRF token, because the browser re-sends the credentials on any request; these
handlers require the token as well (double-submit cookie, the form carries ``_xsrf``), so a page
on another site cannot make a logged-in browser press Retry.

Both send ``rbsync.retry`` by name through the Celery app (``send_task``): the worker re-drives
the entity from the ledger, never from Flower's truncated copy of the arguments.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any
from urllib.parse import urlencode

import tornado.web
from flower.api import BaseApiHandler
from flower.views import BaseHandler
from flower.views.monitor import Metrics

from worker.flower.retry import RETRY_ALL_FAILED, NotRetriableError, RetryRequest, retry_request_for

logger = logging.getLogger(__name__)

RETRY_SENT_ARGUMENT = "rbsync_retry_sent"
"""Query argument of the page shown after a retry: the id of the task that was sent."""

CONTROL_OFF_MESSAGE = (
    "Flower's remote control is off in rbsync; RBSYNC_FLOWER_CONTROL=true turns it on"
)


def retry_sent_id(handler: tornado.web.RequestHandler) -> str | None:
    """The task id a previous retry sent (from the query string), only if it is a UUID."""
    value = handler.get_query_argument(RETRY_SENT_ARGUMENT, None)
    if not value:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


# Flower ships no type information, so its BaseHandler is ``Any`` to mypy.
class _RetryHandler(BaseHandler):  # type: ignore[misc]
    """Common ground: the XSRF token, sending and redirecting.

    Flower's ``read_only`` option does not apply: rbsync sets it to switch Flower's own remote
    control off, and a Retry only asks the worker to re-drive entities from the ledger, with
    the idempotency rules of any sync.
    """

    def check_xsrf_cookie(self) -> None:
        super().check_xsrf_cookie()  # Flower: refuse cross-site and cross-origin requests
        tornado.web.RequestHandler.check_xsrf_cookie(self)  # and always demand the token

    async def send(self, request: RetryRequest) -> str:
        """Send ``request`` to the broker off the I/O loop; returns the new task id."""
        capp: Any = self.application.capp
        result = await self.application.blocking_runner.run(
            "send-task",
            request.task_name,
            capp.send_task,
            request.task_name,
            kwargs=request.kwargs,
        )
        task_id = str(result.id)
        logger.info("Flower retry: sent %s as task %s", request.describe(), task_id)
        return task_id

    def redirect_after(self, url: str, task_id: str) -> None:
        # 303: the browser follows with a GET, so reloading the page does not send again.
        self.redirect(f"{url}?{urlencode({RETRY_SENT_ARGUMENT: task_id})}", status=303)


class RetryTaskHandler(_RetryHandler):
    """``POST /rbsync/retry/<task id>``: re-drive the entity of one failed rbsync task."""

    @tornado.web.authenticated
    async def post(self, task_id: str) -> None:
        task = self.application.events.state.tasks.get(task_id)
        if task is None:
            raise tornado.web.HTTPError(404, f"Unknown task '{task_id}'")
        try:
            request = retry_request_for(task)
        except NotRetriableError as exc:
            raise tornado.web.HTTPError(409, f"Task '{task_id}' cannot be retried: {exc}") from exc
        new_id = await self.send(request)
        self.redirect_after(self.reverse_url("task", task_id), new_id)


class RetryAllFailedHandler(_RetryHandler):
    """``POST /rbsync/retry-failed``: re-drive every failed, dead or unknown ledger row."""

    @tornado.web.authenticated
    async def post(self) -> None:
        new_id = await self.send(RETRY_ALL_FAILED)
        self.redirect_after(self.reverse_url("tasks"), new_id)


class AuthenticatedMetricsHandler(Metrics):  # type: ignore[misc]
    """``GET /metrics`` behind the login: Flower 2 serves it to anyone (its handler has no
    ``@authenticated``), and it names every task, worker host and their counts. Prometheus
    sends basic auth itself (``basic_auth`` in its scrape config)."""

    @tornado.web.authenticated
    async def get(self) -> None:
        await super().get()


class ControlOffHandler(BaseApiHandler):  # type: ignore[misc]
    """Answers 403 on an endpoint of Flower's remote control while ``RBSYNC_FLOWER_CONTROL``
    is off, before Flower's own handler could send anything to the broker.

    Flower's ``read_only`` option (also set then) makes its handlers refuse too and hides
    their buttons; this gate does not depend on every Flower handler checking it. The login
    comes first, so an anonymous caller learns nothing (401).
    """

    @tornado.web.authenticated
    def post(self, *_arguments: str) -> None:
        raise tornado.web.HTTPError(403, CONTROL_OFF_MESSAGE)

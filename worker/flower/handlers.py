"""rbsync's handlers in Flower: the two Retry endpoints, the entity pages and their Resync,
``/metrics`` behind the login, and the gate that refuses Flower's remote control while
``RBSYNC_FLOWER_CONTROL`` is off.

The POST endpoints behind rbsync's buttons retry one task or all failed ones, or resync one
entity (``worker.flower.entities``: fetch Rackbeat's current record, send one sync).

They are Flower handlers, so Flower's own authentication applies (basic auth on every request)
and so do its cross-site checks (``Sec-Fetch-Site`` / ``Origin``). With basic auth alone Flower
does not check the XSRF token, because the browser re-sends the credentials on any request; these
handlers require the token as well (double-submit cookie, the form carries ``_xsrf``), so a page
on another site cannot make a logged-in browser press Retry.

Both Retry buttons send ``rbsync.retry`` by name through the Celery app (``send_task``): the worker
re-drives the entity from the ledger, never from Flower's truncated copy of the arguments.

The entity pages read the ledger of the Flower process (``RBSYNC_DATABASE_URL``, as every rbsync
process), off tornado's I/O loop; a ledger that cannot be read is a 503 with one line saying why.
The search reads every connection's rows; an entity page and its Resync work within the
connection their ``?connection=`` names (``default`` without it), and an unknown connection is a
404 naming the known ones.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar
from urllib.parse import urlencode

import tornado.web
from flower.api import BaseApiHandler
from flower.views import BaseHandler
from flower.views.monitor import Metrics

from worker.flower.entities import (
    CONNECTION_ARGUMENT,
    DEFAULT_CONNECTION,
    SEARCH_LIMIT,
    EntitySearch,
    EntityView,
    RowView,
    SearchError,
    connection_names,
    entity_url,
    entity_view,
    kind_names,
    parse_search,
    resync,
    search,
    status_names,
)
from worker.flower.retry import RETRY_ALL_FAILED, NotRetriableError, RetryRequest, retry_request_for

if TYPE_CHECKING:
    from wiring.runtime import Runtime

logger = logging.getLogger(__name__)

RETRY_SENT_ARGUMENT = "rbsync_retry_sent"
"""Query argument of the page shown after a retry: the id of the task that was sent."""
RESYNC_SENT_ARGUMENT = "rbsync_resync_sent"
"""Query argument of the entity page shown after a Resync: the id of the sync task sent."""

T = TypeVar("T")

CONTROL_OFF_MESSAGE = (
    "Flower's remote control is off in rbsync; RBSYNC_FLOWER_CONTROL=true turns it on"
)


def retry_sent_id(
    handler: tornado.web.RequestHandler, argument: str = RETRY_SENT_ARGUMENT
) -> str | None:
    """The task id a previous retry (or Resync) sent, from the query string, if it is a UUID."""
    value = handler.get_query_argument(argument, None)
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


def resync_sent_id(handler: tornado.web.RequestHandler) -> str | None:
    """The id of the sync task a previous Resync sent (from the query string), if a UUID."""
    return retry_sent_id(handler, RESYNC_SENT_ARGUMENT)


def operator_problem(exc: BaseException) -> str | None:
    """One line for an error an operator can act on (the CLI's wording: ledger or broker
    unreachable, ledger not migrated, a setting missing); None for a bug."""
    from worker.commands._common import describe_error

    return describe_error(exc)


async def off_loop(
    handler: tornado.web.RequestHandler,
    func: Callable[..., T],
    *args: Any,
    passthrough: tuple[type[BaseException], ...] = (),
) -> T:
    """Run ``func(*args)`` in Flower's executor (ledger and API calls block); an error the
    operator can act on becomes a 503 saying what it is, except the ``passthrough`` ones,
    which the caller answers itself."""
    loop = asyncio.get_running_loop()
    executor: Any = handler.application.executor  # type: ignore[attr-defined]
    try:
        return await loop.run_in_executor(executor, functools.partial(func, *args))
    except tornado.web.HTTPError:
        raise
    except passthrough:
        raise
    except Exception as exc:
        message = operator_problem(exc)
        if message is None:
            raise
        raise tornado.web.HTTPError(503, message) from exc


def known_kind(kind: str) -> str:
    """``kind`` if it is a registered kind, else a 404 naming them."""
    if kind not in kind_names():
        raise tornado.web.HTTPError(
            404, f"Unknown kind {kind!r}; rbsync knows {', '.join(kind_names())}"
        )
    return kind


class EntitySearchHandler(BaseHandler):  # type: ignore[misc]
    """``GET /rbsync/entities?kind=&key=&status=&connection=``: ledger rows of every connection
    (or the one named) by kind and key, or status."""

    @tornado.web.authenticated
    async def get(self) -> None:
        problem = None
        try:
            wanted = parse_search(
                self.get_query_argument("kind", ""),
                self.get_query_argument("key", ""),
                self.get_query_argument("status", ""),
                self.get_query_argument(CONNECTION_ARGUMENT, ""),
            )
        except SearchError as exc:
            problem, wanted = str(exc), EntitySearch()
        capp = self.application.capp
        found = await off_loop(self, _search, capp, wanted)
        if found.problem is not None:
            problem, wanted = found.problem, EntitySearch()
        if problem is not None:
            self.set_status(400)
        self.render(
            "rbsync/entities.html",
            wanted=wanted,
            rows=found.rows,
            more=found.more,
            problem=problem,
            kinds=kind_names(),
            statuses=status_names(),
            connections=found.connections,
            limit=SEARCH_LIMIT,
        )


class _Found(NamedTuple):
    connections: list[str]
    rows: list[RowView]
    more: bool
    problem: str | None


def _search(capp: Any, wanted: EntitySearch) -> _Found:
    from wiring.runtime import fleet_for

    fleet = fleet_for(capp)
    connections = connection_names(fleet)  # the form's filter
    if wanted.empty:
        return _Found(connections, [], False, None)
    try:
        rows, more = search(fleet, wanted)
    except SearchError as exc:
        return _Found(connections, [], False, str(exc))
    return _Found(connections, rows, more, None)


class UnknownConnectionPageError(LookupError):
    """The URL names a connection this deployment does not serve (the message lists those)."""


def _runtime(capp: Any, connection: str) -> Runtime:
    from wiring.connections import UnknownConnectionError
    from wiring.runtime import runtime_for

    try:
        return runtime_for(capp, connection)
    except UnknownConnectionError as exc:
        raise UnknownConnectionPageError(str(exc)) from exc
    except LookupError as exc:  # a fleet that knows only `default` (wiring.runtime.Fleet)
        raise UnknownConnectionPageError(f"no connection named {connection!r}") from exc


def _entity(capp: Any, connection: str, kind: str, key: str) -> EntityView | None:
    return entity_view(_runtime(capp, connection), kind, key)


def _resync(capp: Any, connection: str, kind: str, key: str) -> str:
    return resync(_runtime(capp, connection), capp, kind, key)


def entity_connection(handler: tornado.web.RequestHandler) -> str:
    """The connection an entity URL names (``?connection=``; ``default`` without it)."""
    return handler.get_query_argument(CONNECTION_ARGUMENT, "").strip() or DEFAULT_CONNECTION


def unknown_connection(exc: UnknownConnectionPageError) -> tornado.web.HTTPError:
    """The 404 of an entity URL naming a connection that does not exist."""
    return tornado.web.HTTPError(404, f"Unknown connection: {exc}")


class EntityHandler(BaseHandler):  # type: ignore[misc]
    """``GET /rbsync/entities/<kind>/<key>[?connection=NAME]``: the row of that connection, its
    attempts, the payload last sent, and the Resync button (also for a key the ledger has not
    seen: Resync fetches it)."""

    @tornado.web.authenticated
    async def get(self, kind: str, key: str) -> None:
        known_kind(kind)
        connection = entity_connection(self)
        try:
            view = await off_loop(
                self,
                _entity,
                self.application.capp,
                connection,
                kind,
                key,
                passthrough=(UnknownConnectionPageError,),
            )
        except UnknownConnectionPageError as exc:
            raise unknown_connection(exc) from exc
        if view is None:
            self.set_status(404)
        self.render(
            "rbsync/entity.html",
            connection=connection,
            kind=kind,
            key=key,
            view=view,
            sent=resync_sent_id(self),
        )


class EntityResyncHandler(_RetryHandler):
    """``POST /rbsync/resync/<kind>/<key>[?connection=NAME]``: what ``rbsync enqueue KIND KEY
    --connection NAME`` does.

    Rackbeat's current record is fetched with that connection's Rackbeat client and stored (a
    GET, and a customer's contacts or a BOM's lines when the record does not carry them), then
    one ``rbsync.sync(..., connection=NAME)`` is sent for the workers; the browser goes back to
    the entity page, where the worker's attempt shows once it ran. A key Rackbeat does not have
    is a 409, a Rackbeat that cannot be read a 502, an unknown connection a 404: nothing is sent
    then.
    """

    @tornado.web.authenticated
    async def post(self, kind: str, key: str) -> None:
        from clients import ClientError
        from kinds import registry
        from tasks.snapshot import NotInRackbeatKeysError

        known_kind(kind)
        if registry.get(kind).numeric_key and not key.isdigit():
            raise tornado.web.HTTPError(
                404, f"{kind} keys are Rackbeat numbers; {key!r} is not one"
            )
        connection = entity_connection(self)
        try:
            task_id = await off_loop(
                self,
                _resync,
                self.application.capp,
                connection,
                kind,
                key,
                passthrough=(NotInRackbeatKeysError, ClientError, UnknownConnectionPageError),
            )
        except UnknownConnectionPageError as exc:
            raise unknown_connection(exc) from exc
        except NotInRackbeatKeysError as exc:
            raise tornado.web.HTTPError(
                409, f"{exc} (connection {connection}); nothing was sent"
            ) from exc
        except ClientError as exc:
            raise tornado.web.HTTPError(
                502,
                f"cannot read {kind} {key} from connection {connection}'s Rackbeat account: "
                f"{exc}; nothing was sent",
            ) from exc
        logger.info(
            "Flower resync: %s %s of connection %s fetched from Rackbeat and sent as task %s",
            kind,
            key,
            connection,
            task_id,
        )
        url = entity_url(
            self.application.options.url_prefix,
            kind,
            key,
            connection=connection,
            **{RESYNC_SENT_ARGUMENT: task_id},
        )
        self.redirect(url, status=303)


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

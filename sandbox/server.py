"""Run emulator apps with uvicorn on loopback: in a thread (tests) or in the foreground (CLI).

The server uses :class:`DroppingHttpToolsProtocol`, uvicorn's httptools protocol plus the ASGI
scope extension :data:`sandbox.faults.DROP_EXTENSION`, a callable that closes the client's TCP
connection on the spot. That is how a commit-then-drop fault reaches the socket from the ASGI
layer without a 5xx ever being written.
"""

from __future__ import annotations

import ipaddress
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType, TracebackType
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from sandbox.faults import DROP_EXTENSION

__all__ = [
    "DroppingHttpToolsProtocol",
    "RunningServer",
    "serve_forever",
    "serve_in_thread",
]

LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0
GRACEFUL_SHUTDOWN_SECONDS = 1


class DroppingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a "close this connection now" scope extension."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        extensions: dict[str, Any] = dict(self.scope.get("extensions") or {})
        extensions[DROP_EXTENSION] = self._drop_connection
        self.scope["extensions"] = extensions

    def _drop_connection(self) -> None:
        # Marked disconnected first so that uvicorn does not try to write its
        # "no response started" 500 onto the closed socket.
        if self.cycle is not None:
            self.cycle.disconnected = True
        self.transport.close()


def _check_loopback(host: str) -> None:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the sandbox only listens on loopback addresses, not {host!r}")


def _config(app: ASGIApp, *, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        loop="uvloop",
        http=DroppingHttpToolsProtocol,
        lifespan="off",
        access_log=False,
        log_level=log_level,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        timeout_keep_alive=30,
    )


def _bind(host: str, port: int) -> socket.socket:
    _check_loopback(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class RunningServer:
    """An emulator served by uvicorn in a daemon thread; ``stop()`` or use it as a context."""

    def __init__(
        self, app: ASGIApp, host: str = LOOPBACK, port: int = 0, *, log_level: str = "warning"
    ) -> None:
        self._sock = _bind(host, port)
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        self._server = uvicorn.Server(_config(app, log_level=log_level))
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name=f"sandbox-server-{self.port}",
            daemon=True,
        )

    @property
    def url(self) -> str:
        """``http://host:port`` (no trailing slash)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> RunningServer:
        """Start serving and wait (bounded) until the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._sock.close()
                raise RuntimeError(f"the sandbox server on {self.url} did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving (bounded wait) and release the port."""
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT_SECONDS)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(STOP_TIMEOUT_SECONDS)
        self._sock.close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_in_thread(app: ASGIApp, host: str = LOOPBACK, port: int = 0) -> RunningServer:
    """Serve ``app`` on ``host:port`` (0 = a free port) in a background thread, started."""
    return RunningServer(app, host, port).start()


def serve_forever(
    apps_and_ports: Sequence[tuple[ASGIApp, int]],
    host: str = LOOPBACK,
    *,
    ready: threading.Event | None = None,
    stop: threading.Event | None = None,
    on_ready: Callable[[list[RunningServer]], None] | None = None,
) -> None:
    """Serve several apps in this process until SIGINT/SIGTERM (or ``stop`` is set).

    Once every server accepts connections, ``on_ready`` gets them (their ``url`` and
    ``port``, useful with port 0) and ``ready`` is set.
    """
    stop_event = stop or threading.Event()
    servers: list[RunningServer] = []
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():

        def _handle(signum: int, frame: FrameType | None) -> None:
            del signum, frame
            stop_event.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, _handle)
    try:
        for app, port in apps_and_ports:
            servers.append(serve_in_thread(app, host, port))
        if on_ready is not None:
            on_ready(list(servers))
        if ready is not None:
            ready.set()
        while not stop_event.wait(0.5):
            pass
    finally:
        for server in servers:
            server.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)

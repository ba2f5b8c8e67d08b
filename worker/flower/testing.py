"""Drive a real Flower process from tests (and by hand): start, wait, stop, feed it events.

Not used by production code paths. Flower is a separate process in every test, as in
production: its options are process-wide tornado globals, and its state file is only written on
a clean stop, which only a real process can show.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from celery import Celery

START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
TEST_WORKER_HOSTNAME = "rbsync-test@localhost"


@dataclass(frozen=True)
class FlowerProcess:
    """A running Flower: where it listens and where its output goes."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        """Everything the process wrote to stdout and stderr so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], timeout: float = START_TIMEOUT_SECONDS
) -> None:
    """Return once ``port`` accepts connections; raise if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the process exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listened on port {port} within {timeout} s")


def stop_process(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_SECONDS) -> int:
    """SIGTERM, wait, then SIGKILL if needed; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    return int(process.returncode)


@contextmanager
def running_process(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    log_path: Path,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` (output appended to ``log_path``) until the block ends, then stop it."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - the command is the caller's own
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            cwd=cwd,
        )
    try:
        yield process
    finally:
        stop_process(process)


@contextmanager
def flower_process(
    command: Sequence[str],
    *,
    port: int,
    env: Mapping[str, str],
    log_path: Path,
    cwd: Path | None = None,
) -> Iterator[FlowerProcess]:
    """Run ``command`` (a Flower launcher) until the block ends; it must listen on ``port``."""
    with running_process(command, env=env, log_path=log_path, cwd=cwd) as process:
        wait_for_port(port, process)
        yield FlowerProcess(process=process, port=port, log_path=log_path)


def send_task_events(
    capp: Celery,
    *,
    name: str,
    args: str,
    kwargs: str = "{}",
    state: str = "FAILURE",
    task_id: str | None = None,
    exception: str = "RuntimeError('boom')",
    result: str = "None",
    hostname: str = TEST_WORKER_HOSTNAME,
) -> str:
    """Publish the events a worker would for one task ending in ``state``; returns its id.

    ``args``/``kwargs``/``result`` are repr strings, as a worker sends them. Flower sees these
    exactly as it sees a real worker's events, so its pages can be tested without one.
    """
    task_id = task_id or str(uuid.uuid4())
    with capp.connection_for_write() as conn:
        dispatcher = capp.events.Dispatcher(conn, hostname=hostname, enabled=True)
        now = time.time()
        dispatcher.send(
            "task-received",
            uuid=task_id,
            name=name,
            args=args,
            kwargs=kwargs,
            retries=0,
            root_id=task_id,
            parent_id=None,
            timestamp=now,
        )
        dispatcher.send("task-started", uuid=task_id, timestamp=now)
        if state == "FAILURE":
            dispatcher.send(
                "task-failed",
                uuid=task_id,
                exception=exception,
                traceback=f"Traceback (most recent call last):\n{exception}",
                timestamp=now,
            )
        elif state == "SUCCESS":
            dispatcher.send(
                "task-succeeded", uuid=task_id, result=result, runtime=0.01, timestamp=now
            )
        dispatcher.close()
    return task_id

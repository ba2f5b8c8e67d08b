"""The embedded broker stays bounded when the consumers of broadcasts die (real processes).

kombu's ``filesystem://`` transport writes a broadcast (Flower's ``enable_events``/``inspect``,
``app.control.*``) and every event as one file per queue bound to the exchange, and nothing
ever unbinds the queue of a worker or a Flower that is gone: its files piled up for ever.
Here two real workers and a real ``rbsync flower`` run on one embedded broker; one worker and
then Flower are SIGKILLed; many broadcasts and events later, no file waits for the dead ones,
and the live worker still answers control messages and is still seen by Flower.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from celery import Celery

from wiring.settings import load_settings
from worker.app import create_app, embedded_broker_dir
from worker.flower.testing import flower_process, free_port, stop_process

pytestmark = [pytest.mark.slow]

CELERY = str(Path(sys.executable).with_name("celery"))
RBSYNC = str(Path(sys.executable).with_name("rbsync"))
DEAD = "dead@localhost"
LIVE = "live@localhost"
BROADCASTS = 40
"""Broadcasts per round: without the fix each leaves one file per dead consumer."""
WAIT_SECONDS = 60.0
FLOWER_AUTH = ("ops", "flower-pw-3c1d")
INFRA_VARS = ("RBSYNC_DATABASE_URL", "RBSYNC_BROKER_URL", "RBSYNC_REDIS_URL", "RBSYNC_FLOWER_DB")


def _env(data_dir: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in INFRA_VARS}
    env.update(
        RBSYNC_DATA_DIR=str(data_dir),
        RBSYNC_FLOWER_BASIC_AUTH=":".join(FLOWER_AUTH),
        RBSYNC_LOG_LEVEL="info",
    )
    return env


@contextmanager
def _worker(
    hostname: str, env: dict[str, str], log_path: Path, *, prefork: bool
) -> Iterator[subprocess.Popen[bytes]]:
    """``celery -A worker.app worker`` in a session of its own (its pool children included)."""
    pool = ["--pool=prefork", "--concurrency=1"] if prefork else ["--pool=solo"]
    command = [
        CELERY, "-A", "worker.app", "worker", *pool, "--loglevel=INFO",
        "--without-mingle", "--without-gossip", f"--hostname={hostname}",
    ]  # fmt: skip
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        yield process
    finally:
        stop_process(process)
        # A SIGKILLed prefork main process may leave its pool child behind.
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def _wait_for(what: str, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def _answers(app: Celery, hostname: str) -> bool:
    replies = app.control.ping(destination=[hostname], timeout=1.0) or []
    return any(hostname in reply for reply in replies)


def _flower_workers(base_url: str) -> dict[str, object]:
    with httpx.Client(base_url=base_url, auth=FLOWER_AUTH, timeout=30.0) as client:
        response = client.get("/api/workers", params={"refresh": "1"})
    response.raise_for_status()
    workers: dict[str, object] = response.json()
    return workers


def _files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


def _addressed_to(broker: Path, queue: str) -> list[Path]:
    return [p for p in (broker / "queue").iterdir() if p.name.endswith(f".{queue}.msg")]


def _event_queues(broker: Path) -> list[str]:
    table = broker / "control" / "celeryev.exchange"
    text = table.read_text(encoding="utf-8") if table.exists() else "[]"
    return [entry[2] for entry in json.loads(text)]


def test_files_for_dead_consumers_do_not_pile_up_and_the_live_worker_still_answers(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    env = _env(data_dir)
    settings = load_settings(
        _env_file=None, data_dir=data_dir, broker_url=None, database_url=None, redis_url=None
    )
    app = create_app(settings)
    broker = embedded_broker_dir(settings)
    port = free_port()
    with (
        _worker(LIVE, env, tmp_path / "live.log", prefork=False),
        _worker(DEAD, env, tmp_path / "dead.log", prefork=True) as dead,
        flower_process(
            [RBSYNC, "flower", "--port", str(port)],
            port=port,
            env=env,
            log_path=tmp_path / "flower.log",
            cwd=tmp_path,
        ) as flower,
    ):
        _wait_for(
            "both workers to answer a ping", lambda: _answers(app, LIVE) and _answers(app, DEAD)
        )
        _wait_for(
            "Flower to see both workers",
            lambda: {LIVE, DEAD} <= set(_flower_workers(flower.base_url)),
        )
        [flower_events] = _event_queues(broker)

        # A worker that dies without a word (OOM kill, power cut): its pidbox queue stays bound.
        dead.send_signal(signal.SIGKILL)
        dead.wait(WAIT_SECONDS)
        for _round in range(2):
            for _ in range(BROADCASTS):
                app.control.enable_events()  # what Flower broadcasts every 5 s
            # Answered only after the live worker took every broadcast sent before it.
            assert _answers(app, LIVE), "the live worker no longer answers control messages"
        assert _addressed_to(broker, f"{DEAD}.celery.pidbox") == []
        assert len(_files(broker)) < BROADCASTS, sorted(p.name for p in _files(broker))
        workers = _flower_workers(flower.base_url)
        assert LIVE in workers, "Flower no longer sees the live worker"
        assert _event_queues(broker) == [flower_events], "Flower's event queue was dropped"

        # Now Flower dies the same way: the live worker's events must not pile up for it.
        flower.process.send_signal(signal.SIGKILL)
        flower.process.wait(WAIT_SECONDS)
        for _round in range(2):
            for _ in range(BROADCASTS):
                app.control.heartbeat()  # each makes the live worker send one event
            assert _answers(app, LIVE)
        assert _addressed_to(broker, flower_events) == []
        assert flower_events not in _event_queues(broker)
        assert len(_files(broker)) < BROADCASTS, sorted(p.name for p in _files(broker))


HOLD_AND_FORK = """
import os, sys, time
from pathlib import Path
from worker import embedded_broker
embedded_broker.install_consumer_marks()
embedded_broker.hold_mark(Path(sys.argv[1]))
child = os.fork()
if child == 0:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    time.sleep(120)
    os._exit(0)
print(child, flush=True)
os._exit(0)
"""


def test_a_forked_child_does_not_keep_its_dead_parents_queue_alive(tmp_path: Path) -> None:
    """A prefork pool process outliving a SIGKILLed worker must not hold the worker's mark."""
    import fcntl

    mark = tmp_path / "consumers" / "w@host.celery.pidbox.lock"
    done = subprocess.run(
        [sys.executable, "-c", HOLD_AND_FORK, str(mark)],
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
        check=True,
    )
    child = int(done.stdout)
    try:
        os.kill(child, 0)  # the child still lives ...
        fd = os.open(mark, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ... yet nobody holds the mark
        finally:
            os.close(fd)
    finally:
        os.kill(child, signal.SIGKILL)


def test_task_queues_keep_their_messages_when_no_consumer_lives(tmp_path: Path) -> None:
    settings = load_settings(
        _env_file=None, data_dir=tmp_path, broker_url=None, database_url=None, redis_url=None
    )
    app = create_app(settings)
    app.send_task("rbsync.sync", args=["product", "P-1"])
    app.control.enable_events()
    queue = embedded_broker_dir(settings) / "queue"
    assert [p.name.partition(".")[2] for p in queue.iterdir()] == ["rbsync.msg"]


def test_the_broadcast_exchanges_are_the_apps(tmp_path: Path) -> None:
    from worker.embedded_broker import BROADCAST_EXCHANGES

    settings = load_settings(_env_file=None, data_dir=tmp_path, broker_url=None)
    app = create_app(settings)
    mailbox: Any = app.control.mailbox  # type: ignore[attr-defined] # untyped in the stubs
    assert mailbox.exchange.name in BROADCAST_EXCHANGES
    assert app.conf.event_exchange in BROADCAST_EXCHANGES


def _pidbox_files(queue_dir: Path, hostname: str) -> int:
    return sum(1 for p in queue_dir.iterdir() if p.name.endswith(f".{hostname}.celery.pidbox.msg"))


def test_a_closed_channel_consumes_nothing_and_a_new_one_binds_again(tmp_path: Path) -> None:
    """Within one process: the queue of a consumer whose channel closed is dropped at the next
    broadcast; the same consumer on a new channel (Celery's pidbox after a reset) gets its
    binding back although kombu skips binding a queue twice in one process."""
    from kombu import Connection
    from kombu.pidbox import Mailbox

    from worker.embedded_broker import install_fixes

    install_fixes()
    settings = load_settings(_env_file=None, data_dir=tmp_path, broker_url=None)
    options = create_app(settings).conf.broker_transport_options
    queue_dir = Path(options["data_folder_in"])
    hostname = f"reset-{os.getpid()}@localhost"
    with Connection("filesystem://", transport_options=options) as connection:
        mailbox = Mailbox("celery", type="fanout")(connection)
        node = mailbox.Node(hostname)
        first = connection.channel()
        node.listen(channel=first)
        mailbox.cast(None, "enable_events")
        assert _pidbox_files(queue_dir, hostname) == 1
        first.close()
        mailbox.cast(None, "enable_events")
        assert _pidbox_files(queue_dir, hostname) == 0
        second = connection.channel()
        node.listen(channel=second)
        mailbox.cast(None, "enable_events")
        assert _pidbox_files(queue_dir, hostname) == 1
        second.close()

"""kombu's ``filesystem://`` transport (the embedded broker), made safe for rbsync's processes.

Two fixes, installed together by :func:`install_fixes` in every process on the embedded broker
(``worker.app.create_app`` and ``load_cli_settings`` call it):

**Atomic message files.** kombu's filesystem ``Channel._put`` creates the message file under
its final name and only then writes the body; a consumer polling the same directory can move
and read the file in between, get an empty payload and die on ``JSONDecodeError``
("Unrecoverable error", the worker stops; kombu issue #1551, open). :func:`atomic_put` writes a
hidden temporary file first and renames it into place: a rename within one directory is
atomic, so a consumer sees either no file or the whole message.

**No messages for consumers that are gone.** A broadcast (``app.control``: Flower's
``enable_events`` every 5 s, ``inspect``, ``ping``) and an event (``celeryev``) are written as
one file *per queue bound to the exchange*, and the transport never unbinds a queue: the
pidbox queue of a worker that stopped, or the event queue of a Flower that stopped, kept
receiving files that nobody would ever read (the broker directory grew by a file per dead
consumer per broadcast, for ever). The fix gives every such queue a liveness mark: a process
that binds a queue to a broadcast exchange holds a shared ``flock`` on
``<control>/consumers/<queue>.lock`` while the channel it bound the queue on is open. Before
writing a broadcast or an event, a publisher tries an exclusive lock on each bound queue's
mark: when it gets it, no living consumer reads that queue, and the publisher unbinds the
queue, deletes its files and its mark (holding the lock, so a consumer starting under the same
name waits and then binds afresh). The kernel drops a ``flock`` when its process dies, SIGKILL
and OOM kill included: liveness is a fact, not a guess from a timeout, so a live worker that is
busy for an hour keeps its queue, and a dead one loses it at the next broadcast. Task queues
are never touched (their messages must wait for a worker, however long).

Rejected alternatives: an expiry on broadcast files plus a periodic sweep would need a time
after which a queue counts as dead (too short loses a busy worker's control messages, too long
keeps the pile-up) and still never unbinds the queue; unbinding on a clean shutdown alone
misses every worker that is killed; silencing Flower's periodic ``enable_events`` would leave
``inspect``, ``ping`` and every worker event piling up for a dead Flower.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import uuid
from pathlib import Path
from time import monotonic
from typing import Any
from urllib.parse import quote

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

__all__ = [
    "BROADCAST_EXCHANGES",
    "atomic_put",
    "consumer_mark",
    "install_atomic_writes",
    "install_consumer_marks",
    "install_fixes",
]

TEMP_PREFIX = ".rbsync-"
"""Temporary files start with a dot: their name never ends in ``.<queue>.msg``, so a consumer
listing the directory skips them."""


def atomic_put(self: Any, queue: str, payload: Any, **_kwargs: Any) -> None:
    """``Channel._put``, but the message file appears complete or not at all."""
    name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
    final = os.path.join(self.data_folder_out, name)
    temporary = os.path.join(self.data_folder_out, f"{TEMP_PREFIX}{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(str_to_bytes(dumps(payload)))
        os.replace(temporary, final)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise ChannelError(f"Cannot add file {final!r} to directory") from exc


def install_atomic_writes() -> None:
    """Make every filesystem channel of this process write its messages atomically."""
    filesystem.Channel._put = atomic_put  # type: ignore[method-assign]


BROADCAST_EXCHANGES = frozenset({"celery.pidbox", "celeryev"})
"""The exchanges whose queues belong to one consumer process each: Celery's remote control
(``<control_exchange>.pidbox``, one queue per worker) and events (``event_exchange``, one queue
per receiver such as Flower), under Celery's default names, which rbsync keeps. Their messages
are worthless once that process is gone."""
CONSUMERS_FOLDER = "consumers"
"""Under the control folder: one ``<queue>.lock`` per queue bound to a broadcast exchange."""

_ORIGINAL_QUEUE_BIND = filesystem.Channel.queue_bind
_ORIGINAL_GET_TABLE = filesystem.Channel.get_table
_ORIGINAL_QUEUE_DELETE = filesystem.Channel.queue_delete
_ORIGINAL_CLOSE = filesystem.Channel.close
CHANNEL_MARKS = "_rbsync_consumer_marks"
"""The attribute of a channel listing the marks it holds (released when it closes)."""

_held: dict[str, tuple[int, int]] = {}
"""This process's marks: path -> (descriptor holding the shared lock, channels using it)."""
_held_guard = threading.Lock()


def consumer_mark(channel: Any, queue: str) -> Path:
    """The file whose ``flock`` says that a living process consumes ``queue``."""
    return Path(channel.control_folder) / CONSUMERS_FOLDER / f"{quote(queue, safe='@._-')}.lock"


def _open_mark(path: Path) -> int:
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
    try:
        return os.open(path, flags, 0o644)
    except FileNotFoundError:  # the first mark of this broker directory
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, flags, 0o644)


def _is_current(fd: int, path: Path) -> bool:
    """Whether ``fd`` is still the file at ``path`` (a remover unlinks it while holding it)."""
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def hold_mark(path: Path) -> None:
    """Hold ``path``'s shared lock for one more user in this process (a channel)."""
    with _held_guard:
        if str(path) in _held:
            fd, users = _held[str(path)]
            _held[str(path)] = (fd, users + 1)
            return
        while True:
            fd = _open_mark(path)
            # Waits while a publisher removes a dead consumer of the same name; that one then
            # unlinks the file, so take the fresh one.
            fcntl.flock(fd, fcntl.LOCK_SH)
            if _is_current(fd, path):
                _held[str(path)] = (fd, 1)
                return
            os.close(fd)


def release_mark(path: Path) -> None:
    """One user less; without users, unlock, and remove the mark when nobody else holds it."""
    with _held_guard:
        entry = _held.pop(str(path), None)
        if entry is None:
            return
        fd, users = entry
        if users > 1:
            _held[str(path)] = (fd, users - 1)
            return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if _is_current(fd, path):
            os.unlink(path)
    except BlockingIOError:
        pass  # another process consumes a queue of the same name
    finally:
        os.close(fd)


def _close_marks_in_child() -> None:
    # A forked child (a prefork pool process) shares its parent's locks through the inherited
    # descriptors: closing them here leaves each lock to the parent alone, so the queue counts
    # as dead as soon as the parent dies, whatever its children do.
    global _held_guard  # noqa: PLW0603 - the parent's lock may have been held at fork time
    _held_guard = threading.Lock()
    for fd, _users in _held.values():
        with contextlib.suppress(OSError):
            os.close(fd)
    _held.clear()


def _has_consumer(channel: Any, exchange: str, binding: Any) -> bool:
    """Whether a living process consumes ``binding``'s queue; if not, unbind and empty it."""
    path = consumer_mark(channel, binding.queue)
    with _held_guard:
        if str(path) in _held:
            return True
    fd = _open_mark(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # Held shared by its consumer, or exclusively by another publisher removing it: a
            # shared lock waits the remover out, and the remover unlinks the file.
            fcntl.flock(fd, fcntl.LOCK_SH)
            return _is_current(fd, path)
        if _is_current(fd, path):
            # Nobody holds the mark (or there never was one: a binding from before this fix),
            # so no process will read this queue again. Holding the mark, a consumer that
            # starts under this name waits, then binds afresh.
            channel._purge(binding.queue)
            channel._delete(binding.queue, exchange, binding.routing_key, binding.pattern)
            os.unlink(path)
        return False
    finally:
        os.close(fd)


def _queue_bind(
    self: Any,
    queue: str,
    exchange: str | None = None,
    routing_key: str = "",
    arguments: Any = None,
    **kwargs: Any,
) -> None:
    if exchange not in BROADCAST_EXCHANGES:
        _ORIGINAL_QUEUE_BIND(self, queue, exchange, routing_key, arguments, **kwargs)
        return
    marks: set[str] = self.__dict__.setdefault(CHANNEL_MARKS, set())
    path = consumer_mark(self, queue)
    if str(path) not in marks:
        # The mark before the binding: a publisher never sees the binding without a live mark.
        hold_mark(path)
        marks.add(str(path))
    _ORIGINAL_QUEUE_BIND(self, queue, exchange, routing_key, arguments, **kwargs)
    # kombu binds a queue once per process and skips a second bind (a consumer restarted on a
    # new channel, e.g. Celery's pidbox after a control error); while it had no channel, a
    # publisher may have unbound it: write the binding again (a no-op when it is there).
    meta = self.typeof(exchange).prepare_bind(queue, exchange, routing_key, arguments)
    self._queue_bind(exchange, *meta)


def _get_table(self: Any, exchange: str) -> list[Any]:
    table: list[Any] = _ORIGINAL_GET_TABLE(self, exchange)
    if exchange not in BROADCAST_EXCHANGES:
        return table
    return [binding for binding in table if _has_consumer(self, exchange, binding)]


def _forget_mark(channel: Any, path: Path) -> None:
    marks: set[str] = channel.__dict__.get(CHANNEL_MARKS, set())
    if str(path) in marks:
        marks.discard(str(path))
        release_mark(path)


def _queue_delete(self: Any, queue: str, *args: Any, **kwargs: Any) -> Any:
    result = _ORIGINAL_QUEUE_DELETE(self, queue, *args, **kwargs)
    _forget_mark(self, consumer_mark(self, queue))
    return result


def _close(self: Any) -> None:
    # A closed channel consumes nothing: its queues are live only if another channel (or
    # process) still holds their marks.
    _ORIGINAL_CLOSE(self)
    for path in list(self.__dict__.get(CHANNEL_MARKS, ())):
        _forget_mark(self, Path(path))


_fork_hook_registered = False


def install_consumer_marks() -> None:
    """Mark the consumers of broadcast queues; publishers drop the queues of dead ones."""
    global _fork_hook_registered  # noqa: PLW0603 - registered once per process
    filesystem.Channel.queue_bind = _queue_bind  # type: ignore[method-assign]
    filesystem.Channel.get_table = _get_table  # type: ignore[method-assign]
    filesystem.Channel.queue_delete = _queue_delete  # type: ignore[method-assign]
    filesystem.Channel.close = _close  # type: ignore[method-assign]
    if not _fork_hook_registered:
        os.register_at_fork(after_in_child=_close_marks_in_child)
        _fork_hook_registered = True


def install_fixes() -> None:
    """Both fixes of this module, for every filesystem channel of this process."""
    install_atomic_writes()
    install_consumer_marks()

"""Named, expiring locks shared by every process: one poll per kind at a time.

- :class:`RedisLock`: ``SET NX PX`` with a random token, released by a compare-and-delete
  script, so a holder whose lock expired never deletes its successor's (production). It is a
  lease: the holder's heartbeat (``wiring.heartbeat``) extends it while the holder works, so a
  holder that dies frees it within one lease, however long a live one needs it.
- :class:`FileLock`: ``flock`` on a file under the data directory; the kernel drops it when
  the holder dies (embedded mode: every process runs on this one machine).

Beat only *triggers* polls; even two beat processes started by mistake cannot run two polls of
one kind at once, because the poll task takes this lock and skips when it is held.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Protocol

import redis

__all__ = ["FileLock", "Lock", "LockFactory", "RedisLock", "file_locks", "held", "redis_locks"]

KEY_PREFIX = "rbsync:lock:"

_EXTEND_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lock(Protocol):
    """A lock that is either taken at once or not at all."""

    def acquire(self) -> bool:
        """Take the lock without waiting; True when taken."""
        ...

    def release(self) -> None:
        """Let the lock go (a no-op when not held)."""
        ...

    def extend(self) -> bool:
        """Make a held lock last its whole time-to-live again; False when it was lost."""
        ...


class LockFactory(Protocol):
    """Makes the lock called ``name`` that expires ``ttl`` seconds after it is taken."""

    def __call__(self, name: str, ttl: float) -> Lock: ...


class RedisLock:
    """A Redis lock with a token and an expiry (the holder must finish before ``ttl``)."""

    def __init__(self, client: redis.Redis, name: str, ttl: float) -> None:
        self._client = client
        self._key = KEY_PREFIX + name
        self._ttl_ms = max(1, round(ttl * 1000))
        self._token = uuid.uuid4().hex
        self._release = client.register_script(_RELEASE_LUA)
        self._extend = client.register_script(_EXTEND_LUA)
        self._held = False

    def acquire(self) -> bool:
        self._held = bool(self._client.set(self._key, self._token, nx=True, px=self._ttl_ms))
        return self._held

    def release(self) -> None:
        if self._held:
            self._held = False
            # Redis unreachable: the lock runs out by its expiry. Raising here, from the
            # ``finally`` of its holder, would replace what ended the block (a pool child's
            # SystemExit on a broker connection loss became an "internal error" of a record).
            with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
                self._release(keys=[self._key], args=[self._token])

    def extend(self) -> bool:
        if not self._held:
            return False
        return bool(self._extend(keys=[self._key], args=[self._token, self._ttl_ms]))


class FileLock:
    """An ``flock`` lock on ``<directory>/<name>.lock`` (released when the process dies)."""

    def __init__(self, directory: Path, name: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        self._path = directory / f"{safe}.lock"
        self._file: IO[bytes] | None = None

    def acquire(self) -> bool:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle = self._path.open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.truncate(0)
        handle.write(str(os.getpid()).encode())
        handle.flush()
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def extend(self) -> bool:
        return self._file is not None  # held until released or the process dies


def redis_locks(client: redis.Redis) -> LockFactory:
    """A factory of :class:`RedisLock` on ``client``."""

    def make(name: str, ttl: float) -> Lock:
        return RedisLock(client, name, ttl)

    return make


def file_locks(directory: Path) -> LockFactory:
    """A factory of :class:`FileLock` under ``directory`` (``ttl`` is moot: death releases)."""

    def make(name: str, ttl: float) -> Lock:  # noqa: ARG001 - the kernel releases on death
        return FileLock(directory, name)

    return make


@contextmanager
def held(lock: Lock) -> Iterator[bool]:
    """``with held(lock) as taken:`` -- release on exit when taken."""
    taken = lock.acquire()
    try:
        yield taken
    finally:
        if taken:
            lock.release()

"""Fixtures shared by every test package: real PostgreSQL and real Redis, isolated per run.

Several test runs (and several developers' helpers) may share one PostgreSQL and one Redis on
this machine, so each test session gets its own database (created, then dropped) and its own
Redis logical database (claimed with a lock key in db 0). Point them elsewhere with
``RBSYNC_TEST_DATABASE_URL`` (a server URL whose database may be created from) and
``RBSYNC_TEST_REDIS_URL``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest

pytest_plugins = ["sandbox.testing"]

DEFAULT_TEST_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379"


def _admin_database_url() -> str:
    from wiring.settings import normalise_database_url

    return normalise_database_url(
        os.environ.get("RBSYNC_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
    )


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The PostgreSQL server tests may create databases on (skips nothing: CI has one)."""
    return _admin_database_url()


@pytest.fixture
def postgres_databases(postgres_server_url: str) -> Iterator[Callable[[], str]]:
    """``make()``: a fresh, empty PostgreSQL database per call; all dropped afterwards."""
    import sqlalchemy as sa

    admin = sa.create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    names: list[str] = []

    def make() -> str:
        name = f"rbsync_t_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        names.append(name)
        url = sa.make_url(postgres_server_url).set(database=name)
        return url.render_as_string(hide_password=False)

    try:
        yield make
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_databases: Callable[[], str]) -> str:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    return postgres_databases()


@pytest.fixture(scope="session")
def redis_server_url() -> str:
    return os.environ.get("RBSYNC_TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL).rstrip("/")


CLAIM_SECONDS = 600
"""How long a test session's claim on a Redis database lasts unless renewed."""


@pytest.fixture(scope="session")
def _redis_db_number(redis_server_url: str) -> Iterator[int]:
    """Claim a free Redis logical database (1..15) for this test session."""
    import redis

    lock_client = redis.Redis.from_url(f"{redis_server_url}/0")
    token = uuid.uuid4().hex
    for number in range(1, 16):
        if lock_client.set(f"rbsync:test:db:{number}", token, nx=True, ex=CLAIM_SECONDS):
            break
    else:  # pragma: no cover - only when 15 test sessions run at once
        pytest.fail("no free Redis database for the tests (15 sessions at once?)")
    # The claim expires (a crashed session frees it), so it is renewed while this session
    # runs: a session longer than the expiry would otherwise share its database with the next.
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(CLAIM_SECONDS / 3):
            with contextlib.suppress(redis.RedisError):
                if lock_client.get(f"rbsync:test:db:{number}") == token.encode():
                    lock_client.expire(f"rbsync:test:db:{number}", CLAIM_SECONDS)

    renewer = threading.Thread(target=renew, name="redis-db-claim", daemon=True)
    renewer.start()
    try:
        yield number
    finally:
        stop.set()
        renewer.join(5)
        if lock_client.get(f"rbsync:test:db:{number}") == token.encode():
            lock_client.delete(f"rbsync:test:db:{number}")
        lock_client.close()


@pytest.fixture
def redis_url(redis_server_url: str, _redis_db_number: int) -> Iterator[str]:
    """A Redis URL on an empty logical database owned by this test session."""
    import redis

    url = f"{redis_server_url}/{_redis_db_number}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()

"""The test infrastructure itself: the real PostgreSQL and Redis are there and isolated."""

from __future__ import annotations

import redis
import sqlalchemy as sa


def test_postgres_database_is_fresh_and_usable(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        tables = conn.execute(
            sa.text("select count(*) from information_schema.tables where table_schema='public'")
        ).scalar_one()
    engine.dispose()
    assert tables == 0


def test_redis_database_is_empty_and_private(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    assert client.dbsize() == 0
    client.set("k", "v")
    assert client.get("k") == b"v"
    assert not redis_url.endswith("/0")

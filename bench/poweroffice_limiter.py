"""Four worker processes hammer the PowerOffice Go emulator through the shared Redis limiter.

The emulator enforces the real gateway limit (10 requests/s per subscription key, 429 above
it) and a short token lifetime. Each worker process builds its client exactly as production
does (``wiring.clients.build_poweroffice_client`` with ``RBSYNC_REDIS_URL`` set), so the rate
limiter and the token cache are the shared Redis ones. Prints figures only; asserts nothing.

    .venv/bin/python bench/poweroffice_limiter.py [--processes 4] [--seconds 60]
        [--token-expires-in 20] [--redis redis://127.0.0.1:6379]

Targets: requests/s / 10 >= 0.95 with 0 x 429; one token request per renewal period for all
processes together.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import time
import uuid
from collections import Counter
from typing import Any

import redis

from clients.errors import ClientError
from clients.tokens import refresh_margin
from sandbox.poweroffice import PowerOfficeConfig, create_app
from sandbox.server import serve_in_thread
from wiring.clients import RATE_HEADROOM, build_poweroffice_client
from wiring.settings import Settings

BUDGET_PER_SECOND = 10
START_DELAY_SECONDS = 3.0


def _claim_redis_db(server: str) -> tuple[str, redis.Redis, str, int]:
    """A free logical Redis db (1..15), claimed the way the test fixtures claim one."""
    lock = redis.Redis.from_url(f"{server}/0")
    token = uuid.uuid4().hex
    for number in range(15, 0, -1):
        if lock.set(f"rbsync:test:db:{number}", token, nx=True, ex=3600):
            return f"{server}/{number}", lock, token, number
    raise SystemExit("no free Redis logical database (1..15)")


def _worker(settings: dict[str, Any], start_at: float, stop_at: float, out: Any) -> None:
    client = build_poweroffice_client(Settings(**settings))
    outcomes: Counter[str] = Counter()
    time.sleep(max(0.0, start_at - time.time()))
    with client:
        while time.time() < stop_at:
            try:
                client.client_integration_information()
                outcomes["ok"] += 1
            except ClientError as exc:
                outcomes[type(exc).__name__] += 1
        outcomes["token_requests_made_here"] = client.token_requests
    out.put(dict(outcomes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--token-expires-in", type=int, default=20)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    args = parser.parse_args()

    redis_url, lock, lock_token, db = _claim_redis_db(args.redis.rstrip("/"))
    shared = redis.Redis.from_url(redis_url)
    shared.flushdb()
    config = PowerOfficeConfig(
        rate_limit_enabled=True,
        rate_limit_per_second=BUDGET_PER_SECOND,
        token_expires_in=args.token_expires_in,
    )
    app = create_app(config)
    try:
        with serve_in_thread(app) as server:
            settings = {
                "poweroffice_base_url": f"{server.url}/v2",
                "poweroffice_token_url": f"{server.url}/OAuth/Token",
                "poweroffice_application_key": config.application_key,
                "poweroffice_client_key": config.client_key,
                "poweroffice_subscription_key": config.subscription_key,
                "poweroffice_requests_per_second": float(BUDGET_PER_SECOND),
                "redis_url": redis_url,
            }
            context = multiprocessing.get_context("spawn")
            queue = context.Queue()
            start_at = time.time() + START_DELAY_SECONDS + args.processes * 0.5
            stop_at = start_at + args.seconds
            workers = [
                context.Process(target=_worker, args=(settings, start_at, stop_at, queue))
                for _ in range(args.processes)
            ]
            for process in workers:
                process.start()
            results = [queue.get(timeout=args.seconds + 120) for _ in workers]
            finished = time.time()
            for process in workers:
                process.join(timeout=30)
            counters = app.state.sandbox.counters.snapshot()
    finally:
        shared.flushdb()
        shared.close()
        if lock.get(f"rbsync:test:db:{db}") == lock_token.encode():
            lock.delete(f"rbsync:test:db:{db}")
        lock.close()

    totals: Counter[str] = Counter()
    for result in results:
        totals.update(result)
    elapsed = finished - start_at
    served = int(counters["total_requests"])
    rate = served / elapsed
    statuses = counters["statuses"]
    token_requests = int(counters["events"].get("token_requests", 0))
    period = args.token_expires_in - refresh_margin(args.token_expires_in)
    expected_tokens = math.ceil(args.seconds / period)
    print(f"processes:                 {args.processes} (spawned, shared Redis db {db})")
    print(f"window:                    {elapsed:.1f} s")
    limiter_rate = BUDGET_PER_SECOND * RATE_HEADROOM
    print(f"client limiter rate:       {limiter_rate:.2f} req/s (budget x {RATE_HEADROOM})")
    print(f"requests served:           {served} (incl. token requests), by status {statuses}")
    print(f"requests/s achieved:       {rate:.2f}")
    print(f"ratio to {BUDGET_PER_SECOND} req/s budget:   {rate / BUDGET_PER_SECOND:.3f}")
    print(f"429 answers:               {int(statuses.get('429', 0))}")
    print(f"client outcomes:           {dict(sorted(totals.items()))}")
    print(
        f"token requests:            {token_requests} (lifetime {args.token_expires_in} s, "
        f"renewed every {period:.0f} s -> {expected_tokens} expected for the fleet)"
    )


if __name__ == "__main__":
    main()

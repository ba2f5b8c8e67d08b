"""One heavy flow and many light flows share one budget through the Redis fair-share limiter.

The heavy flow stands for a connection doing its first push: several processes, each with many
threads, asking back to back. Each light flow stands for a quiet connection: one request every
few seconds (uniformly 0.5x-1.5x ``--light-every``), from its own thread in a separate process.
All share one ``RedisFairShareLimiter`` bucket at the PowerOffice Go budget x RATE_HEADROOM,
as production would configure it. No HTTP: the limiter alone, so the figures are its own.
Prints figures only; asserts nothing.

    .venv/bin/python bench/fair_limiter.py [--seconds 60] [--heavy-processes 2]
        [--heavy-threads 8] [--light-flows 19] [--light-every 3] [--grace 0.025]
        [--plain] [--redis redis://127.0.0.1:6379]

``--plain`` runs the same load through today's ``RedisRateLimiter`` (no fairness) for
comparison. Targets: grants/s >= 9.5 (of the 10 req/s budget; the limiter is configured at
9.7); light flows' wait p95 within about two slot intervals; the heavy flow takes the rest.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import random
import statistics
import threading
import time
import uuid
from typing import Any, NamedTuple

import redis

from clients.fairshare import GRACE_FRACTION, RedisFairShareLimiter
from clients.ratelimit import RateLimiter, RedisRateLimiter, SlotUnavailableError
from wiring.clients import RATE_HEADROOM

BUDGET_PER_SECOND = 10.0
START_DELAY_SECONDS = 1.0
"""After every process reported ready."""


class Sync(NamedTuple):
    """The common start: each process reports ready, then waits for ``go`` and reads ``start``."""

    ready: Any
    go: Any
    start: Any


def _claim_redis_db(server: str) -> tuple[str, redis.Redis, str, int]:
    """A free logical Redis db (1..15), claimed the way the test fixtures claim one."""
    lock = redis.Redis.from_url(f"{server}/0")
    token = uuid.uuid4().hex
    for number in range(15, 0, -1):
        if lock.set(f"rbsync:test:db:{number}", token, nx=True, ex=3600):
            return f"{server}/{number}", lock, token, number
    raise SystemExit("no free Redis logical database (1..15)")


def _limiter(options: dict[str, Any], flow: str) -> RateLimiter:
    client = redis.Redis.from_url(options["redis_url"])
    rate = BUDGET_PER_SECOND * RATE_HEADROOM
    if options["plain"]:
        return RedisRateLimiter(client, "bench:fair", rate)
    budget = RedisFairShareLimiter(client, "bench:fair", rate, grace=options["grace"])
    return budget.flow(flow)


def _start(options: dict[str, Any], sync: Sync) -> tuple[float, float]:
    """Report ready (limiters built, modules imported), then wait for the common start."""
    sync.ready.put(1)
    sync.go.wait()
    start: float = sync.start.value
    return start, start + options["seconds"]


def _heavy(options: dict[str, Any], sync: Sync, out: Any) -> None:
    limiter = _limiter(options, "heavy")
    start_at, stop_at = _start(options, sync)
    grants: list[float] = []
    errors = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal errors
        time.sleep(max(0.0, start_at - time.time()))
        while time.time() < stop_at:
            try:
                limiter.acquire()
            except SlotUnavailableError:
                with lock:
                    errors += 1
                continue
            with lock:
                grants.append(time.time())

    threads = [threading.Thread(target=work) for _ in range(options["heavy_threads"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put({"kind": "heavy", "grants": grants, "errors": errors})


def _light(options: dict[str, Any], sync: Sync, out: Any) -> None:
    limiters = [_limiter(options, f"light-{i:02d}") for i in range(options["light_flows"])]
    start_at, stop_at = _start(options, sync)
    grants: list[float] = []
    waits: list[float] = []
    errors = 0
    lock = threading.Lock()

    def work(index: int) -> None:
        nonlocal errors
        limiter = limiters[index]
        rng = random.Random(index)
        every = options["light_every"]
        time.sleep(max(0.0, start_at - time.time()) + rng.uniform(0, every))
        while time.time() < stop_at:
            asked = time.monotonic()
            try:
                limiter.acquire()
            except SlotUnavailableError:
                with lock:
                    errors += 1
                continue
            waited = time.monotonic() - asked
            with lock:
                grants.append(time.time())
                waits.append(waited)
            time.sleep(rng.uniform(0.5 * every, 1.5 * every))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(options["light_flows"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put({"kind": "light", "grants": grants, "waits": waits, "errors": errors})


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--heavy-processes", type=int, default=2)
    parser.add_argument("--heavy-threads", type=int, default=8)
    parser.add_argument("--light-flows", type=int, default=19)
    parser.add_argument("--light-every", type=float, default=3.0)
    parser.add_argument("--grace", type=float, default=GRACE_FRACTION)
    parser.add_argument("--plain", action="store_true")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    args = parser.parse_args()

    redis_url, lock, lock_token, db = _claim_redis_db(args.redis.rstrip("/"))
    shared = redis.Redis.from_url(redis_url)
    shared.flushdb()
    options = {
        "redis_url": redis_url,
        "plain": args.plain,
        "grace": args.grace,
        "heavy_threads": args.heavy_threads,
        "light_flows": args.light_flows,
        "light_every": args.light_every,
        "seconds": args.seconds,
    }
    try:
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        sync = Sync(context.Queue(), context.Event(), context.Value("d", 0.0))
        processes = [
            context.Process(target=_heavy, args=(options, sync, queue))
            for _ in range(args.heavy_processes)
        ]
        processes.append(context.Process(target=_light, args=(options, sync, queue)))
        for process in processes:
            process.start()
        for _ in processes:  # spawning and importing take seconds on a loaded machine
            sync.ready.get(timeout=120)
        start_at = time.time() + START_DELAY_SECONDS
        sync.start.value = start_at
        sync.go.set()
        results = [queue.get(timeout=args.seconds + 120) for _ in processes]
        for process in processes:
            process.join(timeout=30)
    finally:
        shared.flushdb()
        shared.close()
        if lock.get(f"rbsync:test:db:{db}") == lock_token.encode():
            lock.delete(f"rbsync:test:db:{db}")
        lock.close()

    def within(times: list[float]) -> list[float]:
        return sorted(t for t in times if start_at <= t <= start_at + args.seconds)

    heavy = within([t for r in results if r["kind"] == "heavy" for t in r["grants"]])
    light_result = next(r for r in results if r["kind"] == "light")
    light = within(light_result["grants"])
    waits = light_result["waits"]
    errors = sum(r["errors"] for r in results)
    every = sorted(heavy + light)
    rate = BUDGET_PER_SECOND * RATE_HEADROOM
    interval = 1.0 / rate
    spans = [every[i + 10] - every[i] for i in range(len(every) - 10)]
    name = "RedisRateLimiter (plain)" if args.plain else "RedisFairShareLimiter"
    light_from, light_to = 0.5 * args.light_every, 1.5 * args.light_every
    print(f"limiter:                   {name} (Redis db {db})")
    print(
        f"configured rate:           {rate:.2f} req/s (budget {BUDGET_PER_SECOND:.0f} x "
        f"{RATE_HEADROOM}); grace {args.grace:.3f} of an interval"
    )
    print(
        f"load:                      heavy {args.heavy_processes} processes x "
        f"{args.heavy_threads} threads; {args.light_flows} light flows, one request every "
        f"{light_from:.1f}-{light_to:.1f} s"
    )
    print(f"window:                    {args.seconds:.0f} s")
    print(f"grants/s, all flows:       {len(every) / args.seconds:.2f}")
    print(
        f"heavy share:               {len(heavy) / len(every):.3f} "
        f"({len(heavy)} grants, {len(heavy) / args.seconds:.2f}/s)"
    )
    print(f"light grants:              {len(light)} ({len(light) / args.seconds:.2f}/s)")
    print(
        f"light wait p50/p95/max:    {statistics.median(waits) * 1000:.0f} / "
        f"{_quantile(waits, 0.95) * 1000:.0f} / {max(waits) * 1000:.0f} ms "
        f"({statistics.median(waits) / interval:.2f} / {_quantile(waits, 0.95) / interval:.2f} / "
        f"{max(waits) / interval:.2f} slot intervals)"
    )
    print(f"shortest 11 grants:        {min(spans):.3f} s (as the callers saw them)")
    # Where the throughput went: the time beyond one interval before each grant, by the kind
    # of flow that got it (a late waiter of a light flow idles the slot kept for it).
    light_times = set(light)
    lost = {"heavy": 0.0, "light": 0.0}
    for earlier, later in itertools.pairwise(every):
        lost["light" if later in light_times else "heavy"] += max(0.0, later - earlier - interval)
    print(
        f"slot time lost before:     heavy grants {lost['heavy']:.2f} s, "
        f"light grants {lost['light']:.2f} s (of {args.seconds:.0f} s)"
    )
    print(f"gave up (max wait):        {errors}")


if __name__ == "__main__":
    main()

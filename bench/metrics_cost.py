"""What recording metrics costs the pipeline: ``bench/pipeline.py`` with the workers' metrics on
and off, in one session.

Prints (never asserts):

1. what the instruments cost per synced entity, measured directly: one recorded attempt, one
   rate-limiter wait and one answer (what an entity costs on average: about one PowerOffice Go
   request each) in multiprocess mode, in microseconds;
2. per ``bench/pipeline.py`` run: end-to-end entities/s and the worker's CPU milliseconds per
   entity; then the mean of each setting and the ratios on/off (target >= 0.95 for entities/s).

Runs alternate off, on, on, off, ... so that a machine that slows down or speeds up during the
session weighs on both settings alike; on this shared 2-core machine one run differs from the
next by up to a third, so use several rounds. Each run checks that its setting took: with
metrics on the worker left metric files in ``<data dir>/metrics``, with them off it left none.
A run's work directory is removed once read (kept when the run failed).

Usage (from the checkout, services running as in DEVELOPERS.md)::

    .venv/bin/python bench/metrics_cost.py --scale 2000 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean

PIPELINE = Path(__file__).with_name("pipeline.py")
RATE = re.compile(r"full push: (\d+) entities .* = (\d+) entities/s end to end")
WORKDIR = re.compile(r"workdir (\S+) \(logs\)")
WORKER_CPU = re.compile(r"worker ([\d.]+) \([\d.]+ ms/entity\)")
"""The worker's CPU seconds during the push (its ms/entity is printed with one decimal only)."""
MICRO_ITERATIONS = 200_000


def instrument_cost() -> float:
    """Microseconds the instruments add per synced entity, in this process (multiprocess
    mode, files in a temporary directory)."""
    from wiring import metrics
    from wiring.settings import Settings

    with tempfile.TemporaryDirectory(prefix="rbsync-metrics-cost-") as directory:
        settings = Settings(_env_file=None, data_dir=Path(directory))  # type: ignore[call-arg]
        assert metrics.enable(settings)
        observer = metrics.api_observer("poweroffice")
        metrics.count_sync("product", "created")  # the files and children exist before timing
        started = time.perf_counter()
        for _ in range(MICRO_ITERATIONS):
            metrics.count_sync("product", "created")
            observer.waited(0.0)
            observer.answered("POST", 201)
        return (time.perf_counter() - started) / MICRO_ITERATIONS * 1e6


def run(scale: int, metrics: bool) -> tuple[float, float]:
    """One ``bench/pipeline.py`` run: (entities/s, the worker's CPU ms per entity)."""
    env = {**os.environ, "RBSYNC_METRICS_ENABLED": "true" if metrics else "false"}
    env.pop("RBSYNC_METRICS_DIR", None)  # the default, under the run's own data dir
    done = subprocess.run(
        [sys.executable, str(PIPELINE), "--scale", str(scale)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    output = done.stdout + done.stderr
    rate = RATE.search(output)
    workdir = WORKDIR.search(output)
    cpu = WORKER_CPU.search(output)
    if done.returncode != 0 or rate is None or workdir is None or cpu is None:
        print(output[-3000:])
        raise SystemExit(f"bench/pipeline.py failed (exit {done.returncode})")
    files = sorted((Path(workdir.group(1)) / "data" / "metrics").glob("*.db"))
    if bool(files) != metrics:
        raise SystemExit(f"metrics {'on' if metrics else 'off'}, yet metric files: {files}")
    entities, per_second = int(rate.group(1)), float(rate.group(2))
    cpu_ms = float(cpu.group(1)) / entities * 1000
    print(
        f"metrics {'on ' if metrics else 'off'}: {entities} entities, {per_second:.0f} "
        f"entities/s, worker CPU {cpu_ms:.3f} ms/entity ({len(files)} metric files)",
        flush=True,
    )
    shutil.rmtree(workdir.group(1), ignore_errors=True)
    return per_second, cpu_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=2000, help="Rackbeat products")
    parser.add_argument(
        "--rounds", type=int, default=2, help="off/on pairs (alternating off, on, on, off, ...)"
    )
    args = parser.parse_args()
    print(
        f"instruments: {instrument_cost():.1f} us per entity (one attempt, one limiter wait, "
        "one answer)",
        flush=True,
    )
    rates: dict[bool, list[float]] = {False: [], True: []}
    cpus: dict[bool, list[float]] = {False: [], True: []}
    for round_ in range(args.rounds):
        order = (False, True) if round_ % 2 == 0 else (True, False)
        for metrics in order:
            per_second, cpu_ms = run(args.scale, metrics)
            rates[metrics].append(per_second)
            cpus[metrics].append(cpu_ms)
    off, on = mean(rates[False]), mean(rates[True])
    cpu_off, cpu_on = mean(cpus[False]), mean(cpus[True])
    print(
        f"scale {args.scale}, {args.rounds} rounds: metrics off {off:.0f} entities/s "
        f"({', '.join(f'{r:.0f}' for r in rates[False])}), on {on:.0f} entities/s "
        f"({', '.join(f'{r:.0f}' for r in rates[True])}); on/off = {on / off:.3f} "
        "(target >= 0.95)"
    )
    print(
        f"worker CPU per entity: off {cpu_off:.3f} ms, on {cpu_on:.3f} ms; "
        f"on/off = {cpu_on / cpu_off:.3f}"
    )


if __name__ == "__main__":
    main()

"""What recording metrics costs the pipeline: ``bench/pipeline.py`` with the workers' metrics on
and off, in one session.

Prints (never asserts) the end-to-end entities/s of each run, the mean of each setting and the
ratio on/off (target >= 0.95). Runs alternate off, on, on, off, ... so that a machine that
slows down or speeds up during the session weighs on both settings alike. Each run checks that
its setting took: with metrics on the worker left metric files in ``<data dir>/metrics``, with
them off it left none.

Usage (from the checkout, services running as in DEVELOPERS.md)::

    .venv/bin/python bench/metrics_cost.py --scale 2000 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path
from statistics import mean

PIPELINE = Path(__file__).with_name("pipeline.py")
RATE = re.compile(r"full push: (\d+) entities .* = (\d+) entities/s end to end")
WORKDIR = re.compile(r"workdir (\S+) \(logs\)")


def run(scale: int, metrics: bool) -> float:
    """One ``bench/pipeline.py`` run; its entities/s."""
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
    if done.returncode != 0 or rate is None or workdir is None:
        print(output[-3000:])
        raise SystemExit(f"bench/pipeline.py failed (exit {done.returncode})")
    files = sorted((Path(workdir.group(1)) / "data" / "metrics").glob("*.db"))
    if bool(files) != metrics:
        raise SystemExit(f"metrics {'on' if metrics else 'off'}, yet metric files: {files}")
    entities, per_second = int(rate.group(1)), float(rate.group(2))
    print(
        f"metrics {'on ' if metrics else 'off'}: {entities} entities, {per_second:.0f} "
        f"entities/s ({len(files)} metric files)",
        flush=True,
    )
    return per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=2000, help="Rackbeat products")
    parser.add_argument(
        "--rounds", type=int, default=2, help="off/on pairs (alternating off, on, on, off, ...)"
    )
    args = parser.parse_args()
    rates: dict[bool, list[float]] = {False: [], True: []}
    for round_ in range(args.rounds):
        order = (False, True) if round_ % 2 == 0 else (True, False)
        for metrics in order:
            rates[metrics].append(run(args.scale, metrics))
    off, on = mean(rates[False]), mean(rates[True])
    print(
        f"scale {args.scale}: metrics off {off:.0f} entities/s "
        f"({', '.join(f'{r:.0f}' for r in rates[False])}), on {on:.0f} entities/s "
        f"({', '.join(f'{r:.0f}' for r in rates[True])}); on/off = {on / off:.3f} "
        "(target >= 0.95)"
    )


if __name__ == "__main__":
    main()

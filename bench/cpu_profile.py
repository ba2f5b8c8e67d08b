"""Run a Python script under cProfile timed by process CPU time; write the stats to a file.

Usage: ``python bench/cpu_profile.py OUT.prof SCRIPT [ARGS...]`` (``bench/pipeline.py
--profile`` runs the worker so). Unlike ``python -m cProfile``, time spent waiting for sockets
does not count: the figures add up to the CPU the process used.
"""

from __future__ import annotations

import cProfile
import runpy
import signal
import sys
import time


def main() -> None:
    out, script, *rest = sys.argv[1:]
    sys.argv = [script, *rest]
    profiler = cProfile.Profile(time.process_time)

    def stop(*_: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    profiler.enable()
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit:
        pass
    finally:
        profiler.disable()
        profiler.dump_stats(out)


if __name__ == "__main__":
    main()

"""Benchmark: generate and load the demo city (5,000 and 100,000 shops) into PostGIS.

Usage: ``python bench/demo_load.py`` (no arguments). It starts (or reuses) a bench-only
embedded cluster in ``<data dir>/bench-pg`` on port 54339 with database ``retailgis_bench``,
migrates it, then loads each size in a fresh subprocess so the peak memory (ru_maxrss) is
per size. Each load is timed from ``load_demo`` to the end of the commit (wall clock).
Prints human-readable lines and ends with exactly one JSON line:
``{"wall_s_5k": ..., "wall_s_100k": ..., "peak_mb_100k": ...}``.
The cluster is stopped at the end only if this script started it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchdb import bench_database  # noqa: E402

SIZES = (5_000, 100_000)
AS_OF = dt.date(2025, 3, 18)  # fixed, so every run loads the same city


def run_one(url: str, size: int) -> dict[str, float]:
    """Load one city of ``size`` shops and commit; report wall time and peak memory."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from domain.demo import load_demo

    engine = create_engine(url, poolclass=NullPool)
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"  [{time.perf_counter() - started:6.2f}s] {message}", flush=True)

    with engine.begin() as conn:
        summary = load_demo(conn, shops=size, seed=42, as_of=AS_OF, progress=progress)
    wall = time.perf_counter() - started
    engine.dispose()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(
        f"  {summary.shops} shops, {summary.purchase_records} purchase rows, "
        f"{summary.routes} routes, {summary.users} users, {summary.tickets} tickets",
        flush=True,
    )
    return {"size": size, "wall_s": round(wall, 2), "peak_mb": round(peak_mb, 1)}


def measure_in_subprocess(url: str, size: int) -> dict[str, float]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--size", str(size), "--url", url]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    lines = proc.stdout.rstrip().splitlines()
    for line in lines[:-1]:
        print(line)
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"benchmark of {size} shops failed (exit {proc.returncode})")
    result: dict[str, float] = json.loads(lines[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, help="(internal) load one size and print JSON")
    parser.add_argument("--url", help="(internal) database URL for --size")
    args = parser.parse_args()
    if args.size is not None:
        print(json.dumps(run_one(args.url, args.size)), flush=True)
        return

    with bench_database() as url:
        results = {}
        for size in SIZES:
            print(f"loading {size} shops…", flush=True)
            results[size] = measure_in_subprocess(url, size)
            r = results[size]
            wall, peak = r["wall_s"], r["peak_mb"]
            print(f"{size:>7} shops: {wall:.2f} s wall (load + commit), peak {peak:.0f} MB")
    print(
        json.dumps(
            {
                "wall_s_5k": results[5_000]["wall_s"],
                "wall_s_100k": results[100_000]["wall_s"],
                "peak_mb_100k": results[100_000]["peak_mb"],
            }
        )
    )


if __name__ == "__main__":
    main()

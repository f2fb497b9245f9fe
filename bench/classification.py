"""Benchmark: the classification recompute over 100,000 shops × 12 months of purchases.

Usage: ``python bench/classification.py`` (no arguments). It starts (or reuses) the
bench-only embedded cluster in ``<data dir>/bench-pg`` on port 54339 with database
``retailgis_bench`` (as ``bench/demo_load.py`` does), migrates it, and loads the 100,000-shop
demo city (seed 42, as of 2025-03-18) unless the database holds exactly that city with no
classification applied yet. Then, for the 12 full months before the as-of date:

1. ``compute_classification`` alone, in a transaction rolled back (``compute_s``);
2. ``recompute_classification`` with apply, then commit: the full run (``wall_s``);
3. the same twice more: no-op diffs (``noop_s``);
4. the worst case, as for a freshly imported archive never classified: every scored shop's
   scale and code cleared (committed, then ``VACUUM FULL customers`` so the table is as
   compact as after a load), then one full recompute with apply and commit
   (``all_changed_wall_s``). The next run reloads the city (it is no longer the demo's).

Prints human-readable lines and ends with exactly one JSON line:
``{"wall_s": ..., "compute_s": ..., "changed": ..., "ledger_rows": ..., "noop_s": [...],
"all_changed": ..., "all_changed_wall_s": ...}``.
The cluster is stopped at the end only if this script started it.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchdb import bench_database  # noqa: E402
from sqlalchemy import Engine, create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from domain.classification import (  # noqa: E402
    ClassificationDiff,
    compute_classification,
    recompute_classification,
)

SHOPS = 100_000
AS_OF = dt.date(2025, 3, 18)  # the same city as bench/demo_load.py
PERIOD = (dt.date(2024, 3, 1), dt.date(2025, 2, 28))  # the 12 full months before AS_OF
RUNS = 3

STATE_SQL = text("""
    SELECT (SELECT count(*) FROM customers),
           (SELECT max(month) FROM purchase_records),
           EXISTS (SELECT 1 FROM ledger_entries WHERE source = 'classification')
""")


def ensure_city(engine: Engine) -> None:
    """The 100k demo city as loaded (no classification applied yet), committed."""
    with engine.connect() as conn:
        shops, last_month, recomputed = conn.execute(STATE_SQL).one()
    if shops == SHOPS and last_month == dt.date(2025, 2, 1) and not recomputed:
        print(f"data: {shops} demo shops already loaded, not yet recomputed")
        return
    from domain.demo import load_demo

    print(
        f"data: loading the {SHOPS}-shop demo city (found {shops} shops, recomputed={recomputed})…"
    )
    started = time.perf_counter()
    with engine.begin() as conn:
        load_demo(conn, shops=SHOPS, seed=42, as_of=AS_OF)
    print(f"data: loaded and committed in {time.perf_counter() - started:.1f} s")


def recompute(engine: Engine) -> tuple[ClassificationDiff, float, int]:
    """One recompute with apply and commit: the diff, wall seconds, ledger rows written."""
    with Session(engine) as session:
        before = session.execute(text("SELECT count(*) FROM ledger_entries")).scalar_one()
        started = time.perf_counter()
        diff = recompute_classification(
            session,
            period_start=PERIOD[0],
            period_end=PERIOD[1],
            as_of=AS_OF,
            actor_id=None,
        )
        session.commit()
        wall = time.perf_counter() - started
        after = session.execute(text("SELECT count(*) FROM ledger_entries")).scalar_one()
    return diff, wall, int(after - before)


def compute_only(engine: Engine) -> tuple[ClassificationDiff, float]:
    with Session(engine) as session:
        started = time.perf_counter()
        diff = compute_classification(
            session, period_start=PERIOD[0], period_end=PERIOD[1], as_of=AS_OF
        )
        wall = time.perf_counter() - started
        session.rollback()
    return diff, wall


def clear_classification(engine: Engine) -> None:
    """Every scored shop unclassified, the table rewritten compact (bench data only)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(
            text(
                "UPDATE customers SET business_scale = NULL, classification = NULL"
                " WHERE status <> 'closed'"
            )
        )
        conn.execute(text("VACUUM FULL customers"))
        conn.execute(text("ANALYZE customers"))


def measure(url: str) -> dict[str, object]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        ensure_city(engine)
        diff, compute_s = compute_only(engine)
        provisional = sum(c.provisional for c in diff.changes)
        print(
            f"compute only: {compute_s:.2f} s — {diff.shops_scored} shops scored, "
            f"{len(diff.changes)} to change ({provisional} provisional)"
        )
        for fmt, counts in diff.counts_by_scale.items():
            print(f"  {fmt:<15} 大 {counts[1]:>6}  中 {counts[2]:>6}  小 {counts[3]:>6}")
        walls: list[float] = []
        first_changed = ledger_rows = 0
        for run in range(1, RUNS + 1):
            result, wall, rows = recompute(engine)
            walls.append(wall)
            if run == 1:
                first_changed, ledger_rows = len(result.changes), rows
            print(
                f"run {run}: {wall:.2f} s wall (compute + apply + commit), "
                f"{len(result.changes)} shops changed, {rows} ledger rows"
            )
        print("worst case: clearing every scored shop's scale and code (VACUUM FULL after)…")
        clear_classification(engine)
        worst, worst_s, worst_rows = recompute(engine)
        print(
            f"all changed: {worst_s:.2f} s wall (compute + apply + commit), "
            f"{len(worst.changes)} shops changed, {worst_rows} ledger rows"
        )
    finally:
        engine.dispose()
    return {
        "wall_s": round(walls[0], 2),
        "compute_s": round(compute_s, 2),
        "changed": first_changed,
        "ledger_rows": ledger_rows,
        "noop_s": [round(w, 2) for w in walls[1:]],
        "all_changed": len(worst.changes),
        "all_changed_wall_s": round(worst_s, 2),
    }


def main() -> None:
    with bench_database() as url:
        figures = measure(url)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

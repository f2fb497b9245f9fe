"""The benchmarks' own embedded cluster: ``.data/bench-pg`` on port 54339, database
``retailgis_bench``. ``bench_database()`` starts it (or reuses a running one), migrates
the database and yields its URL; it stops the cluster afterwards only if it started it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from api.db import migrate  # noqa: E402
from api.pgcluster import ClusterConfig, EmbeddedCluster  # noqa: E402
from api.settings import Settings  # noqa: E402

BENCH_PORT = 54339
BENCH_DB = "retailgis_bench"


@contextmanager
def bench_database() -> Iterator[str]:
    with bench_cluster() as cluster:
        url = cluster.url(BENCH_DB)
        migrate(url)
        yield url


@contextmanager
def bench_cluster() -> Iterator[EmbeddedCluster]:
    """The bench cluster, started if needed (and then stopped at the end)."""
    settings = Settings.from_env()
    cluster = EmbeddedCluster(
        ClusterConfig(
            data_dir=settings.data_dir / "bench-pg",
            port=BENCH_PORT,
            database=BENCH_DB,
            os_user=settings.pg_os_user,
        )
    )
    started_here = not cluster.status().running
    state = "starting" if started_here else "already running"
    print(f"cluster: {cluster.data_dir} port {BENCH_PORT} ({state})", flush=True)
    cluster.start()
    try:
        yield cluster
    finally:
        if started_here:
            cluster.stop()


def ensure_demo_city(url: str, shops: int, *, as_of: Any = None, seed: int = 42) -> None:
    """The demo city of at least ``shops`` shops in the database at ``url`` (reused when
    there, else loaded with the application's vault, replacing what was there)."""
    import datetime as dt
    import time

    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        count = conn.scalar(text("SELECT count(*) FROM customers")) or 0
    if count >= shops:
        print(f"data: reusing the demo city in the bench database ({count:,} customers)")
    else:
        from api.secrets import make_vault
        from domain.demo import load_demo

        print(f"data: {count:,} customers; loading the {shops:,}-shop demo city…", flush=True)
        started = time.perf_counter()
        with engine.begin() as conn:
            load_demo(
                conn, shops=shops, seed=seed, as_of=as_of or dt.date(2025, 3, 18),
                vault=make_vault(Settings.from_env()),
            )  # fmt: skip
        print(f"data: loaded in {time.perf_counter() - started:.1f} s")
    engine.dispose()

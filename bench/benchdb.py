"""The benchmarks' own embedded cluster: ``.data/bench-pg`` on port 54339, database
``retailgis_bench``. ``bench_database()`` starts it (or reuses a running one), migrates
the database and yields its URL; it stops the cluster afterwards only if it started it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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

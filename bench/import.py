"""Benchmark: importing 100,000 customer rows from CSV and from XLSX, against a bare COPY.

Usage: ``python bench/import.py`` (no arguments). It starts (or reuses) the bench-only
embedded cluster (``bench/benchdb.py``: ``<data dir>/bench-pg``, port 54339) and works in
databases of its own: ``retailgis_bench_import_tpl`` (migrated, with the 5,000-shop demo
city: regions, service area, users) and a fresh copy of it for each measured run, so every
import meets the same database. It generates 100,000 valid rows of the basic-information
table (Chinese headers, 18 fields plus longitude/latitude/crs; points taken from the demo
shops) as CSV and as XLSX, then measures, wall clock from reading the file to the end of
the commit:

1. ``csv_wall_s``: the CSV import with full validation (catalogue, in-file duplicates,
   database uniqueness, service area, region) and the ledger (one entry per shop holding
   its 24 imported fields, three of them sealed);
2. ``xlsx_wall_s``: the same for the XLSX file (openpyxl, read-only mode);
3. ``copy_wall_s``: PostgreSQL ``COPY … FROM STDIN (FORMAT csv)`` of the same CSV file
   into a bare table of text columns, with commit: the floor;
4. the write-only bound: the rows the CSV import stored (the customers' imported columns
   and their ledger entries, taken out with ``COPY … TO STDOUT``) written back into a fresh
   copy of the template by ``COPY … FROM STDIN`` alone, with commit: no parsing, no
   validation, no Python, only what PostgreSQL spends storing the import's result in the
   real tables (their indexes, foreign keys and triggers). No import that stores the same
   rows can be faster than this.

Prints human-readable lines and ends with exactly one JSON line:
``{"csv_wall_s": ..., "xlsx_wall_s": ..., "ratio_vs_copy": ..., "bound_wall_s": ...,
"bound_ratio_vs_copy": ...}`` (ratios over the COPY floor). Targets: CSV under 60 s and
within 10x of the floor.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchdb import bench_cluster  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from api.db import migrate  # noqa: E402
from api.pgcluster import EmbeddedCluster  # noqa: E402
from domain.demo import load_demo  # noqa: E402
from domain.imports import import_customers, read_table, start_import  # noqa: E402
from domain.vault import Vault  # noqa: E402
from tests.import_data import customer_records, headers, write_csv, write_xlsx  # noqa: E402

ROWS = 100_000
TEMPLATE = "retailgis_bench_import_tpl"
RUN_DB = "retailgis_bench_import"
VAULT = Vault(b"retailgis-bench-import-secret-0123456789")


def make_template(cluster: EmbeddedCluster) -> list[tuple[float, float]]:
    """The template database with the 5,000-shop city; the shops' points."""
    cluster.drop_database(TEMPLATE)
    cluster.ensure_database(TEMPLATE)
    url = cluster.url(TEMPLATE)
    migrate(url)
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        load_demo(conn, shops=5_000, seed=42, as_of=dt.date(2025, 3, 18))
        rows = conn.execute(text("SELECT ST_X(location), ST_Y(location) FROM customers"))
        points = [(float(x), float(y)) for x, y in rows]
    engine.dispose()
    return points


def fresh_run_db(cluster: EmbeddedCluster) -> str:
    cluster.drop_database(RUN_DB)
    cluster.create_database(RUN_DB, template=TEMPLATE)
    return cluster.url(RUN_DB)


def dump_result(url: str) -> dict[str, tuple[str, bytes]]:
    """The stored result of an import (customers' non-empty columns, ledger entries) as
    COPY text, with the column lists to load it back."""
    imported = "SELECT customer_id FROM ledger_entries WHERE source = 'import'"
    ledger = (
        "id, at, actor_id, request_id, ticket_id, source, customer_id, field_key, "
        "old_value, new_value"
    )
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        names = list(conn.scalars(text(
            "SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = 'customers'::regclass"
            " AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        )))  # fmt: skip
        filled = conn.execute(text(
            f"SELECT {', '.join(f'count({n})' for n in names)} FROM customers"
            f" WHERE id IN ({imported})"
        )).one()  # fmt: skip
        columns = ", ".join(n for n, count in zip(names, filled, strict=True) if count)
        queries = {
            "customers": (columns, f"SELECT {columns} FROM customers WHERE id IN ({imported})"),
            "ledger_entries": (ledger, f"SELECT {ledger} FROM ledger_entries WHERE customer_id"
                                       f" IN ({imported})"),
        }  # fmt: skip
        out: dict[str, tuple[str, bytes]] = {}
        raw = conn.connection.driver_connection
        for table, (cols, query) in queries.items():
            with raw.cursor() as cur, cur.copy(f"COPY ({query}) TO STDOUT") as copy:
                out[table] = (cols, b"".join(bytes(b) for b in copy))
    engine.dispose()
    return out


def time_bound(cluster: EmbeddedCluster, dumped: dict[str, tuple[str, bytes]]) -> float:
    """COPY of the import's stored rows into the real tables of a fresh database."""
    engine = create_engine(fresh_run_db(cluster), poolclass=NullPool)
    walls = {}
    started = time.perf_counter()
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        for table, (columns, data) in dumped.items():
            at = time.perf_counter()
            with raw.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                copy.write(data)
            walls[table] = time.perf_counter() - at
    wall = time.perf_counter() - started
    engine.dispose()
    sizes = ", ".join(f"{t} {len(d) / 1e6:.1f} MB in {walls[t]:.2f} s" for t, (_, d) in
                      dumped.items())  # fmt: skip
    print(f"write-only bound: COPY of the stored result into the real tables, {wall:.2f} s "
          f"({sizes})")  # fmt: skip
    return wall


def time_import(cluster: EmbeddedCluster, path: Path) -> float:
    engine = create_engine(fresh_run_db(cluster), poolclass=NullPool)
    started = time.perf_counter()
    marks: dict[str, float] = {}

    def mark(phase: str, done: int, total: int) -> None:
        if done >= total:
            marks[phase] = time.perf_counter() - started

    table = read_table(path)
    marks["读取文件"] = time.perf_counter() - started
    with Session(engine) as session:
        run = start_import(
            session, kind="customers", file_name=table.name, sha256=table.sha256,
            actor_name="bench",
        )  # fmt: skip
        session.commit()
        result = import_customers(session, table, import_id=run.id, vault=VAULT, progress=mark)
        session.commit()
    wall = time.perf_counter() - started
    with engine.connect() as conn:
        ledger = conn.scalar(text("SELECT count(*) FROM ledger_entries WHERE source = 'import'"))
    engine.dispose()
    if result.imported != ROWS:
        raise SystemExit(f"{path.name}: imported {result.imported}, issues {result.issues[:3]}")
    print(f"{path.suffix[1:]} import: {ROWS:,} shops, {ledger:,} ledger entries, {wall:.2f} s")
    phases = ", ".join(f"{name} {at:.1f} s" for name, at in marks.items())
    print(f"  phases ended at: {phases}, commit {wall:.1f} s")
    return wall


def time_copy(cluster: EmbeddedCluster, path: Path) -> float:
    engine = create_engine(fresh_run_db(cluster), poolclass=NullPool)
    columns = ", ".join(f"c{i} text" for i in range(len(headers())))
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE bare_import ({columns})"))
    started = time.perf_counter()
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        with (
            raw.cursor() as cur,
            cur.copy("COPY bare_import FROM STDIN (FORMAT csv, HEADER true)") as copy,
        ):
            copy.write(path.read_bytes())
    wall = time.perf_counter() - started
    engine.dispose()
    print(f"COPY floor: {ROWS:,} rows into a bare table, {wall:.2f} s")
    return wall


def main() -> None:
    with bench_cluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        print("data: migrating the template and loading the 5,000-shop demo city…", flush=True)
        points = make_template(cluster)
        rows = customer_records([points[i % len(points)] for i in range(ROWS)])
        started = time.perf_counter()
        csv_path = write_csv(Path(tmp) / "customers.csv", headers(), rows)
        xlsx_path = write_xlsx(Path(tmp) / "customers.xlsx", headers(), rows)
        print(f"data: {ROWS:,} rows as CSV ({csv_path.stat().st_size / 1e6:.1f} MB) and XLSX "
              f"({xlsx_path.stat().st_size / 1e6:.1f} MB) written in "
              f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
        copy_s = time_copy(cluster, csv_path)
        csv_s = time_import(cluster, csv_path)
        dumped = dump_result(cluster.url(RUN_DB))
        xlsx_s = time_import(cluster, xlsx_path)
        bound_s = time_bound(cluster, dumped)
        cluster.drop_database(RUN_DB)
        ratio, bound_ratio = csv_s / copy_s, bound_s / copy_s
        print(f"ratio CSV import / COPY floor: {ratio:.1f}x (target: under 60 s and within 10x)")
        print(f"ratio write-only bound / COPY floor: {bound_ratio:.1f}x; "
              f"CSV import / bound: {csv_s / bound_s:.1f}x")  # fmt: skip
        print(json.dumps({"csv_wall_s": round(csv_s, 2), "xlsx_wall_s": round(xlsx_s, 2),
                          "ratio_vs_copy": round(ratio, 1), "bound_wall_s": round(bound_s, 2),
                          "bound_ratio_vs_copy": round(bound_ratio, 1)}))  # fmt: skip


if __name__ == "__main__":
    main()

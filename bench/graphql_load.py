"""Benchmark: the GraphQL API under load, against a hand-written SQL floor and PostGraphile v4.

Usage: ``python bench/graphql_load.py`` (no arguments). It starts (or reuses) the bench-only
embedded cluster (``<data dir>/bench-pg``, port 54339, database ``retailgis_bench``, as
``bench/demo_load.py`` does) and migrates it, then:

1. data: reuses the demo city there when it has at least 100,000 customers, else loads the
   100,000-shop demo city (seed 42, as of 2025-03-18, the application's vault) and commits;
   ``VACUUM (ANALYZE)`` of the tables the queries read (since the fifth run); a bearer
   token for the ``market_dept`` user (city scope) is created (1 day);
2. in-process figures (``graphql_inprocess.py``): the app in this process (starlette
   TestClient) runs each query 60 times, as served (fast path) and with graphql-core
   alone: p50 wall and CPU time per request; and the SQL statements one nested request
   issues at first:10 and first:100 on each path (warm: token and document known);
3. our server: ``.venv/bin/retailgis serve --no-demo --port P`` on loopback as a subprocess
   (``DATABASE_URL`` = the bench URL, ``RETAILGIS_TICK_SECONDS=0``, ``APP_ENV=production``,
   ``RETAILGIS_WORKERS`` = ``BENCH_WORKERS`` or the server's default, one per core);
4. PostGraphile v4 (``bench/postgraphile``; ``npm install`` there when ``node_modules`` is
   missing) over views in a schema ``gql_bench`` of the same rows (smart comments for the
   keys and relations, ``gql_bench.routes_stops(r)`` as a computed column,
   ``gql_bench.customers_near(lng, lat, radius_m)`` as a query field);
5. the floor: the same data by hand-written SQL through async psycopg, one connection per
   client (a pool the size of the concurrency);
6. three queries: (a) nested: 100 customers with manager name, route name + stop count
   and ticket statuses; (b) near: customers within 500 m of a shop, total count + first
   page of 50; (c) by code: one customer by code. Each at 1, 10 and 50 concurrent clients
   (asyncio; an ``aiohttp.ClientSession`` with one keep-alive connection per client for
   the servers: since the fifth run; httpx before, which spent about 1 ms of CPU per
   request, five times aiohttp's, on the same 2 cores as the servers), each client looping
   for ``SECONDS``
   (6 s; env ``BENCH_SECONDS`` overrides) after a ``WARMUP`` of 1.5 s. p50 / p99 in ms and
   requests/s for each target, and the CPU time per request of the server's processes,
   of PostgreSQL (postmaster and backends) and of this process (the load generator, or
   the floor's client), read from /proc: on a shared machine these say more than p50.

Prints every figure and ratio and ends with exactly one JSON line (10 clients):
``{"nested_p50_ms": ..., "nested_ratio_vs_floor": ..., "nested_rps_ratio_vs_postgraphile":
..., "near_p50_ms": ..., "by_code_p50_ms": ..., "statements_first10": ...,
"statements_first100": ...}`` (``nested_rps_ratio_vs_postgraphile`` is ``null`` when
PostGraphile could not be installed or started). The servers are stopped at the end; the
cluster is stopped only if this script started it. The ``gql_bench`` schema stays.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import graphql_inprocess as inproc  # noqa: E402
import httpx  # noqa: E402
import psycopg  # noqa: E402
from benchdb import BENCH_DB, BENCH_PORT, bench_database, ensure_demo_city  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from api.settings import Settings  # noqa: E402

SHOPS = 100_000
AS_OF = dt.date(2025, 3, 18)
CONCURRENCY = (1, 10, 50)
SECONDS = float(os.environ.get("BENCH_SECONDS", "6"))
WARMUP = 1.5
RADIUS_M = 500
PAGE = 50  # the server's default page size (schema.pagination.DEFAULT_FIRST)
TICKETS_PER_CUSTOMER = 50
PG_DIR = ROOT / "bench" / "postgraphile"
# our server's web processes (RETAILGIS_WORKERS); the server's default is one per core
WORKERS = int(os.environ.get("BENCH_WORKERS") or Settings.from_env().workers)

NESTED = """query($first: Int!) { customers(first: $first) { edges { node {
  customerManager { name } route { name stats { stops } } tickets { status } } } } }"""
NEAR = """query($lng: Float!, $lat: Float!) {
  customers(filter: {near: {point: {lng: $lng, lat: $lat}, radiusM: RADIUS}}) {
    totalCount edges { node { id customerCode shopName } } } }""".replace("RADIUS", str(RADIUS_M))
BY_CODE = """query($code: String!) { customer(code: $code) { id shopName phone } }"""

PG_NESTED = """{ allCustomers(first: 100, orderBy: [CUSTOMER_CODE_ASC, ID_ASC]) { edges { node {
  userByCustomerManagerId { name }
  routeByDeliveryRouteId { name stops }
  ticketsByCustomerId(first: TICKETS, orderBy: ID_DESC) { nodes { status } } } } } }""".replace(
    "TICKETS", str(TICKETS_PER_CUSTOMER)
)
PG_NEAR = """query($lng: Float!, $lat: Float!) {
  customersNear(lng: $lng, lat: $lat, radiusM: RADIUS, first: PAGE) {
    totalCount edges { node { id customerCode shopName } } } }""".replace(
    "RADIUS", str(RADIUS_M)
).replace("PAGE", str(PAGE))
PG_BY_CODE = """query($code: String!) { customerByCustomerCode(customerCode: $code) {
  id shopName phone } }"""

FLOOR_NESTED = """
SELECT c.id, c.customer_code, u.display_name, r.name,
       (SELECT count(*) FROM customers s WHERE s.delivery_route_id = c.delivery_route_id),
       (SELECT coalesce(json_agg(t.status ORDER BY t.id DESC), '[]')
          FROM (SELECT id, status FROM tickets WHERE customer_id = c.id
                ORDER BY id DESC LIMIT %s) t)
  FROM (SELECT * FROM customers ORDER BY customer_code, id LIMIT 100) c
  LEFT JOIN users u ON u.id = c.customer_manager_id
  LEFT JOIN delivery_routes r ON r.id = c.delivery_route_id
 ORDER BY c.customer_code, c.id"""
FLOOR_NEAR = """
SELECT id, customer_code, shop_name, count(*) OVER ()
  FROM customers
 WHERE location && ST_MakeEnvelope(%s, %s, %s, %s, 4326)
   AND ST_DWithin(location::geography, ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography, %s)
 ORDER BY customer_code, id LIMIT %s"""


def near_box(lng: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """The lng/lat box around a point that holds every point within radius_m (the same
    pre-filter on the indexed geometry as the API's `near` filter)."""
    dlat = radius_m / 111_320.0 * 1.01
    dlng = dlat / max(math.cos(math.radians(lat)), 0.01)
    return (lng - dlng, lat - dlat, lng + dlng, lat + dlat)


FLOOR_BY_CODE = "SELECT id, shop_name, phone FROM customers WHERE customer_code = %s"


def bench_queries(code: str, lng: float, lat: float) -> dict[str, tuple[str, dict[str, Any]]]:
    """Our three documents and their variables."""
    return {
        "nested": (NESTED, {"first": 100}),
        "near": (NEAR, {"lng": lng, "lat": lat}),
        "by_code": (BY_CODE, {"code": code}),
    }


PG_BENCH_SQL = """
DROP SCHEMA IF EXISTS gql_bench CASCADE;
CREATE SCHEMA gql_bench;
CREATE VIEW gql_bench.users AS SELECT id, display_name AS name FROM public.users;
CREATE VIEW gql_bench.routes AS SELECT id, name FROM public.delivery_routes;
CREATE VIEW gql_bench.customers AS
  SELECT id, customer_code, shop_name, phone, customer_manager_id, delivery_route_id, location
    FROM public.customers;
CREATE VIEW gql_bench.tickets AS SELECT id, customer_id, status::text AS status FROM public.tickets;
COMMENT ON VIEW gql_bench.users IS '@primaryKey id';
COMMENT ON VIEW gql_bench.routes IS '@primaryKey id';
COMMENT ON VIEW gql_bench.customers IS E'@primaryKey id\\n@unique customer_code\\n'
  '@foreignKey (customer_manager_id) references gql_bench.users (id)\\n'
  '@foreignKey (delivery_route_id) references gql_bench.routes (id)';
COMMENT ON VIEW gql_bench.tickets IS E'@primaryKey id\\n'
  '@foreignKey (customer_id) references gql_bench.customers (id)';
CREATE FUNCTION gql_bench.routes_stops(r gql_bench.routes) RETURNS bigint
  LANGUAGE sql STABLE AS
  $$ SELECT count(*) FROM public.customers WHERE delivery_route_id = r.id $$;
CREATE FUNCTION gql_bench.customers_near(lng float8, lat float8, radius_m float8)
  RETURNS SETOF gql_bench.customers LANGUAGE sql STABLE AS $$
  SELECT * FROM gql_bench.customers
   WHERE location && ST_Expand(ST_SetSRID(ST_MakePoint(lng, lat), 4326),
                               radius_m / 111320.0 * 1.01 / cos(radians(lat)))
     AND ST_DWithin(location::geography,
                    ST_SetSRID(ST_MakePoint(lng, lat), 4326)::geography, radius_m)
   ORDER BY customer_code, id $$;
"""


# -- setup -----------------------------------------------------------------------------------


def make_token(url: str) -> str:
    from domain.users import create_token

    engine = create_engine(url, poolclass=NullPool)
    with Session(engine) as session:
        token = create_token(session, username="market_dept", days=1, name="bench-graphql")
        session.commit()
    engine.dispose()
    return token


VACUUMED = ("customers", "tickets", "users", "delivery_routes")


def vacuum(url: str) -> None:
    """VACUUM (ANALYZE) the tables the queries read, so every run measures the same steady
    state: other benchmarks (soak, approvals) update thousands of shops, which clears the
    visibility map until autovacuum comes (at 20 % dead rows), and the route stop counts
    then read the heap for every stop instead of the index alone (all three targets
    slowed alike: PostgreSQL CPU per nested request 2.5 ms → 4–6 ms)."""
    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for table in VACUUMED:
            conn.execute(text(f"VACUUM (ANALYZE) {table}"))
    engine.dispose()


def pick_shop(url: str) -> tuple[str, float, float]:
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT customer_code, ST_X(location), ST_Y(location) FROM customers "
                "WHERE location IS NOT NULL ORDER BY id OFFSET 50000 LIMIT 1"
            )
        ).one()
    engine.dispose()
    return str(row[0]), float(row[1]), float(row[2])


def in_process(url: str, token: str, code: str, lng: float, lat: float) -> dict[int, int]:
    """Per request wall/CPU time in this process, both paths; statements per nested
    request (returned for the served path, by first)."""
    figures = inproc.per_request(url, token, bench_queries(code, lng, lat))
    print("in-process, per request (p50; CPU = this process's):")
    for (path, name), f in figures.items():
        print(f"   {path:13} {name:8} wall {f['wall_ms']:7.2f} ms   CPU {f['cpu_ms']:7.2f} ms")
    counted = inproc.statements(url, token, NESTED)
    for path, by_first in counted.items():
        print(f"statements per nested request ({path}): first:10 → {len(by_first[10])}, "
              f"first:100 → {len(by_first[100])}")  # fmt: skip
        for st in by_first[100]:
            print("   ", " ".join(st.split())[:150])
    return {first: len(sts) for first, sts in counted["served"].items()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(
    url: str, proc: subprocess.Popen[bytes], seconds: float, ok: Callable[[httpx.Response], bool]
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}")
        try:
            if ok(httpx.get(url, timeout=2)):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"no answer from {url} within {seconds:.0f} s")


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def start_ours(url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "RETAILGIS_TICK_SECONDS": "0",
        "APP_ENV": "production",
        "RETAILGIS_LOG_LEVEL": "warning",
        "RETAILGIS_BACKGROUND_WORKER": "0",
        "RETAILGIS_WORKERS": str(WORKERS),
    }
    exe = ROOT / ".venv" / "bin" / "retailgis"
    proc = subprocess.Popen(
        [str(exe), "serve", "--no-demo", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/healthz", proc, 60, lambda r: r.status_code == 200)
    return proc, f"{base}/graphql"


def node_url(url: str) -> str:
    """A postgres:// URL for node-postgres: loopback TCP with the cluster's password."""
    u = make_url(url)
    pw_file = Settings.from_env().data_dir / "bench-pg" / "retailgis.password"
    password = pw_file.read_text().strip()
    user = quote(u.username or "retailgis", safe="")
    return f"postgres://{user}:{quote(password, safe='')}@127.0.0.1:{BENCH_PORT}/{BENCH_DB}"


def start_postgraphile(url: str, log: Path) -> tuple[subprocess.Popen[bytes] | None, str, str]:
    """Returns (process, endpoint, why-not). Never raises."""
    npm, npx = shutil.which("npm"), shutil.which("npx")
    if npm is None or npx is None:
        return None, "", "npm/npx not found"
    if not (PG_DIR / "node_modules" / "postgraphile").is_dir():
        print("postgraphile: npm install --prefix bench/postgraphile …", flush=True)
        r = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(PG_DIR),
                "--no-audit",
                "--no-fund",
                "--no-package-lock",
            ],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            return None, "", f"npm install failed: {r.stderr.strip()[-300:]}"
    try:
        with psycopg.connect(
            url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
        ) as conn:
            conn.execute(PG_BENCH_SQL)
    except psycopg.Error as exc:
        return None, "", f"could not create schema gql_bench: {exc}"
    port = free_port()
    cmd = [
        str(PG_DIR / "node_modules" / ".bin" / "postgraphile"),
        "-c",
        node_url(url),
        "--schema",
        "gql_bench",
        "--append-plugins",
        "@graphile/postgis,postgraphile-plugin-connection-filter",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--disable-graphiql",
        "--disable-query-log",
        "--max-pool-size",
        "50",
    ]
    proc = subprocess.Popen(
        cmd, cwd=PG_DIR, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    endpoint = f"http://127.0.0.1:{port}/graphql"

    def ready(resp: httpx.Response) -> bool:
        return resp.status_code in (200, 400, 405)

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.post(endpoint, json={"query": "{ __typename }"}, timeout=3)
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("did not start")
            time.sleep(0.5)
    except RuntimeError as exc:
        stop(proc)
        tail = log.read_text(errors="replace")[-500:]
        return None, "", f"postgraphile {exc}: {tail}"
    return proc, endpoint, ""


# -- load ------------------------------------------------------------------------------------

Call = Callable[[Any], Awaitable[None]]


Snapshot = Callable[[], dict[str, float]]


async def run_point(
    concurrency: int,
    make_client: Callable[[], Awaitable[Any]],
    call: Call,
    close: Callable[[Any], Awaitable[None]],
    cpu: Snapshot,
) -> dict[str, float]:
    """``concurrency`` clients, each looping ``call``; latencies after the warm-up count.
    CPU per request: the CPU time the server, PostgreSQL and this process (the load
    generator, or the floor's psycopg client) spent during the run, over all requests."""
    clients = [await make_client() for _ in range(concurrency)]
    latencies: list[float] = []
    errors = done = 0
    before = cpu()
    start = time.perf_counter()
    measure_from, end = start + WARMUP, start + WARMUP + SECONDS

    async def loop(client: Any) -> None:
        nonlocal errors, done
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                return
            try:
                await call(client)
            except Exception as exc:  # counted and reported
                errors += 1
                if errors <= 3:
                    print(f"      error: {type(exc).__name__}: {str(exc)[:200]}", flush=True)
                continue
            t1 = time.perf_counter()
            done += 1
            if t0 >= measure_from:
                latencies.append(t1 - t0)

    try:
        await asyncio.gather(*(loop(c) for c in clients))
    finally:
        after = cpu()
        for c in clients:
            await close(c)
    cpu_ms = {k: round((after[k] - before[k]) * 1000 / max(done, 1), 2) for k in before}
    if not latencies:
        return {"p50_ms": None, "p99_ms": None, "rps": 0.0, "errors": errors, "cpu_ms": cpu_ms}
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return {
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
        "rps": round(len(latencies) / SECONDS, 1),
        "errors": errors,
        "cpu_ms": cpu_ms,
    }


def graphql_call(
    endpoint: str,
    query: str,
    variables: dict[str, Any],
    headers: dict[str, str],
    check: Callable[[dict[str, Any]], bool],
) -> Call:
    body = json.dumps({"query": query, "variables": variables}).encode()
    sent = {**headers, "Content-Type": "application/json"}

    async def call(client: aiohttp.ClientSession) -> None:
        async with client.post(endpoint, data=body, headers=sent) as resp:
            raw = await resp.read()
        answer = json.loads(raw)
        if resp.status != 200 or answer.get("errors") or not check(answer["data"]):
            raise RuntimeError(f"{resp.status}: {str(answer)[:200]}")

    return call


async def http_client() -> aiohttp.ClientSession:
    """One client: one keep-alive connection (aiohttp: a fifth of httpx's CPU per request)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=1), timeout=aiohttp.ClientTimeout(total=30)
    )


async def close_http(c: aiohttp.ClientSession) -> None:
    await c.close()


def sql_call(sql: str, params: tuple[Any, ...], expect: int | None) -> Call:
    async def call(conn: psycopg.AsyncConnection[Any]) -> None:
        cur = await conn.execute(sql, params, prepare=True)
        rows = await cur.fetchall()
        if expect is not None and len(rows) != expect:
            raise RuntimeError(f"{len(rows)} rows, expected {expect}")

    return call


def main() -> None:
    settings = Settings.from_env()
    started_at = dt.datetime.now().astimezone()
    print(
        f"graphql_load: {started_at:%Y-%m-%d %H:%M %Z}, {os.cpu_count()} CPUs, "
        f"{SECONDS:g} s per point after {WARMUP:g} s warm-up"
    )
    log_dir = settings.data_dir / "bench-graphql"
    log_dir.mkdir(parents=True, exist_ok=True)
    ours = pg = None
    with bench_database() as url:
        ensure_demo_city(url, SHOPS, as_of=AS_OF)
        vacuum(url)
        token = make_token(url)
        code, lng, lat = pick_shop(url)
        print(f"shop: {code} at ({lng:.6f}, {lat:.6f})")
        counts = in_process(url, token, code, lng, lat)
        try:
            ours, ours_endpoint = start_ours(url, log_dir / "retailgis.log")
            print(f"our server: {ours_endpoint} (pid {ours.pid}, {WORKERS} web processes)")
            pg, pg_endpoint, why_not = start_postgraphile(url, log_dir / "postgraphile.log")
            if pg is None:
                print(f"postgraphile: NOT RUN — {why_not}")
            else:
                print(f"postgraphile: {pg_endpoint} (pid {pg.pid})")
            servers = {"ours": (ours_endpoint, ours.pid)}
            if pg is not None:
                servers["postgraphile"] = (pg_endpoint, pg.pid)
            results = asyncio.run(measure(url, token, code, lng, lat, servers))
        finally:
            stop(pg)
            stop(ours)
    report(results, counts)


def cpu_snapshot(server_pid: int | None) -> Snapshot:
    """CPU seconds so far of the server's processes, PostgreSQL's and this process."""
    postmaster = inproc.postmaster_pid(Settings.from_env().data_dir / "bench-pg")

    def snapshot() -> dict[str, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        out = {"client": usage.ru_utime + usage.ru_stime}
        out["postgres"] = inproc.tree_cpu(postmaster) if postmaster else 0.0
        out["server"] = inproc.tree_cpu(server_pid) if server_pid else 0.0
        return out

    return snapshot


async def measure(
    url: str,
    token: str,
    code: str,
    lng: float,
    lat: float,
    servers: dict[str, tuple[str, int]],
) -> dict[tuple[str, str, int], dict[str, float]]:
    """``servers``: endpoint and pid of ours and of PostGraphile (when it runs)."""
    ours = servers["ours"][0]
    pg = servers["postgraphile"][0] if "postgraphile" in servers else None
    auth = {"Authorization": f"Bearer {token}"}
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")

    def n_edges(n: int) -> Callable[[dict[str, Any]], bool]:
        return lambda d: len(d["customers"]["edges"]) == n

    def near_ok(d: dict[str, Any]) -> bool:
        return d["customers"]["totalCount"] >= 1

    near_params = (*near_box(lng, lat, RADIUS_M), lng, lat, RADIUS_M, PAGE)
    targets: dict[str, dict[str, tuple[Any, ...]]] = {
        "nested": {
            "ours": (graphql_call(ours, NESTED, {"first": 100}, auth, n_edges(100)),),
            "floor": (sql_call(FLOOR_NESTED, (TICKETS_PER_CUSTOMER,), 100),),
        },
        "near": {
            "ours": (graphql_call(ours, NEAR, {"lng": lng, "lat": lat}, auth, near_ok),),
            "floor": (sql_call(FLOOR_NEAR, near_params, None),),
        },
        "by_code": {
            "ours": (
                graphql_call(
                    ours, BY_CODE, {"code": code}, auth, lambda d: d["customer"] is not None
                ),
            ),
            "floor": (sql_call(FLOOR_BY_CODE, (code,), 1),),
        },
    }
    if pg is not None:
        targets["nested"]["postgraphile"] = (
            graphql_call(pg, PG_NESTED, {}, {}, lambda d: len(d["allCustomers"]["edges"]) == 100),
        )
        targets["near"]["postgraphile"] = (
            graphql_call(
                pg,
                PG_NEAR,
                {"lng": lng, "lat": lat},
                {},
                lambda d: d["customersNear"]["totalCount"] >= 1,
            ),
        )
        targets["by_code"]["postgraphile"] = (
            graphql_call(
                pg,
                PG_BY_CODE,
                {"code": code},
                {},
                lambda d: d["customerByCustomerCode"] is not None,
            ),
        )

    async def pg_conn() -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(conninfo, autocommit=True)

    async def pg_close(c: psycopg.AsyncConnection[Any]) -> None:
        await c.close()

    results: dict[tuple[str, str, int], dict[str, float]] = {}
    for query, by_target in targets.items():
        for concurrency in CONCURRENCY:
            for target, (call,) in by_target.items():
                pid = servers[target][1] if target in servers else None
                if target == "floor":
                    r = await run_point(concurrency, pg_conn, call, pg_close, cpu_snapshot(None))
                else:
                    r = await run_point(
                        concurrency, http_client, call, close_http, cpu_snapshot(pid)
                    )
                results[(query, target, concurrency)] = r
                c = r["cpu_ms"]
                print(
                    f"  {query:8} {target:12} c={concurrency:<3} p50 {_f(r['p50_ms'])} ms  "
                    f"p99 {_f(r['p99_ms'])} ms  {r['rps']:8.1f} req/s   CPU/req: server "
                    f"{c['server']:5.2f} pg {c['postgres']:5.2f} client {c['client']:5.2f} ms"
                    + (f"  ({r['errors']} errors)" if r["errors"] else ""),
                    flush=True,
                )
    return results


def _f(x: float | None) -> str:
    return f"{x:8.2f}" if x is not None else "     n/a"


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def _met(x: float | None, ok: bool) -> str:
    return "n/a" if x is None else ("met" if ok else "MISSED")


def report(results: dict[tuple[str, str, int], dict[str, float]], counts: dict[int, int]) -> None:
    print("\nratios (our p50 / floor p50; our req/s / PostGraphile req/s):")
    for query in ("nested", "near", "by_code"):
        for c in CONCURRENCY:
            o, f = results[(query, "ours", c)], results[(query, "floor", c)]
            p = results.get((query, "postgraphile", c))
            vs_pg = (
                f"rps ×{o['rps'] / p['rps']:.2f} vs PostGraphile (its p50 {_f(p['p50_ms'])} ms)"
                if p and p["rps"]
                else "PostGraphile: not run or no completed request"
            )
            ratio = _ratio(o["p50_ms"], f["p50_ms"])
            print(f"  {query:8} c={c:<3} p50 ×{ratio} floor   {vs_pg}")
    print("\nCPU per request at 10 clients, ms (server | PostgreSQL | load generator or client):")
    for query in ("nested", "near", "by_code"):
        cells = []
        for target in ("ours", "floor", "postgraphile"):
            r = results.get((query, target, 10))
            if r is not None:
                c = r["cpu_ms"]
                cpu = f"{c['server']:.2f} | {c['postgres']:.2f} | {c['client']:.2f}"
                cells.append(f"{target} {cpu}")
        print(f"  {query:8} " + "   ".join(cells))
    o10 = results[("nested", "ours", 10)]
    f10 = results[("nested", "floor", 10)]
    p10 = results.get(("nested", "postgraphile", 10))
    ratio_pg = round(o10["rps"] / p10["rps"], 2) if p10 and p10["rps"] else None
    nested_ratio = _ratio(o10["p50_ms"], f10["p50_ms"])
    near = results[("near", "ours", 10)]["p50_ms"]
    by_code = results[("by_code", "ours", 10)]["p50_ms"]
    print("\ntargets at 10 clients:")
    print(
        f"  (a) nested p50 ≤ 4× floor: ×{nested_ratio} → "
        f"{_met(nested_ratio, (nested_ratio or 0) <= 4)}; rps ≥ 0.5× PostGraphile: "
        f"{ratio_pg} → "
        f"{'n/a' if ratio_pg is None else ('met' if ratio_pg >= 0.5 else 'MISSED')}"
    )
    print(f"  (b) near p50 < 20 ms: {near} ms → {_met(near, (near or 0) < 20)}")
    print(f"  (c) by code p50 < 5 ms: {by_code} ms → {_met(by_code, (by_code or 0) < 5)}")
    print(
        json.dumps(
            {
                "nested_p50_ms": o10["p50_ms"],
                "nested_ratio_vs_floor": nested_ratio,
                "nested_rps_ratio_vs_postgraphile": ratio_pg,
                "near_p50_ms": near,
                "by_code_p50_ms": by_code,
                "statements_first10": counts[10],
                "statements_first100": counts[100],
            }
        )
    )


if __name__ == "__main__":
    main()

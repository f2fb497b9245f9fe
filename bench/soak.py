"""Benchmark: a soak of the GraphQL API, 50 users, 80 % reads and 20 % writes, 10 minutes
measured after a 3-minute warm-up.

Usage: ``python bench/soak.py`` (no arguments). It starts (or reuses) the bench-only
embedded cluster (``<data dir>/bench-pg``, port 54339, database ``retailgis_bench``) and
migrates it, then:

1. data: the 100,000-shop demo city (``ensure_demo_city``: reused when there, else loaded);
   the first ``MARKET_MANAGERS`` market managers' teams (each market manager and the
   customer managers of the market area), with up to ``SHOPS_PER_MANAGER`` active shops per
   customer manager; bearer tokens (1 day, name ``bench-soak``) for them and for the city
   accounts ``market_dept``/``market_dept_2``, ``delivery_dept``/``delivery_dept_2`` and
   ``sales_dept``;
2. our server: ``retailgis serve --no-demo`` on a free loopback port as a subprocess
   (``bench/graphql_load.start_ours``: ``APP_ENV=production``, ``RETAILGIS_TICK_SECONDS=0``,
   ``RETAILGIS_WORKERS`` = ``BENCH_WORKERS`` or the server's default of one per core, no
   background worker, log level warning; its log in ``<data dir>/bench-soak/retailgis.log``);
3. the load: ``USERS`` (50) virtual users in one asyncio process, each with its own
   ``httpx.AsyncClient`` (one keep-alive connection), looping with no think time for
   ``BENCH_SOAK_SECONDS`` (780) of which the first ``BENCH_SOAK_WARMUP`` (180) are warm-up
   and not measured (``BENCH_SMOKE=1``: 30 s with 10 s of warm-up). The warm-up is 3
   minutes because that is how long the web processes take, under this load, to fill their
   bounded caches (parsed documents, principals, compiled statements of two engines) and
   reach their allocator plateau (see bench/README.md, soak runs 2 and 3). A user starts a
   write flow while the write flows are under 20 % of the requests so far (a flow's own
   reads, the shop read before an edit and the approver's queue, count as reads), else a
   read.

   Reads (the client apps' typical queries): ``list`` a customer manager's own active shops
   (first 20, with route) or the city's shops of one county and business format (market
   department); ``near`` the shops within 500 m of a shop (first 50 and the total);
   ``by_code`` one customer by code (the call centre, ``sales_dept``); ``route`` one route
   with its stats and ordered stops and ``routes`` a depot's routes of one weekday with
   stats (the delivery dispatch screen); ``queue`` an approver's tickets awaiting them
   (first 20); and, inside the write flows, ``customer`` (a shop read before it is edited)
   and the approver's ``queue`` read.

   Writes (proposals and approvals): a customer manager proposes a new order phone on an
   own shop (``updateCustomer`` with the version just read: the phone is outside a customer
   manager's rights, so it becomes a ``phone_change`` ticket: the team's market manager,
   then the market department) or a new location 20-40 m away (``proposeLocation``: a
   ``location_change`` ticket for the delivery department); an approver reads its queue
   (``tickets(filter: {awaitingMe: true, type})``) and approves one of the tickets this
   run made that is in it (``approveTicket``). While fewer than 5 of the run's tickets are
   pending, writes are proposals; then 40 % proposals and 60 % approvals, the stage taken
   in proportion to its pending tickets. Every mutation carries an idempotency key.
4. every 5 s: the resident memory of the server's process tree (master, web workers) from
   /proc and the PostgreSQL connections to the database (``pg_stat_activity``).

Errors: HTTP status >= 400, transport errors, a top-level GraphQL ``errors``, a missing
answer, or a payload error that is not an expected refusal. Refusals (counted apart): a
``STALE_VERSION`` of ``updateCustomer`` (the shop changed between the read and the write)
and an approval of a ticket another approver decided meanwhile (``INVALID`` "已结束",
``FORBIDDEN`` step not of the caller's role). Latencies count after the warm-up; errors
count over the whole run.

Prints p50/p95/p99 per operation, requests/s, the read/write split achieved, the outcome
of the tickets, the memory series (growth = the largest sample of the last minute minus
the first sample after the warm-up), the peak of PostgreSQL connections and the server
log's pool timeouts ("QueuePool limit", ``TimeoutError``) and tracebacks, and ends with
exactly one JSON line: ``{"errors": ..., "p95_read_ms": ..., "p95_write_ms": ...,
"rss_growth_mb": ...}``. The tickets, ledger rows and changed phones and locations of the
run stay in the bench database. The server is stopped at the end; the cluster only if
this script started it.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import math
import os
import random
import resource
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(ROOT / "bench") not in sys.path:
    sys.path.insert(0, str(ROOT / "bench"))

import graphql_inprocess as inproc  # noqa: E402
import httpx  # noqa: E402
import psycopg  # noqa: E402
from benchdb import bench_database, ensure_demo_city  # noqa: E402
from graphql_load import AS_OF, SHOPS, WORKERS, start_ours, stop  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from api.settings import Settings  # noqa: E402

SMOKE = os.environ.get("BENCH_SMOKE") == "1"
SECONDS = 30.0 if SMOKE else float(os.environ.get("BENCH_SOAK_SECONDS", "780"))
WARMUP = 10.0 if SMOKE else float(os.environ.get("BENCH_SOAK_WARMUP", "180"))
USERS = 50
WRITE_SHARE = 0.20
SAMPLE_EVERY = 5.0
MARKET_MANAGERS = 10
SHOPS_PER_MANAGER = 200
CITY_ACCOUNTS = ("market_dept", "market_dept_2", "delivery_dept", "delivery_dept_2", "sales_dept")
SEED = 20261123

# per 100 reads; a route with its stats and stops costs ≈ 160 ms of server time, a depot's
# routes of a day with stats ≈ 700 ms, the others 3-40 ms (one at a time, unloaded)
READ_WEIGHTS = {"list": 28, "near": 20, "by_code": 27, "route": 6, "routes": 2, "queue": 17}
WRITES = ("propose_phone", "propose_location", "approve")

LIST_OWN = """query($first: Int!) { customers(filter: {status: "active"}, first: $first) {
  totalCount edges { node { id customerCode shopName phone businessFormat version
  route { id name } } } pageInfo { hasNextPage endCursor } } }"""
LIST_CITY = """query($region: Int!, $format: String!, $first: Int!) {
  customers(filter: {regionId: $region, businessFormat: $format}, first: $first) {
  totalCount edges { node { id customerCode shopName phone status customerManager { name } } }
  pageInfo { hasNextPage endCursor } } }"""
NEAR = """query($lng: Float!, $lat: Float!) {
  customers(filter: {near: {point: {lng: $lng, lat: $lat}, radiusM: 500}}, first: 50) {
  totalCount edges { node { id customerCode shopName location } } } }"""
BY_CODE = """query($code: String!) { customer(code: $code) { id customerCode shopName phone
  status address businessFormat version route { name } customerManager { name } } }"""
ROUTE = """query($id: Int!) { route(id: $id) { id code name weekday
  stats { stops volume distanceKm durationMin }
  stops { id customerCode shopName deliverySequence } } }"""
ROUTES = """query($depot: Int!, $weekday: Int!) { routes(depotId: $depot, weekday: $weekday) {
  id code name stats { stops volume distanceKm durationMin } } }"""
QUEUE = """query($type: String) { tickets(filter: {awaitingMe: true, type: $type}, first: 20) {
  totalCount edges { node { id type title status overdue customer { shopName } } } } }"""
CUSTOMER = """query($id: Int!) { customer(id: $id) { id version phone location } }"""
UPDATE = """mutation($id: Int!, $version: Int!, $phone: JSON!, $key: String!) {
  updateCustomer(id: $id, version: $version, changes: [{field: "phone", value: $phone}],
                 reason: "客户更换订货电话", idempotencyKey: $key) {
  applied ticket { id type status } errors { field code message } } }"""
PROPOSE_LOCATION = """mutation($id: Int!, $lng: Float!, $lat: Float!, $key: String!) {
  proposeLocation(customerId: $id, point: {lng: $lng, lat: $lat}, reason: "店铺搬迁到隔壁门面",
                  idempotencyKey: $key) {
  ticket { id type status } errors { field code message } } }"""
APPROVE = """mutation($id: Int!, $key: String!) {
  approveTicket(id: $id, comment: "同意", idempotencyKey: $key) {
  ticket { id type status steps { role status } } errors { field code message } } }"""

# Payload errors that are a legitimate answer under concurrency, per mutation.
REFUSALS = {
    "updateCustomer": {("STALE_VERSION", None)},
    "proposeLocation": set(),
    "approveTicket": {("INVALID", "已结束"), ("FORBIDDEN", "不由您的角色办理")},
}


# -- setup -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Manager:
    user_id: int
    token: str
    market_manager: int  # user id
    shops: tuple[int, ...]


@dataclass(frozen=True)
class City:
    managers: tuple[Manager, ...]
    market_managers: dict[int, str]  # user id -> token
    city: dict[str, str]  # username -> token
    codes: tuple[str, ...]
    points: tuple[tuple[float, float], ...]
    routes: tuple[int, ...]
    depot_days: tuple[tuple[int, int], ...]
    region_formats: tuple[tuple[int, str], ...]


def prepare(url: str, rng: random.Random) -> City:
    from domain.users import create_token

    engine = create_engine(url, poolclass=NullPool)
    with Session(engine) as s, s.begin():
        mms = s.execute(
            text(
                "SELECT id, username, org_unit_id FROM users WHERE role = 'market_manager' "
                "ORDER BY id LIMIT :n"
            ),
            {"n": MARKET_MANAGERS},
        ).all()
        unit_mm = {unit: mm_id for mm_id, _, unit in mms}
        cms = s.execute(
            text(
                "SELECT id, username, org_unit_id FROM users WHERE role = 'customer_manager' "
                "AND org_unit_id = ANY(:units) ORDER BY id"
            ),
            {"units": list(unit_mm)},
        ).all()
        shops: dict[int, list[int]] = collections.defaultdict(list)
        for cm_id, shop_id in s.execute(
            text(
                "SELECT customer_manager_id, id FROM customers WHERE status = 'active' "
                "AND location IS NOT NULL AND customer_manager_id = ANY(:ids) ORDER BY id"
            ),
            {"ids": [c[0] for c in cms]},
        ):
            shops[cm_id].append(shop_id)

        def token(username: str) -> str:
            return create_token(s, username=username, days=1, name="bench-soak")

        managers = tuple(
            Manager(cm_id, token(name), unit_mm[unit],
                    tuple(rng.sample(shops[cm_id], min(SHOPS_PER_MANAGER, len(shops[cm_id])))))
            for cm_id, name, unit in cms
            if shops[cm_id]
        )  # fmt: skip
        market_managers = {mm_id: token(name) for mm_id, name, _ in mms}
        city = {name: token(name) for name in CITY_ACCOUNTS}
        sample = s.execute(
            text(
                "SELECT customer_code, ST_X(location), ST_Y(location) FROM customers "
                "TABLESAMPLE BERNOULLI (3) REPEATABLE (7) WHERE location IS NOT NULL LIMIT 2000"
            )
        ).all()
        routes = s.execute(
            text("SELECT id, depot_id, weekday FROM delivery_routes WHERE is_active ORDER BY id")
        ).all()
        region_formats = s.execute(
            text(
                "SELECT admin_region_id, business_format FROM customers "
                "WHERE admin_region_id IS NOT NULL AND business_format IS NOT NULL "
                "GROUP BY 1, 2 HAVING count(*) >= 50 ORDER BY 1, 2"
            )
        ).all()
    engine.dispose()
    return City(
        managers=managers,
        market_managers=market_managers,
        city=city,
        codes=tuple(r[0] for r in sample),
        points=tuple((float(r[1]), float(r[2])) for r in sample),
        routes=tuple(r[0] for r in routes),
        depot_days=tuple(sorted({(r[1], r[2]) for r in routes})),
        region_formats=tuple((int(r[0]), str(r[1])) for r in region_formats),
    )


# -- the load --------------------------------------------------------------------------------


@dataclass
class Stats:
    started: float
    measure_from: float
    end: float
    sent: collections.Counter[str] = field(default_factory=collections.Counter)  # read/write
    latencies: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    error_samples: list[str] = field(default_factory=list)
    refusals: collections.Counter[str] = field(default_factory=collections.Counter)
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    measured_requests: int = 0
    planned_writes: int = 0  # write flows started that sent, or are about to send, a write

    def error(self, op: str, why: str) -> None:
        self.errors[op] += 1
        if len(self.error_samples) < 12:
            self.error_samples.append(f"{op}: {why[:300]}")


@dataclass
class Pending:
    """Tickets this run made, by the stage awaiting a decision; a ticket is taken out while
    an approver works on it, so two virtual users never pick the same one."""

    by_mm: dict[int, set[int]] = field(default_factory=lambda: collections.defaultdict(set))
    market: set[int] = field(default_factory=set)
    delivery: set[int] = field(default_factory=set)

    def total(self) -> int:
        return sum(map(len, self.by_mm.values())) + len(self.market) + len(self.delivery)


class Load:
    def __init__(self, endpoint: str, city: City, stats: Stats, rng: random.Random) -> None:
        self.endpoint, self.city, self.stats, self.rng = endpoint, city, stats, rng
        self.pending = Pending()
        self.mm_of = {m.user_id: m.market_manager for m in city.managers}

    async def request(
        self, client: httpx.AsyncClient, op: str, kind: str, token: str, query: str,
        variables: dict[str, Any],
    ) -> dict[str, Any] | None:  # fmt: skip
        """One POST; the data, or None after counting an error."""
        st = self.stats
        st.sent[kind] += 1
        t0 = time.perf_counter()
        try:
            resp = await client.post(
                self.endpoint,
                json={"query": query, "variables": variables},
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as exc:
            st.error(op, f"transport {type(exc).__name__}: {exc}")
            return None
        t1 = time.perf_counter()
        st.counts[op] += 1
        if t0 >= st.measure_from and t1 <= st.end:
            st.latencies[op].append(t1 - t0)
            st.measured_requests += 1
        if resp.status_code >= 400:
            st.error(op, f"HTTP {resp.status_code}: {resp.text[:200]}")
            return None
        try:
            body = resp.json()
        except ValueError:
            st.error(op, f"not JSON: {resp.text[:200]}")
            return None
        if body.get("errors") or not isinstance(body.get("data"), dict):
            st.error(op, f"GraphQL errors: {json.dumps(body, ensure_ascii=False)[:300]}")
            return None
        return body["data"]  # type: ignore[no-any-return]

    def refused(self, op: str, mutation: str, payload: dict[str, Any]) -> bool | None:
        """None: no payload errors; True: an expected refusal (counted); False: an error."""
        errors = payload.get("errors") or []
        if not errors:
            return None
        allowed = REFUSALS[mutation]
        if all(
            any(e["code"] == code and (part is None or part in e["message"])
                for code, part in allowed)
            for e in errors
        ):  # fmt: skip
            self.stats.refusals[f"{mutation} {errors[0]['code']}"] += 1
            return True
        self.stats.error(op, f"payload errors: {json.dumps(errors, ensure_ascii=False)}")
        return False

    # reads

    async def read(self, client: httpx.AsyncClient) -> None:
        c, rng = self.city, self.rng
        op = rng.choices(list(READ_WEIGHTS), weights=list(READ_WEIGHTS.values()))[0]
        if op == "list":
            if rng.random() < 0.5:
                m = rng.choice(c.managers)
                data = await self.request(client, op, "read", m.token, LIST_OWN, {"first": 20})
            else:
                region, fmt = rng.choice(c.region_formats)
                data = await self.request(
                    client, op, "read", c.city[rng.choice(("market_dept", "market_dept_2"))],
                    LIST_CITY, {"region": region, "format": fmt, "first": 20},
                )  # fmt: skip
            if data is not None and not data["customers"]["edges"]:
                self.stats.error(op, "empty list")
        elif op == "near":
            lng, lat = rng.choice(c.points)
            data = await self.request(
                client, op, "read", c.city["market_dept"], NEAR, {"lng": lng, "lat": lat}
            )
            if data is not None and data["customers"]["totalCount"] < 1:
                self.stats.error(op, "nothing near a shop")
        elif op == "by_code":
            code = rng.choice(c.codes)
            data = await self.request(
                client, op, "read", c.city["sales_dept"], BY_CODE, {"code": code}
            )
            if data is not None and data["customer"] is None:
                self.stats.error(op, f"customer {code} not found")
        elif op == "route":
            data = await self.request(
                client, op, "read", c.city["delivery_dept"], ROUTE, {"id": rng.choice(c.routes)}
            )
            if data is not None and data["route"] is None:
                self.stats.error(op, "route not found")
        elif op == "routes":
            depot, weekday = rng.choice(c.depot_days)
            await self.request(
                client, op, "read", c.city["delivery_dept"], ROUTES,
                {"depot": depot, "weekday": weekday},
            )  # fmt: skip
        else:  # queue: a market manager's, or a department's
            token = (
                rng.choice(list(c.market_managers.values()))
                if rng.random() < 0.6
                else c.city[rng.choice(("market_dept", "delivery_dept"))]
            )
            await self.request(client, "queue", "read", token, QUEUE, {"type": None})

    # writes

    async def write(self, client: httpx.AsyncClient) -> bool:
        p, rng = self.pending, self.rng
        total = p.total()
        if total >= 5 and rng.random() < 0.6:
            stages: list[tuple[str, Any, int]] = [("mm", k, len(v)) for k, v in p.by_mm.items()]
            stages += [("market", None, len(p.market)), ("delivery", None, len(p.delivery))]
            stages = [s for s in stages if s[2]]
            stage, mm, _ = rng.choices(stages, weights=[s[2] for s in stages])[0]
            return await self.approve(client, stage, mm)
        if rng.random() < 0.5:
            return await self.propose_phone(client, rng.choice(self.city.managers))
        return await self.propose_location(client, rng.choice(self.city.managers))

    async def read_shop(self, client: httpx.AsyncClient, m: Manager) -> dict[str, Any] | None:
        shop = self.rng.choice(m.shops)
        data = await self.request(client, "customer", "read", m.token, CUSTOMER, {"id": shop})
        if data is None:
            return None
        if data["customer"] is None:
            self.stats.error("customer", f"own shop {shop} not found")
            return None
        return data["customer"]  # type: ignore[no-any-return]

    async def propose_phone(self, client: httpx.AsyncClient, m: Manager) -> bool:
        shop = await self.read_shop(client, m)
        if shop is None:
            return False
        phone = f"139{self.rng.randrange(10**8):08d}"
        variables = {"id": shop["id"], "version": shop["version"], "phone": phone,
                     "key": uuid.uuid4().hex}  # fmt: skip
        data = await self.request(client, "propose_phone", "write", m.token, UPDATE, variables)
        if data is None:
            return True
        payload = data["updateCustomer"]
        if self.refused("propose_phone", "updateCustomer", payload) is not None:
            return True
        ticket = payload["ticket"]
        if ticket is None and not payload["applied"] and not payload["errors"]:
            # the number the shop has already (the generator repeats its seeded numbers
            # on a database where an earlier soak applied them): nothing to do, correctly
            self.stats.outcomes["phone proposal equal to the current number"] += 1
            return True
        if ticket is None or ticket["type"] != "phone_change":
            self.stats.error("propose_phone", f"no phone_change ticket: {payload}")
            return True
        self.stats.outcomes["phone_change opened"] += 1
        self.pending.by_mm[m.market_manager].add(ticket["id"])
        return True

    async def propose_location(self, client: httpx.AsyncClient, m: Manager) -> bool:
        shop = await self.read_shop(client, m)
        if shop is None:
            return False
        lng, lat = shop["location"]["coordinates"]
        metres = self.rng.uniform(20, 40)
        angle = self.rng.uniform(0, 6.283)
        lat2 = lat + metres * math.sin(angle) / 111_320
        lng2 = lng + metres * math.cos(angle) / (111_320 * math.cos(math.radians(lat)))
        variables = {"id": shop["id"], "lng": lng2, "lat": lat2, "key": uuid.uuid4().hex}
        data = await self.request(
            client, "propose_location", "write", m.token, PROPOSE_LOCATION, variables
        )
        if data is None:
            return True
        payload = data["proposeLocation"]
        if self.refused("propose_location", "proposeLocation", payload) is not None:
            return True
        ticket = payload["ticket"]
        if ticket is None or ticket["type"] != "location_change":
            self.stats.error("propose_location", f"no location_change ticket: {payload}")
            return True
        self.stats.outcomes["location_change opened"] += 1
        self.pending.delivery.add(ticket["id"])
        return True

    async def approve(self, client: httpx.AsyncClient, stage: str, mm: int | None) -> bool:
        c, p, rng = self.city, self.pending, self.rng
        if stage == "mm":
            assert mm is not None
            token, pool, type_key = c.market_managers[mm], p.by_mm[mm], "phone_change"
        elif stage == "market":
            token = c.city[rng.choice(("market_dept", "market_dept_2"))]
            pool, type_key = p.market, "phone_change"
        else:
            token = c.city[rng.choice(("delivery_dept", "delivery_dept_2"))]
            pool, type_key = p.delivery, "location_change"
        data = await self.request(client, "approver_queue", "read", token, QUEUE,
                                  {"type": type_key})  # fmt: skip
        if data is None:
            return False
        mine = [e["node"]["id"] for e in data["tickets"]["edges"] if e["node"]["id"] in pool]
        if not mine:
            self.stats.outcomes[f"{stage} queue read, its tickets taken by other users"] += 1
            return False
        ticket_id = rng.choice(mine)
        pool.discard(ticket_id)
        data = await self.request(
            client, "approve", "write", token, APPROVE, {"id": ticket_id, "key": uuid.uuid4().hex}
        )
        if data is None:
            return True
        payload = data["approveTicket"]
        if self.refused("approve", "approveTicket", payload) is not None:
            return True
        ticket = payload["ticket"]
        status = ticket["status"]
        self.stats.outcomes[f"{ticket['type']} approved at {stage}: {status}"] += 1
        if status == "open" and stage == "mm":
            active = [s["role"] for s in ticket["steps"] if s["status"] == "active"]
            if active == ["market_dept"]:
                p.market.add(ticket_id)
            else:
                self.stats.error("approve", f"phone ticket {ticket_id} active steps {active}")
        elif status not in ("applied", "stale"):
            self.stats.error("approve", f"ticket {ticket_id} at {stage} ended {status}")
        return True

    async def user(self) -> None:
        st = self.stats
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            while time.perf_counter() < st.end:
                try:
                    if st.planned_writes < WRITE_SHARE * (st.sent["read"] + st.planned_writes + 1):
                        st.planned_writes += 1
                        if not await self.write(client):
                            st.planned_writes -= 1
                    else:
                        await self.read(client)
                except Exception as exc:  # a malformed answer: counted, the user goes on
                    st.error("client", f"{type(exc).__name__}: {exc}")


# -- sampling --------------------------------------------------------------------------------


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its live descendants, MB (VmRSS)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    kb = next((int(line.split()[1]) for line in status.splitlines()
               if line.startswith("VmRSS:")), 0)  # fmt: skip
    return kb / 1024 + sum(tree_rss_mb(child) for child in inproc._children(pid))


def tree_pids(pid: int) -> list[int]:
    return [pid, *(p for child in inproc._children(pid) for p in tree_pids(child))]


CONNECTIONS_SQL = """SELECT count(*), count(*) FILTER (WHERE state = 'active'),
  count(*) FILTER (WHERE state LIKE 'idle in transaction%')
  FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"""


async def sampler(
    pid: int, conninfo: str, stats: Stats, series: list[tuple[float, float, int, int, int]]
) -> None:
    """(seconds since start, server tree RSS MB, connections, active, idle in transaction)
    every SAMPLE_EVERY seconds until the end."""
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        next_at = stats.started
        while True:
            now = time.perf_counter()
            row = await (await conn.execute(CONNECTIONS_SQL)).fetchone()
            assert row is not None
            series.append((now - stats.started, tree_rss_mb(pid), *row))
            if now >= stats.end:
                return
            next_at += SAMPLE_EVERY
            await asyncio.sleep(max(0.0, min(next_at, stats.end) - time.perf_counter()))


async def run(endpoint: str, pid: int, conninfo: str, city: City) -> tuple[Stats, list[Any]]:
    start = time.perf_counter()
    stats = Stats(started=start, measure_from=start + WARMUP, end=start + SECONDS)
    load = Load(endpoint, city, stats, random.Random(SEED))
    series: list[tuple[float, float, int, int, int]] = []
    progress = asyncio.create_task(report_progress(stats, series))
    await asyncio.gather(sampler(pid, conninfo, stats, series),
                         *(load.user() for _ in range(USERS)))  # fmt: skip
    progress.cancel()
    stats.outcomes["pending at the end"] = load.pending.total()
    return stats, series


async def report_progress(stats: Stats, series: list[Any]) -> None:
    step = 10.0 if SMOKE else 60.0
    while True:
        await asyncio.sleep(step)
        elapsed = time.perf_counter() - stats.started
        rss = series[-1][1] if series else 0.0
        print(
            f"  {elapsed:5.0f} s: {stats.sent['read']:,} reads, {stats.sent['write']:,} writes, "
            f"{sum(stats.errors.values())} errors, {sum(stats.refusals.values())} refusals, "
            f"server RSS {rss:.0f} MB, load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )


# -- report ----------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def server_log_counts(log: Path) -> dict[str, int]:
    body = log.read_text(errors="replace")
    return {
        "QueuePool limit": body.count("QueuePool limit"),
        "TimeoutError": body.count("TimeoutError"),
        "Traceback": body.count("Traceback"),
        "ERROR": sum(1 for line in body.splitlines() if "ERROR" in line),
    }


def report(stats: Stats, series: list[Any], log: Path, loads: list[float], cpu: float) -> None:
    measured = SECONDS - WARMUP
    reads_ops = ("list", "near", "by_code", "route", "routes", "queue", "customer",
                 "approver_queue")  # fmt: skip
    writes_ops = ("propose_phone", "propose_location", "approve")
    print(f"\nper operation, after the warm-up ({measured:.0f} s), ms:")
    print(f"  {'operation':17} {'kind':5} {'count':>7} {'p50':>8} {'p95':>8} {'p99':>8}")
    for op in (*reads_ops, *writes_ops):
        lat = stats.latencies.get(op) or []
        if not lat:
            continue
        kind = "write" if op in writes_ops else "read"
        print(f"  {op:17} {kind:5} {len(lat):7,} {pct(lat, 0.5):8.1f} {pct(lat, 0.95):8.1f} "
              f"{pct(lat, 0.99):8.1f}")  # fmt: skip
    read_lat = [x for op in reads_ops for x in stats.latencies.get(op, [])]
    write_lat = [x for op in writes_ops for x in stats.latencies.get(op, [])]
    p95_read = round(pct(read_lat, 0.95), 1) if read_lat else None
    p95_write = round(pct(write_lat, 0.95), 1) if write_lat else None
    for name, lat in (("reads", read_lat), ("writes", write_lat)):
        if lat:
            print(f"  all {name:13}       {len(lat):7,} {pct(lat, 0.5):8.1f} "
                  f"{pct(lat, 0.95):8.1f} {pct(lat, 0.99):8.1f}")  # fmt: skip
    n_read, n_write = len(read_lat), len(write_lat)
    total = n_read + n_write
    print(f"\nrequests/s (after the warm-up): {total / measured:.1f} "
          f"({n_read / measured:.1f} reads, {n_write / measured:.1f} writes); split "
          f"{100 * n_read / max(total, 1):.1f} % reads / {100 * n_write / max(total, 1):.1f} % "
          f"writes (whole run: {stats.sent['read']:,} / {stats.sent['write']:,} sent)")  # fmt: skip
    print("tickets:")
    for k, v in sorted(stats.outcomes.items()):
        print(f"  {k}: {v:,}")
    errors = sum(stats.errors.values())
    print(f"errors: {errors} {dict(stats.errors) if errors else ''}")
    for sample in stats.error_samples:
        print(f"  {sample}")
    print(f"refusals (expected, not errors): {sum(stats.refusals.values())} "
          f"{dict(stats.refusals) if stats.refusals else ''}")  # fmt: skip

    after = [s for s in series if s[0] >= WARMUP]
    base = after[0][1] if after else series[0][1]
    window = min(60.0, SECONDS - WARMUP)
    last = [s[1] for s in series if s[0] >= SECONDS - window] or [series[-1][1]]
    growth = round(max(last) - base, 1)
    rss = [s[1] for s in series]
    print(
        f"\nserver memory (RSS of the process tree, every {SAMPLE_EVERY:g} s, "
        f"{len(series)} samples): start {rss[0]:.1f} MB, after warm-up {base:.1f} MB, "
        f"min {min(rss):.1f}, max {max(rss):.1f}, end {rss[-1]:.1f} MB; "
        f"max of the last {window:.0f} s {max(last):.1f} MB → growth {growth:+.1f} MB"
    )
    per_minute = [s for i, s in enumerate(series) if i % max(1, int(60 / SAMPLE_EVERY)) == 0]
    print("  by minute: " + ", ".join(f"{s[0]:.0f} s {s[1]:.0f}" for s in per_minute))
    peak = max(series, key=lambda s: s[2])
    print(f"PostgreSQL connections to the database: peak {peak[2]} at {peak[0]:.0f} s "
          f"({peak[3]} active, {peak[4]} idle in transaction); "
          f"median {statistics.median(s[2] for s in series):.0f}")  # fmt: skip
    logs = server_log_counts(log)
    print(f"server log ({log}): " + ", ".join(f"{k} {v}" for k, v in logs.items()))
    print(f"load average: start {loads[0]:.2f}, end {loads[1]:.2f} (1 min); "
          f"{os.cpu_count()} CPUs; load generator CPU {cpu:.0f} s")  # fmt: skip
    print(json.dumps({"errors": errors, "p95_read_ms": p95_read, "p95_write_ms": p95_write,
                      "rss_growth_mb": growth}))  # fmt: skip


def main() -> None:
    settings = Settings.from_env()
    started_at = dt.datetime.now().astimezone()
    print(f"soak: {started_at:%Y-%m-%d %H:%M %Z}, {os.cpu_count()} CPUs, {USERS} users, "
          f"{SECONDS:g} s ({WARMUP:g} s warm-up){' [SMOKE]' if SMOKE else ''}, "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    log_dir = settings.data_dir / "bench-soak"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "retailgis.log"
    server = None
    with bench_database() as url:
        ensure_demo_city(url, SHOPS, as_of=AS_OF)
        city = prepare(url, random.Random(SEED))
        print(f"users: {len(city.managers)} customer managers "
              f"({sum(len(m.shops) for m in city.managers):,} shops), "
              f"{len(city.market_managers)} market managers, {', '.join(city.city)}")  # fmt: skip
        try:
            server, endpoint = start_ours(url, log)
            print(f"server: {endpoint} (pid {server.pid}, {WORKERS} web processes: "
                  f"pids {tree_pids(server.pid)})", flush=True)  # fmt: skip
            conninfo = url.replace("postgresql+psycopg://", "postgresql://")
            load_start = os.getloadavg()[0]
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            stats, series = asyncio.run(run(endpoint, server.pid, conninfo, city))
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            load_end = os.getloadavg()[0]
        finally:
            stop(server)
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    report(stats, series, log, [load_start, load_end], cpu)


if __name__ == "__main__":
    main()

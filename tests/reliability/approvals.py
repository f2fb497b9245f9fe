"""The served city of the concurrency tests: twenty delivery-department users who make
and check pending tickets, `retailgis serve` with two worker processes, and a client that
sends approvals a number at a time and keeps each answer with its timing."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from geoalchemy2.shape import to_shape
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from api.pgcluster import EmbeddedCluster
from domain.access import load_principal
from domain.demo import load_demo
from domain.models import Customer, DeliveryRoute, Ticket, User
from domain.tickets.proposals import propose_location, propose_route_assignment
from domain.users import create_token
from domain.vault import Vault
from tests.support import free_port, traversable_tmpdir

BIN = Path(sys.executable).parent
SECRET = "retailgis-reliability-secret-0123456789"  # the server's RETAILGIS_SECRET_KEY
VAULT = Vault(SECRET.encode())
CHECKERS = 20
TICKETS = 100
SPARE = 2  # more pending tickets, for the idempotency tests
MOVES = 10  # route changes onto one route
CALLS = 1000
IN_FLIGHT = 64
APPROVE = """mutation($id: Int!, $key: String) {
  approveTicket(id: $id, comment: "同意", idempotencyKey: $key) {
    ticket { id status steps { decision decidedBy { id } } }
    errors { field code message } } }"""
SELF_APPROVAL = {"field": "id", "code": "FORBIDDEN", "message": "制单人不能审批自己的工单"}
ALREADY_APPLIED = {
    "field": "id",
    "code": "INVALID",
    "message": "该工单已结束（applied），不能再审批",
}
LEAKS = ("Traceback", "psycopg", "sqlalchemy", "SELECT", "UPDATE ", "INSERT ")


@dataclass(frozen=True)
class City:
    """The served city: its URL, engine, and who made which pending ticket."""

    base: str
    engine: Engine
    log: Path
    tokens: dict[int, str]  # checker's user id -> bearer token
    makers: dict[int, int]  # location ticket id -> maker's user id (the first TICKETS raced)
    moves: dict[int, int]  # route-change ticket id -> maker's user id, all onto one route
    route_id: int

    def ticket_ids(self) -> list[int]:
        return list(self.makers)[:TICKETS]

    def spare(self, n: int) -> int:
        return list(self.makers)[TICKETS + n]


@dataclass(frozen=True)
class Answer:
    ticket_id: int
    caller: int
    status: int
    text: str
    started: float  # perf_counter() when sent and when answered
    ended: float

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    def payload(self) -> dict[str, Any]:
        body = json.loads(self.text)
        assert set(body) == {"data"}, self.text  # no top-level (unexpected) error
        return body["data"]["approveTicket"]  # type: ignore[no-any-return]


Setup = tuple[dict[int, str], dict[int, int], dict[int, int], int]


def setup_city(engine: Engine) -> Setup:
    """Twenty delivery-department users; each opens location changes through the domain
    service (every ticket a different shop with no ticket yet), and route changes moving
    shops one by one onto one route (so each proposes the same place: after its last stop);
    each user gets a token."""
    with engine.begin() as conn:
        load_demo(conn, shops=300, seed=13, vault=VAULT)
    now = dt.datetime.now(dt.UTC)
    with Session(engine) as s, s.begin():
        unit = s.scalar(select(User.org_unit_id).where(User.role == "delivery_dept").limit(1))
        assert unit is not None
        users = [
            User(username=f"checker{i:02d}", display_name=f"配送审核员{i}",
                 role="delivery_dept", org_unit_id=unit)
            for i in range(CHECKERS)
        ]  # fmt: skip
        s.add_all(users)
        s.flush()
        principals = [load_principal(s, u.id) for u in users]
        route_id = s.scalar(select(func.min(DeliveryRoute.id)))
        assert route_id is not None
        shops = s.scalars(
            select(Customer)
            .where(
                Customer.status == "active",
                Customer.location.is_not(None),
                Customer.delivery_route_id != route_id,
                ~select(Ticket.id).where(Ticket.customer_id == Customer.id).exists(),
            )
            .order_by(Customer.id)
            .limit(TICKETS + SPARE + MOVES)
        ).all()
        assert len(shops) == TICKETS + SPARE + MOVES
        makers: dict[int, int] = {}
        for i, shop in enumerate(shops[: TICKETS + SPARE]):
            here = to_shape(shop.location)
            point = {"lng": here.x + 0.0005, "lat": here.y + 0.0003, "crs": "WGS84"}
            ticket = propose_location(
                s, principals[i % CHECKERS], shop.id, point, reason="店铺搬迁到隔壁门面",
                vault=VAULT, now=now,
            )  # fmt: skip
            makers[ticket.id] = ticket.maker_id
        moves: dict[int, int] = {}
        for i, shop in enumerate(shops[TICKETS + SPARE :]):
            (ticket,) = propose_route_assignment(
                s, principals[i % CHECKERS], [shop.id], route_id, reason="就近配送",
                vault=VAULT, now=now,
            )  # fmt: skip
            moves[ticket.id] = ticket.maker_id
        tokens = {u.id: create_token(s, username=u.username, days=1) for u in users}
    return tokens, makers, moves, route_id


def healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def served_city(pg_cluster: EmbeddedCluster) -> Iterator[City]:
    """The city in a private database, served by `retailgis serve --no-demo` with two
    worker processes (no periodic run, no background worker) on a free loopback port."""
    name = f"rel_{os.getpid()}_{time.monotonic_ns() % 10**9}"
    pg_cluster.create_database(name, template="retailgis_template")
    url = pg_cluster.url(name)
    engine = create_engine(url, poolclass=NullPool)
    tokens, makers, moves, route_id = setup_city(engine)
    root = traversable_tmpdir("rgis-reliability-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(
        DATABASE_URL=url, RETAILGIS_DATA_DIR=str(root), RETAILGIS_WORKERS="2",
        RETAILGIS_TICK_SECONDS="0", RETAILGIS_BACKGROUND_WORKER="0",
        RETAILGIS_SECRET_KEY=SECRET, RETAILGIS_LOG_LEVEL="warning",
    )  # fmt: skip
    log = root / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "retailgis"), "serve", "--no-demo", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not healthy(base):
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the server did not become healthy"
            time.sleep(0.2)
        yield City(base, engine, log, tokens, makers, moves, route_id)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        engine.dispose()
        pg_cluster.drop_database(name)
        shutil.rmtree(root, ignore_errors=True)


async def fire(city: City, calls: list[tuple[int, int, str | None]]) -> list[Answer]:
    """Send every (ticket, caller, idempotency key) call, IN_FLIGHT at a time."""
    gate = asyncio.Semaphore(IN_FLIGHT)
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(base_url=city.base, timeout=120, limits=limits) as client:

        async def one(ticket_id: int, caller: int, key: str | None) -> Answer:
            body = {"query": APPROVE, "variables": {"id": ticket_id, "key": key}}
            headers = {"Authorization": f"Bearer {city.tokens[caller]}"}
            async with gate:
                start = time.perf_counter()
                try:
                    res = await client.post("/graphql", json=body, headers=headers)
                except httpx.HTTPError as exc:  # say what the server said meanwhile
                    after = time.perf_counter() - start
                    raise AssertionError(
                        f"{type(exc).__name__} after {after:.2f} s on ticket {ticket_id}; "
                        f"the server's log ends:\n{city.log.read_text()[-4000:]}"
                    ) from exc
            return Answer(ticket_id, caller, res.status_code, res.text, start, time.perf_counter())

        return await asyncio.gather(*(one(*call) for call in calls))


def assert_clean(answers: list[Answer]) -> None:
    """HTTP 200 and no trace of the server's insides in any body."""
    statuses = collections.Counter(a.status for a in answers)
    assert statuses == {200: len(answers)}, [a.text for a in answers if a.status != 200][:3]
    leaked = [a.text for a in answers if any(word in a.text for word in LEAKS)]
    assert leaked == []


def server_log_is_clean(city: City) -> None:
    text = city.log.read_text()
    assert "Traceback" not in text and "ERROR" not in text, text[-3000:]


def call_plan(city: City, rng: random.Random) -> list[tuple[int, int, str | None]]:
    """Per ticket one call by its maker and one by another checker (so every ticket is
    raced by both), the rest random (ticket, caller) pairs. The calls of a ticket are sent
    close together (tickets in a random order, each call jittered over a few tickets'
    places), so they are in flight at the same time rather than spread over the run."""
    callers = sorted(city.tokens)
    plan: list[tuple[int, int, str | None]] = []
    for ticket_id in city.ticket_ids():
        maker = city.makers[ticket_id]
        plan.append((ticket_id, maker, None))
        plan.append((ticket_id, rng.choice([c for c in callers if c != maker]), None))
    while len(plan) < CALLS:
        plan.append((rng.choice(city.ticket_ids()), rng.choice(callers), None))
    order = city.ticket_ids()
    rng.shuffle(order)
    rank = {t: i for i, t in enumerate(order)}
    jitter = IN_FLIGHT * TICKETS / CALLS / 2  # half a window of calls in flight
    return sorted(plan, key=lambda call: rank[call[0]] + rng.uniform(0, jitter))


def raced(answers: list[Answer], winners: dict[int, Answer]) -> int:
    """How many tickets had another call in flight while the applying call was."""
    return sum(
        any(
            a is not win and a.ticket_id == t and a.started < win.ended and win.started < a.ended
            for a in answers
        )
        for t, win in winners.items()
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

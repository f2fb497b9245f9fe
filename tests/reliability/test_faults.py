"""Faults: the PostgreSQL postmaster killed with SIGKILL after acknowledged commits, the
database going away under a running app (/healthz), and the process applying a route plan
killed with SIGKILL in the middle of its transaction.

(A bulk import killed with SIGKILL while writing is tests/domain/test_imports_cli.py.)
"""

from __future__ import annotations

import datetime as dt
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool
from starlette.testclient import TestClient

from api.app import create_app
from api.db import make_engine, migrate
from api.pgcluster import ClusterConfig, EmbeddedCluster
from api.settings import Settings
from domain import planning
from domain.access import load_principal
from domain.customers.update import update_customer
from domain.demo import load_demo
from domain.errors import DomainError
from domain.jobs import run_next
from domain.models import (
    Customer,
    LedgerEntry,
    Notification,
    RoutePlan,
    RoutePlanItem,
    Ticket,
    User,
)
from domain.tickets.approval import approve
from domain.vault import Vault
from tests.domain.planning_city import NOW, PlanCity, make_plan_city
from tests.domain.planning_city import VAULT as PLAN_VAULT
from tests.reliability.processes import kill_postmaster
from tests.support import free_port, traversable_tmpdir

ROOT = Path(__file__).resolve().parents[2]

VAULT = Vault(b"retailgis-faults-test-secret-0123456789")
UNREACHABLE = {"status": "unavailable", "database": "unreachable"}


@pytest.fixture(scope="module")
def durable() -> Iterator[EmbeddedCluster]:
    """A cluster of its own with PostgreSQL's durable defaults (fsync and synchronous
    commit on), migrated, with a 100-shop demo city."""
    root = traversable_tmpdir("rgis-faults-")
    cluster = EmbeddedCluster(
        ClusterConfig(data_dir=root / "pg", port=free_port(), database="faults")
    )
    cluster.start()
    try:
        migrate(cluster.url())
        engine = create_engine(cluster.url(), poolclass=NullPool)
        with engine.begin() as conn:
            load_demo(conn, shops=100, seed=3, as_of=dt.date(2026, 11, 1), vault=VAULT)
        engine.dispose()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def _settings(durable: EmbeddedCluster) -> dict[str, str]:
    engine = create_engine(durable.url(), poolclass=NullPool)
    with engine.connect() as conn:
        names = ("fsync", "synchronous_commit", "full_page_writes")
        rows = conn.execute(text("SELECT name, setting FROM pg_settings WHERE name = ANY(:n)"),
                            {"n": list(names)})  # fmt: skip
        found = {str(name): str(value) for name, value in rows}
    engine.dispose()
    return found


class Writer(threading.Thread):
    """Changes one shop's phone per transaction through update_customer; records each
    change once its commit returned (acknowledged), stops at the first failure."""

    def __init__(self, engine: Engine, shops: list[int]) -> None:
        super().__init__(daemon=True)
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.shops = shops
        self.acked: list[tuple[int, str]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for n, shop_id in enumerate(self.shops):
                phone = f"137{n:08d}"
                with self.sessions.begin() as s:
                    user_id = s.scalar(select(User.id).where(User.role == "market_dept"))
                    principal = load_principal(s, user_id or 0)
                    shop = s.get(Customer, shop_id)
                    assert shop is not None
                    update_customer(
                        s, principal, shop_id, shop.version, {"phone": phone}, vault=VAULT
                    )
                self.acked.append((shop_id, phone))
        except BaseException as exc:  # the database went away: the expected end
            self.error = exc


def test_no_acknowledged_commit_is_lost_when_the_postmaster_is_killed(
    durable: EmbeddedCluster,
) -> None:
    # given a cluster with durable settings and a writer committing phone changes
    assert _settings(durable) == {"fsync": "on", "synchronous_commit": "on",
                                  "full_page_writes": "on"}  # fmt: skip
    engine = create_engine(durable.url(), poolclass=NullPool)
    with Session(engine) as s:
        shops = list(s.scalars(select(Customer.id).where(Customer.status == "active")))
        ledger_before = s.scalar(text("SELECT count(*) FROM ledger_entries"))
    writer = Writer(engine, shops)
    writer.start()
    deadline = time.monotonic() + 60
    while len(writer.acked) < 25:
        assert writer.is_alive() and time.monotonic() < deadline, writer.error
        time.sleep(0.01)
    # when the postmaster is killed with SIGKILL while the writer is still committing
    old_pid = kill_postmaster(durable)
    writer.join(timeout=60)
    assert not writer.is_alive() and writer.error is not None
    assert len(writer.acked) < len(shops), "the writer finished before the crash"
    # and the cluster is started again (crash recovery)
    durable.start()
    assert durable.status().pid not in (None, old_pid)
    # then every acknowledged change is there, with its ledger entry
    with Session(engine) as s:
        phones = {i: p for i, p in s.execute(select(Customer.id, Customer.phone))}
        ledger_after = s.scalar(text("SELECT count(*) FROM ledger_entries")) or 0
    engine.dispose()
    lost = [(shop, phone) for shop, phone in writer.acked if phones[shop] != phone]
    assert lost == []
    # at most the one commit in flight at the crash may also have landed (unacknowledged)
    assert ledger_after - (ledger_before or 0) in (len(writer.acked), len(writer.acked) + 1)


def _healthz(client: TestClient) -> tuple[int, Any, str]:
    res = client.get("/healthz")
    return res.status_code, res.json(), res.text


def test_healthz_answers_503_while_the_database_is_down_and_recovers_by_itself(
    durable: EmbeddedCluster, tmp_path: Path
) -> None:
    # given the app serving on the cluster with the application's engine (a pool)
    engine = make_engine(durable.url())
    settings = Settings(app_env="test", data_dir=tmp_path)
    with TestClient(create_app(settings, engine, vault=VAULT)) as client:
        assert _healthz(client)[:2] == (200, {"status": "ok", "database": "ok",
                                              "migrations": "head"})  # fmt: skip
        assert engine.pool.checkedin() == 1  # a pooled connection to a server about to go
        # when the database restarts between two requests
        durable.stop()
        durable.start()
        # then the very next request is answered: the dead pooled connection was replaced
        assert _healthz(client)[0] == 200
        # when the postmaster is killed
        kill_postmaster(durable)
        # then /healthz answers 503 with the short JSON body, no trace of the error
        status, body, raw = _healthz(client)
        assert (status, body) == (503, UNREACHABLE)
        assert "Traceback" not in raw and "psycopg" not in raw and "Error" not in raw
        # when the database comes back, the same app is healthy again within a few seconds
        durable.start()
        back = time.monotonic()
        while (status := _healthz(client)[0]) != 200 and time.monotonic() - back < 5:
            time.sleep(0.1)
        assert status == 200
    engine.dispose()


APPROVE = """
import sys
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool
from domain.access import load_principal
from domain.tickets.approval import approve
from tests.domain.planning_city import NOW, VAULT

url, ticket_id, user_id = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
engine = create_engine(url, poolclass=NullPool, connect_args={"application_name": "approver"})
with sessionmaker(engine).begin() as session:
    approve(session, load_principal(session, user_id), ticket_id, vault=VAULT, now=NOW)
print("applied")
"""
BLOCKED = """SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
             WHERE a.application_name = 'approver' AND NOT l.granted"""
HELD = """SELECT l.relation::regclass::text FROM pg_locks l
          WHERE l.pid = :pid AND l.granted AND l.mode = 'RowExclusiveLock'
            AND l.relation IN ('customers'::regclass, 'ledger_entries'::regclass)"""


@pytest.fixture
def plan_city(pg_cluster: Any) -> Iterator[PlanCity]:
    yield from make_plan_city(pg_cluster, f"faults_{uuid.uuid4().hex[:12]}")


def _submitted_plan(city: PlanCity) -> tuple[int, int, int]:
    """A quarterly re-plan of the busiest depot submitted as a ticket: (ticket, plan,
    shops moved)."""
    depot, _ = city.busiest_day()
    maker = city.principal("delivery_dept")
    with city.sessions.begin() as s:
        request = planning.PlanRequest(mode="quarterly", depot_id=depot, time_limit_s=1.0)
        plan_id = planning.start_route_plan(s, maker, request).id
    assert run_next(city.sessions) is not None
    with city.sessions.begin() as s:
        ticket = planning.submit_plan(s, maker, plan_id, reason=None, vault=PLAN_VAULT, now=NOW)
        moved = s.scalar(select(func.count()).where(RoutePlanItem.plan_id == plan_id)) or 0
        return ticket.id, plan_id, moved


def _outcome(city: PlanCity, ticket_id: int, plan_id: int) -> tuple[Any, ...]:
    with city.sessions() as s:
        ticket, plan = s.get(Ticket, ticket_id), s.get(RoutePlan, plan_id)
        assert ticket is not None and plan is not None
        entries = s.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.ticket_id == ticket_id)
        )
        told = s.scalar(
            select(func.count()).select_from(Notification)
            .where(Notification.ticket_id == ticket_id)
        )  # fmt: skip
        return ticket.status, plan.status, entries, told


def _wait_blocked(city: PlanCity, proc: subprocess.Popen[str]) -> int:
    """The approver's backend pid once it waits for the notifications lock."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        with city.engine.connect() as conn:
            pid = conn.scalar(text(BLOCKED))
        if pid is not None:
            return int(pid)
        time.sleep(0.05)
    raise AssertionError("the approval never reached the notifications")


def _wait_backend_gone(city: PlanCity, pid: int) -> None:
    deadline = time.monotonic() + 60
    query = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
    while True:
        with city.engine.connect() as conn:
            if not conn.scalar(query, {"pid": pid}):
                return
        assert time.monotonic() < deadline, "the killed approver's backend did not end"
        time.sleep(0.05)


def test_a_route_plan_approval_killed_mid_transaction_applies_nothing_then_once(
    plan_city: PlanCity,
) -> None:
    # given a submitted quarterly plan moving many shops
    ticket_id, plan_id, moved = _submitted_plan(plan_city)
    assert moved >= 20, moved
    before = plan_city.assignment()
    checker = plan_city.principal("delivery_dept", 1)
    assert _outcome(plan_city, ticket_id, plan_id) == ("open", "submitted", 0, 0)
    # and an approval in another process, held (by a lock on the notifications) after it
    # has already updated shops and written ledger entries inside its transaction
    with plan_city.engine.connect() as holder:
        holder.execute(text("LOCK TABLE notifications IN SHARE MODE"))
        proc = subprocess.Popen(
            [sys.executable, "-c", APPROVE, plan_city.engine.url.render_as_string(False),
             str(ticket_id), str(checker.user_id)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            backend = _wait_blocked(plan_city, proc)
            with plan_city.engine.connect() as conn:
                held = set(conn.scalars(text(HELD), {"pid": backend}))
            assert held == {"customers", "ledger_entries"}
            # when that process is killed with SIGKILL
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=60)
        holder.rollback()
    _wait_backend_gone(plan_city, backend)
    # then nothing of the plan was applied: the ticket is pending, no shop changed
    assert proc.returncode == -signal.SIGKILL and proc.stdout is not None
    assert proc.stdout.read() == ""
    assert _outcome(plan_city, ticket_id, plan_id) == ("open", "submitted", 0, 0)
    assert plan_city.assignment() == before
    # when approved again, it applies once
    with plan_city.sessions.begin() as s:
        approve(s, checker, ticket_id, vault=PLAN_VAULT, now=NOW)
    status, plan_status, entries, _ = _outcome(plan_city, ticket_id, plan_id)
    assert (status, plan_status) == ("applied", "applied") and entries >= moved
    after = plan_city.assignment()
    assert sum(after[c] != before[c] for c in before) == moved
    # and a third approval is refused and changes nothing
    with plan_city.sessions() as s:
        with pytest.raises(DomainError) as again:
            approve(s, checker, ticket_id, vault=PLAN_VAULT, now=NOW)
        s.rollback()
    assert (again.value.code, again.value.message) == (
        "INVALID",
        "该工单已结束（applied），不能再审批",
    )
    assert _outcome(plan_city, ticket_id, plan_id)[:3] == ("applied", "applied", entries)
    assert plan_city.assignment() == after

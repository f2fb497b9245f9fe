"""Benchmark: bulk approval of 1,000 tickets, and the approval queue over 10,000 open tickets.

Usage: ``python bench/approvals.py`` (no arguments). It starts (or reuses) the bench-only
embedded cluster in ``<data dir>/bench-pg`` on port 54339 with database ``retailgis_bench``
(as ``bench/demo_load.py`` does) and migrates it. It reuses the demo city found there when
it has at least 5,000 shops (the other benchmarks leave 100,000), else loads the
5,000-shop demo city (seed 42, as of 2025-03-18). Then, at a fixed working moment
(Tuesday 2026-11-03 10:00, Asia/Shanghai):

1. bulk approval: 1,000 ``location_change`` tickets opened through ``open_ticket`` by the
   demo's delivery-department user on 1,000 shops (setup, not timed; each point moves
   40-50 m, back and forth across runs), then one ``bulk_approve`` of all of them by a
   second delivery-department user: each ticket is locked, decided and applied (new point,
   version, ledger row). Timed from the call to the end of the commit (``bulk_1000_s``;
   target < 10 s). The statements executed and their driver time are printed too;
2. the queue: 10,000 open ``phone_change`` tickets whose market-manager step is done and
   whose market-department step is active, each started at its own moment of the last
   two days (due times on the working calendar, about half overdue), written with COPY
   (tickets, steps, proposed values; the steps' maker trigger runs as for any insert),
   then ``ANALYZE``. Timed: ``queue(session, market_dept, now, limit=50)`` (the first
   page and the total count), each run in a fresh session from a pooled engine, 3 warm-up
   runs then 60 measured (``queue_p50_ms``; target < 50 ms), with the part spent
   executing the two statements.

Every ticket made here carries ``payload = {"bench": "approvals", ...}``. The applied
location changes stay (closed tickets with ledger rows; the ledger is append-only). The
10,000 queue tickets stay too and are reused by the next run (``QUEUE_MARK`` names their
data set): deleting them costs minutes, as each deleted ticket makes PostgreSQL check
``ledger_entries.ticket_id``, which has no index. Open leftovers of another data set or
of a failed run are deleted before use. Proposed phone values are sealed with a
bench-only vault key (nothing here opens them).

Prints human-readable lines and ends with exactly one JSON line:
``{"bulk_1000_s": ..., "queue_p50_ms": ...}``.
The cluster is stopped at the end only if this script started it.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchdb import bench_database  # noqa: E402
from psycopg.types.json import Jsonb  # noqa: E402
from sqlalchemy import Engine, create_engine, event, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from domain.access import Principal, load_principal  # noqa: E402
from domain.catalogue import field  # noqa: E402
from domain.catalogue.validate import validate_changes  # noqa: E402
from domain.ledger import stored_form  # noqa: E402
from domain.models import Customer, Ticket, User  # noqa: E402
from domain.tickets.approval import bulk_approve  # noqa: E402
from domain.tickets.engine import default_calendar, open_ticket  # noqa: E402
from domain.tickets.queue import queue  # noqa: E402
from domain.values import to_json  # noqa: E402
from domain.vault import Vault  # noqa: E402
from domain.workcal import DEFAULT_TZ  # noqa: E402

MIN_SHOPS = 5_000
AS_OF = dt.date(2025, 3, 18)  # the same city as bench/demo_load.py when one is loaded here
NOW = dt.datetime(2026, 11, 3, 10, 0, tzinfo=DEFAULT_TZ)  # a Tuesday morning
BULK = 1_000
QUEUE_TICKETS = 10_000
WARMUP, RUNS = 3, 60
MARK = {"bench": "approvals"}
# The queue tickets also carry the version of the data set; change it when their generation
# changes, and the next run replaces the kept ones.
QUEUE_MARK = {**MARK, "set": "queue-2"}
VAULT = Vault(b"retailgis-bench-approvals-only-0123456789abcdef")
CHECKER = "bench_delivery_checker"

CITY_SQL = text("""
    SELECT (SELECT count(*) FROM customers),
           (SELECT count(*) FROM customers WHERE status = 'active'),
           (SELECT count(*) FROM users WHERE role IN ('delivery_dept', 'market_dept'))
""")
LEFTOVERS_SQL = text(
    "DELETE FROM tickets WHERE payload @> CAST(:mark AS jsonb) AND type = :type"
    " AND status IN ('open', 'returned')"
)
QUEUE_SET_SQL = text(
    "SELECT count(*) FROM tickets t JOIN ticket_steps s ON s.ticket_id = t.id"
    " WHERE t.payload @> CAST(:mark AS jsonb) AND t.type = 'phone_change' AND t.status = 'open'"
    " AND s.status = 'active' AND s.role = 'market_dept'"
)
RESERVE_IDS_SQL = text(
    "SELECT nextval(pg_get_serial_sequence('tickets', 'id')) FROM generate_series(1, :n)"
)
TICKET_COLS = (
    "id", "type", "status", "title", "maker_id", "customer_id", "region_id", "base_version",
    "payload", "created_at", "updated_at",
)  # fmt: skip
STEP_COLS = (
    "ticket_id", "position", "key", "name", "kind", "applies", "fills", "role", "department",
    "status", "limit_value", "limit_unit", "started_at", "due_at", "decided_at",
    "decided_by_id", "decision",
)  # fmt: skip
CHANGE_COLS = ("ticket_id", "customer_id", "field_key", "old_value", "new_value")


class SqlClock:
    """Counts the statements an engine executes and the time spent in the driver for them."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.count, self.ms = engine, 0, 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def reset(self) -> None:
        self.count, self.ms = 0, 0.0

    def detach(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, *_: Any) -> None:
        conn.info["bench_t0"] = time.perf_counter()

    def _after(self, conn: Any, *_: Any) -> None:
        self.count += 1
        self.ms += (time.perf_counter() - conn.info.pop("bench_t0")) * 1000


def ensure_city(engine: Engine) -> None:
    """A committed demo city of at least MIN_SHOPS shops."""
    with engine.connect() as conn:
        shops, active, city_users = conn.execute(CITY_SQL).one()
    if shops >= MIN_SHOPS and city_users >= 2:
        print(f"data: reusing the demo city found ({shops} shops, {active} active)")
        return
    from domain.demo import load_demo

    print(f"data: loading the {MIN_SHOPS}-shop demo city (found {shops} shops)…")
    started = time.perf_counter()
    with engine.begin() as conn:
        load_demo(conn, shops=MIN_SHOPS, seed=42, as_of=AS_OF)
    print(f"data: loaded and committed in {time.perf_counter() - started:.1f} s")


def remove_open(engine: Engine, type_key: str) -> int:
    """Delete this script's open tickets of a type (slow: see the module docstring)."""
    with engine.begin() as conn:
        return conn.execute(LEFTOVERS_SQL, {"mark": json.dumps(MARK), "type": type_key}).rowcount


def first_user(s: Session, role: str) -> Principal:
    user_id = s.scalar(select(User.id).where(User.role == role).order_by(User.id))
    assert user_id is not None, role
    return load_principal(s, user_id)


def checker(s: Session, like: Principal) -> Principal:
    """A second delivery-department user (maker ≠ checker), created once."""
    user_id = s.scalar(select(User.id).where(User.username == CHECKER))
    if user_id is None:
        user = User(
            username=CHECKER, display_name="配送部复核（基准测试）", role=like.role,
            org_unit_id=like.org_unit_id,
        )  # fmt: skip
        s.add(user)
        s.flush()
        user_id = user.id
    return load_principal(s, user_id)


def free_shops(s: Session, n: int) -> list[Customer]:
    """Active shops without an open location change, in id order."""
    busy = select(Ticket.customer_id).where(
        Ticket.status == "open", Ticket.type == "location_change", Ticket.customer_id.is_not(None)
    )
    found = s.scalars(
        select(Customer)
        .where(Customer.status == "active", Customer.id.not_in(busy))
        .order_by(Customer.id)
        .limit(n)
    ).all()
    assert len(found) == n, f"only {len(found)} shops without an open location change"
    return list(found)


# -- 1. bulk approval ---------------------------------------------------------------------------


def open_location_tickets(engine: Engine) -> tuple[list[int], Principal]:
    """1,000 location changes opened by the delivery department; returns ids and checker."""
    started = time.perf_counter()
    with Session(engine) as s, s.begin():
        maker = first_user(s, "delivery_dept")
        approver = checker(s, maker)
        ids = []
        for shop in free_shops(s, BULK):
            lng, lat = to_json(field("location"), shop.location)["coordinates"]
            step = 0.0004 if shop.version % 2 else -0.0004  # back and forth across runs
            point = {"type": "Point", "coordinates": [lng + step, lat - step]}
            values = validate_changes(s, shop, {"location": point})
            ticket = open_ticket(
                s, maker, type_key="location_change", customer=shop, values=values, vault=VAULT,
                now=NOW - dt.timedelta(hours=1), payload=MARK,
            )  # fmt: skip
            ids.append(ticket.id)
    print(
        f"bulk: opened {len(ids)} location_change tickets in {time.perf_counter() - started:.1f} s"
    )
    return ids, approver


def measure_bulk(engine: Engine) -> float:
    ids, approver = open_location_tickets(engine)
    clock = SqlClock(engine)
    with Session(engine) as s:
        ledger_before = s.execute(text("SELECT count(*) FROM ledger_entries")).scalar_one()
        s.rollback()
        clock.reset()
        started = time.perf_counter()
        outcomes = bulk_approve(s, approver, ids, vault=VAULT, now=NOW)
        s.commit()
        wall = time.perf_counter() - started
        statements, sql_ms = clock.count, clock.ms
        ledger_after = s.execute(text("SELECT count(*) FROM ledger_entries")).scalar_one()
    clock.detach()
    applied = sum(o.ok and o.status == "applied" for o in outcomes)
    failed = [o for o in outcomes if not o.ok]
    print(
        f"bulk: bulk_approve of {len(ids)} by {approver.username} + commit: {wall:.2f} s "
        f"({wall / len(ids) * 1000:.2f} ms per ticket); {applied} applied, "
        f"{ledger_after - ledger_before} ledger rows, {len(failed)} refused"
    )
    print(
        f"bulk: {statements} SQL statements ({statements / len(ids):.1f} per ticket, savepoints "
        f"included) took {sql_ms / 1000:.2f} s in the driver; the rest is SQLAlchemy and Python"
    )
    if applied != len(ids):
        raise SystemExit(f"bulk approval did not apply every ticket: {failed[:3]}")
    return wall


# -- 2. the queue -------------------------------------------------------------------------------


def queue_rows(s: Session) -> tuple[list[tuple[Any, ...]], list[dict[str, Any]], list[Any]]:
    """Tickets, steps and changes of 10,000 phone changes at the market department's step."""
    shops = s.execute(
        text("""
            SELECT c.id, c.shop_name, c.customer_manager_id, c.admin_region_id, c.version,
                   c.phone, (SELECT min(mm.id) FROM users mm
                              WHERE mm.org_unit_id = cm.org_unit_id
                                AND mm.role = 'market_manager')
              FROM customers c
              JOIN users cm ON cm.id = c.customer_manager_id
             WHERE c.status = 'active'
             ORDER BY c.id
        """)
    ).all()
    ids = s.scalars(RESERVE_IDS_SQL, {"n": QUEUE_TICKETS}).all()
    cal, phone = default_calendar(), field("phone")
    tickets, steps, changes = [], [], []
    for k, ticket_id in enumerate(ids):
        shop_id, name, cm, region, version, old, mm = shops[k % len(shops)]
        # the market department's step started at a distinct moment of the last two days
        # (as tickets arrive one by one): about half of them are overdue
        started = NOW - dt.timedelta(seconds=(k * 1237) % (2 * 86_400))
        first_started = started - dt.timedelta(hours=20)
        first_due = cal.add_working_time(first_started, 1, "working_day")
        due = cal.add_working_time(started, 1, "working_day")
        tickets.append(
            (ticket_id, "phone_change", "open", f"订货电话变更：{name}", cm, shop_id, region,
             version, Jsonb(QUEUE_MARK), first_started, started)
        )  # fmt: skip
        common = {
            "ticket_id": ticket_id, "fills": Jsonb([]), "kind": "approve", "limit_value": 1,
            "limit_unit": "working_day",
        }  # fmt: skip
        steps.append(
            {**common, "position": 1, "key": "approve", "name": "市场经理审批", "applies": False,
             "role": "market_manager", "department": "market_manager", "status": "done",
             "started_at": first_started, "due_at": first_due, "decided_at": started,
             "decided_by_id": mm, "decision": "approve"}
        )  # fmt: skip
        steps.append(
            {**common, "position": 2, "key": "apply", "name": "市场部维护", "applies": True,
             "role": "market_dept", "department": "market_dept", "status": "active",
             "started_at": started, "due_at": due, "decided_at": None, "decided_by_id": None,
             "decision": None}
        )  # fmt: skip
        new = f"139{shop_id % 100_000_000:08d}"
        changes.append(
            (ticket_id, shop_id, "phone", Jsonb(stored_form(phone, old, VAULT)),
             Jsonb(stored_form(phone, new, VAULT)))
        )  # fmt: skip
    return tickets, steps, changes


def ensure_queue(engine: Engine) -> None:
    """The 10,000 open queue tickets: kept from an earlier run, else written now."""
    with engine.connect() as conn:
        found = conn.execute(QUEUE_SET_SQL, {"mark": json.dumps(QUEUE_MARK)}).scalar_one()
    if found == QUEUE_TICKETS:
        print(f"queue: reusing the {found} open phone_change tickets of an earlier run")
        return
    started = time.perf_counter()
    removed = remove_open(engine, "phone_change")
    if removed:
        print(
            f"queue: removed {removed} open tickets of an earlier data set in "
            f"{time.perf_counter() - started:.1f} s"
        )
    started = time.perf_counter()
    with Session(engine) as s, s.begin():
        tickets, steps, changes = queue_rows(s)
        raw = s.connection().connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur:
            with cur.copy(f"COPY tickets ({', '.join(TICKET_COLS)}) FROM STDIN") as copy:
                for row in tickets:
                    copy.write_row(row)
            with cur.copy(f"COPY ticket_steps ({', '.join(STEP_COLS)}) FROM STDIN") as copy:
                for step in steps:
                    copy.write_row([step[c] for c in STEP_COLS])
            with cur.copy(f"COPY ticket_changes ({', '.join(CHANGE_COLS)}) FROM STDIN") as copy:
                for row in changes:
                    copy.write_row(row)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE tickets, ticket_steps, ticket_changes"))
    print(
        f"queue: wrote {len(tickets)} open phone_change tickets at the market department's "
        f"step ({len(steps)} steps, {len(changes)} changes, COPY + ANALYZE) in "
        f"{time.perf_counter() - started:.1f} s"
    )


def measure_queue(url: str) -> float:
    engine = create_engine(url, pool_size=2)
    clock = SqlClock(engine)
    try:
        ensure_queue(engine)
        with Session(engine) as s:
            principal = first_user(s, "market_dept")
        timings, sql_timings = [], []
        for run in range(WARMUP + RUNS):
            with Session(engine) as s:
                clock.reset()
                started = time.perf_counter()
                items, total = queue(s, principal, now=NOW, limit=50)
                elapsed = time.perf_counter() - started
            if run >= WARMUP:
                timings.append(elapsed * 1000)
                sql_timings.append(clock.ms)
        overdue = sum(i.overdue for i in items)
        with Session(engine) as s:
            _, overdue_total = queue(s, principal, now=NOW, limit=50, overdue_only=True)
    finally:
        engine.dispose()
    timings.sort()
    p50 = statistics.median(timings)
    p90 = timings[int(len(timings) * 0.9) - 1]
    print(
        f"queue: market_dept first page of 50 (total {total}, {overdue_total} overdue; "
        f"{overdue} overdue on the page) over {RUNS} runs: p50 {p50:.1f} ms, "
        f"p90 {p90:.1f} ms, min {timings[0]:.1f} ms, max {timings[-1]:.1f} ms"
    )
    sql_p50 = statistics.median(sql_timings)
    print(
        f"queue: of which executing the two statements (count, page) p50 {sql_p50:.1f} ms; "
        f"building the page's items (ORM rows, due state on the calendar) the rest"
    )
    return p50


def measure(url: str) -> dict[str, float]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        ensure_city(engine)
        removed = remove_open(engine, "location_change")
        if removed:
            print(f"bulk: removed {removed} open location_change tickets of a failed run")
        bulk_s = measure_bulk(engine)
        queue_ms = measure_queue(url)
    finally:
        engine.dispose()
    return {"bulk_1000_s": round(bulk_s, 2), "queue_p50_ms": round(queue_ms, 1)}


def main() -> None:
    with bench_database() as url:
        figures = measure(url)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

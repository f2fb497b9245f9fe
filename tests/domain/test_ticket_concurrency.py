"""Concurrent decisions on a committed city: threads, each with its own connection and
transaction, released together by a barrier so the calls really overlap.

The decision services lock the ticket row first (then the customer), so concurrent
approvals serialise: one wins and applies the change once, the rest see a decided ticket;
two tickets built on the same version end one applied, one stale.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from domain.access import Principal, load_principal
from domain.catalogue import field
from domain.catalogue.validate import validate_changes
from domain.customers.update import update_customer
from domain.demo import load_demo
from domain.errors import DomainError
from domain.models import (
    Customer,
    DeliveryRoute,
    LedgerEntry,
    Notification,
    Ticket,
    TicketChange,
    TicketStep,
    User,
)
from domain.tickets.decisions import approve_ticket
from domain.tickets.engine import open_ticket
from domain.tickets.proposals import propose_route_assignment
from domain.values import to_json
from domain.vault import Vault
from domain.workcal import DEFAULT_TZ
from tests.domain.conftest import AS_OF

NOW = dt.datetime(2026, 11, 3, 9, 0, tzinfo=DEFAULT_TZ)
LATER = NOW + dt.timedelta(hours=1)
CHECKERS = 50


@pytest.fixture
def city_engine(fresh_db_url: str) -> Iterator[Engine]:
    """A private database holding a committed 300-shop demo city."""
    eng = create_engine(fresh_db_url, poolclass=NullPool)
    with eng.begin() as conn:
        load_demo(conn, shops=300, seed=7, as_of=AS_OF)
    yield eng
    eng.dispose()


def run_together(calls: list[Callable[[Session], Any]], engine: Engine) -> list[Any]:
    """Run each call in its own thread, session and transaction, all released at once.

    Returns per call its result, the DomainError code, or the unexpected exception.
    """
    barrier = threading.Barrier(len(calls), timeout=60)

    def one(call: Callable[[Session], Any]) -> Any:
        try:
            with Session(engine) as s, s.begin():
                s.connection()  # connected and in a transaction before the start signal
                barrier.wait()
                return call(s)
        except DomainError as err:
            return err.code
        except Exception as exc:  # reported: the test fails on it
            return exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(one, calls))


def add_users(s: Session, like: Principal, n: int, prefix: str) -> list[Principal]:
    users = [
        User(
            username=f"{prefix}{i:02d}", display_name=f"审核员{i}", role=like.role,
            org_unit_id=like.org_unit_id,
        )
        for i in range(n)
    ]  # fmt: skip
    s.add_all(users)
    s.flush()
    return [load_principal(s, u.id) for u in users]


def first_user(s: Session, role: str) -> Principal:
    user_id = s.scalar(select(User.id).where(User.role == role).order_by(User.id))
    assert user_id is not None
    return load_principal(s, user_id)


def active_shops(s: Session, n: int) -> list[Customer]:
    found = s.scalars(
        select(Customer)
        .where(Customer.status == "active", Customer.phone.is_not(None))
        .order_by(Customer.id)
        .limit(n)
    ).all()
    assert len(found) == n
    return list(found)


def ledger_rows(s: Session, customer_id: int) -> list[tuple[str, int | None, str]]:
    rows = s.execute(
        select(LedgerEntry.field_key, LedgerEntry.ticket_id, LedgerEntry.source)
        .where(LedgerEntry.customer_id == customer_id)
        .order_by(LedgerEntry.id)
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_fifty_checkers_and_the_maker_approving_at_once_apply_the_change_once(
    city_engine: Engine, vault: Vault
) -> None:
    # given a location change opened by a delivery-department user, at the delivery
    # department's applying step, and fifty more users of that department
    with Session(city_engine) as s, s.begin():
        maker = first_user(s, "delivery_dept")
        checkers = add_users(s, maker, CHECKERS, "delivery_")
        (shop,) = active_shops(s, 1)
        lng, lat = to_json(field("location"), shop.location)["coordinates"]
        moved = {"type": "Point", "coordinates": [lng + 0.0005, lat + 0.0003]}
        values = validate_changes(s, shop, {"location": moved})
        ticket = open_ticket(
            s, maker, type_key="location_change", customer=shop, values=values, vault=vault,
            now=NOW,
        )  # fmt: skip
        ticket_id, shop_id, version = ticket.id, shop.id, shop.version
        assert ledger_rows(s, shop_id) == []
    callers = [maker, *checkers]

    # when the maker and the fifty checkers approve it at the same moment
    def approve(p: Principal) -> Callable[[Session], Any]:
        return lambda s: approve_ticket(s, p, ticket_id, vault=vault, now=LATER).status

    results = run_together([approve(p) for p in callers], city_engine)

    # then exactly one checker succeeded, the maker was forbidden, all others found it decided
    assert results[0] == "FORBIDDEN"
    assert sorted(map(str, results[1:])) == ["INVALID"] * (CHECKERS - 1) + ["applied"]
    winner = callers[results.index("applied")]
    # and the change was applied exactly once: one ledger row, one new version
    with Session(city_engine) as s:
        shop = s.get(Customer, shop_id)
        assert shop is not None and shop.version == version + 1
        assert to_json(field("location"), shop.location) == moved
        assert ledger_rows(s, shop_id) == [("location", ticket_id, "ticket")]
        step = s.scalars(select(TicketStep).where(TicketStep.ticket_id == ticket_id)).one()
        assert (step.status, step.decision, step.decided_by_id) == (
            "done", "approve", winner.user_id,
        )  # fmt: skip
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and (ticket.status, ticket.closed_at) == ("applied", LATER)


def test_two_tickets_on_the_same_version_approved_at_once_end_one_applied_one_stale(
    city_engine: Engine, vault: Vault
) -> None:
    # given, on each of five shops, two phone changes proposed on the same version and both
    # approved by the market manager, so both wait at the market department's applying step
    pairs: list[tuple[int, int, int, int]] = []  # shop, version, ticket a, ticket b
    with Session(city_engine) as s, s.begin():
        md = first_user(s, "market_dept")
        (md2,) = add_users(s, md, 1, "market_")
        for shop in active_shops(s, 5):
            cm = load_principal(s, shop.customer_manager_id)  # type: ignore[arg-type]
            mm_id = s.scalar(
                select(User.id).where(
                    User.role == "market_manager", User.org_unit_id == cm.org_unit_id
                )
            )
            mm = load_principal(s, mm_id)  # type: ignore[arg-type]
            ids = []
            for phone in (f"1390000{shop.id:04d}", f"1391111{shop.id:04d}"):
                result = update_customer(
                    s, cm, shop.id, shop.version, {"phone": phone}, vault=vault, now=NOW
                )
                assert result.ticket is not None
                ids.append(result.ticket.id)
                approve_ticket(s, mm, result.ticket.id, vault=vault, now=NOW)
            pairs.append((shop.id, shop.version, ids[0], ids[1]))

    # when two market-department users approve the two tickets of each shop at once
    def approve(p: Principal, ticket_id: int) -> Callable[[Session], Any]:
        return lambda s: approve_ticket(s, p, ticket_id, vault=vault, now=LATER).status

    calls = [approve(p, t) for _, _, a, b in pairs for p, t in ((md, a), (md2, b))]
    results = run_together(calls, city_engine)

    # then for each shop exactly one ticket applied and the other is stale
    assert all(isinstance(r, str) for r in results), results
    with Session(city_engine) as s:
        for k, (shop_id, version, a, b) in enumerate(pairs):
            outcome = results[2 * k : 2 * k + 2]
            assert sorted(outcome) == ["applied", "stale"]
            applied, stale = (a, b) if outcome[0] == "applied" else (b, a)
            shop = s.get(Customer, shop_id)
            assert shop is not None and shop.version == version + 1
            entries = ledger_rows(s, shop_id)
            assert entries == [("phone", applied, "ticket")]
            applied_phone = f"1390000{shop_id:04d}" if applied == a else f"1391111{shop_id:04d}"
            assert shop.phone == applied_phone
            rows = s.execute(select(Ticket.id, Ticket.status).where(Ticket.id.in_([a, b])))
            statuses = {r.id: r.status for r in rows}
            assert statuses == {applied: "applied", stale: "stale"}
            kinds = s.scalars(
                select(Notification.kind).where(Notification.ticket_id.in_([a, b]))
            ).all()
            assert kinds == ["ticket_stale"]


def test_a_decision_sees_the_committed_state_even_when_its_session_read_it_before(
    city_engine: Engine, vault: Vault
) -> None:
    """A transport may load the ticket, its steps and the customer (to show them) before it
    calls the service in the same transaction; the locks must still read the current rows."""
    with Session(city_engine) as s, s.begin():
        md = first_user(s, "market_dept")
        (md2,) = add_users(s, md, 1, "market_")
        (shop,) = active_shops(s, 1)
        cm = load_principal(s, shop.customer_manager_id)  # type: ignore[arg-type]
        mm_id = s.scalar(
            select(User.id).where(User.role == "market_manager", User.org_unit_id == cm.org_unit_id)
        )
        mm = load_principal(s, mm_id)  # type: ignore[arg-type]
        ids = []
        for phone in ("13900007777", "13900008888"):
            result = update_customer(
                s, cm, shop.id, shop.version, {"phone": phone}, vault=vault, now=NOW
            )
            assert result.ticket is not None
            ids.append(result.ticket.id)
            approve_ticket(s, mm, result.ticket.id, vault=vault, now=NOW)
        shop_id, version = shop.id, shop.version
    first, second = ids

    # given a session that has read both tickets, their steps and the customer
    with Session(city_engine) as late:
        shown = [  # held, so they stay in the session's identity map
            late.get(Customer, shop_id),
            *late.scalars(select(Ticket).where(Ticket.id.in_(ids))),
            *late.scalars(select(TicketStep).where(TicketStep.ticket_id.in_(ids))),
        ]
        # when meanwhile another transaction approves the first ticket and commits
        with Session(city_engine) as s, s.begin():
            assert approve_ticket(s, md, first, vault=vault, now=LATER).status == "applied"
        # then the late session finds the first decided, and the second stale
        with pytest.raises(DomainError) as err:
            approve_ticket(late, md2, first, vault=vault, now=LATER)
        assert err.value.code == "INVALID"
        assert approve_ticket(late, md2, second, vault=vault, now=LATER).status == "stale"
        late.commit()
        assert len(shown) == 1 + 2 + 4  # the customer, two tickets, their four steps

    with Session(city_engine) as s:
        shop = s.get(Customer, shop_id)
        assert shop is not None
        assert (shop.phone, shop.version) == ("13900007777", version + 1)
        assert ledger_rows(s, shop_id) == [("phone", first, "ticket")]
        decided = s.scalar(
            select(func.count())
            .select_from(TicketStep)
            .where(TicketStep.ticket_id == first, TicketStep.decided_by_id == md2.user_id)
        )
        assert decided == 0


def test_route_changes_proposed_for_the_same_place_approved_at_once_each_get_a_place(
    city_engine: Engine, vault: Vault
) -> None:
    # given four shops moved one by one onto a route: each ticket proposes the place after
    # the route's last stop, the same place (none is applied yet)
    with Session(city_engine) as s, s.begin():
        planner = first_user(s, "delivery_dept")
        checkers = add_users(s, planner, 4, "delivery_")
        route_id = s.scalar(select(func.min(DeliveryRoute.id)))
        last = s.scalar(
            select(func.max(Customer.delivery_sequence))
            .where(Customer.delivery_route_id == route_id)
        )  # fmt: skip
        shops = s.scalars(
            select(Customer.id)
            .where(Customer.status == "active", Customer.delivery_route_id != route_id)
            .order_by(Customer.id)
            .limit(4)
        ).all()
        ids = [
            propose_route_assignment(
                s, planner, [shop_id], route_id, reason="就近配送", vault=vault, now=NOW
            )[0].id
            for shop_id in shops
        ]  # fmt: skip
        proposed = s.scalars(
            select(TicketChange.new_value).where(
                TicketChange.ticket_id.in_(ids), TicketChange.field_key == "delivery_sequence"
            )
        ).all()
        assert proposed == [(last or 0) + 1] * 4

    # when four checkers approve them at the same moment
    def approve(p: Principal, ticket_id: int) -> Callable[[Session], Any]:
        return lambda s: approve_ticket(s, p, ticket_id, vault=vault, now=LATER).status

    results = run_together([approve(p, t) for p, t in zip(checkers, ids, strict=True)], city_engine)

    # then all four applied (none failed at commit on the route's unique places): the shops
    # hold the four places after the last stop, and each ticket records the place it gave
    assert results == ["applied"] * 4
    with Session(city_engine) as s:
        placed = dict(
            s.execute(
                select(Ticket.id, Customer.delivery_sequence)
                .join(Customer, Customer.id == Ticket.customer_id)
                .where(Ticket.id.in_(ids), Customer.delivery_route_id == route_id)
            ).all()
        )  # fmt: skip
        assert sorted(placed.values()) == [(last or 0) + n for n in (1, 2, 3, 4)]
        held = dict(
            s.execute(
                select(TicketChange.ticket_id, TicketChange.new_value).where(
                    TicketChange.ticket_id.in_(ids), TicketChange.field_key == "delivery_sequence"
                )
            ).all()
        )
        assert held == placed
        for ticket_id in ids:
            entries = s.scalars(
                select(LedgerEntry.field_key).where(LedgerEntry.ticket_id == ticket_id)
            ).all()
            assert sorted(entries) == ["delivery_route", "delivery_sequence"]

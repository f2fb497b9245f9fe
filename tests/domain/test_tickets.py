"""Tickets (工单): due times on the 2026 working calendar, the maker-checker flow, the queue,
refusals that change nothing, stale proposals, return/resubmit/withdraw/reject, bulk
approval and the ticket types file.

Calendar facts used below (chinese_calendar 1.11, the State Council's 2026 schedule):
Spring Festival 2026-02-15..23 off, Saturdays 02-14 and 02-28 worked; National Day
2026-10-01..07 off, Sunday 09-20 and Saturday 10-10 worked (调休). Working periods
08:30-12:00 and 14:00-17:30 Asia/Shanghai, so one working day is 7 h of working time.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import domain.tickets.types as types_module
from domain.access import Principal, load_principal
from domain.customers.update import update_customer
from domain.errors import FORBIDDEN, INVALID, NOT_FOUND, DomainError
from domain.models import (
    Customer,
    LedgerEntry,
    Notification,
    OrgUnit,
    Ticket,
    TicketChange,
    TicketStep,
    User,
)
from domain.tickets.approval import bulk_approve
from domain.tickets.decisions import (
    approve_ticket,
    reject_ticket,
    resubmit_ticket,
    return_ticket,
    withdraw_ticket,
)
from domain.tickets.engine import default_calendar, open_ticket
from domain.tickets.queue import queue
from domain.tickets.types import TYPES_FILE, TicketTypesError, load_types
from domain.vault import Vault
from domain.workcal import DEFAULT_TZ
from tests.domain.conftest import PrincipalFor, snapshot

D = dt.date


def at(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A moment of 2026 in Asia/Shanghai."""
    return dt.datetime(2026, month, day, hour, minute, tzinfo=DEFAULT_TZ)


# Tuesday 2026-11-03 09:00: an ordinary working morning for the flows.
T0 = at(11, 3, 9)


# -- helpers -----------------------------------------------------------------------------------


def shops(session: Session, n: int) -> list[Customer]:
    found = session.scalars(
        select(Customer)
        .where(Customer.status == "active", Customer.phone.is_not(None))
        .order_by(Customer.id)
        .limit(n)
    ).all()
    assert len(found) == n
    return list(found)


def shop_of_another_team(session: Session, shop: Customer) -> Customer:
    """An active shop in another county, so another team, county department and manager."""
    other = session.scalar(
        select(Customer)
        .where(
            Customer.status == "active",
            Customer.phone.is_not(None),
            Customer.admin_region_id != shop.admin_region_id,
        )
        .order_by(Customer.id)
    )
    assert other is not None
    return other


def team_market_manager(session: Session, shop: Customer) -> Principal:
    unit = session.scalar(select(User.org_unit_id).where(User.id == shop.customer_manager_id))
    user_id = session.scalar(
        select(User.id)
        .where(User.role == "market_manager", User.org_unit_id == unit)
        .order_by(User.id)
    )
    assert user_id is not None
    return load_principal(session, user_id)


def county_dept_of(session: Session, shop: Customer) -> Principal:
    user_id = session.scalar(
        select(User.id)
        .join(OrgUnit, OrgUnit.id == User.org_unit_id)
        .where(User.role == "county_dept", OrgUnit.region_id == shop.admin_region_id)
        .order_by(User.id)
    )
    assert user_id is not None
    return load_principal(session, user_id)


def another_user(session: Session, like: Principal, username: str) -> Principal:
    """A second user with the role and org unit of ``like`` (maker ≠ checker at city level)."""
    user = User(
        username=username, display_name=f"测试{username}", role=like.role,
        org_unit_id=like.org_unit_id,
    )  # fmt: skip
    session.add(user)
    session.flush()
    return load_principal(session, user.id)


def steps_of(session: Session, ticket_id: int) -> list[TicketStep]:
    session.expire_all()
    stmt = select(TicketStep).where(TicketStep.ticket_id == ticket_id).order_by(TicketStep.position)
    return list(session.scalars(stmt))


def ledger_of(session: Session, customer_id: int) -> list[LedgerEntry]:
    stmt = (
        select(LedgerEntry).where(LedgerEntry.customer_id == customer_id).order_by(LedgerEntry.id)
    )
    return list(session.scalars(stmt))


def queued(session: Session, principal: Principal, now: dt.datetime, **kw: Any) -> dict[int, Any]:
    """The principal's whole queue by ticket id."""
    items, total = queue(session, principal, now=now, limit=10_000, **kw)
    assert total == len(items)
    return {item.ticket_id: item for item in items}


def frozen(session: Session, customer_id: int) -> tuple[object, ...]:
    """The snapshot plus every step's decision, every ticket's state and the notifications."""
    steps = session.execute(
        select(
            TicketStep.id, TicketStep.status, TicketStep.decision, TicketStep.decided_by_id,
            TicketStep.started_at, TicketStep.due_at,
        ).order_by(TicketStep.id)
    ).all()  # fmt: skip
    tickets = session.execute(
        select(Ticket.id, Ticket.status, Ticket.closed_at, Ticket.updated_at).order_by(Ticket.id)
    ).all()
    changes = session.execute(
        select(TicketChange.id, TicketChange.new_value).order_by(TicketChange.id)
    ).all()
    notes = session.scalar(select(func.count()).select_from(Notification))
    return (*snapshot(session, customer_id), tuple(steps), tuple(tickets), tuple(changes), notes)


def tickets_state(session: Session, tickets: list[Ticket]) -> tuple[object, ...]:
    """These tickets' rows and steps, their customers' snapshots (with the global counts)."""
    ids = [t.id for t in tickets]
    customers = [t.customer_id for t in tickets]
    steps = session.execute(
        select(
            TicketStep.id, TicketStep.status, TicketStep.decision, TicketStep.decided_by_id,
            TicketStep.due_at,
        )
        .where(TicketStep.ticket_id.in_(ids))
        .order_by(TicketStep.id)
    ).all()  # fmt: skip
    rows = session.execute(
        select(Ticket.id, Ticket.status, Ticket.closed_at, Ticket.updated_at)
        .where(Ticket.id.in_(ids))
        .order_by(Ticket.id)
    ).all()
    return (tuple(steps), tuple(rows), *(snapshot(session, c) for c in customers if c))


def propose_phone(
    session: Session, maker: Principal, shop: Customer, phone: str, vault: Vault, now: dt.datetime
) -> Ticket:
    session.refresh(shop)
    result = update_customer(
        session, maker, shop.id, shop.version, {"phone": phone}, vault=vault, reason="客户申请",
        now=now,
    )  # fmt: skip
    assert result.ticket is not None and result.ticket.type == "phone_change"
    assert result.applied == ()
    return result.ticket


def refused(call: Any) -> DomainError:
    with pytest.raises(DomainError) as err:
        call()
    return err.value


def code_of(call: Any) -> str:
    return refused(call).code


# -- due times on the real 2026 calendar --------------------------------------------------------


def test_the_calendar_facts_the_due_times_rely_on() -> None:
    cal = default_calendar()
    assert [cal.is_working_day(D(2026, 10, d)) for d in range(1, 11)] == [False] * 7 + [True] * 3
    assert cal.is_working_day(D(2026, 9, 20)) and D(2026, 9, 20).weekday() == 6
    assert cal.is_working_day(D(2026, 10, 10)) and D(2026, 10, 10).weekday() == 5
    assert [cal.is_working_day(D(2026, 2, d)) for d in range(14, 25)] == (
        [True] + [False] * 9 + [True]
    )
    assert cal.is_working_day(D(2026, 2, 28)) and D(2026, 2, 28).weekday() == 5


@pytest.mark.parametrize(
    ("opened", "due"),
    [
        # the afternoon before National Day: due after it, same working-time offset
        (at(9, 30, 15), at(10, 8, 15)),
        # Friday 10-09 before the swapped working Saturday 10-10
        (at(10, 9, 15), at(10, 10, 15)),
        # Friday 09-18: Saturday 09-19 is off, Sunday 09-20 is worked
        (at(9, 18, 15), at(9, 20, 15)),
        # the working Saturday 02-14 before the Spring Festival: due after it, Tuesday 02-24
        (at(2, 14, 10), at(2, 24, 10)),
        # Friday 02-27 before the swapped working Saturday 02-28
        (at(2, 27, 16), at(2, 28, 16)),
        # an ordinary Friday: due on Monday
        (at(11, 6, 15), at(11, 9, 15)),
    ],
    ids=["national-day", "worked-saturday", "worked-sunday", "spring-festival",
         "worked-saturday-feb", "weekend"],
)  # fmt: skip
def test_a_one_day_step_of_a_proposal_is_due_one_working_day_later(
    city: Session,
    principal_for: PrincipalFor,
    vault: Vault,
    opened: dt.datetime,
    due: dt.datetime,
) -> None:
    # given a customer manager's shop
    (shop,) = shops(city, 1)
    cm = principal_for("customer_manager", of_customer=shop)
    # when the manager proposes a phone change at `opened` (market manager step: 1 working day)
    ticket = propose_phone(city, cm, shop, "13900001111", vault, opened)
    # then the first step runs from `opened` and is due at `due`; the next waits
    first, second = steps_of(city, ticket.id)
    assert (first.role, first.limit_value, first.limit_unit) == ("market_manager", 1, "working_day")
    assert (first.status, first.started_at, first.due_at) == ("active", opened, due)
    assert (second.status, second.started_at, second.due_at) == ("waiting", None, None)


@pytest.mark.parametrize(
    ("opened", "due"),
    [
        (at(11, 3, 10), at(11, 3, 15, 30)),  # crosses the lunch break
        (at(11, 3, 16, 30), at(11, 4, 11)),  # crosses the night: 1 h today, 2.5 h tomorrow
        (at(11, 6, 16, 30), at(11, 9, 11)),  # Friday evening: Monday 11:00
        (at(9, 30, 16, 30), at(10, 8, 11)),  # before National Day: after it
        (at(11, 3, 12, 30), at(11, 3, 17, 30)),  # opened at lunch: counts from 14:00
    ],
    ids=["lunch", "night", "weekend", "national-day", "opened-at-lunch"],
)
def test_a_half_day_step_is_due_after_three_and_a_half_working_hours(
    city: Session, principal_for: PrincipalFor, vault: Vault, opened: dt.datetime, due: dt.datetime
) -> None:
    # given an onboarding ticket (first step: licensing forwards the licence, 0.5 working day)
    maker = principal_for("market_dept")
    (shop,) = shops(city, 1)
    # when it is opened at `opened`
    ticket = open_ticket(
        city, maker, type_key="onboarding", customer=None, values={}, vault=vault, now=opened,
        region_id=shop.admin_region_id,
    )  # fmt: skip
    # then the licensing step is due at `due`
    steps = steps_of(city, ticket.id)
    assert [s.role for s in steps] == [
        "licensing", "customer_manager", "county_dept", "market_dept", "delivery_dept",
        "sales_dept", "sales_dept",
    ]  # fmt: skip
    assert (steps[0].limit_value, steps[0].started_at, steps[0].due_at) == (0.5, opened, due)
    assert all(s.due_at is None for s in steps[1:])


def test_the_emergency_clock_gives_each_step_half_an_hour_of_working_time(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # given a shop and the county department receiving an urgent request at 11:50
    (shop,) = shops(city, 1)
    county = county_dept_of(city, shop)
    market = principal_for("market_dept")
    # when it opens an emergency change
    ticket = open_ticket(
        city, county, type_key="emergency_change", customer=shop,
        values={"phone": "13900002222"}, vault=vault, now=at(11, 3, 11, 50),
    )  # fmt: skip
    # then the market department's form step is due 10 min before lunch + 20 min after: 14:20
    steps = steps_of(city, ticket.id)
    assert [(s.role, s.limit_value, s.limit_unit) for s in steps] == [
        ("market_dept", 1, "half_hour"),
        ("county_dept", 1, "half_hour"),
        ("market_dept", 1, "half_hour"),
    ]
    assert steps[0].due_at == at(11, 3, 14, 20)
    # and when the market department fills the form at 17:20, the county's half hour runs on
    # into the next working morning (no night shift): due 08:50
    approve_ticket(city, market, ticket.id, vault=vault, now=at(11, 3, 17, 20))
    steps = steps_of(city, ticket.id)
    assert (steps[1].status, steps[1].started_at, steps[1].due_at) == (
        "active",
        at(11, 3, 17, 20),
        at(11, 4, 8, 50),
    )


# -- the maker-checker flow and the queue ------------------------------------------------------


def test_a_phone_change_goes_through_the_market_manager_and_market_dept_and_is_applied_once(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # given a shop, its customer manager (the maker), the team's market manager, the market
    # department, and the market manager and customer manager of another team
    (shop,) = shops(city, 1)
    cm = principal_for("customer_manager", of_customer=shop)
    mm = team_market_manager(city, shop)
    md = principal_for("market_dept")
    other = shop_of_another_team(city, shop)
    other_mm = team_market_manager(city, other)
    other_cm = principal_for("customer_manager", of_customer=other)
    old_phone, v0 = shop.phone, shop.version
    ledger_before = len(ledger_of(city, shop.id))

    # when the customer manager proposes a new phone at T0
    ticket = propose_phone(city, cm, shop, "13911112222", vault, T0)

    # then only the team's market manager has it in the queue, due in one working day
    item = queued(city, mm, T0)[ticket.id]
    assert (item.step_name, item.type, item.due_at, item.overdue) == (
        "市场经理审批", "phone_change", at(11, 4, 9), False,
    )  # fmt: skip
    assert item.remaining == dt.timedelta(hours=7)
    for p in (other_mm, md, cm, other_cm):
        assert ticket.id not in queued(city, p, T0)
    # and once the due time has passed, the item is flagged overdue
    late = queued(city, mm, at(11, 4, 9, 1), overdue_only=True)[ticket.id]
    assert late.overdue and late.remaining == -dt.timedelta(minutes=1)

    # when the market manager approves at 10:00
    approve_ticket(city, mm, ticket.id, vault=vault, now=at(11, 3, 10), comment="已核对申请表")
    # then the market department's step is active and queued for it only; nothing applied
    first, second = steps_of(city, ticket.id)
    assert (first.status, first.decision, first.decided_by_id) == ("done", "approve", mm.user_id)
    assert (second.status, second.due_at) == ("active", at(11, 4, 10))
    assert ticket.id in queued(city, md, at(11, 3, 10))
    assert ticket.id not in queued(city, mm, at(11, 3, 10))
    city.refresh(shop)
    assert (shop.phone, shop.version) == (old_phone, v0)

    # when the market department approves at 11:00
    approve_ticket(city, md, ticket.id, vault=vault, now=at(11, 3, 11))
    # then the phone is changed once, with one ledger row naming the ticket
    city.expire_all()
    city.refresh(shop)
    assert (shop.phone, shop.version) == ("13911112222", v0 + 1)
    entries = ledger_of(city, shop.id)[ledger_before:]
    assert [(e.field_key, e.source, e.ticket_id, e.actor_id) for e in entries] == [
        ("phone", "ticket", ticket.id, md.user_id)
    ]
    assert vault.open(entries[0].new_value) == "13911112222"
    assert vault.open(entries[0].old_value) == old_phone
    # and the ticket is applied and closed, and in nobody's queue
    city.refresh(ticket)
    assert (ticket.status, ticket.closed_at) == ("applied", at(11, 3, 11))
    for p in (mm, md, other_mm):
        assert ticket.id not in queued(city, p, at(11, 3, 11))


def test_the_queue_shows_a_county_step_to_that_county_and_a_visit_to_that_manager(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # given the market department proposing a contact person (a customer manager's field)
    (shop,) = shops(city, 1)
    other = shop_of_another_team(city, shop)
    md = principal_for("market_dept")
    county, other_county = county_dept_of(city, shop), county_dept_of(city, other)
    cm = principal_for("customer_manager", of_customer=shop)
    other_cm = principal_for("customer_manager", of_customer=other)
    result = update_customer(
        city, md, shop.id, shop.version, {"contact_person": "赵新"}, vault=vault, now=T0
    )
    ticket = result.ticket
    assert ticket is not None and ticket.type == "change_city"
    assert [(s.role, s.kind, s.applies) for s in steps_of(city, ticket.id)] == [
        ("county_dept", "approve", False),
        ("customer_manager", "approve", False),
        ("customer_manager", "approve", True),
        ("county_dept", "verify", False),
    ]
    # then the shop's county department sees it, another county's does not
    assert ticket.id in queued(city, county, T0)
    assert ticket.id not in queued(city, other_county, T0)
    assert ticket.id not in queued(city, cm, T0)  # not at the manager's step yet
    # and another county's department cannot act on it: not found
    err = refused(lambda: approve_ticket(city, other_county, ticket.id, vault=vault, now=T0))
    assert (err.code, err.field) == (NOT_FOUND, "id")
    # when the county approves, the verification visit is the shop's manager's, no one else's
    approve_ticket(city, county, ticket.id, vault=vault, now=at(11, 3, 10))
    assert queued(city, cm, at(11, 3, 10))[ticket.id].step_name == "客户经理实地核实"
    assert ticket.id not in queued(city, other_cm, at(11, 3, 10))
    assert ticket.id not in queued(city, county, at(11, 3, 10))


# -- refusals change nothing -------------------------------------------------------------------


@pytest.fixture
def proposal(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> tuple[Customer, Ticket, dict[str, Principal]]:
    """A phone change proposed by a shop's customer manager, at the market manager's step."""
    (shop,) = shops(city, 1)
    cm = principal_for("customer_manager", of_customer=shop)
    ticket = propose_phone(city, cm, shop, "13922223333", vault, T0)
    people = {
        "cm": cm,
        "mm": team_market_manager(city, shop),
        "md": principal_for("market_dept"),
        "other_mm": team_market_manager(city, shop_of_another_team(city, shop)),
    }
    return shop, ticket, people


Proposal = tuple[Customer, Ticket, dict[str, Principal]]


def test_the_maker_cannot_approve_the_own_ticket(city: Session, vault: Vault) -> None:
    # given a market manager proposing a phone change: the first step is the market manager's
    (shop,) = shops(city, 1)
    mm = team_market_manager(city, shop)
    ticket = propose_phone(city, mm, shop, "13933334444", vault, T0)
    assert steps_of(city, ticket.id)[0].role == mm.role
    before = frozen(city, shop.id)
    # when the maker approves it
    err = refused(lambda: approve_ticket(city, mm, ticket.id, vault=vault, now=T0))
    # then it is forbidden and nothing changed
    assert (err.code, err.field) == (FORBIDDEN, "id") and "制单人" in err.message
    assert frozen(city, shop.id) == before
    # nor is it in the maker's own queue
    assert ticket.id not in queued(city, mm, T0)


@pytest.mark.parametrize(
    ("who", "code"),
    [("md", FORBIDDEN), ("other_mm", NOT_FOUND), ("cm", FORBIDDEN)],
    ids=["wrong-role", "out-of-scope", "maker"],
)
def test_an_approval_by_someone_not_at_the_step_is_refused(
    city: Session, vault: Vault, proposal: Proposal, who: str, code: str
) -> None:
    shop, ticket, people = proposal
    before = frozen(city, shop.id)
    err = refused(lambda: approve_ticket(city, people[who], ticket.id, vault=vault, now=T0))
    assert (err.code, err.field) == (code, "id")
    assert frozen(city, shop.id) == before


def test_a_decided_ticket_cannot_be_approved_again(
    city: Session, vault: Vault, proposal: Proposal
) -> None:
    # given the ticket fully approved and applied
    shop, ticket, people = proposal
    approve_ticket(city, people["mm"], ticket.id, vault=vault, now=at(11, 3, 10))
    approve_ticket(city, people["md"], ticket.id, vault=vault, now=at(11, 3, 11))
    md2 = another_user(city, people["md"], "md_second")
    before = frozen(city, shop.id)
    # when anyone approves it again (the same checker, another one of the role, the manager)
    for p in (people["md"], md2, people["mm"]):
        err = refused(lambda p=p: approve_ticket(city, p, ticket.id, vault=vault, now=T0))
        # then it is invalid and nothing changed (no second application, no ledger row)
        assert err.code == INVALID and "已结束（applied）" in err.message
        assert frozen(city, shop.id) == before


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_rejection_without_a_reason_is_refused(
    city: Session, vault: Vault, proposal: Proposal, reason: str
) -> None:
    shop, ticket, people = proposal
    before = frozen(city, shop.id)
    err = refused(lambda: reject_ticket(city, people["mm"], ticket.id, reason=reason, now=T0))
    assert (err.code, err.field) == (INVALID, "reason")
    err = refused(lambda: return_ticket(city, people["mm"], ticket.id, reason=reason, now=T0))
    assert (err.code, err.field) == (INVALID, "reason")
    assert frozen(city, shop.id) == before


def test_only_the_maker_may_withdraw(city: Session, vault: Vault, proposal: Proposal) -> None:
    shop, ticket, people = proposal
    before = frozen(city, shop.id)
    for who in ("mm", "md"):
        err = refused(lambda who=who: withdraw_ticket(city, people[who], ticket.id, now=T0))
        assert (err.code, err.field) == (FORBIDDEN, "id")
    assert frozen(city, shop.id) == before


def test_a_step_cannot_fill_a_field_it_does_not_own(
    city: Session, vault: Vault, proposal: Proposal
) -> None:
    # given the market manager's step (it fills nothing)
    shop, ticket, people = proposal
    before = frozen(city, shop.id)
    # when the market manager approves with another phone / a bank account
    err = refused(
        lambda: approve_ticket(
            city, people["mm"], ticket.id, vault=vault, now=T0,
            values={"phone": "13999990000", "bank_account": "6222020200112233445"},
        )
    )  # fmt: skip
    # then it is forbidden on the first such field, and the proposal is untouched
    assert (err.code, err.field) == (FORBIDDEN, "phone")
    assert "phone" in err.message and "bank_account" in err.message
    assert frozen(city, shop.id) == before


def test_the_database_refuses_a_maker_deciding_the_own_step(
    city: Session, vault: Vault, proposal: Proposal
) -> None:
    # given a proposal (the trigger copied the maker onto every step)
    shop, ticket, people = proposal
    makers = city.scalars(select(TicketStep.maker_id).where(TicketStep.ticket_id == ticket.id))
    assert set(makers) == {people["cm"].user_id}
    # and even an attempt to overwrite the step's maker is undone by the trigger
    city.execute(
        text("UPDATE ticket_steps SET maker_id = :mm WHERE ticket_id = :t"),
        {"mm": people["mm"].user_id, "t": ticket.id},
    )
    makers = city.scalars(select(TicketStep.maker_id).where(TicketStep.ticket_id == ticket.id))
    assert set(makers) == {people["cm"].user_id}
    before = frozen(city, shop.id)
    # when code bypassing the service writes the maker as the approver
    with pytest.raises(IntegrityError) as err, city.begin_nested():
        city.execute(
            text(
                "UPDATE ticket_steps SET decided_by_id = maker_id, decision = 'approve',"
                " decided_at = now(), status = 'done' WHERE ticket_id = :t AND position = 1"
            ),
            {"t": ticket.id},
        )
    # then the CHECK constraint refuses it, and nothing changed
    assert isinstance(err.value.orig, psycopg.errors.CheckViolation)
    assert "ck_ticket_steps_maker_checker" in str(err.value.orig)
    assert frozen(city, shop.id) == before


# -- stale proposals ---------------------------------------------------------------------------


def _approve_through(city: Session, ticket: Ticket, people: list[Principal], vault: Vault) -> None:
    for minute, p in enumerate(people):
        approve_ticket(city, p, ticket.id, vault=vault, now=at(11, 3, 14, minute))


def test_of_two_phone_changes_on_the_same_version_only_the_first_approved_applies(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # given two phone changes proposed on the same version of a shop
    (shop,) = shops(city, 1)
    cm = principal_for("customer_manager", of_customer=shop)
    mm, md = team_market_manager(city, shop), principal_for("market_dept")
    v0 = shop.version
    first = propose_phone(city, cm, shop, "13944445555", vault, T0)
    second = propose_phone(city, cm, shop, "13955556666", vault, at(11, 3, 9, 5))
    assert first.base_version == second.base_version == v0
    ledger_before = len(ledger_of(city, shop.id))
    # when both are approved to the end, the second one last
    _approve_through(city, first, [mm, md], vault)
    _approve_through(city, second, [mm, md], vault)
    # then the first is applied, the second stale and closed, the record holds the first
    city.expire_all()
    assert (first.status, second.status) == ("applied", "stale")
    assert second.closed_at is not None
    assert (shop.phone, shop.version) == ("13944445555", v0 + 1)
    entries = ledger_of(city, shop.id)[ledger_before:]
    assert [(e.field_key, e.ticket_id) for e in entries] == [("phone", first.id)]
    # and the maker is told, for the stale one only
    notes = city.scalars(
        select(Notification).where(Notification.ticket_id.in_([first.id, second.id]))
    )
    assert [(n.kind, n.user_id, n.ticket_id) for n in notes] == [
        ("ticket_stale", cm.user_id, second.id)
    ]
    # and the stale ticket is nobody's to decide any more
    assert code_of(lambda: approve_ticket(city, md, second.id, vault=vault, now=T0)) == INVALID


def test_a_direct_edit_after_the_proposal_makes_it_stale(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # given a phone change proposed, then the market department editing the phone directly
    (shop,) = shops(city, 1)
    cm = principal_for("customer_manager", of_customer=shop)
    mm, md = team_market_manager(city, shop), principal_for("market_dept")
    ticket = propose_phone(city, cm, shop, "13966667777", vault, T0)
    update_customer(city, md, shop.id, shop.version, {"phone": "029-88886666"}, vault=vault, now=T0)
    version = shop.version
    # when the proposal is approved to the end
    _approve_through(city, ticket, [mm, md], vault)
    # then it is stale, and the direct edit stands
    city.expire_all()
    assert ticket.status == "stale"
    assert (shop.phone, shop.version) == ("029-88886666", version)
    assert not city.scalars(select(LedgerEntry).where(LedgerEntry.ticket_id == ticket.id)).all()
    note = city.scalars(select(Notification).where(Notification.ticket_id == ticket.id)).one()
    assert (note.kind, note.user_id) == ("ticket_stale", cm.user_id)


# -- return, resubmit, withdraw, reject --------------------------------------------------------


def test_a_returned_ticket_resubmitted_with_a_corrected_value_applies_the_correction(
    city: Session, vault: Vault, proposal: Proposal
) -> None:
    shop, ticket, people = proposal
    cm, mm, md = people["cm"], people["mm"], people["md"]
    # when the market manager returns it
    return_ticket(city, mm, ticket.id, reason="号码与申请表不符", now=at(11, 3, 10))
    # then it waits for the maker, out of the queue, and the maker is told why
    city.refresh(ticket)
    assert ticket.status == "returned"
    assert ticket.id not in queued(city, mm, at(11, 3, 10))
    note = city.scalars(select(Notification).where(Notification.ticket_id == ticket.id)).one()
    assert (note.kind, note.user_id) == ("ticket_returned", cm.user_id)
    assert "号码与申请表不符" in note.text
    later = at(11, 3, 10, 30)
    assert code_of(lambda: approve_ticket(city, mm, ticket.id, vault=vault, now=later)) == INVALID
    assert code_of(lambda: resubmit_ticket(city, mm, ticket.id, vault=vault, now=later)) == (
        FORBIDDEN
    )
    # when the maker resubmits a corrected phone at 16:00
    resubmit_ticket(
        city, cm, ticket.id, vault=vault, now=at(11, 3, 16), values={"phone": "13922223399"}
    )
    # then the same step runs again with a new due time, and the proposal holds the correction
    first = steps_of(city, ticket.id)[0]
    assert (first.status, first.decision, first.started_at, first.due_at) == (
        "active", None, at(11, 3, 16), at(11, 4, 16),
    )  # fmt: skip
    change = city.scalars(select(TicketChange).where(TicketChange.ticket_id == ticket.id)).one()
    assert vault.open(change.new_value) == "13922223399"
    assert ticket.id in queued(city, mm, at(11, 3, 16))
    # when approved to the end, the corrected value is applied
    _approve_through(city, ticket, [mm, md], vault)
    city.expire_all()
    assert (ticket.status, shop.phone) == ("applied", "13922223399")


def test_the_maker_withdraws_and_the_ticket_leaves_the_queue(
    city: Session, vault: Vault, proposal: Proposal
) -> None:
    shop, ticket, people = proposal
    phone = shop.phone
    withdraw_ticket(city, people["cm"], ticket.id, now=at(11, 3, 10))
    first, second = steps_of(city, ticket.id)
    assert (first.status, first.decision, first.decided_by_id) == (
        "done", "withdraw", people["cm"].user_id,
    )  # fmt: skip
    assert second.status == "waiting"
    city.refresh(ticket)
    assert (ticket.status, ticket.closed_at) == ("withdrawn", at(11, 3, 10))
    assert ticket.id not in queued(city, people["mm"], at(11, 3, 10))
    mm, cm = people["mm"], people["cm"]
    assert code_of(lambda: approve_ticket(city, mm, ticket.id, vault=vault, now=T0)) == INVALID
    assert code_of(lambda: withdraw_ticket(city, cm, ticket.id, now=T0)) == INVALID
    city.refresh(shop)
    assert shop.phone == phone


def test_a_rejection_closes_the_ticket_with_the_reason_and_tells_the_maker(
    city: Session, vault: Vault, proposal: Proposal
) -> None:
    shop, ticket, people = proposal
    phone, version = shop.phone, shop.version
    reject_ticket(city, people["mm"], ticket.id, reason=" 非店主本人申请 ", now=at(11, 3, 10))
    first = steps_of(city, ticket.id)[0]
    assert (first.decision, first.comment, first.decided_by_id) == (
        "reject", "非店主本人申请", people["mm"].user_id,
    )  # fmt: skip
    city.refresh(ticket)
    assert (ticket.status, ticket.closed_at) == ("rejected", at(11, 3, 10))
    note = city.scalars(select(Notification).where(Notification.ticket_id == ticket.id)).one()
    assert (note.kind, note.user_id) == ("ticket_rejected", people["cm"].user_id)
    assert "非店主本人申请" in note.text
    city.refresh(shop)
    assert (shop.phone, shop.version) == (phone, version)
    assert ticket.id not in queued(city, people["mm"], at(11, 3, 10))


# -- bulk approval -----------------------------------------------------------------------------


def test_bulk_approval_decides_each_ticket_on_its_own(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # given, for one team: two proposals by its manager, one by the market manager himself,
    # one already rejected; and one proposal from another team
    (shop,) = shops(city, 1)
    cm = principal_for("customer_manager", of_customer=shop)
    mm, md = team_market_manager(city, shop), principal_for("market_dept")
    team = city.scalars(
        select(Customer)
        .where(Customer.customer_manager_id == cm.user_id, Customer.status == "active")
        .order_by(Customer.id)
        .limit(4)
    ).all()
    assert len(team) == 4
    eligible = [
        propose_phone(city, cm, s, f"1397777000{i}", vault, T0) for i, s in enumerate(team[:2])
    ]
    own = propose_phone(city, mm, team[2], "13977770009", vault, T0)
    decided = propose_phone(city, cm, team[3], "13977770008", vault, T0)
    reject_ticket(city, mm, decided.id, reason="重复申请", now=T0)
    other = shop_of_another_team(city, shop)
    foreign = propose_phone(
        city, principal_for("customer_manager", of_customer=other), other, "13977770007", vault, T0
    )
    mixed = [foreign.id, decided.id, own.id, *(t.id for t in eligible)]
    refused_ones = [own, decided, foreign]
    before = tickets_state(city, refused_ones)
    phones = [team[2].phone, team[3].phone, other.phone]

    # when the market manager approves them all at once (one id given twice)
    outcomes = bulk_approve(city, mm, [*mixed, eligible[0].id], vault=vault, now=at(11, 3, 10))

    # then each ticket has its own outcome, once, in id order
    assert [o.ticket_id for o in outcomes] == sorted(mixed)
    assert {o.ticket_id: (o.ok, o.status, o.code) for o in outcomes} == {
        eligible[0].id: (True, "open", None),
        eligible[1].id: (True, "open", None),
        own.id: (False, None, FORBIDDEN),
        decided.id: (False, None, INVALID),
        foreign.id: (False, None, NOT_FOUND),
    }
    # and the eligible ones moved on, the others are untouched (and nothing was applied)
    for t in eligible:
        first, second = steps_of(city, t.id)
        assert (first.decided_by_id, second.status) == (mm.user_id, "active")
    assert tickets_state(city, refused_ones) == before
    # when the market department bulk-approves the two eligible ones, both are applied
    outcomes = bulk_approve(city, md, [t.id for t in eligible], vault=vault, now=at(11, 3, 11))
    assert [(o.ok, o.status) for o in outcomes] == [(True, "applied")] * 2
    city.expire_all()
    assert [s.phone for s in team[:2]] == ["13977770000", "13977770001"]
    assert [team[2].phone, team[3].phone, other.phone] == phones


# -- the ticket types file ---------------------------------------------------------------------

GOOD_STEP = '{ key = "apply", name = "维护", role = "market_dept", limit = 1, applies = true }'


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ('{ key = "a", name = "甲", role = "janitor", limit = 1, applies = true }',
         "[demo] step 'a': unknown role 'janitor'"),
        ('{ key = "a", name = "甲", role = "market_dept", limit = 1, kind = "vote", '
         'applies = true }', "[demo] step 'a': unknown kind 'vote'"),
        ('{ key = "a", name = "甲", role = "market_dept", limit = 1, '
         'fills = ["phone", "shoe_size"], applies = true }',
         "[demo] step 'a': unknown fields ['shoe_size']"),
        ('{ key = "a", name = "甲", role = "market_dept", limit = 1 }',
         "[demo] needs steps with exactly one `applies`"),
        (f'{GOOD_STEP}, {GOOD_STEP}', "[demo] needs steps with exactly one `applies`"),
        ('{ key = "a", name = "甲", role = "market_dept", limit = 0, applies = true }',
         "[demo] step 'a': limit must be positive"),
        ('{ key = "a", name = "甲", role = "market_dept", applies = true }',
         "[demo] step 'a': limit must be positive"),
    ],
    ids=["role", "kind", "field", "no-applies", "two-applies", "zero-limit", "no-limit"],
)  # fmt: skip
def test_a_bad_types_file_is_refused_naming_the_file_and_the_place(
    tmp_path: Path, steps: str, message: str
) -> None:
    path = tmp_path / "bad_types.toml"
    path.write_text(
        f'[demo]\nname = "示例"\nclock = "working_day"\nsteps = [{steps}]\n', encoding="utf-8"
    )
    with pytest.raises(TicketTypesError) as err:
        load_types(path)
    assert str(err.value) == f"bad_types.toml: {message}"


def test_an_empty_type_and_an_unknown_clock_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad_types.toml"
    path.write_text('[demo]\nname = "示例"\nsteps = []\n', encoding="utf-8")
    with pytest.raises(TicketTypesError, match=r"^bad_types\.toml: \[demo\] needs steps"):
        load_types(path)
    path.write_text(f'[demo]\nname = "示例"\nclock = "moon"\nsteps = [{GOOD_STEP}]\n')
    with pytest.raises(TicketTypesError, match=r"^bad_types\.toml: \[demo\] unknown clock 'moon'"):
        load_types(path)


def test_the_shipped_types_file_loads_with_one_applying_step_per_type() -> None:
    types = load_types()
    assert set(types) == {
        "onboarding", "change_city", "change_county", "phone_change", "location_change",
        "route_change", "bulk_change", "emergency_change", "credit_rating",
        "classification_recompute", "route_plan", "visit_plan",
    }  # fmt: skip
    assert all(sum(s.applies for s in t.steps) == 1 for t in types.values())
    assert types["emergency_change"].clock == "half_hour"


def test_a_changed_types_file_changes_the_steps_of_new_tickets_only(
    city: Session,
    principal_for: PrincipalFor,
    vault: Vault,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """IT edits the types file; new tickets take the new steps, open ones keep theirs.

    The engine reads the types through ``domain.tickets.types.ticket_type``, which asks the
    cached ``ticket_types()`` of that module. The test replaces that one function with the
    types loaded from a modified copy of the file (the least intrusive seam: the parsing
    under test is the real ``load_types``, and monkeypatch restores the cache afterwards).
    """
    # given a phone change opened under the shipped file
    a, b = shops(city, 2)
    before = propose_phone(
        city, principal_for("customer_manager", of_customer=a), a, "13988880001", vault, T0
    )
    # when IT adds a county review between the market manager and the market department
    county_step = (
        '  { key = "county", name = "县区营销部复核", role = "county_dept", limit = 0.5 },\n'
    )
    original = TYPES_FILE.read_text(encoding="utf-8")
    anchor = '  { key = "apply", name = "市场部维护"'
    assert original.count(anchor) == 1
    path = tmp_path / "types.toml"
    path.write_text(original.replace(anchor, county_step + anchor), encoding="utf-8")
    custom = load_types(path)
    monkeypatch.setattr(types_module, "ticket_types", lambda: custom)
    after = propose_phone(
        city, principal_for("customer_manager", of_customer=b), b, "13988880002", vault, T0
    )
    # then the new ticket has three steps, the open one keeps its two
    assert [(s.role, s.limit_value) for s in steps_of(city, after.id)] == [
        ("market_manager", 1), ("county_dept", 0.5), ("market_dept", 1),
    ]  # fmt: skip
    assert [s.role for s in steps_of(city, before.id)] == ["market_manager", "market_dept"]

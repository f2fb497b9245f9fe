"""The periodic run: escalation of overdue steps to the responsible heads, recurring duties,
notice periods that end by themselves, and the advisory lock that runs it once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from domain.access import Principal, load_principal
from domain.errors import CALENDAR_NOT_COVERED, FORBIDDEN, INVALID, NOT_FOUND, DomainError
from domain.models import Customer, Duty, Notification, OrgUnit, Ticket, TicketStep, User
from domain.tickets.decisions import approve_ticket, return_ticket
from domain.tickets.duties import complete_duty, due_duties, generate_duties
from domain.tickets.engine import default_calendar, open_ticket
from domain.tickets.scheduler import (
    TICK_LOCK_KEY,
    complete_due_notices,
    escalate_overdue,
    tick,
)
from domain.vault import Vault
from domain.workcal import DEFAULT_TZ
from tests.domain.conftest import PrincipalFor

CAL = default_calendar()
# Monday 2026-11-02 09:00 (Nov 2-6 are working days); one working day later is due.
OPENED = dt.datetime(2026, 11, 2, 9, 0, tzinfo=DEFAULT_TZ)
LATER = dt.datetime(2026, 11, 6, 10, 0, tzinfo=DEFAULT_TZ)  # due + 3 wd 1 h for a 1-wd step


def _shop(session: Session, n: int = 0) -> Customer:
    shop = session.scalars(
        select(Customer).where(Customer.status == "active").order_by(Customer.id).offset(n)
    ).first()
    assert shop is not None
    return shop


def _users(session: Session, *where: Any) -> set[int]:
    return set(session.scalars(select(User.id).join(OrgUnit).where(*where)))


def _county_principal(session: Session, region_id: int | None) -> Principal:
    uid = session.scalar(
        select(User.id)
        .join(OrgUnit, OrgUnit.id == User.org_unit_id)
        .where(User.role == "county_dept", OrgUnit.region_id == region_id)
    )
    assert uid is not None
    return load_principal(session, uid)


def _open(
    session: Session, maker: Principal, type_key: str, shop: Customer, vault: Vault
) -> Ticket:
    return open_ticket(
        session, maker, type_key=type_key, customer=shop, values={}, vault=vault, now=OPENED,
        calendar=CAL,
    )  # fmt: skip


def _active(session: Session, ticket: Ticket) -> TicketStep:
    session.expire_all()
    step = session.scalars(
        select(TicketStep).where(TicketStep.ticket_id == ticket.id, TicketStep.status == "active")
    ).one()
    return step


def _notified(session: Session, ticket: Ticket) -> set[int]:
    rows = session.scalars(
        select(Notification.user_id).where(
            Notification.ticket_id == ticket.id, Notification.kind == "escalation"
        )
    )
    return {u for u in rows if u is not None}


# -- escalation ------------------------------------------------------------------------------


def test_overdue_steps_are_escalated_to_the_heads_of_the_responsible_unit(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # given four tickets whose active steps belong to each kind of responsible unit
    shop, other = _shop(city, 0), _shop(city, 1)
    cm = principal_for("customer_manager", of_customer=shop)
    market_dept = principal_for("market_dept")
    phone = _open(city, cm, "phone_change", shop, vault)  # market_manager
    route = _open(city, cm, "route_change", shop, vault)  # delivery_dept (a city dept)
    county_step = _open(city, market_dept, "change_city", shop, vault)  # county_dept
    verify = _open(city, market_dept, "change_city", other, vault)
    approve_ticket(
        city, _county_principal(city, other.admin_region_id), verify.id, vault=vault, now=OPENED,
        calendar=CAL,
    )  # fmt: skip  # now the shop's customer manager verifies
    assert _active(city, verify).role == "customer_manager"
    # when escalating four working days later
    escalated = escalate_overdue(city, now=LATER, calendar=CAL)
    # then each step is escalated once, to its department heads
    assert escalated >= 4
    city_users = (OrgUnit.kind == "city",)
    other_cm = city.get(User, other.customer_manager_id)
    assert other_cm is not None
    expected = {
        phone.id: _users(
            city, User.role == "county_dept", OrgUnit.region_id == shop.admin_region_id
        ),
        route.id: _users(city, User.role == "delivery_dept", *city_users),
        county_step.id: _users(city, User.role == "market_dept", *city_users),
        verify.id: _users(
            city, User.role == "market_manager", User.org_unit_id == other_cm.org_unit_id
        ),
    }
    for ticket_id, heads in expected.items():
        ticket = city.get(Ticket, ticket_id)
        assert ticket is not None and heads
        assert _notified(city, ticket) == heads, ticket.type
        assert _active(city, ticket).escalated_at == LATER
    # and the text names the ticket, the step and the working time overdue
    texts = set(city.scalars(select(Notification.text).where(Notification.ticket_id == phone.id)))
    assert len(texts) == 1  # one message, to each head
    (text_,) = texts
    assert phone.title in text_ and "市场经理审批" in text_
    assert "已超期3个工作日1小时（工作时间）" in text_ and "2026-11-03 09:00" in text_
    # and every overdue active step was escalated: no overdue unescalated step remains
    left = city.scalar(
        select(func.count())
        .select_from(TicketStep)
        .join(Ticket)
        .where(
            TicketStep.status == "active", TicketStep.kind != "notice",
            TicketStep.due_at < LATER, TicketStep.escalated_at.is_(None),
            Ticket.status.in_(("open", "applied")),
        )
    )  # fmt: skip
    assert left == 0


def test_escalation_is_idempotent_and_skips_steps_not_due_or_returned(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # given an overdue step escalated once, a step not yet due and a returned ticket
    shop, other, third = _shop(city, 0), _shop(city, 1), _shop(city, 2)
    cm = principal_for("customer_manager", of_customer=shop)
    overdue = _open(city, cm, "route_change", shop, vault)
    escalate_overdue(city, now=LATER, calendar=CAL)
    fresh = open_ticket(
        city, principal_for("customer_manager", of_customer=other), type_key="route_change",
        customer=other, values={}, vault=vault, now=LATER, calendar=CAL,
    )  # fmt: skip
    returned = _open(city, principal_for("customer_manager", of_customer=third), "route_change",
                     third, vault)  # fmt: skip
    return_ticket(city, principal_for("delivery_dept"), returned.id, reason="资料不全", now=OPENED)
    before = city.scalar(select(func.count()).select_from(Notification))
    # when escalating again a little later
    again = escalate_overdue(city, now=LATER + dt.timedelta(hours=1), calendar=CAL)
    # then nothing new is escalated and nobody is told twice
    assert again == 0
    assert city.scalar(select(func.count()).select_from(Notification)) == before
    assert _active(city, overdue).escalated_at == LATER
    assert _active(city, fresh).escalated_at is None
    assert _active(city, returned).escalated_at is None and not _notified(city, returned)


def test_a_step_restarted_after_a_return_can_be_escalated_again(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # given an escalated step that was returned, resubmitted and is overdue again
    from domain.tickets.decisions import resubmit_ticket

    shop = _shop(city)
    cm = principal_for("customer_manager", of_customer=shop)
    ticket = _open(city, cm, "route_change", shop, vault)
    escalate_overdue(city, now=LATER, calendar=CAL)
    return_ticket(city, principal_for("delivery_dept"), ticket.id, reason="补充材料", now=LATER)
    restarted = LATER + dt.timedelta(hours=1)
    resubmit_ticket(city, cm, ticket.id, vault=vault, now=restarted, calendar=CAL)
    # when escalating before and after its new due time
    assert escalate_overdue(city, now=restarted + dt.timedelta(hours=2), calendar=CAL) == 0
    much_later = dt.datetime(2026, 11, 12, 10, 0, tzinfo=DEFAULT_TZ)
    assert escalate_overdue(city, now=much_later, calendar=CAL) >= 1
    # then the restarted step was escalated a second time
    assert _active(city, ticket).escalated_at == much_later
    escalations = select(func.count()).where(
        Notification.ticket_id == ticket.id, Notification.kind == "escalation"
    )
    assert city.scalar(escalations) == 2 * len(_notified(city, ticket))


# -- recurring duties ------------------------------------------------------------------------


def _duties(session: Session) -> set[tuple[str, str, str, str, dt.date]]:
    rows = session.execute(
        select(Duty.kind, Duty.period, Duty.role, OrgUnit.kind, Duty.due_on).join(OrgUnit)
    )
    return {(k, p, r, str(u), d) for k, p, r, u, d in rows}


def _count_units(session: Session, kind: str, role: str) -> int:
    return (
        session.scalar(
            select(func.count(func.distinct(OrgUnit.id)))
            .join(User, User.org_unit_id == OrgUnit.id)
            .where(OrgUnit.kind == kind, User.role == role, User.is_active.is_(True))
        )
        or 0
    )


def test_duties_of_2026_11_23(city: Session) -> None:
    # given the demo city and no duties
    assert city.scalar(select(func.count()).select_from(Duty)) == 0
    counties = _count_units(city, "county", "county_dept")
    areas = _count_units(city, "market_area", "market_manager")
    assert counties > 1 and areas > 1
    # when generating the duties of Monday 2026-11-23
    created = generate_duties(city, today=dt.date(2026, 11, 23), calendar=CAL)
    # then: the Q4 adjustment (city), the H2 review and the December classification table
    # per county, the November check per market area
    assert created == 1 + 2 * counties + areas
    assert _duties(city) == {
        ("quarterly_adjustment", "2026-Q4", "delivery_dept", "city", dt.date(2026, 12, 31)),
        ("static_review", "2026-H2", "county_dept", "county", dt.date(2026, 12, 31)),
        ("monthly_check", "2026-11", "market_manager", "market_area", dt.date(2026, 11, 30)),
        ("classification_table", "2026-12", "county_dept", "county", dt.date(2026, 12, 3)),
    }
    # when generating again, on the same day or later in the periods
    assert generate_duties(city, today=dt.date(2026, 11, 23), calendar=CAL) == 0
    assert generate_duties(city, today=dt.date(2026, 11, 30), calendar=CAL) == 0
    # then nothing is duplicated
    assert city.scalar(select(func.count()).select_from(Duty)) == created


@pytest.mark.parametrize(
    ("today", "period", "due"),
    [
        (dt.date(2026, 11, 3), "2026-11", dt.date(2026, 11, 3)),  # due today: still this one
        (dt.date(2026, 9, 30), "2026-10", dt.date(2026, 10, 8)),  # 10-03 is National Day
        (dt.date(2026, 10, 5), "2026-10", dt.date(2026, 10, 8)),
        (dt.date(2026, 10, 9), "2026-11", dt.date(2026, 11, 3)),
    ],
)
def test_classification_table_is_due_on_the_3rd_or_the_next_working_day(
    today: dt.date, period: str, due: dt.date
) -> None:
    plans, problems = due_duties(today, CAL)
    plan = next(p for p in plans if p.kind == "classification_table")
    assert (plan.period, plan.due_on, problems) == (period, due, [])


def test_a_year_the_calendar_does_not_cover_skips_only_that_duty() -> None:
    # given 2026-12-10: the next classification table (2027-01) falls in an uncovered year
    with pytest.raises(DomainError) as info:
        CAL.is_working_day(dt.date(2027, 1, 4))
    assert info.value.code == CALENDAR_NOT_COVERED
    # when planning, then the other duties are planned and the skipped one is named
    plans, problems = due_duties(dt.date(2026, 12, 10), CAL)
    assert {p.kind for p in plans} == {"quarterly_adjustment", "static_review", "monthly_check"}
    assert len(problems) == 1 and "2027" in problems[0]


def _duty_state(session: Session, duty_id: int) -> tuple[object, ...]:
    session.expire_all()
    duty = session.get(Duty, duty_id)
    assert duty is not None
    return (duty.done_at, duty.done_by_id)


def test_only_the_duty_role_within_its_unit_completes_it(
    city: Session, principal_for: PrincipalFor
) -> None:
    # given the duties of 2026-11-23 and the classification table of one county
    generate_duties(city, today=dt.date(2026, 11, 23), calendar=CAL)
    owner = principal_for("county_dept")
    duty = city.scalars(
        select(Duty).where(
            Duty.kind == "classification_table", Duty.org_unit_id == owner.org_unit_id
        )
    ).one()
    other_county = city.scalar(
        select(User.id).where(User.role == "county_dept", User.id != owner.user_id)
    )
    assert other_county is not None
    refusals = [
        (load_principal(city, other_county), duty.id, NOT_FOUND),  # another county
        (principal_for("customer_manager"), duty.id, NOT_FOUND),  # below the county
        (principal_for("market_dept"), duty.id, FORBIDDEN),  # city scope, not the role
        (owner, 10**9, NOT_FOUND),
    ]
    before = _duty_state(city, duty.id)
    for principal, duty_id, code in refusals:
        # when someone else tries, then it is refused and nothing changes
        with pytest.raises(DomainError) as info:
            complete_duty(city, principal, duty_id, LATER)
        assert info.value.code == code, principal.role
        assert _duty_state(city, duty.id) == before == (None, None)
    # when the county completes it
    done = complete_duty(city, owner, duty.id, LATER)
    # then it is done by the county user, once
    assert _duty_state(city, done.id) == (LATER, owner.user_id)
    with pytest.raises(DomainError) as info:
        complete_duty(city, owner, duty.id, LATER + dt.timedelta(days=1))
    assert info.value.code == INVALID
    assert _duty_state(city, duty.id) == (LATER, owner.user_id)


# -- notice steps ----------------------------------------------------------------------------


def _in_notice(
    session: Session, principal_for: PrincipalFor, vault: Vault, shop: Customer
) -> tuple[Ticket, TicketStep]:
    """A credit rating whose initial rating is done: its 7-working-day notice is running."""
    ticket = _open(session, principal_for("market_dept"), "credit_rating", shop, vault)
    approve_ticket(
        session, principal_for("licensing"), ticket.id, vault=vault, now=OPENED, calendar=CAL
    )
    step = _active(session, ticket)
    assert step.kind == "notice" and step.due_at == CAL.add_working_time(OPENED, 7, "working_day")
    return ticket, step


def test_a_notice_step_ends_by_itself_when_its_period_is_over(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # given a credit rating in its notice period
    ticket, step = _in_notice(city, principal_for, vault, _shop(city))
    due = step.due_at
    assert due is not None
    # when the run comes a minute before the period ends, then nothing happens
    assert complete_due_notices(city, now=due - dt.timedelta(minutes=1), calendar=CAL) == 0
    assert _active(city, ticket).id == step.id
    # when it comes after the period ended
    now = due + dt.timedelta(minutes=5)
    assert complete_due_notices(city, now=now, calendar=CAL) == 1
    # then the notice step is done without a decision and the final rating starts
    city.expire_all()
    done = city.get(TicketStep, step.id)
    assert done is not None
    assert (done.status, done.decision, done.decided_at, done.decided_by_id) == (
        "done", None, now, None,
    )  # fmt: skip
    final = _active(city, ticket)
    assert final.key == "final" and final.started_at == now
    assert final.due_at == CAL.add_working_time(now, 2, "working_day")
    # and a second run changes nothing
    assert complete_due_notices(city, now=now + dt.timedelta(hours=1), calendar=CAL) == 0


def test_a_notice_step_with_an_open_appeal_is_left_alone(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # given a credit rating in notice with an open appeal
    ticket, step = _in_notice(city, principal_for, vault, _shop(city))
    ticket.payload = {"appeal_open": True}
    city.flush()
    assert step.due_at is not None
    after = step.due_at + dt.timedelta(days=3)
    # when the run comes after the period, then the notice step stays active, not escalated
    assert complete_due_notices(city, now=after, calendar=CAL) == 0
    escalate_overdue(city, now=after, calendar=CAL)
    still = _active(city, ticket)
    assert (still.id, still.status, still.escalated_at) == (step.id, "active", None)
    # when the appeal is settled, then the next run ends it
    ticket.payload = {"appeal_open": False}
    city.flush()
    assert complete_due_notices(city, now=after, calendar=CAL) == 1


# -- the run and its lock --------------------------------------------------------------------


def test_tick_runs_everything_once(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # given an overdue step and a notice period that has ended
    shop, other = _shop(city, 0), _shop(city, 1)
    _open(city, principal_for("customer_manager", of_customer=shop), "route_change", shop, vault)
    _, notice = _in_notice(city, principal_for, vault, other)
    assert notice.due_at is not None
    now = notice.due_at + dt.timedelta(hours=1)
    # when ticking
    report = tick(city, now=now, calendar=CAL)
    # then duties were generated, the notice ended and overdue steps escalated
    assert report.ran and report.problems == ()
    assert report.duties_created > 0 and report.notices_completed == 1
    assert report.steps_escalated >= 1
    # when ticking again in the same transaction (the lock is re-entrant for its holder)
    again = tick(city, now=now, calendar=CAL)
    # then nothing is done twice
    assert (again.ran, again.duties_created, again.notices_completed, again.steps_escalated) == (
        True, 0, 0, 0,
    )  # fmt: skip


def test_tick_skips_while_another_connection_holds_the_lock(engine: Engine) -> None:
    # given one connection holding the run's lock in an open transaction
    with engine.connect() as holder, engine.connect() as other:
        holder.begin()
        assert holder.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": TICK_LOCK_KEY})
        other.begin()
        with Session(bind=other) as session:
            # when another process ticks, then it skips and writes nothing
            report = tick(session, now=LATER, calendar=CAL)
            assert not report.ran and report.duties_created == 0
            assert session.scalar(select(func.count()).select_from(Duty)) == 0
            # when the holder's transaction ends, then the next tick runs
            holder.rollback()
            assert tick(session, now=LATER, calendar=CAL).ran
        other.rollback()


def test_tick_forgets_idempotency_keys_past_their_retention(city: Session) -> None:
    from domain.idempotency import RETENTION
    from domain.models.idempotency import IdempotencyKey

    # given one key older than the retention and one fresh key
    user_id = city.scalar(select(User.id).order_by(User.id))
    assert user_id is not None
    now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=DEFAULT_TZ)
    for key, age in (("old", RETENTION + dt.timedelta(hours=1)), ("fresh", dt.timedelta(hours=1))):
        city.add(IdempotencyKey(user_id=user_id, key=key, operation="updateCustomer",
                                request_hash="h", response="{}", created_at=now - age))  # fmt: skip
    city.flush()
    # when the periodic run ticks
    report = tick(city, now=now, calendar=default_calendar())
    # then only the old key is gone
    assert report.idempotency_keys_purged == 1
    assert list(city.scalars(select(IdempotencyKey.key))) == ["fresh"]

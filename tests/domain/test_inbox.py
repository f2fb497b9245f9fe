"""A user's inbox: counts that agree with the queue, open duties in scope, unread
notifications newest first, and marking only one's own notifications read."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.access import Principal, load_principal
from domain.errors import NOT_FOUND, DomainError
from domain.models import Customer, Notification, OrgUnit, User
from domain.tickets.duties import complete_duty, generate_duties
from domain.tickets.engine import default_calendar, open_ticket
from domain.tickets.inbox import Inbox, inbox, mark_read
from domain.tickets.queue import queue
from domain.vault import Vault
from domain.workcal import DEFAULT_TZ
from tests.domain.conftest import PrincipalFor

CAL = default_calendar()
NOW = dt.datetime(2026, 11, 6, 10, 0, tzinfo=DEFAULT_TZ)  # a Friday morning


def _county_of_a_shop(session: Session) -> tuple[Customer, Principal]:
    shop = session.scalars(
        select(Customer).where(Customer.status == "active").order_by(Customer.id)
    ).first()
    assert shop is not None
    uid = session.scalar(
        select(User.id)
        .join(OrgUnit, OrgUnit.id == User.org_unit_id)
        .where(User.role == "county_dept", OrgUnit.region_id == shop.admin_region_id)
    )
    assert uid is not None
    return shop, load_principal(session, uid)


def _county_step(
    session: Session, maker: Principal, shop: Customer, vault: Vault, opened: dt.datetime
) -> int:
    """A city-initiated change whose first step (1 working day) is the county's."""
    ticket = open_ticket(
        session, maker, type_key="change_city", customer=shop, values={}, vault=vault,
        now=opened, calendar=CAL,
    )  # fmt: skip
    return ticket.id


def _counts(box: Inbox) -> tuple[int, int, int]:
    return box.counts.to_act, box.counts.due_today, box.counts.overdue


def test_counts_agree_with_the_queue(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # given a county department and its inbox now
    shop, county = _county_of_a_shop(city)
    before = inbox(city, county, now=NOW, calendar=CAL)
    # when three county steps arrive: overdue, due later today, due next week
    maker = principal_for("market_dept")
    overdue = _county_step(
        city, maker, shop, vault, dt.datetime(2026, 11, 2, 9, 0, tzinfo=DEFAULT_TZ)
    )
    today = _county_step(
        city, maker, shop, vault, dt.datetime(2026, 11, 5, 11, 0, tzinfo=DEFAULT_TZ)
    )
    later = _county_step(city, maker, shop, vault, NOW)
    box = inbox(city, county, now=NOW, calendar=CAL)
    # then the counts grow by one each
    assert _counts(box) == (
        before.counts.to_act + 3,
        before.counts.due_today + 1,
        before.counts.overdue + 1,
    )
    # and they agree with the whole queue, whose first page the inbox shows
    items, total = queue(city, county, now=NOW, limit=10_000, calendar=CAL)
    midnight = dt.datetime(2026, 11, 7, tzinfo=DEFAULT_TZ)
    assert box.counts.to_act == total
    assert box.counts.overdue == sum(i.overdue for i in items)
    assert box.counts.due_today == sum(
        1 for i in items if i.due_at is not None and NOW <= i.due_at < midnight
    )
    assert [i.step_id for i in box.queue] == [i.step_id for i in items[: len(box.queue)]]
    mine = {i.ticket_id: i for i in box.queue if i.ticket_id in {overdue, today, later}}
    assert mine[overdue].overdue and not mine[today].overdue
    # and a customer manager elsewhere sees none of them
    other = principal_for("customer_manager")
    assert not {i.ticket_id for i in inbox(city, other, now=NOW, calendar=CAL).queue} & set(mine)


def test_open_duties_of_the_role_in_scope(city: Session, principal_for: PrincipalFor) -> None:
    # given the duties of 2026-11-06
    generate_duties(city, today=NOW.date(), calendar=CAL)
    _, county = _county_of_a_shop(city)
    # when the county opens its inbox
    box = inbox(city, county, now=NOW, calendar=CAL)
    # then it sees its own county's half-year review and December classification table
    assert [(d.kind, d.period, d.due_on, d.overdue) for d in box.duties] == [
        ("classification_table", "2026-12", dt.date(2026, 12, 3), False),
        ("static_review", "2026-H2", dt.date(2026, 12, 31), False),
    ]
    assert {d.org_unit_id for d in box.duties} == {county.org_unit_id}
    assert box.counts.open_duties == 2
    # and the delivery department sees the quarterly adjustment, a customer manager nothing
    delivery = inbox(city, principal_for("delivery_dept"), now=NOW, calendar=CAL)
    assert [d.period for d in delivery.duties] == ["2026-Q4"]
    assert inbox(city, principal_for("customer_manager"), now=NOW, calendar=CAL).duties == []
    # when the county completes one, then it leaves the inbox
    complete_duty(city, county, box.duties[0].id, NOW)
    assert [d.kind for d in inbox(city, county, now=NOW, calendar=CAL).duties] == ["static_review"]


def _note(session: Session, user_id: int, text: str, minutes: int, read: bool = False) -> int:
    n = Notification(
        kind="escalation", user_id=user_id, text=text,
        created_at=NOW - dt.timedelta(minutes=minutes), read_at=NOW if read else None,
    )  # fmt: skip
    session.add(n)
    session.flush()
    return n.id


def _read_state(session: Session) -> dict[int, dt.datetime | None]:
    session.expire_all()
    rows = session.execute(select(Notification.id, Notification.read_at))
    return {note_id: read_at for note_id, read_at in rows}


def test_unread_notifications_newest_first_and_only_own_marked_read(
    city: Session, principal_for: PrincipalFor
) -> None:
    # given two unread notifications and a read one for a user, and one for somebody else
    me, other = principal_for("market_dept"), principal_for("delivery_dept")
    old = _note(city, me.user_id, "较早的通知", 30)
    new = _note(city, me.user_id, "最新的通知", 5)
    _note(city, me.user_id, "已读的通知", 1, read=True)
    theirs = _note(city, other.user_id, "别人的通知", 2)
    # when opening the inbox
    box = inbox(city, me, now=NOW, calendar=CAL)
    # then only the own unread ones show, newest first
    assert [(n.id, n.text) for n in box.notifications] == [(new, "最新的通知"), (old, "较早的通知")]
    assert box.counts.unread == 2
    # when marking another user's notification (with an own one), then NOT_FOUND, nothing read
    before = _read_state(city)
    with pytest.raises(DomainError) as info:
        mark_read(city, me, [old, theirs], now=NOW)
    assert info.value.code == NOT_FOUND
    assert _read_state(city) == before
    # when marking the own ones, twice
    assert mark_read(city, me, [old, new], now=NOW) == 2
    assert mark_read(city, me, [old], now=NOW + dt.timedelta(hours=1)) == 0
    # then they are read at the first time, and the inbox has no unread left
    state = _read_state(city)
    assert state[old] == state[new] == NOW and state[theirs] is None
    box = inbox(city, me, now=NOW, calendar=CAL)
    assert box.notifications == [] and box.counts.unread == 0

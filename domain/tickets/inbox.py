"""A user's inbox (待办): what to act on, open recurring duties, unread notifications.

The counts come from the approval queue itself (:func:`domain.tickets.queue.queue`), so
they always agree with the list: *to act on* is the queue's total, *overdue* the steps
past due now, *due today* the steps not yet overdue that will be by the end of today
(local midnight of the calendar's timezone).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from domain.access import Principal
from domain.errors import NOT_FOUND, DomainError
from domain.models import Duty, Notification, OrgUnit
from domain.tickets.duties import units_under
from domain.tickets.queue import QueueItem, queue
from domain.workcal import WorkingCalendar

PAGE = 20
MAX_DUTIES = 50


@dataclass(frozen=True)
class InboxCounts:
    to_act: int
    due_today: int
    overdue: int
    open_duties: int
    unread: int


@dataclass(frozen=True)
class DutyItem:
    id: int
    kind: str
    period: str
    title: str
    org_unit_id: int
    org_unit_name: str
    due_on: dt.date
    overdue: bool


@dataclass(frozen=True)
class NotificationItem:
    id: int
    kind: str
    text: str
    ticket_id: int | None
    created_at: dt.datetime


@dataclass(frozen=True)
class Inbox:
    counts: InboxCounts
    queue: list[QueueItem]
    duties: list[DutyItem]
    notifications: list[NotificationItem]


def _open_duties(session: Session, principal: Principal, today: dt.date) -> list[DutyItem]:
    rows = session.execute(
        select(Duty, OrgUnit.name)
        .join(OrgUnit, OrgUnit.id == Duty.org_unit_id)
        .where(
            Duty.done_at.is_(None),
            Duty.role == principal.role,
            Duty.org_unit_id.in_(units_under(principal.org_unit_id)),
        )
        .order_by(Duty.due_on, Duty.id)
        .limit(MAX_DUTIES)
    ).all()
    return [
        DutyItem(d.id, d.kind, d.period, d.title, d.org_unit_id, name, d.due_on, d.due_on < today)
        for d, name in rows
    ]


def _unread(session: Session, principal: Principal) -> tuple[list[NotificationItem], int]:
    mine = (Notification.user_id == principal.user_id, Notification.read_at.is_(None))
    total = session.scalar(select(func.count()).select_from(Notification).where(*mine)) or 0
    rows = session.scalars(
        select(Notification)
        .where(*mine)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(PAGE)
    )
    items = [NotificationItem(n.id, n.kind, n.text, n.ticket_id, n.created_at) for n in rows]
    return items, total


def inbox(
    session: Session, principal: Principal, *, now: dt.datetime, calendar: WorkingCalendar
) -> Inbox:
    """The principal's inbox at ``now``: counts, the queue's first page, duties, unread."""
    today = now.astimezone(calendar.tz).date()
    midnight = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(0), calendar.tz)
    items, total = queue(session, principal, now=now, limit=PAGE, calendar=calendar)
    _, overdue = queue(session, principal, now=now, overdue_only=True, limit=0)
    _, by_tonight = queue(session, principal, now=midnight, overdue_only=True, limit=0)
    duties = _open_duties(session, principal, today)
    notes, unread = _unread(session, principal)
    counts = InboxCounts(total, by_tonight - overdue, overdue, len(duties), unread)
    return Inbox(counts, items, duties, notes)


def mark_read(
    session: Session, principal: Principal, notification_ids: Collection[int], *, now: dt.datetime
) -> int:
    """Mark the principal's own notifications read; any other id: NOT_FOUND, nothing changed.

    Already read ones keep their time. Returns the number newly marked.
    """
    ids = set(notification_ids)
    if not ids:
        return 0
    own = set(
        session.scalars(
            select(Notification.id).where(
                Notification.id.in_(ids), Notification.user_id == principal.user_id
            )
        )
    )
    if own != ids:
        raise DomainError(NOT_FOUND, "找不到该通知", "ids")
    result = session.execute(
        update(Notification)
        .where(Notification.id.in_(ids), Notification.read_at.is_(None))
        .values(read_at=now)
        .returning(Notification.id)
        .execution_options(synchronize_session="fetch")
    )
    return len(result.all())

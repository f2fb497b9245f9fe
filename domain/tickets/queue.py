"""The approval queue: the active steps a principal may act on, with due and overdue."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.access import Principal
from domain.models import Customer, Ticket, TicketStep
from domain.tickets.engine import default_calendar
from domain.tickets.scope import ticket_scope
from domain.tickets.types import ticket_types
from domain.workcal import WorkingCalendar


@dataclass(frozen=True)
class QueueItem:
    ticket_id: int
    type: str
    type_name: str
    title: str
    status: str
    step_id: int
    step_name: str
    step_kind: str
    started_at: dt.datetime | None
    due_at: dt.datetime | None
    overdue: bool
    remaining: dt.timedelta | None  # working time left; negative when overdue
    customer_id: int | None
    customer_code: str | None
    shop_name: str | None


def queue(
    session: Session,
    principal: Principal,
    *,
    now: dt.datetime,
    type_key: str | None = None,
    overdue_only: bool = False,
    limit: int = 50,
    offset: int = 0,
    calendar: WorkingCalendar | None = None,
) -> tuple[list[QueueItem], int]:
    """A page of the steps awaiting the principal's role, soonest due first, and the total."""
    where = [
        TicketStep.status == "active",
        TicketStep.role == principal.role,
        Ticket.status.in_(("open", "applied")),
        Ticket.maker_id != principal.user_id,
        ticket_scope(principal, own=False),
    ]
    if type_key:
        where.append(Ticket.type == type_key)
    if overdue_only:
        where.append(TicketStep.due_at < now)
    base = (
        select(TicketStep, Ticket, Customer.customer_code, Customer.shop_name)
        .join(Ticket, Ticket.id == TicketStep.ticket_id)
        .outerjoin(Customer, Customer.id == Ticket.customer_id)
        .where(*where)
    )
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.execute(
        base.order_by(TicketStep.due_at.asc().nulls_last(), TicketStep.id)
        .limit(limit)
        .offset(offset)
    ).all()
    cal = calendar or default_calendar()
    names = {k: t.name for k, t in ticket_types().items()}
    items = []
    for step, ticket, code, shop in rows:
        state = cal.due_state(step.due_at, now) if step.due_at else None
        items.append(
            QueueItem(
                ticket_id=ticket.id, type=ticket.type,
                type_name=names.get(ticket.type, ticket.type),
                title=ticket.title, status=ticket.status, step_id=step.id, step_name=step.name,
                step_kind=step.kind, started_at=step.started_at, due_at=step.due_at,
                overdue=bool(state and state.overdue), remaining=state.remaining if state else None,
                customer_id=ticket.customer_id, customer_code=code, shop_name=shop,
            )
        )  # fmt: skip
    return items, total

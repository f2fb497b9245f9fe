"""The approval queue: the active steps a principal may act on, with due and overdue."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from domain.access import Principal
from domain.models import Customer, Ticket, TicketStep
from domain.tickets.engine import default_calendar
from domain.tickets.scope import ticket_scope
from domain.tickets.types import ticket_types
from domain.workcal import WorkingCalendar

IN_QUEUE = ("open", "applied")  # applied tickets may still wait for a verification step


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
    region_id: int | None = None
    # Why the ticket must be opened and decided on its own (None: bulk approval is safe).
    single_reason: str | None = None


def single_review_reason(ticket: Ticket, step: TicketStep, now: dt.datetime) -> str | None:
    """Why a ticket is not offered for bulk approval (which approves without values and
    without looking): a step that fills fields, a warning for the approver (a likely
    coordinate-system mix-up), a notice period still running or with an appeal open, or a
    change of many shops at once (bulk change, classification table, route plan)."""
    payload: dict[str, Any] = ticket.payload or {}
    if step.fills:
        return "本步骤需要填写字段，请逐个办理"
    if payload.get("warnings"):
        return "有提醒需核实（如坐标系可能弄混），请打开工单查看"
    if step.kind == "notice" and (
        (step.due_at is not None and now < step.due_at) or payload.get("appeal_open")
    ):
        return "公示期未满或有申诉待处理"
    if ticket.customer_id is None:
        return "涉及多户客户，请打开工单查看前后对比后审批"
    return None


def _midnight_after(now: dt.datetime, calendar: WorkingCalendar) -> dt.datetime:
    today = now.astimezone(calendar.tz).date()
    return dt.datetime.combine(today + dt.timedelta(days=1), dt.time(0), calendar.tz)


def queue_conditions(
    principal: Principal,
    *,
    now: dt.datetime,
    type_key: str | None = None,
    overdue_only: bool = False,
    due_today: bool = False,
    status: str | None = None,
    region_id: int | None = None,
    calendar: WorkingCalendar | None = None,
) -> list[ColumnElement[bool]]:
    """The queue's WHERE: the principal's active steps in scope, then the filters.
    ``due_today``: not overdue now, but by the end of today (local midnight)."""
    where = [
        TicketStep.status == "active",
        TicketStep.role == principal.role,
        Ticket.status.in_(IN_QUEUE if status is None else (status,)),
        Ticket.maker_id != principal.user_id,
        ticket_scope(principal, own=False),
    ]
    if type_key:
        where.append(Ticket.type == type_key)
    if region_id is not None:
        where.append(Ticket.region_id == region_id)
    if overdue_only:
        where.append(TicketStep.due_at < now)
    if due_today:
        midnight = _midnight_after(now, calendar or default_calendar())
        where.extend((TicketStep.due_at >= now, TicketStep.due_at < midnight))
    return where


def queue(
    session: Session,
    principal: Principal,
    *,
    now: dt.datetime,
    type_key: str | None = None,
    overdue_only: bool = False,
    due_today: bool = False,
    status: str | None = None,
    region_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
    calendar: WorkingCalendar | None = None,
) -> tuple[list[QueueItem], int]:
    """A page of the steps awaiting the principal's role, soonest due first, and the total.

    ``status`` narrows to open tickets (to approve) or applied ones (to verify);
    ``region_id`` to the tickets of one county."""
    cal = calendar or default_calendar()
    where = queue_conditions(
        principal, now=now, type_key=type_key, overdue_only=overdue_only, due_today=due_today,
        status=status, region_id=region_id, calendar=cal,
    )  # fmt: skip
    base = (
        select(TicketStep, Ticket, Customer.customer_code, Customer.shop_name)
        .join(Ticket, Ticket.id == TicketStep.ticket_id)
        .outerjoin(Customer, Customer.id == Ticket.customer_id)
        .where(*where)
    )
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    if limit <= 0:
        return [], total
    rows = session.execute(
        base.order_by(TicketStep.due_at.asc().nulls_last(), TicketStep.id)
        .limit(limit)
        .offset(offset)
    ).all()
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
                region_id=ticket.region_id, single_reason=single_review_reason(ticket, step, now),
            )
        )  # fmt: skip
    return items, total


def queue_type_counts(
    session: Session, principal: Principal, *, now: dt.datetime
) -> dict[str, int]:
    """How many steps of each ticket type await the principal (no other filter)."""
    rows = session.execute(
        select(Ticket.type, func.count())
        .select_from(TicketStep)
        .join(Ticket, Ticket.id == TicketStep.ticket_id)
        .where(*queue_conditions(principal, now=now))
        .group_by(Ticket.type)
    ).all()
    return {kind: n for kind, n in rows}

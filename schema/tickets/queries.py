"""tickets(filter, first, after) and ticket(id): the tickets in the caller's scope."""

from __future__ import annotations

import datetime as dt

import strawberry
from sqlalchemy import ColumnElement, Select, exists, not_, select

from domain.access import Principal
from domain.errors import INVALID, DomainError
from domain.models import Ticket as TicketRow
from domain.models import TicketStep
from domain.models.tickets import TICKET_STATUSES
from domain.tickets.queue import queue_conditions
from domain.tickets.scope import ticket_scope
from schema.context import Info
from schema.pagination import Edge, PageInfo, decode_cursor, encode_cursor, page, page_size
from schema.tickets.loaders import IN_PROGRESS
from schema.tickets.types import Ticket, TicketConnection, ticket_node


@strawberry.input(description="Ticket filters; all given conditions must hold")
class TicketFilter:
    status: str | None = strawberry.field(
        default=None, description="open | returned | approved | applied | rejected | ..."
    )
    type: str | None = strawberry.field(default=None, description="a ticket type key")
    customer_id: int | None = None
    awaiting_me: bool | None = strawberry.field(
        default=None, description="true: the steps awaiting the caller (the approval queue)"
    )
    overdue: bool | None = strawberry.field(
        default=None, description="true: an active step is past its due time"
    )


def overdue_condition(now: dt.datetime) -> ColumnElement[bool]:
    """SQL for Ticket.overdue: an active step past due on a ticket in progress."""
    late = exists().where(
        TicketStep.ticket_id == TicketRow.id,
        TicketStep.status == "active",
        TicketStep.due_at < now,
    )
    return TicketRow.status.in_(IN_PROGRESS) & late


def awaiting_condition(principal: Principal, now: dt.datetime) -> ColumnElement[bool]:
    """SQL for "in the caller's approval queue" (domain.tickets.queue's conditions),
    correlated to the outer ticket: one statement whatever the size of the queue."""
    return exists().where(
        TicketStep.ticket_id == TicketRow.id, *queue_conditions(principal, now=now)
    )


def _conditions(info: Info, principal: Principal, f: TicketFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if f.status is not None:
        if f.status not in TICKET_STATUSES:
            raise DomainError(INVALID, f"未知的工单状态 {f.status[:30]!r}", "filter.status")
        where.append(TicketRow.status == f.status)
    if f.type is not None:
        where.append(TicketRow.type == f.type)
    if f.customer_id is not None:
        where.append(TicketRow.customer_id == f.customer_id)
    if f.overdue is not None:
        late = overdue_condition(info.context.now)
        where.append(late if f.overdue else not_(late))
    if f.awaiting_me is not None:
        mine = awaiting_condition(principal, info.context.now)
        where.append(mine if f.awaiting_me else not_(mine))
    return where


def tickets_query(info: Info, f: TicketFilter | None) -> Select[TicketRow]:
    principal = info.context.require()
    stmt = select(TicketRow).where(ticket_scope(principal))
    if f is not None:
        stmt = stmt.where(*_conditions(info, principal, f))
    return stmt


@strawberry.type
class TicketQueries:
    @strawberry.field(description="Tickets in the caller's scope, newest first")
    def tickets(
        self,
        info: Info,
        filter: TicketFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> TicketConnection:
        size, offset = page_size(first), decode_cursor(after)
        stmt = tickets_query(info, filter)
        session = info.context.session
        rows, has_next, total = page(info, session, stmt, (TicketRow.id.desc(),), size, offset)
        edges = [
            Edge(cursor=encode_cursor(offset + i), node=ticket_node(r)) for i, r in enumerate(rows)
        ]
        return TicketConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=has_next,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=total,
        )

    @strawberry.field(description="One ticket, if in the caller's scope")
    def ticket(self, info: Info, id: int) -> Ticket | None:
        row = info.context.session.scalar(tickets_query(info, None).where(TicketRow.id == id))
        return ticket_node(row) if row is not None else None

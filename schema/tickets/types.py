"""Tickets as seen through the API: steps, proposed changes (personal values masked),
comments and due state. Nested objects come from per-request loaders, batched per page."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import select
from strawberry.scalars import JSON

from domain.models import Ticket as TicketRow
from domain.tickets.types import ticket_types
from schema.context import Info
from schema.pagination import Edge, PageInfo
from schema.tickets.scope import customers_in_scope

if TYPE_CHECKING:
    from schema.customers.types import Customer
    from schema.users import User

UserRef = Annotated["User", strawberry.lazy("schema.users")]
CustomerRef = Annotated["Customer", strawberry.lazy("schema.customers.types")]


async def _user(info: Info, user_id: int | None) -> User | None:
    if user_id is None:
        return None
    return await info.context.loaders["user"].load(user_id)  # type: ignore[no-any-return]


@strawberry.type(description="工单步骤")
class TicketStep:
    id: int
    position: int
    key: str
    name: str
    role: str
    kind: str = strawberry.field(description="approve | verify | notice")
    status: str = strawberry.field(description="waiting | active | done | skipped")
    started_at: dt.datetime | None
    due_at: dt.datetime | None
    decided_at: dt.datetime | None
    decision: str | None = strawberry.field(description="approve | reject | return | withdraw")
    comment: str | None
    _assignee_id: strawberry.Private[int | None]
    _decided_by_id: strawberry.Private[int | None]
    # active on an open (or applied, still verifying) ticket: its due time is running
    _running: strawberry.Private[bool]

    def is_overdue(self, now: dt.datetime) -> bool:
        return self._running and self.due_at is not None and self.due_at < now

    @strawberry.field(description="Active, on a ticket in progress, and past its due time")
    def overdue(self, info: Info) -> bool:
        return self.is_overdue(info.context.now)

    @strawberry.field(description="The user the step is assigned to (none: the role's queue)")
    async def assignee(self, info: Info) -> UserRef | None:
        return await _user(info, self._assignee_id)

    @strawberry.field(description="Who decided the step (none: the maker's own or the system)")
    async def decided_by(self, info: Info) -> UserRef | None:
        return await _user(info, self._decided_by_id)


@strawberry.type(description="A proposed field change: values in JSON form, personal ones masked")
class TicketChange:
    field: str = strawberry.field(description="catalogue key")
    label: str
    customer_id: int | None
    old: JSON | None
    new: JSON | None


@strawberry.type(description="A comment given with a step decision")
class TicketComment:
    step: str
    decision: str | None
    text: str
    at: dt.datetime | None
    _author_id: strawberry.Private[int | None]

    @strawberry.field(description="The decider (none: the maker's own step or the system)")
    async def author(self, info: Info) -> UserRef | None:
        return await _user(info, self._author_id)


@strawberry.type(description="提醒审批人注意的情况（不阻止提交）")
class TicketWarning:
    code: str = strawberry.field(description="LIKELY_CRS_MIXUP：新坐标很可能是坐标系弄混了")
    message: str
    crs: str | None = strawberry.field(description="客户端很可能实际使用的坐标系")
    distance_m: float | None = strawberry.field(description="新旧位置相距（米）")


@strawberry.type(description="工单")
class Ticket:
    id: int
    type: str
    status: str
    title: str
    reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    closed_at: dt.datetime | None
    customer_id: int | None
    maker_id: int
    region_id: int | None
    _payload: strawberry.Private[Any] = None

    @strawberry.field(description="提醒审批人注意的情况，例如坐标系可能弄混")
    def warnings(self, info: Info) -> list[TicketWarning]:
        payload = self._payload
        if payload is _UNREAD:
            payload = info.context.session.scalar(
                select(TicketRow.payload).where(TicketRow.id == self.id)
            )
        return [
            TicketWarning(code=w["code"], message=w["message"], crs=w.get("crs"),
                          distance_m=w.get("distanceM"))
            for w in (payload or {}).get("warnings", [])
        ]  # fmt: skip

    @strawberry.field(description="工单类型名称")
    def type_name(self) -> str:
        kind = ticket_types().get(self.type)
        return kind.name if kind is not None else self.type

    @strawberry.field(description="The customer, if in the caller's scope")
    async def customer(self, info: Info) -> CustomerRef | None:
        if self.customer_id is None:
            return None
        return await customers_in_scope(info.context).load(self.customer_id)

    @strawberry.field(description="制单人")
    async def maker(self, info: Info) -> UserRef:
        return await info.context.loaders["user"].load(self.maker_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The steps in order")
    async def steps(self, info: Info) -> list[TicketStep]:
        return await info.context.loaders["ticket_steps"].load(self.id)  # type: ignore[no-any-return]

    @strawberry.field(description="The proposed changes (old and new values)")
    async def changes(self, info: Info) -> list[TicketChange]:
        return await info.context.loaders["ticket_changes"].load(self.id)  # type: ignore[no-any-return]

    @strawberry.field(description="The comments of the decided steps, in step order")
    async def comments(self, info: Info) -> list[TicketComment]:
        steps: list[TicketStep] = await info.context.loaders["ticket_steps"].load(self.id)
        return [
            TicketComment(
                step=s.name, decision=s.decision, text=s.comment, at=s.decided_at,
                _author_id=s._decided_by_id,
            )
            for s in steps
            if s.comment is not None
        ]  # fmt: skip

    @strawberry.field(description="Whether an active step is past its due time")
    async def overdue(self, info: Info) -> bool:
        steps: list[TicketStep] = await info.context.loaders["ticket_steps"].load(self.id)
        return any(s.is_overdue(info.context.now) for s in steps)


_UNREAD = object()  # a result row without the payload column: read it when asked


def ticket_node(row: TicketRow | Any) -> Ticket:
    """From an ORM row or a result row with the same columns."""
    return Ticket(
        id=row.id, type=row.type, status=row.status, title=row.title, reason=row.reason,
        created_at=row.created_at, updated_at=row.updated_at, closed_at=row.closed_at,
        customer_id=row.customer_id, maker_id=row.maker_id, region_id=row.region_id,
        _payload=getattr(row, "payload", _UNREAD),
    )  # fmt: skip


@strawberry.type
class TicketConnection:
    edges: list[Edge[Ticket]]
    page_info: PageInfo
    total_count: int

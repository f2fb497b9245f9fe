"""The `ticketEvents` subscription: committed ticket changes in the caller's scope, live.

Events come from the database (NOTIFY ticket_events, migration 0006) through the process's
one listener (``api.subscriptions``); the transport authenticates the connection from its
`connection_init` payload and puts the principal into an ``EventsContext``. Each event is
checked against the caller's ticket scope (``domain.tickets.scope.ticket_scope``) with a
short-lived session, so the answer follows the same rule as the `tickets` query.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import strawberry
from graphql import GraphQLError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from strawberry.types import Info as StrawberryInfo

from domain.access import Principal, role_rights
from domain.access.rowsecurity import enter_scope
from domain.models import Ticket as TicketRow
from domain.tickets.scope import ticket_scope
from schema.context import NotAuthenticated

RECHECK_SECONDS = 5.0  # as long as a token stays in the POST endpoint's cache


class CredentialEnded(GraphQLError):
    def __init__(self) -> None:
        super().__init__(
            "访问令牌已撤销或过期，或登录已退出：订阅已结束，请重新登录后再订阅",
            extensions={"code": "UNAUTHENTICATED"},
        )


@dataclass(frozen=True)
class RawTicketEvent:
    """One notification of the `ticket_events` channel, as the trigger sends it."""

    ticket_id: int
    status: str
    type: str
    customer_id: int | None
    region_id: int | None
    maker_id: int | None
    at: dt.datetime

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> RawTicketEvent:
        at = data.get("at")
        when = dt.datetime.fromisoformat(at) if isinstance(at, str) else dt.datetime.now(dt.UTC)
        return cls(
            ticket_id=int(data["ticketId"]), status=str(data["status"]), type=str(data["type"]),
            customer_id=data.get("customerId"), region_id=data.get("regionId"),
            maker_id=data.get("makerId"), at=when,
        )  # fmt: skip


class EventSource(Protocol):
    """The process's fan-out of ticket events: a queue per subscriber while subscribed."""

    def subscribe(self) -> AbstractAsyncContextManager[AsyncIterator[RawTicketEvent]]: ...


@dataclass
class EventsContext:
    """The context of a subscription connection (graphql-transport-ws)."""

    session_factory: Callable[[], Session]
    events: EventSource
    principal: Principal | None = None
    connection_params: dict[str, Any] = field(default_factory=dict)
    # the admin's session cookie sent with the WebSocket handshake (a page of the admin)
    session_cookie: str | None = None
    # The connection's credential checked again (set by the transport): the principal as
    # it is now, or None when the token was revoked or expired or the session ended.
    recheck: Callable[[], Principal | None] | None = None

    def require(self) -> Principal:
        if self.principal is None:
            raise NotAuthenticated()
        return self.principal


EventsInfo = StrawberryInfo[EventsContext, None]


@strawberry.type(description="A committed change of a ticket in the caller's scope")
class TicketEvent:
    ticket_id: int
    status: str
    type: str
    customer_id: int | None
    at: dt.datetime = strawberry.field(description="When the change was made (its transaction)")


def in_scope(ctx: EventsContext, principal: Principal, event: RawTicketEvent) -> bool:
    """The `tickets` query's rule for one ticket; city roles and makers need no query."""
    if role_rights(principal.role).scope == "city" or event.maker_id == principal.user_id:
        return True
    with ctx.session_factory() as session:
        enter_scope(session, principal)  # row-level security backs ticket_scope's subquery
        found = session.scalar(
            select(TicketRow.id).where(TicketRow.id == event.ticket_id, ticket_scope(principal))
        )
        return found is not None


@strawberry.type
class TicketSubscriptions:
    @strawberry.subscription(
        description="Ticket changes in the caller's scope as they are committed "
        "(graphql-transport-ws; authorize in connection_init)"
    )
    async def ticket_events(self, info: EventsInfo) -> AsyncGenerator[TicketEvent, None]:
        ctx = info.context
        if not isinstance(ctx, EventsContext):
            raise NotAuthenticated()
        principal = ctx.require()
        checked = time.monotonic()
        async with ctx.events.subscribe() as events:
            async for event in events:
                if ctx.recheck is not None and time.monotonic() - checked >= RECHECK_SECONDS:
                    # a socket outlives its credential by at most this long: an event is
                    # not delivered on a revoked token or an ended session
                    fresh = await run_in_threadpool(ctx.recheck)
                    if fresh is None:
                        raise CredentialEnded()
                    principal, checked = fresh, time.monotonic()
                if await run_in_threadpool(in_scope, ctx, principal, event):
                    yield TicketEvent(
                        ticket_id=event.ticket_id, status=event.status, type=event.type,
                        customer_id=event.customer_id, at=event.at,
                    )  # fmt: skip

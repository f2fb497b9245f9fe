"""Per-request batch loaders: one query per kind of nested object for a whole page.

The batch functions (``users_by_id`` ...) are shared by the dataloaders and by the fast
path's batch fields (``schema.customers.fast``), so both read the same rows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import ARRAY, BigInteger, ColumnElement, Select, any_, bindparam, func, select
from sqlalchemy.orm import Session
from strawberry.dataloader import DataLoader

from domain.access.rowsecurity import city_wide
from domain.models import Customer, DeliveryRoute, Ticket, User
from schema.customers.extras import history_loader
from schema.places.loaders import place_loaders
from schema.places.types import DeliveryRoute as RouteNode
from schema.places.types import route_node
from schema.tickets.loaders import load_changes, load_steps
from schema.tickets.types import Ticket as TicketNode
from schema.tickets.types import ticket_node
from schema.users import User as UserNode
from schema.users import user_node

V = TypeVar("V")
TICKETS_PER_CUSTOMER = 50


IDS = bindparam("ids", type_=ARRAY(BigInteger))


def one_of(column: ColumnElement[Any] | Any) -> ColumnElement[bool]:
    """``column = ANY(:ids)``: one array parameter, so the SQL text is the same for any
    number of keys (``IN`` would render one placeholder per key: a new statement for
    the driver, never prepared, for every page size)."""
    condition: ColumnElement[bool] = column == any_(IDS)
    return condition


# The statements are built once (building a select costs more than running a small one).
@cache
def _users() -> Select[Any]:
    return select(User).where(one_of(User.id))


@cache
def _routes() -> Select[Any]:
    return select(DeliveryRoute).where(one_of(DeliveryRoute.id))


@cache
def _stops() -> Any:
    return (
        select(Customer.delivery_route_id, func.count())
        .where(one_of(Customer.delivery_route_id))
        .group_by(Customer.delivery_route_id)
    )


@cache
def _tickets() -> Select[Any]:
    ranked = (
        select(
            Ticket,  # with the payload: a ticket's warnings read it
            func.row_number()
            .over(partition_by=Ticket.customer_id, order_by=Ticket.id.desc())
            .label("n"),
        )
        .where(one_of(Ticket.customer_id))
        .subquery()
    )
    newest_first = (ranked.c.customer_id, ranked.c.n)
    return select(ranked).where(ranked.c.n <= TICKETS_PER_CUSTOMER).order_by(*newest_first)


def users_by_id(session: Session, ids: Collection[int]) -> dict[int, UserNode]:
    rows = session.scalars(_users(), {"ids": list(ids)})
    return {r.id: user_node(r) for r in rows}


def routes_by_id(session: Session, ids: Collection[int]) -> dict[int, RouteNode]:
    rows = session.scalars(_routes(), {"ids": list(ids)})
    return {r.id: route_node(r) for r in rows}


def stops_by_route(session: Session, ids: Collection[int]) -> dict[int, int]:
    """The number of customers on each route (the whole route, whatever the caller's scope:
    read city-wide under row-level security; a count, no shop's data)."""
    with city_wide(session):
        counts = session.connection().execute(_stops(), {"ids": list(ids)}).all()
    return {route_id: int(n) for route_id, n in counts}


def tickets_by_customer(session: Session, ids: Collection[int]) -> dict[int, list[TicketNode]]:
    """The latest ``TICKETS_PER_CUSTOMER`` tickets of each customer, newest first."""
    rows = session.connection().execute(_tickets(), {"ids": list(ids)}).all()
    grouped: dict[int, list[TicketNode]] = {k: [] for k in ids}
    for row in rows:
        grouped[row.customer_id].append(ticket_node(row))
    return grouped


def in_order(found: dict[Any, V], keys: Iterable[Any], default: Any = None) -> list[V]:
    return [found.get(k, default) for k in keys]


def make_loaders(session: Session) -> dict[str, DataLoader[Any, Any]]:
    async def users(keys: list[int]) -> list[Any]:
        return in_order(users_by_id(session, keys), keys)

    async def routes(keys: list[int]) -> list[Any]:
        return in_order(routes_by_id(session, keys), keys)

    async def route_stops(keys: list[int]) -> list[int]:
        return in_order(stops_by_route(session, keys), keys, 0)

    async def customer_tickets(keys: list[int]) -> list[list[Any]]:
        return in_order(tickets_by_customer(session, keys), keys)

    async def ticket_steps(keys: list[int]) -> list[list[Any]]:
        return load_steps(session, keys)

    async def ticket_changes(keys: list[int]) -> list[list[Any]]:
        return load_changes(session, keys)

    return {
        "user": DataLoader(users),
        "route": DataLoader(routes),
        "route_stops": DataLoader(route_stops),
        "customer_tickets": DataLoader(customer_tickets),
        "ticket_steps": DataLoader(ticket_steps),
        "ticket_changes": DataLoader(ticket_changes),
        "customer_history": history_loader(session),
        **place_loaders(session),
    }


__all__ = [
    "TICKETS_PER_CUSTOMER",
    "in_order",
    "make_loaders",
    "one_of",
    "routes_by_id",
    "stops_by_route",
    "tickets_by_customer",
    "users_by_id",
]

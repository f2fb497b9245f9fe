"""Per-request batch loaders: one query per kind of nested object for a whole page."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from strawberry.dataloader import DataLoader

from domain.models import Customer, DeliveryRoute, Ticket, User
from schema.customers.extras import history_loader
from schema.places.loaders import place_loaders
from schema.places.types import route_node
from schema.tickets.loaders import load_changes, load_steps
from schema.tickets.types import ticket_node
from schema.users import user_node

K = TypeVar("K")
TICKETS_PER_CUSTOMER = 50


def _by_id(rows: Iterable[Any], keys: Sequence[int], build: Callable[[Any], Any]) -> list[Any]:
    found = {r.id: build(r) for r in rows}
    return [found.get(k) for k in keys]


def make_loaders(session: Session) -> dict[str, DataLoader[Any, Any]]:
    async def users(keys: list[int]) -> list[Any]:
        return _by_id(session.scalars(select(User).where(User.id.in_(keys))), keys, user_node)

    async def routes(keys: list[int]) -> list[Any]:
        rows = session.scalars(select(DeliveryRoute).where(DeliveryRoute.id.in_(keys)))
        return _by_id(rows, keys, route_node)

    async def route_stops(keys: list[int]) -> list[int]:
        counts = dict(
            session.execute(
                select(Customer.delivery_route_id, func.count())
                .where(Customer.delivery_route_id.in_(keys))
                .group_by(Customer.delivery_route_id)
            ).all()
        )
        return [int(counts.get(k, 0)) for k in keys]

    async def customer_tickets(keys: list[int]) -> list[list[Any]]:
        ranked = (
            select(
                Ticket,
                func.row_number()
                .over(partition_by=Ticket.customer_id, order_by=Ticket.id.desc())
                .label("n"),
            )
            .where(Ticket.customer_id.in_(keys))
            .subquery()
        )
        rows = session.execute(select(ranked).where(ranked.c.n <= TICKETS_PER_CUSTOMER)).all()
        grouped: dict[int, list[Any]] = {k: [] for k in keys}
        for row in rows:
            grouped[row.customer_id].append(ticket_node(row))
        return [grouped[k] for k in keys]

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

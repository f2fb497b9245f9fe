"""A shop's place on a delivery route (route, sequence), unique per route: the route row is
locked before a place is checked or taken, so every write placing shops on one route
(direct edits, tickets, onboarding) serialises on it, and a place is checked against every
shop of the route, in the caller's scope or not. The deferred unique (route, sequence)
constraint stays as the last guard; it should never be what answers a user."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.access.rowsecurity import city_wide
from domain.errors import DUPLICATE, DomainError, ValidationFailed
from domain.models import Customer, DeliveryRoute

ROUTE, SEQUENCE = "delivery_route", "delivery_sequence"


def lock_route(session: Session, route_id: int) -> None:
    """Hold the route row until the transaction ends (placements on it serialise)."""
    session.scalar(select(DeliveryRoute.id).where(DeliveryRoute.id == route_id).with_for_update())


def route_end(session: Session, route_id: int, customer_id: int | None) -> int:
    """The next free sequence at the end of the route (the route row is locked)."""
    lock_route(session, route_id)
    with city_wide(session):  # the route's end counts every stop, in scope or not
        last = session.scalar(
            select(func.max(Customer.delivery_sequence)).where(
                Customer.delivery_route_id == route_id, Customer.id != customer_id
            )
        )
    return int(last or 0) + 1


def place_taken(session: Session, route_id: int, sequence: int, customer_id: int | None) -> bool:
    """Whether another shop holds this place (the route row is locked by the caller)."""
    with city_wide(session):  # a place is taken by any shop, in the caller's scope or not
        other = session.scalar(
            select(Customer.id).where(
                Customer.delivery_route_id == route_id,
                Customer.delivery_sequence == sequence,
                Customer.id != customer_id,
            )
        )
    return other is not None


def settle_place(session: Session, customer: Customer, values: MutableMapping[str, Any]) -> None:
    """Before a direct edit of a shop's route or sequence is applied: lock the route it ends
    on; a new route given without a place puts the shop at its end; a place another shop
    holds is refused (``ValidationFailed`` on the sequence), nothing written."""
    if ROUTE not in values and SEQUENCE not in values:
        return
    route_id = values.get(ROUTE, customer.delivery_route_id)
    if route_id is None:
        return
    lock_route(session, route_id)
    if values.get(SEQUENCE) is None:
        if ROUTE in values and route_id != customer.delivery_route_id:
            values[SEQUENCE] = route_end(session, route_id, customer.id)
        return
    sequence = int(values[SEQUENCE])
    if place_taken(session, route_id, sequence, customer.id):
        end = route_end(session, route_id, customer.id)
        raise ValidationFailed(
            [
                DomainError(
                    DUPLICATE,
                    f"送货顺序 {sequence} 已被该线路上的另一家客户占用"
                    f"（线路末尾的空位是 {end}）；调整多家客户的顺序请用线路重排",
                    SEQUENCE,
                )
            ]
        )

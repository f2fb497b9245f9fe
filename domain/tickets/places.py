"""A shop's place on a delivery route when a ticket applies: the place a ticket proposed
(after the route's last stop, when it was proposed) may have been taken since by another
ticket applied first, or by one applying at the same moment. The route row is locked
before the place is checked, so tickets placing shops on one route serialise, and a taken
place moves to the route's new end (recorded on the ticket, so the ledger and the ticket
agree) instead of failing the unique (route, sequence) constraint at commit."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.access.rowsecurity import city_wide
from domain.models import Customer, DeliveryRoute, Ticket, TicketChange
from domain.tickets.engine import record_changes
from domain.vault import Vault


def lock_route(session: Session, route_id: int) -> None:
    """Hold the route row until the transaction ends (placements on it serialise)."""
    session.scalar(select(DeliveryRoute.id).where(DeliveryRoute.id == route_id).with_for_update())


def route_end(session: Session, route_id: int, customer_id: int) -> int:
    """The next free sequence at the end of the route (the route row is locked)."""
    lock_route(session, route_id)
    with city_wide(session):  # the route's end counts every stop, in scope or not
        last = session.scalar(
            select(func.max(Customer.delivery_sequence)).where(
                Customer.delivery_route_id == route_id, Customer.id != customer_id
            )
        )
    return int(last or 0) + 1


def _taken(session: Session, route_id: int, sequence: int, customer_id: int) -> bool:
    with city_wide(session):  # a place is taken by any shop, in the approver's scope or not
        other = session.scalar(
            select(Customer.id).where(
                Customer.delivery_route_id == route_id,
                Customer.delivery_sequence == sequence,
                Customer.id != customer_id,
            )
        )
    return other is not None


def keep_place_on_route(session: Session, ticket: Ticket, vault: Vault) -> None:
    """Before a ticket putting its shop on a route applies: lock the route; a place taken
    meanwhile (or none given) becomes the route's end."""
    changes = {
        c.field_key: c.new_value
        for c in session.scalars(select(TicketChange).where(TicketChange.ticket_id == ticket.id))
    }
    route_id, sequence = changes.get("delivery_route"), changes.get("delivery_sequence")
    if route_id is None or ticket.customer_id is None:
        return
    lock_route(session, route_id)
    if sequence is not None and not _taken(session, route_id, sequence, ticket.customer_id):
        return
    customer = session.get(Customer, ticket.customer_id)
    end = route_end(session, route_id, ticket.customer_id)
    record_changes(session, ticket, customer, {"delivery_sequence": end}, vault)
    session.flush()

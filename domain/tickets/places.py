"""A shop's place on a delivery route when a ticket applies: the place a ticket proposed
(after the route's last stop, when it was proposed) may have been taken since by another
ticket applied first, or by one applying at the same moment. The route row is locked
before the place is checked (``domain.customers.places``), so tickets placing shops on one
route serialise, and a taken place moves to the route's new end (recorded on the ticket,
so the ledger and the ticket agree) instead of failing the unique (route, sequence)
constraint at commit; a ticket re-placing a shop on its own route whose place was taken
goes stale instead."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.customers.places import lock_route, place_taken, route_end
from domain.models import Customer, Ticket, TicketChange
from domain.tickets.engine import record_changes
from domain.vault import Vault


def keep_place_on_route(session: Session, ticket: Ticket, vault: Vault) -> bool:
    """Before a ticket placing its shop on a route applies: lock the route. A ticket moving
    the shop to a route whose place was taken meanwhile (or that gave none) puts it at the
    route's end. A ticket changing only the shop's sequence on its route cannot do that
    (its point is the place): False when the place was taken, and nothing may apply."""
    changes = {
        c.field_key: c.new_value
        for c in session.scalars(select(TicketChange).where(TicketChange.ticket_id == ticket.id))
    }
    route_id, sequence = changes.get("delivery_route"), changes.get("delivery_sequence")
    if ticket.customer_id is None:
        return True
    if route_id is None:
        if "delivery_route" in changes or sequence is None:
            return True  # leaves its route, or does not touch it
        customer = session.get(Customer, ticket.customer_id)
        if customer is None or customer.delivery_route_id is None:
            return True  # the record's own checks answer
        lock_route(session, customer.delivery_route_id)
        return not place_taken(session, customer.delivery_route_id, sequence, customer.id)
    lock_route(session, route_id)
    if sequence is not None and not place_taken(session, route_id, sequence, ticket.customer_id):
        return True
    customer = session.get(Customer, ticket.customer_id)
    end = route_end(session, route_id, ticket.customer_id)
    record_changes(session, ticket, customer, {"delivery_sequence": end}, vault)
    session.flush()
    return True

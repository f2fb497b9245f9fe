"""Which tickets a principal sees and acts on, as SQL: one rule for decisions, queues,
lists and live events.

A ticket is in scope when its customer is in the principal's customer scope; a ticket
without a customer (bulk, classification) is seen by the city roles and, for its county,
by the county roles; with ``own``, the principal also sees the tickets they made.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import Session

from domain.access import Principal, customer_scope, role_rights
from domain.models import Customer, Ticket


def ticket_scope(principal: Principal, *, own: bool = True) -> ColumnElement[bool]:
    scope = role_rights(principal.role).scope
    if scope == "city":
        return true()
    of_customer = Ticket.customer_id.in_(select(Customer.id).where(customer_scope(principal)))
    customer_less: ColumnElement[bool] = false()
    if scope == "county" and principal.region_id is not None:
        customer_less = and_(Ticket.customer_id.is_(None), Ticket.region_id == principal.region_id)
    made = Ticket.maker_id == principal.user_id if own else false()
    return or_(of_customer, customer_less, made)


def in_ticket_scope(session: Session, principal: Principal, ticket: Ticket) -> bool:
    """Whether the principal may act on the ticket (the maker's own making not counted)."""
    found = session.scalar(
        select(Ticket.id).where(Ticket.id == ticket.id, ticket_scope(principal, own=False))
    )
    return found is not None

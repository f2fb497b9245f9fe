"""Which tickets a caller sees, as SQL (the rule of ``domain.tickets.decisions.in_ticket_scope``
for a whole list), and a loader of the tickets' customers that applies the customer scope.

A ticket is in scope when its customer is in the caller's customer scope; a ticket without
a customer (bulk, classification) is seen by the city roles and, for its county, by the
county roles; and the caller always sees the tickets they made.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from strawberry.dataloader import DataLoader

from domain.access import Principal, customer_scope, role_rights
from domain.models import Customer as CustomerRow
from domain.models import Ticket
from schema.context import Context
from schema.customers.types import Customer, customer_node

CUSTOMERS_IN_SCOPE = "ticket_customers_in_scope"


def ticket_scope(principal: Principal) -> ColumnElement[bool]:
    scope = role_rights(principal.role).scope
    if scope == "city":
        return true()
    of_customer = Ticket.customer_id.in_(select(CustomerRow.id).where(customer_scope(principal)))
    customer_less: ColumnElement[bool] = false()
    if scope == "county" and principal.region_id is not None:
        customer_less = and_(Ticket.customer_id.is_(None), Ticket.region_id == principal.region_id)
    return or_(of_customer, customer_less, Ticket.maker_id == principal.user_id)


def customers_in_scope(ctx: Context) -> DataLoader[int, Customer | None]:
    """The request's loader of customers by id, None for one outside the caller's scope."""
    loader: DataLoader[int, Customer | None] | None = ctx.loaders.get(CUSTOMERS_IN_SCOPE)
    if loader is None:
        principal = ctx.require()

        async def load(keys: list[int]) -> list[Customer | None]:
            rows: Any = ctx.session.scalars(
                select(CustomerRow).where(CustomerRow.id.in_(keys), customer_scope(principal))
            )
            found = {r.id: customer_node(r) for r in rows}
            return [found.get(k) for k in keys]

        loader = DataLoader(load)
        ctx.loaders[CUSTOMERS_IN_SCOPE] = loader
    return loader

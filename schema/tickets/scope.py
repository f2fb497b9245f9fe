"""A loader of the tickets' customers that applies the customer scope. Which tickets a
caller sees is the domain's rule: ``domain.tickets.scope.ticket_scope``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from strawberry.dataloader import DataLoader

from domain.access import customer_scope
from domain.models import Customer as CustomerRow
from schema.context import Context
from schema.customers.types import Customer, customer_node

CUSTOMERS_IN_SCOPE = "ticket_customers_in_scope"


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

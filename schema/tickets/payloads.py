"""Ticket mutation payloads and the helper that runs a domain service in a savepoint."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import strawberry

from domain.errors import DomainError
from schema.context import Context
from schema.customers.types import Customer
from schema.errors import UserError, user_errors
from schema.tickets.scope import CUSTOMERS_IN_SCOPE
from schema.tickets.types import Ticket

T = TypeVar("T")

# Accepted on every ticket mutation; the endpoint will keep answers by key (not yet).
IdempotencyKey = Annotated[
    str | None,
    strawberry.argument(description="a client key to repeat a request safely (reserved)"),
]


@strawberry.type
class TicketPayload:
    ticket: Ticket | None
    errors: list[UserError]


@strawberry.type
class RouteAssignmentPayload:
    ticket: Ticket | None = strawberry.field(description="the first of the tickets")
    tickets: list[Ticket] = strawberry.field(description="one route-change ticket per customer")
    errors: list[UserError]


@strawberry.type
class OnboardCustomerPayload:
    ticket: Ticket | None
    customer: Customer | None
    errors: list[UserError]


def in_savepoint(ctx: Context, action: Callable[[], T]) -> tuple[T | None, list[UserError]]:
    """Run a domain service in a savepoint: its result, or the payload errors of a refusal
    (the savepoint is rolled back, so a refusal changes nothing)."""
    try:
        with ctx.session.begin_nested():
            return action(), []
    except DomainError as err:
        return None, user_errors(err)


def forget(ctx: Context, ticket_id: int, customer_id: int | None) -> None:
    """Drop what this request's loaders hold of a ticket (and its customer) that has just
    changed, so a second mutation in the same request shows the new state."""
    held = [("ticket_steps", ticket_id), ("ticket_changes", ticket_id)]
    if customer_id is not None:
        held.append((CUSTOMERS_IN_SCOPE, customer_id))
    for name, key in held:
        loader = ctx.loaders.get(name)
        if loader is not None and loader.cache_map.get(key) is not None:
            loader.clear(key)

"""updateCustomer: apply within rights, propose the rest; refusals are payload errors."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from domain.customers.update import update_customer
from domain.errors import DomainError
from schema.context import Info
from schema.customers.types import Customer, customer_node
from schema.errors import UserError, user_errors
from schema.tickets.types import Ticket, ticket_node


@strawberry.input
class FieldChangeInput:
    field: str = strawberry.field(description="catalogue key, e.g. contact_person")
    value: JSON | None = strawberry.field(description="the new value (JSON form); null clears")


@strawberry.type
class UpdateCustomerPayload:
    customer: Customer | None
    ticket: Ticket | None
    applied: list[str]
    errors: list[UserError]


@strawberry.type
class CustomerMutations:
    @strawberry.mutation(description="Apply what you may edit; the rest becomes one change ticket")
    def update_customer(
        self,
        info: Info,
        id: int,
        version: int,
        changes: list[FieldChangeInput],
        reason: str | None = None,
        # Applied by the endpoint (api.graphql): a retry with the same key is answered once.
        idempotency_key: str | None = None,
    ) -> UpdateCustomerPayload:
        ctx = info.context
        principal = ctx.require()
        values = {c.field: c.value for c in changes}
        try:
            with ctx.session.begin_nested():
                result = update_customer(
                    ctx.session,
                    principal,
                    id,
                    version,
                    values,
                    vault=ctx.vault,
                    reason=reason,
                    now=ctx.now,
                )
        except DomainError as err:
            return UpdateCustomerPayload(
                customer=None, ticket=None, applied=[], errors=user_errors(err)
            )
        return UpdateCustomerPayload(
            customer=customer_node(result.customer),
            ticket=ticket_node(result.ticket) if result.ticket else None,
            applied=[c.key for c in result.applied],
            errors=[],
        )

"""Step decisions: approveTicket, rejectTicket, returnTicket, withdrawTicket. Each runs the
domain service in a savepoint; a refusal is a payload error and changes nothing.

``idempotencyKey`` is accepted on every mutation and not yet used (the endpoint will keep
answers by key)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry

from domain.models import Ticket as TicketRow
from domain.tickets.approval import approve
from domain.tickets.decisions import reject_ticket, return_ticket, withdraw_ticket
from schema.context import Context, Info
from schema.customers.mutations import FieldChangeInput
from schema.tickets.onboarding import OnboardingMutations
from schema.tickets.payloads import IdempotencyKey, TicketPayload, forget, in_savepoint
from schema.tickets.proposals import ProposalMutations
from schema.tickets.types import ticket_node


def _approve(
    ctx: Context, ticket_id: int, comment: str | None, values: dict[str, Any] | None
) -> TicketRow:
    return approve(
        ctx.session, ctx.require(), ticket_id, vault=ctx.vault, now=ctx.now, comment=comment,
        values=values,
    )  # fmt: skip


def _payload(ctx: Context, result: tuple[TicketRow | None, list[Any]]) -> TicketPayload:
    ticket, errors = result
    if ticket is None:
        return TicketPayload(ticket=None, errors=errors)
    forget(ctx, ticket.id, ticket.customer_id)
    return TicketPayload(ticket=ticket_node(ticket), errors=[])


def _text(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def _decide(
    info: Info, service: Callable[..., Any], ticket_id: int, **kwargs: Any
) -> TicketPayload:
    """Run a step decision of the caller in a savepoint; a refusal is a payload error."""
    ctx = info.context
    principal = ctx.require()
    return _payload(
        ctx,
        in_savepoint(
            ctx, lambda: service(ctx.session, principal, ticket_id, now=ctx.now, **kwargs)
        ),
    )


@strawberry.type
class TicketMutations(ProposalMutations, OnboardingMutations):
    @strawberry.mutation(
        description="Approve the active step (filling its fields, if it has any); the last "
        "approval applies the change once, or marks the ticket stale"
    )
    def approve_ticket(
        self,
        info: Info,
        id: int,
        comment: str | None = None,
        values: list[FieldChangeInput] | None = None,
        idempotency_key: IdempotencyKey = None,
    ) -> TicketPayload:
        ctx = info.context
        ctx.require()
        filled = {v.field: v.value for v in values} if values else None
        return _payload(ctx, in_savepoint(ctx, lambda: _approve(ctx, id, _text(comment), filled)))

    @strawberry.mutation(description="Reject the ticket at its active step (a reason is required)")
    def reject_ticket(
        self,
        info: Info,
        id: int,
        reason: str | None = None,
        idempotency_key: IdempotencyKey = None,
    ) -> TicketPayload:
        return _decide(info, reject_ticket, id, reason=reason or "")

    @strawberry.mutation(description="Return the ticket to its maker for correction")
    def return_ticket(
        self,
        info: Info,
        id: int,
        reason: str | None = None,
        idempotency_key: IdempotencyKey = None,
    ) -> TicketPayload:
        return _decide(info, return_ticket, id, reason=reason or "")

    @strawberry.mutation(description="The maker withdraws an open or returned ticket")
    def withdraw_ticket(
        self,
        info: Info,
        id: int,
        idempotency_key: IdempotencyKey = None,
    ) -> TicketPayload:
        return _decide(info, withdraw_ticket, id)

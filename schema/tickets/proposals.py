"""proposeLocation and proposeRouteAssignment over the domain's proposal services
(domain/tickets/proposals.py); nothing is applied until the ticket's last approval."""

from __future__ import annotations

from typing import Any

import strawberry

from domain.models import Ticket as TicketRow
from domain.tickets import proposals
from schema.context import Info
from schema.scalars import PointInput
from schema.tickets.payloads import (
    IdempotencyKey,
    RouteAssignmentPayload,
    TicketPayload,
    in_savepoint,
)
from schema.tickets.types import ticket_node


def point_value(point: PointInput) -> dict[str, Any]:
    """The point as the catalogue's ``{lng, lat, crs}`` input (converted to WGS-84 there)."""
    return {"lng": point.lng, "lat": point.lat, "crs": point.crs.value}


@strawberry.type
class ProposalMutations:
    @strawberry.mutation(description="Propose a new location: a location-change ticket")
    def propose_location(
        self,
        info: Info,
        customer_id: int,
        point: PointInput,
        reason: str | None = None,
        idempotency_key: IdempotencyKey = None,
    ) -> TicketPayload:
        ctx = info.context
        principal = ctx.require()

        def action() -> TicketRow:
            return proposals.propose_location(
                ctx.session, principal, customer_id, point_value(point), reason=reason,
                vault=ctx.vault, now=ctx.now,
            )  # fmt: skip

        ticket, errors = in_savepoint(ctx, action)
        return TicketPayload(ticket=ticket_node(ticket) if ticket else None, errors=errors)

    @strawberry.mutation(
        description="Propose moving shops to a route: one route-change ticket per shop"
    )
    def propose_route_assignment(
        self,
        info: Info,
        customer_ids: list[int],
        route_id: int,
        reason: str | None = None,
        idempotency_key: IdempotencyKey = None,
    ) -> RouteAssignmentPayload:
        ctx = info.context
        principal = ctx.require()

        def action() -> list[TicketRow]:
            return proposals.propose_route_assignment(
                ctx.session, principal, customer_ids, route_id, reason=reason, vault=ctx.vault,
                now=ctx.now,
            )  # fmt: skip

        tickets, errors = in_savepoint(ctx, action)
        nodes = [ticket_node(t) for t in tickets or []]
        return RouteAssignmentPayload(
            ticket=nodes[0] if nodes else None, tickets=nodes, errors=errors
        )

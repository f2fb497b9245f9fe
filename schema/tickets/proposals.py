"""proposeLocation and proposeRouteAssignment: change tickets opened through the engine with
values validated by the catalogue; nothing is applied until the ticket's last approval.

(The two compositions of domain services below belong in the domain, beside
``create_proposal``, once the admin needs them too.)"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import strawberry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.access import READ, Principal, field_right, get_customer_in_scope
from domain.catalogue import field
from domain.catalogue.validate import validate_changes
from domain.errors import (
    INVALID,
    NO_CHANGE,
    READ_ONLY_FIELD,
    DomainError,
    ValidationFailed,
)
from domain.models import Customer
from domain.models import Ticket as TicketRow
from domain.tickets.engine import open_ticket
from domain.values import to_json
from domain.vault import Vault
from schema.context import Info
from schema.scalars import Crs, PointInput
from schema.tickets.payloads import (
    IdempotencyKey,
    RouteAssignmentPayload,
    TicketPayload,
    in_savepoint,
    renamed,
)
from schema.tickets.types import ticket_node

MAX_ROUTE_CUSTOMERS = 200
NOT_WGS84 = "坐标系转换将随 GIS 模块提供，目前仅支持 WGS84 坐标"


def wgs84(point: PointInput, name: str) -> dict[str, float]:
    """The point as the catalogue's ``{lng, lat}`` input; WGS-84 only for now."""
    if point.crs != Crs.WGS84:
        raise DomainError(INVALID, NOT_WGS84, f"{name}.crs")
    return {"lng": point.lng, "lat": point.lat}


def _may_propose(principal: Principal, key: str, name: str) -> None:
    spec = field(key)
    if field_right(principal, spec) == READ:
        raise DomainError(READ_ONLY_FIELD, f"您无权修改或提议修改{spec.label_zh}", name)


def propose_location(
    session: Session,
    principal: Principal,
    customer_id: int,
    point: PointInput,
    *,
    reason: str | None,
    vault: Vault,
    now: dt.datetime,
) -> TicketRow:
    """A location-change ticket with the customer's current and the proposed point."""
    raw = wgs84(point, "point")
    customer = get_customer_in_scope(session, principal, customer_id, for_update=True)
    _may_propose(principal, "location", "point")
    try:
        values = validate_changes(session, customer, {"location": raw})
    except DomainError as err:
        raise renamed(err, {"location": "point"}) from None
    spec = field("location")
    if customer.location is not None and to_json(spec, customer.location) == to_json(
        spec, values["location"]
    ):
        raise DomainError(NO_CHANGE, "新位置与客户当前位置相同", "point")
    return open_ticket(
        session, principal, type_key="location_change", customer=customer, values=values,
        vault=vault, now=now, reason=reason,
    )  # fmt: skip


def _customers(session: Session, principal: Principal, ids: Sequence[int]) -> list[Customer]:
    """The customers in the order given, locked in primary-key order; every one refused
    (out of scope or not found) is reported."""
    found: dict[int, Customer] = {}
    errors: list[DomainError] = []
    for customer_id in sorted(ids):
        try:
            found[customer_id] = get_customer_in_scope(
                session, principal, customer_id, for_update=True
            )
        except DomainError as err:
            errors.append(
                DomainError(err.code, f"客户 {customer_id}：{err.message}", "customerIds")
            )
    if errors:
        raise ValidationFailed(errors)
    return [found[i] for i in ids]


def propose_route_assignment(
    session: Session,
    principal: Principal,
    customer_ids: Sequence[int],
    route_id: int,
    *,
    reason: str | None,
    vault: Vault,
    now: dt.datetime,
) -> list[TicketRow]:
    """One route-change ticket per customer, each proposing the route and a place after the
    route's current last stop (in the order given); all or none."""
    ids = list(dict.fromkeys(customer_ids))
    if not 1 <= len(ids) <= MAX_ROUTE_CUSTOMERS:
        raise DomainError(INVALID, f"请选择 1 到 {MAX_ROUTE_CUSTOMERS} 个客户", "customerIds")
    _may_propose(principal, "delivery_route", "routeId")
    customers = _customers(session, principal, ids)
    last = session.scalar(
        select(func.max(Customer.delivery_sequence)).where(Customer.delivery_route_id == route_id)
    )
    names = {"delivery_route": "routeId", "delivery_sequence": "routeId"}
    errors: list[DomainError] = []
    proposals = []
    for n, customer in enumerate(customers, start=1):
        if customer.delivery_route_id == route_id:
            text = f"客户 {customer.customer_code} 已在该线路上"
            errors.append(DomainError(NO_CHANGE, text, "customerIds"))
            continue
        raw = {"delivery_route": route_id, "delivery_sequence": int(last or 0) + n}
        try:
            proposals.append((customer, validate_changes(session, customer, raw)))
        except DomainError as err:
            failed = renamed(err, names)
            errors.extend(failed.errors if isinstance(failed, ValidationFailed) else [failed])
    if errors:
        unique = {(e.code, e.message, e.field): e for e in errors}
        raise ValidationFailed(list(unique.values()))
    tickets = []
    for customer, values in proposals:
        ticket = open_ticket(
            session, principal, type_key="route_change", customer=customer, values=values,
            vault=vault, now=now, reason=reason,
        )  # fmt: skip
        tickets.append(ticket)
    return tickets


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
            return propose_location(
                ctx.session, principal, customer_id, point, reason=reason, vault=ctx.vault,
                now=ctx.now,
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
            return propose_route_assignment(
                ctx.session, principal, customer_ids, route_id, reason=reason, vault=ctx.vault,
                now=ctx.now,
            )  # fmt: skip

        tickets, errors = in_savepoint(ctx, action)
        nodes = [ticket_node(t) for t in tickets or []]
        return RouteAssignmentPayload(
            ticket=nodes[0] if nodes else None, tickets=nodes, errors=errors
        )

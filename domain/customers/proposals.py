"""Proposals: changes outside the caller's rights become one change ticket routed to the
owner departments through the fields' approval chain.

The full workflow (ticket types as data, time limits, decisions) belongs to the tickets
module; this creates the ticket, its proposed changes and its steps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from domain.access import Principal, role_rights
from domain.catalogue import field
from domain.ledger import stored_form
from domain.models import Customer, Ticket, TicketChange, TicketStep
from domain.vault import Vault

ROUTE_FIELDS = frozenset({"delivery_route", "delivery_sequence", "delivery_segment"})
TYPE_TITLES = {
    "phone_change": "订货电话变更",
    "location_change": "地理位置变更",
    "route_change": "送货线路调整",
    "change_city": "客户信息变更（营销中心发起）",
    "change_county": "客户信息变更（县区发起）",
}


def ticket_type_for(principal: Principal, keys: frozenset[str]) -> str:
    if keys == {"phone"}:
        return "phone_change"
    if keys == {"location"}:
        return "location_change"
    if keys <= ROUTE_FIELDS:
        return "route_change"
    return "change_city" if role_rights(principal.role).scope == "city" else "change_county"


def approval_chain(keys: list[str]) -> list[str]:
    """Approving roles, then the owner departments that apply, each once, in field order."""
    chain: list[str] = []
    specs = [field(k) for k in keys]
    for step in [s.approval for s in specs] + [s.owner for s in specs]:
        if step and step not in chain:
            chain.append(step)
    return chain


def create_proposal(
    session: Session,
    principal: Principal,
    customer: Customer,
    values: Mapping[str, Any],
    *,
    vault: Vault,
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> Ticket:
    """One ticket with the proposed values, built on the customer's current version."""
    now = now or dt.datetime.now(dt.UTC)
    keys = [k for k in values]
    kind = ticket_type_for(principal, frozenset(keys))
    ticket = Ticket(
        type=kind,
        status="open",
        title=f"{TYPE_TITLES[kind]}：{customer.shop_name}",
        reason=reason,
        maker_id=principal.user_id,
        customer_id=customer.id,
        base_version=customer.version,
        request_id=principal.request_id,
    )
    session.add(ticket)
    session.flush()
    for key in keys:
        spec = field(key)
        session.add(
            TicketChange(
                ticket_id=ticket.id,
                customer_id=customer.id,
                field_key=key,
                old_value=stored_form(spec, getattr(customer, spec.column), vault),
                new_value=stored_form(spec, values[key], vault),
            )
        )
    for position, role in enumerate(approval_chain(keys), start=1):
        session.add(
            TicketStep(
                ticket_id=ticket.id, position=position, name=f"{role} 审核", role=role,
                department=role, status="active" if position == 1 else "waiting",
                limit_value=Decimal(1), limit_unit="working_day",
                started_at=now if position == 1 else None,
            )
        )  # fmt: skip
    session.flush()
    return ticket

"""Proposals: changes outside the caller's rights become one change ticket whose steps
route them through the fields' approval chain to their owner departments (see the
``@approval`` and ``@owner`` steps in domain/tickets/types.toml)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from domain.access import Principal, role_rights
from domain.models import Customer, Ticket
from domain.tickets.engine import open_ticket
from domain.vault import Vault

ROUTE_FIELDS = frozenset({"delivery_route", "delivery_sequence", "delivery_segment"})


def ticket_type_for(principal: Principal, keys: frozenset[str]) -> str:
    if keys == {"phone"}:
        return "phone_change"
    if keys == {"location"}:
        return "location_change"
    if keys <= ROUTE_FIELDS:
        return "route_change"
    return "change_city" if role_rights(principal.role).scope == "city" else "change_county"


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
    return open_ticket(
        session, principal, type_key=ticket_type_for(principal, frozenset(values)),
        customer=customer, values=values, vault=vault, reason=reason,
        now=now or dt.datetime.now(dt.UTC),
    )  # fmt: skip

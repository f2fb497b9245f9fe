"""The market department manager's signature applies a bulk-change ticket: every change of
every shop through the ledger, in the caller's one transaction, or nothing at all.

The shops are locked in primary-key order; if any of them changed since the ticket was made
(its ``version`` differs from the one recorded) or is gone, nothing is applied: the ticket
goes ``stale`` and its maker is told to submit a new list.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.access import Principal
from domain.catalogue import field
from domain.customers.apply import apply_values
from domain.models import Customer, Ticket, TicketChange
from domain.tickets.decisions import APPLY_PROCEDURES, mark_stale
from domain.values import from_json
from domain.vault import Vault

TYPE_KEY = "bulk_change"


def _planned(session: Session, ticket: Ticket, vault: Vault) -> dict[int, dict[str, Any]]:
    stmt = select(TicketChange).where(TicketChange.ticket_id == ticket.id).order_by(TicketChange.id)
    out: dict[int, dict[str, Any]] = defaultdict(dict)
    for change in session.scalars(stmt):
        assert change.customer_id is not None
        spec = field(change.field_key)
        out[change.customer_id][change.field_key] = from_json(spec, vault.open(change.new_value))
    return out


def apply_bulk_change(
    session: Session, principal: Principal, ticket: Ticket, vault: Vault, now: dt.datetime
) -> None:
    """Apply all of the ticket's changes, or mark it stale (nothing applied)."""
    payload = ticket.payload or {}
    versions: dict[str, int] = payload.get("versions", {})
    planned = _planned(session, ticket, vault)
    customers = session.scalars(
        select(Customer).where(Customer.id.in_(list(planned))).order_by(Customer.id)
        .with_for_update().execution_options(populate_existing=True)
    ).all()  # fmt: skip
    moved = [c for c in customers if c.version != versions.get(str(c.id))]
    gone = len(planned) - len(customers)
    if moved or gone:
        n = len(moved) + gone
        why = f"提交后有 {n} 家客户的档案已变更，整张批量变更单未予执行，请按最新档案重新提交。"
        mark_stale(session, ticket, now, why)
        return
    inputs: dict[str, Any] = payload.get("locationInputs", {})
    for customer in customers:
        apply_values(
            session, customer, planned[customer.id], actor_id=principal.user_id,
            request_id=principal.request_id, source="ticket", vault=vault,
            ticket_id=ticket.id, now=now, location_input=inputs.get(str(customer.id)),
        )  # fmt: skip
    ticket.status = "applied"


APPLY_PROCEDURES[TYPE_KEY] = apply_bulk_change

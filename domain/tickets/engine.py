"""Opening tickets: materialise the type's steps, record the proposed values (sealed when
personal), start the first step with its due time on the working calendar."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import cache
from typing import Any

from sqlalchemy.orm import Session

from domain.access import Principal
from domain.catalogue import field
from domain.ledger import stored_form
from domain.models import Customer, Ticket, TicketChange, TicketStep
from domain.tickets.types import StepSpec, TicketType, ticket_type
from domain.vault import Vault
from domain.workcal import WorkingCalendar


@cache
def default_calendar() -> WorkingCalendar:
    """The calendar with the years IT entered in the admin, the repository's overrides
    file and the default working hours."""
    return WorkingCalendar(stored=True)


def expand_steps(kind: TicketType, keys: list[str], maker_role: str) -> list[StepSpec]:
    """The type's steps with ``@approval`` / ``@owner`` replaced by concrete roles."""
    specs = [field(k) for k in keys]
    out: list[StepSpec] = []
    for step in kind.steps:
        if step.role == "@approval":
            roles = [s.approval for s in specs if s.approval and s.approval != maker_role]
            roles = [r for r in roles if r not in {s.owner for s in specs}]
        elif step.role == "@owner":
            roles = [s.owner for s in specs]
        else:
            roles = [step.role]
        unique = list(dict.fromkeys(roles))
        for i, role in enumerate(unique):
            last = i == len(unique) - 1
            out.append(
                StepSpec(
                    key=step.key if len(unique) == 1 else f"{step.key}:{role}",
                    name=step.name, role=role, limit=step.limit, kind=step.kind,
                    applies=step.applies and last, fills=step.fills, notify=step.notify,
                )
            )  # fmt: skip
    return out


def activate(step: TicketStep, now: dt.datetime, calendar: WorkingCalendar) -> None:
    """Start a step: its due time is computed now, on the working calendar."""
    step.status = "active"
    step.started_at = now
    step.due_at = calendar.add_working_time(now, step.limit_value, step.limit_unit)  # type: ignore[arg-type]


def record_changes(
    session: Session,
    ticket: Ticket,
    customer: Customer | None,
    values: Mapping[str, Any],
    vault: Vault,
) -> None:
    """Add or replace the ticket's proposed values (old value = the record's current one)."""
    existing = {c.field_key: c for c in session.query(TicketChange).filter_by(ticket_id=ticket.id)}
    for key, value in values.items():
        spec = field(key)
        old = stored_form(spec, getattr(customer, spec.column), vault) if customer else None
        new = stored_form(spec, value, vault)
        if key in existing:
            existing[key].new_value = new
        else:
            session.add(
                TicketChange(
                    ticket_id=ticket.id, customer_id=customer.id if customer else None,
                    field_key=key, old_value=old, new_value=new,
                )
            )  # fmt: skip


def open_ticket(
    session: Session,
    principal: Principal,
    *,
    type_key: str,
    customer: Customer | None,
    values: Mapping[str, Any],
    vault: Vault,
    now: dt.datetime,
    reason: str | None = None,
    title: str | None = None,
    region_id: int | None = None,
    payload: dict[str, Any] | None = None,
    calendar: WorkingCalendar | None = None,
) -> Ticket:
    """A new ticket of the type, built on the customer's current version; nothing applied."""
    kind = ticket_type(type_key)
    ticket = Ticket(
        type=type_key,
        status="open",
        title=title or f"{kind.name}：{customer.shop_name if customer else ''}".rstrip("："),
        reason=reason,
        maker_id=principal.user_id,
        customer_id=customer.id if customer else None,
        region_id=customer.admin_region_id if customer else region_id,
        base_version=customer.version if customer else None,
        request_id=principal.request_id,
        payload=payload,
        created_at=now,
        updated_at=now,
    )
    session.add(ticket)
    session.flush()
    record_changes(session, ticket, customer, values, vault)
    steps = [
        TicketStep(
            ticket_id=ticket.id, position=pos, key=spec.key, name=spec.name, role=spec.role,
            department=spec.role, kind=spec.kind, applies=spec.applies, fills=list(spec.fills),
            limit_value=spec.limit, limit_unit=kind.clock, status="waiting",
        )
        for pos, spec in enumerate(expand_steps(kind, list(values), principal.role), start=1)
    ]  # fmt: skip
    session.add_all(steps)
    activate(steps[0], now, calendar or default_calendar())
    session.flush()
    return ticket

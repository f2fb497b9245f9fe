"""Approving a ticket with the procedure of its type: onboarding and credit-rating
tickets have their own steps' rules (route places, re-basing over a long notice period);
every other type goes straight to ``approve_ticket``. Single and bulk approval both
come through here, whatever the transport."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import domain.bulkchange  # registers the bulk changes' apply procedure
import domain.planning  # noqa: F401  (registers the route plans' apply procedure)
from domain.access import Principal
from domain.errors import INVALID, DomainError
from domain.models import Ticket
from domain.tickets import onboarding, rating
from domain.tickets.decisions import approve_ticket
from domain.vault import Vault
from domain.workcal import WorkingCalendar


@dataclass(frozen=True)
class Outcome:
    ticket_id: int
    ok: bool
    status: str | None
    code: str | None = None
    message: str | None = None


def approve(
    session: Session,
    principal: Principal,
    ticket_id: int,
    *,
    vault: Vault,
    now: dt.datetime,
    comment: str | None = None,
    values: Mapping[str, Any] | None = None,
    calendar: WorkingCalendar | None = None,
) -> Ticket:
    """Approve the ticket's active step with the procedure of its type."""
    kind = session.scalar(select(Ticket.type).where(Ticket.id == ticket_id))
    common: dict[str, Any] = {"vault": vault, "now": now, "comment": comment, "calendar": calendar}
    if kind == onboarding.TYPE_KEY:
        return onboarding.approve_onboarding_step(
            session, principal, ticket_id, values=values, **common
        )
    if kind == rating.TYPE_KEY:
        if values:
            raise DomainError(INVALID, "诚信等级评定的审批不填写字段", "values")
        return rating.approve_rating_step(session, principal, ticket_id, **common)
    return approve_ticket(session, principal, ticket_id, values=values, **common)


def bulk_approve(
    session: Session,
    principal: Principal,
    ticket_ids: Sequence[int],
    *,
    vault: Vault,
    now: dt.datetime,
    comment: str | None = None,
    calendar: WorkingCalendar | None = None,
) -> list[Outcome]:
    """Approve many tickets, each decided on its own (a failure leaves the others)."""
    outcomes = []
    for ticket_id in sorted(set(ticket_ids)):
        try:
            with session.begin_nested():
                ticket = approve(
                    session,
                    principal,
                    ticket_id,
                    vault=vault,
                    now=now,
                    comment=comment,
                    calendar=calendar,
                )
            outcomes.append(Outcome(ticket_id, True, ticket.status))
        except DomainError as err:
            outcomes.append(Outcome(ticket_id, False, None, err.code, err.message))
    return outcomes

"""Credit rating (诚信等级评定): evidence → initial rating → public notice of at least 7 working
days with appeals → final rating (steps in domain/tickets/types.toml, type ``credit_rating``).

- ``start_rating`` (licensing): one ``credit_rating`` ticket per shop at a time, its one
  change the proposed rating. The initial step is the licensing office's own (evidence
  collected, rating proposed): it is done as the ticket opens, and the notice step starts;
  its due time is its limit (7 working days) later on the working calendar. Until then
  ``approve_ticket`` refuses to end the notice; afterwards the scheduler ends it.
- ``file_appeal`` (the shop's customer manager, or licensing): only while the notice step
  is active and before its due time. Appeals are kept in ``payload["appeals"]``; an open
  one sets ``payload["appeal_open"]``, which holds the notice step past its due time (the
  scheduler leaves it, ``approve_ticket`` refuses it) until it is resolved.
- ``resolve_appeal`` (licensing): upheld, with the new rating, which replaces the proposed
  one; or rejected, which keeps it. The notice period is not restarted.
- the final step: licensing, a user other than the maker (``approve_ticket`` or
  ``approve_rating_step``) applies the rating through ``apply_values``: a ledger entry with
  the ticket id. ``credit_rating`` is an ``auto`` field: ``update_customer`` refuses it
  (READ_ONLY_FIELD), so this procedure is its only writer.

Staleness: a procedure lasts weeks and concerns one field only this procedure writes, so
``approve_rating_step`` rebases the ticket on the record's current version when the shop's
rating is still the one the procedure started from (other edits to the shop during the
notice do not void the rating); when the rating itself moved, the ticket becomes stale.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.access import Principal, get_customer_in_scope
from domain.catalogue import field
from domain.catalogue.normalise import normalise_value
from domain.errors import FORBIDDEN, INVALID, NOT_FOUND, DomainError
from domain.models import Customer, Ticket, TicketChange, TicketStep
from domain.tickets.decisions import approve_ticket
from domain.tickets.engine import default_calendar, open_ticket
from domain.tickets.onboarding import ordered_steps, submit_first_step
from domain.tickets.scope import in_ticket_scope
from domain.values import to_json
from domain.vault import Vault
from domain.workcal import WorkingCalendar

TYPE_KEY = "credit_rating"
FIELD = "credit_rating"
RATER_ROLE = "licensing"
APPELLANT_ROLES = ("licensing", "customer_manager")


def _rating(value: Any, name: str) -> str:
    """A rating code (A/B/C/D, or its Chinese label) or INVALID on the given input name."""
    try:
        code = normalise_value(field(FIELD), value)
    except DomainError as exc:
        raise DomainError(INVALID, exc.message, name) from None
    if code is None:
        raise DomainError(INVALID, "请给出诚信等级（A/B/C/D）", name)
    return str(code)


def _lock_rating(session: Session, principal: Principal, ticket_id: int) -> Ticket:
    ticket = session.scalar(select(Ticket).where(Ticket.id == ticket_id).with_for_update())
    if ticket is None or ticket.type != TYPE_KEY or not in_ticket_scope(session, principal, ticket):
        raise DomainError(NOT_FOUND, "找不到该诚信等级评定工单，或不在您的管辖范围内", "id")
    if ticket.status != "open":
        raise DomainError(INVALID, f"该评定工单已结束（{ticket.status}）", "id")
    return ticket


def _active(session: Session, ticket: Ticket) -> TicketStep | None:
    return next((s for s in ordered_steps(session, ticket.id) if s.status == "active"), None)


def _stamp(now: dt.datetime) -> str:
    return now.isoformat()


def start_rating(
    session: Session,
    principal: Principal,
    customer_id: int,
    *,
    proposed: str,
    evidence: str,
    vault: Vault,
    now: dt.datetime,
    calendar: WorkingCalendar | None = None,
) -> Ticket:
    """Open the rating procedure with the initial rating; the notice period starts now."""
    if principal.role != RATER_ROLE:
        raise DomainError(FORBIDDEN, "只有专卖管理所可以发起诚信等级评定", None)
    customer = get_customer_in_scope(session, principal, customer_id, for_update=True)
    if customer.status == "closed":
        raise DomainError(INVALID, "歇业客户不参加诚信等级评定", "customerId")
    code = _rating(proposed, "proposed")
    if not evidence or not evidence.strip():
        raise DomainError(INVALID, "请填写评定依据（收集的材料）", "evidence")
    running = session.scalar(
        select(Ticket.id).where(
            Ticket.type == TYPE_KEY,
            Ticket.customer_id == customer.id,
            Ticket.status.in_(("open", "returned")),
        )
    )
    if running is not None:
        message = f"该客户已有进行中的诚信等级评定（工单 {running}）"
        raise DomainError(INVALID, message, "customerId")
    payload: dict[str, Any] = {
        "evidence": evidence.strip(),
        "initial": {"rating": code, "by": principal.user_id, "at": _stamp(now)},
        "from": customer.credit_rating,
        "appeals": [],
        "appeal_open": False,
    }
    cal = calendar or default_calendar()
    ticket = open_ticket(
        session, principal, type_key=TYPE_KEY, customer=customer, values={FIELD: code},
        vault=vault, now=now, calendar=cal, payload=payload, reason=evidence.strip(),
    )  # fmt: skip
    submit_first_step(session, ticket, now, cal)
    return ticket


def file_appeal(
    session: Session, principal: Principal, ticket_id: int, *, text: str, now: dt.datetime
) -> Ticket:
    """An appeal during the notice period, by the shop's customer manager or licensing."""
    ticket = _lock_rating(session, principal, ticket_id)
    if principal.role not in APPELLANT_ROLES:
        raise DomainError(FORBIDDEN, "只有该户的客户经理或专卖管理所可以提交申诉", None)
    if not text or not text.strip():
        raise DomainError(INVALID, "请填写申诉内容", "text")
    step = _active(session, ticket)
    if step is None or step.kind != "notice" or step.due_at is None or now >= step.due_at:
        raise DomainError(INVALID, "只能在公示期内提出申诉", "id")
    payload = dict(ticket.payload or {})
    if payload.get("appeal_open"):
        raise DomainError(INVALID, "已有申诉正在处理，处理后方可再次申诉", "id")
    appeals = list(payload.get("appeals", []))
    appeals.append(
        {
            "no": len(appeals) + 1, "by": principal.user_id, "role": principal.role,
            "at": _stamp(now), "text": text.strip(), "status": "open",
        }
    )  # fmt: skip
    ticket.payload = {**payload, "appeals": appeals, "appeal_open": True}
    ticket.updated_at = now
    session.flush()
    return ticket


def resolve_appeal(
    session: Session,
    principal: Principal,
    ticket_id: int,
    *,
    upheld: bool,
    new_rating: str | None = None,
    now: dt.datetime,
) -> Ticket:
    """Settle the open appeal: upheld with a new rating (replacing the proposed one), or
    rejected (the proposal stands). The notice step may then end."""
    ticket = _lock_rating(session, principal, ticket_id)
    if principal.role != RATER_ROLE:
        raise DomainError(FORBIDDEN, "只有专卖管理所可以处理申诉", None)
    payload = dict(ticket.payload or {})
    if not payload.get("appeal_open"):
        raise DomainError(INVALID, "没有待处理的申诉", "id")
    if upheld and new_rating is None:
        raise DomainError(INVALID, "申诉成立须给出新的诚信等级", "newRating")
    if not upheld and new_rating is not None:
        raise DomainError(INVALID, "申诉不成立时维持原评定等级，不能给出新等级", "newRating")
    code = _rating(new_rating, "newRating") if upheld else None
    if code is not None:
        change = session.scalars(
            select(TicketChange).where(
                TicketChange.ticket_id == ticket.id, TicketChange.field_key == FIELD
            )
        ).one()
        change.new_value = to_json(field(FIELD), code)
    appeals = [dict(a) for a in payload.get("appeals", [])]
    for appeal in appeals:
        if appeal.get("status") == "open":
            appeal.update(
                status="upheld" if upheld else "rejected", resolved_by=principal.user_id,
                resolved_at=_stamp(now), new_rating=code,
            )  # fmt: skip
    ticket.payload = {**payload, "appeals": appeals, "appeal_open": False}
    ticket.updated_at = now
    session.flush()
    return ticket


def proposed_rating(session: Session, ticket_id: int) -> str | None:
    """The rating the procedure would apply now."""
    value = session.scalar(
        select(TicketChange.new_value).where(
            TicketChange.ticket_id == ticket_id, TicketChange.field_key == FIELD
        )
    )
    return None if value is None else str(value)


def approve_rating_step(
    session: Session,
    principal: Principal,
    ticket_id: int,
    *,
    vault: Vault,
    now: dt.datetime,
    comment: str | None = None,
    calendar: WorkingCalendar | None = None,
) -> Ticket:
    """``approve_ticket`` for a rating: at the final step, a shop edited meanwhile in other
    fields does not make the rating stale (see the module docstring)."""
    ticket = _lock_rating(session, principal, ticket_id)
    step = _active(session, ticket)
    with session.begin_nested():  # a refused approval leaves the ticket as it was
        if step is not None and step.applies and ticket.customer_id is not None:
            customer = session.scalar(
                select(Customer).where(Customer.id == ticket.customer_id).with_for_update()
            )
            payload = ticket.payload or {}
            if customer is not None and customer.credit_rating == payload.get("from"):
                ticket.base_version = customer.version
                session.flush()
        return approve_ticket(
            session, principal, ticket_id, vault=vault, now=now, comment=comment,
            calendar=calendar,
        )  # fmt: skip

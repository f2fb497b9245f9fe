"""Onboarding (新入网): a new licence with a location becomes a customer record and a ticket.

How the new shop exists during onboarding
-----------------------------------------
``start_onboarding`` (licensing only) creates the customer record at once, so every step
can find the shop in its scope and the map can show it:

- the record holds the licence data (code, shop name, licence number and dates, responsible
  person, address, location, region, customer manager) with status ``suspended`` (暂停经营:
  not yet trading), ``joined_on`` = the day of the licence, and the catalogue's defaults
  for new shops (weekly ordering, online ordering, electronic settlement); each initial
  value has a ledger entry (source ``ticket``, with the onboarding ticket's id);
- licensing names the customer manager responsible for the area in the licence data
  (``customer_manager`` is required): the visit step needs a manager who sees the shop; the
  market step may still assign another manager;
- ``admin_region`` may be given; otherwise it is the region containing the location (the
  nearest one for a point in the service area's buffer), so the county step has its county;
- the ticket is built on the record's first version. Its first step (licence) is the
  licensing office's own submission: it is done when the ticket opens and fills the licence
  fields given (licence type, issuing bureau, business scope, ID number). Every later step
  fills its ``fills`` (domain/tickets/types.toml) as ticket changes; nothing more is written
  to the record until the close step, whose approval applies everything filled plus status
  ``active`` at once (ledger entries with the ticket id). A record edited directly during
  onboarding moves its version, so the close step marks the ticket stale (never applied
  over newer data).
- the delivery step assigns the route; without an explicit sequence the shop goes to the
  end of the route (``approve_onboarding_step`` computes it); when the close step applies,
  a place another shop took meanwhile becomes the new end (``domain.tickets.places``, as
  for every ticket that puts a shop on a route).

``onboarding_status`` tracks the current step and the overall deadline: the record must be
complete within 5 working days of joining (``domain.completeness.due_date``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from domain.access import Principal
from domain.catalogue import catalogue, field
from domain.catalogue.normalise import normalise_value
from domain.catalogue.validate import validate_changes
from domain.completeness import customer_completeness, due_date
from domain.customers.places import route_end
from domain.errors import FORBIDDEN, NOT_FOUND, REQUIRED, DomainError, ValidationFailed
from domain.ledger import Change, stored_form, write_entries
from domain.models import Customer, Ticket, TicketStep
from domain.tickets.decisions import approve_ticket
from domain.tickets.engine import activate, default_calendar, open_ticket
from domain.tickets.types import ticket_type
from domain.vault import Vault
from domain.workcal import WorkingCalendar

TYPE_KEY = "onboarding"
STARTER_ROLE = "licensing"
# What licensing forwards: the licence and the shop's place (stored on the record at once).
RECORD_KEYS = (
    "customer_code", "shop_name", "licence_no", "licence_issued_on", "licence_expires_on",
    "responsible_person", "address", "location", "admin_region", "customer_manager",
)  # fmt: skip
ONBOARDING_STATUS = "suspended"  # until the close step
CLOSED_STATUS = "active"
SUBMITTED = "制单人提交"


def licence_step_fills() -> tuple[str, ...]:
    """The fields of the licence step (the first), filled from the licence data."""
    return ticket_type(TYPE_KEY).steps[0].fills


def ordered_steps(session: Session, ticket_id: int) -> list[TicketStep]:
    stmt = select(TicketStep).where(TicketStep.ticket_id == ticket_id)
    return list(session.scalars(stmt.order_by(TicketStep.position)))


def submit_first_step(
    session: Session, ticket: Ticket, now: dt.datetime, calendar: WorkingCalendar
) -> None:
    """The maker's own first step is done as the ticket opens; the next step starts.

    ``decided_by_id`` stays empty: the database forbids the maker to decide a step (maker-
    checker); the ticket's ``maker_id`` says who submitted it.
    """
    first, *following = ordered_steps(session, ticket.id)
    first.status, first.decision, first.decided_at = "done", "approve", now
    first.comment = SUBMITTED
    if following:
        activate(following[0], now, calendar)
    session.flush()


def _region_of(session: Session, location: Any) -> int | None:
    """The region containing the point, else the nearest (a point in the buffer)."""
    sql = text(
        "SELECT id FROM regions ORDER BY ST_Distance(geom, ST_GeomFromText(:p, 4326)), id LIMIT 1"
    )
    found = session.execute(sql, {"p": str(location.data)}).scalar()
    return None if found is None else int(found)


def _validated_licence(
    session: Session, licence: Mapping[str, Any], today: dt.date
) -> dict[str, Any]:
    allowed = set(RECORD_KEYS) | set(licence_step_fills())
    known = {s.key for s in catalogue()}
    outside = [k for k in licence if k in known and k not in allowed]
    if outside:
        raise DomainError(FORBIDDEN, f"入网许可证资料不能填写：{', '.join(outside)}", outside[0])
    raw = {**licence, "status": ONBOARDING_STATUS, "joined_on": today}
    errors: list[DomainError] = []
    if licence.get("customer_manager") in (None, ""):
        message = "客户经理不能为空（请指定片区负责的客户经理）"
        errors.append(DomainError(REQUIRED, message, "customer_manager"))
    try:
        values = validate_changes(session, None, raw)
    except ValidationFailed as failed:
        raise ValidationFailed([*failed.errors, *errors]) from None
    if errors:
        raise ValidationFailed(errors)
    return values


def start_onboarding(
    session: Session,
    principal: Principal,
    *,
    licence: Mapping[str, Any],
    vault: Vault,
    now: dt.datetime,
    calendar: WorkingCalendar | None = None,
    reason: str | None = None,
) -> Ticket:
    """Create the new shop's record (suspended) and its onboarding ticket (see the module
    docstring). Only licensing may start; invalid licence data raises and creates nothing."""
    if principal.role != STARTER_ROLE:
        raise DomainError(FORBIDDEN, "只有专卖管理所可以发起新入网", None)
    cal = calendar or default_calendar()
    today = now.astimezone(cal.tz).date()
    values = _validated_licence(session, licence, today)
    if values.get("admin_region") is None:
        values["admin_region"] = _region_of(session, values["location"])
    fills = set(licence_step_fills())
    on_record = {k: v for k, v in values.items() if k not in fills}
    customer = Customer(version=1, created_at=now, updated_at=now)
    for key, value in on_record.items():
        setattr(customer, field(key).column, value)
    session.add(customer)
    session.flush()
    proposed = {k: v for k, v in values.items() if k in fills and v is not None}
    ticket = open_ticket(
        session, principal, type_key=TYPE_KEY, customer=customer,
        values={**proposed, "status": CLOSED_STATUS}, vault=vault, now=now, calendar=cal,
        reason=reason or "新办零售许可证，申请入网",
    )  # fmt: skip
    submit_first_step(session, ticket, now, cal)
    write_entries(
        session, customer_id=customer.id, actor_id=principal.user_id,
        request_id=principal.request_id, source="ticket", ticket_id=ticket.id, at=now,
        changes=[
            Change(k, None, stored_form(field(k), v, vault))
            for k, v in on_record.items() if v is not None
        ],
    )  # fmt: skip
    session.flush()
    return ticket


# -- deciding the steps ---------------------------------------------------------------------


def _with_route_end(
    session: Session, ticket: Ticket, values: Mapping[str, Any]
) -> Mapping[str, Any]:
    """The delivery step's values, with the end of the route when no sequence is given."""
    if values.get("delivery_route") is None or values.get("delivery_sequence") is not None:
        return values
    try:
        route_id = normalise_value(field("delivery_route"), values["delivery_route"])
    except DomainError:
        return values  # approve_ticket reports the field error
    assert ticket.customer_id is not None
    return {**values, "delivery_sequence": route_end(session, route_id, ticket.customer_id)}


def approve_onboarding_step(
    session: Session,
    principal: Principal,
    ticket_id: int,
    *,
    vault: Vault,
    now: dt.datetime,
    values: Mapping[str, Any] | None = None,
    comment: str | None = None,
    calendar: WorkingCalendar | None = None,
) -> Ticket:
    """``approve_ticket`` for onboarding, placing the shop at the end of its route when the
    delivery step gives a route without a sequence. A refusal changes nothing."""
    ticket = session.scalar(select(Ticket).where(Ticket.id == ticket_id).with_for_update())
    if ticket is None or ticket.type != TYPE_KEY:
        raise DomainError(NOT_FOUND, "找不到该新入网工单", "id")
    active = next((s for s in ordered_steps(session, ticket.id) if s.status == "active"), None)
    with session.begin_nested():
        if active is not None and active.key == "delivery" and values:
            values = _with_route_end(session, ticket, values)
        return approve_ticket(
            session, principal, ticket_id, vault=vault, now=now, comment=comment,
            values=values, calendar=calendar,
        )  # fmt: skip


# -- tracking -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OnboardingStatus:
    ticket_id: int
    customer_id: int
    ticket_status: str
    step_key: str | None  # the active step (None once closed)
    step_name: str | None
    step_role: str | None
    step_due_at: dt.datetime | None
    step_overdue: bool
    joined_on: dt.date | None
    deadline: dt.date | None  # joined_on + 5 working days (一周内录入完整)
    finished: bool  # the close step applied the record
    overdue: bool  # still pending and past the deadline
    missing: tuple[str, ...]  # catalogue fields still empty on the record


def onboarding_status(
    session: Session,
    ticket_id: int,
    now: dt.datetime,
    calendar: WorkingCalendar | None = None,
) -> OnboardingStatus:
    """Where an onboarding stands: the active step and its due time, the overall deadline."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None or ticket.type != TYPE_KEY or ticket.customer_id is None:
        raise DomainError(NOT_FOUND, "找不到该新入网工单", "id")
    customer = session.get(Customer, ticket.customer_id)
    assert customer is not None
    cal = calendar or default_calendar()
    today = now.astimezone(cal.tz).date()
    active = next((s for s in ordered_steps(session, ticket.id) if s.status == "active"), None)
    due = active.due_at if active is not None else None
    deadline = due_date(customer.joined_on, calendar=cal, today=today)
    finished = ticket.status == "applied"
    pending = ticket.status in ("open", "returned")  # rejected, withdrawn, stale: ended
    return OnboardingStatus(
        ticket_id=ticket.id, customer_id=customer.id, ticket_status=ticket.status,
        step_key=active.key if active else None, step_name=active.name if active else None,
        step_role=active.role if active else None, step_due_at=due,
        step_overdue=due is not None and cal.due_state(due, now).overdue,
        joined_on=customer.joined_on, deadline=deadline, finished=finished,
        overdue=pending and deadline is not None and today > deadline,
        missing=customer_completeness(customer, calendar=cal, today=today).missing,
    )  # fmt: skip

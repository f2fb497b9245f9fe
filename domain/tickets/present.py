"""A ticket as a reviewer sees it: its steps (who decided, when, with which comment, the
time limit and what is left of it), its proposed changes with personal values masked (the
same way for the API and the admin), its warnings, whether the viewer may decide it now,
and for a location change the old and new point with the distance between them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.access import Principal
from domain.catalogue import FieldSpec
from domain.errors import NOT_FOUND, DomainError
from domain.ledger import tracked_fields
from domain.masking import mask
from domain.models import Customer, Region, Ticket, TicketChange, TicketStep, User
from domain.tickets.engine import default_calendar
from domain.tickets.queue import IN_QUEUE, single_review_reason
from domain.tickets.scope import ticket_scope
from domain.tickets.types import ticket_types
from domain.vault import is_envelope, shown
from domain.workcal import WorkingCalendar
from geo.points import haversine_m


def shown_value(spec: FieldSpec | None, value: Any) -> Any:
    """What any reader is shown of a stored change value: a sealed one's masked form; a
    personal value stored in clear (never expected) is masked here rather than shown."""
    if is_envelope(value):
        return shown(value)
    if spec is not None and spec.personal and value is not None:
        return mask(spec.type, value)
    return value


@dataclass(frozen=True)
class StepView:
    position: int
    name: str
    role: str
    kind: str
    status: str
    limit_value: Decimal
    limit_unit: str
    started_at: dt.datetime | None
    due_at: dt.datetime | None
    decided_at: dt.datetime | None
    decided_by: str | None  # the decider's display name
    decision: str | None
    comment: str | None
    running: bool  # active on a ticket in progress: its time is counting
    overdue: bool
    remaining: dt.timedelta | None


@dataclass(frozen=True)
class ChangeView:
    key: str
    label: str
    type: str
    personal: bool
    customer_id: int | None
    old: Any  # JSON form, personal values masked
    new: Any


@dataclass(frozen=True)
class LocationMove:
    old: tuple[float, float] | None  # WGS-84 lng, lat
    new: tuple[float, float]
    distance_m: float | None


@dataclass(frozen=True)
class TicketView:
    id: int
    type: str
    type_name: str
    status: str
    title: str
    reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    closed_at: dt.datetime | None
    customer_id: int | None
    customer_code: str | None
    shop_name: str | None
    region_name: str | None
    maker_id: int
    maker_name: str
    payload: dict[str, Any]
    steps: list[StepView]
    changes: list[ChangeView]
    warnings: list[dict[str, Any]]
    active: StepView | None
    may_decide: bool  # the viewer's role acts on the active step (and is not the maker)
    single_reason: str | None  # why not offered for bulk approval
    location: LocationMove | None

    @property
    def stale(self) -> bool:
        return self.status == "stale"


def _point(value: Any) -> tuple[float, float] | None:
    if isinstance(value, dict) and value.get("type") == "Point":
        lng, lat = value["coordinates"][:2]
        return float(lng), float(lat)
    return None


def location_move(changes: list[ChangeView]) -> LocationMove | None:
    """The old and new point of a proposed location, with the distance in metres."""
    change = next((c for c in changes if c.type == "point"), None)
    new = _point(change.new) if change is not None else None
    if change is None or new is None:
        return None
    old = _point(change.old)
    distance = haversine_m(*old, *new) if old is not None else None
    return LocationMove(old, new, distance)


def change_views(session: Session, ticket_id: int) -> list[ChangeView]:
    specs = tracked_fields()
    rows = session.scalars(
        select(TicketChange).where(TicketChange.ticket_id == ticket_id).order_by(TicketChange.id)
    )
    out = []
    for row in rows:
        spec = specs.get(row.field_key)
        out.append(
            ChangeView(
                key=row.field_key, label=spec.label_zh if spec else row.field_key,
                type=spec.type if spec else "json", personal=bool(spec and spec.personal),
                customer_id=row.customer_id, old=shown_value(spec, row.old_value),
                new=shown_value(spec, row.new_value),
            )
        )  # fmt: skip
    return out


def _step_views(
    session: Session, ticket: Ticket, now: dt.datetime, cal: WorkingCalendar
) -> list[StepView]:
    rows = session.execute(
        select(TicketStep, User.display_name)
        .outerjoin(User, User.id == TicketStep.decided_by_id)
        .where(TicketStep.ticket_id == ticket.id)
        .order_by(TicketStep.position)
    ).all()
    out = []
    for s, decider in rows:
        running = s.status == "active" and ticket.status in IN_QUEUE
        state = cal.due_state(s.due_at, now) if running and s.due_at else None
        out.append(
            StepView(
                position=s.position, name=s.name, role=s.role, kind=s.kind, status=s.status,
                limit_value=s.limit_value, limit_unit=s.limit_unit, started_at=s.started_at,
                due_at=s.due_at, decided_at=s.decided_at, decided_by=decider,
                decision=s.decision, comment=s.comment, running=running,
                overdue=bool(state and state.overdue),
                remaining=state.remaining if state else None,
            )
        )  # fmt: skip
    return out


def ticket_view(
    session: Session,
    principal: Principal,
    ticket_id: int,
    *,
    now: dt.datetime,
    calendar: WorkingCalendar | None = None,
) -> TicketView:
    """A ticket in the principal's scope (their own included), or NOT_FOUND."""
    row = session.execute(
        select(Ticket, Customer.customer_code, Customer.shop_name, Region.name, User.display_name)
        .outerjoin(Customer, Customer.id == Ticket.customer_id)
        .outerjoin(Region, Region.id == Ticket.region_id)
        .join(User, User.id == Ticket.maker_id)
        .where(Ticket.id == ticket_id, ticket_scope(principal))
    ).first()
    if row is None:
        raise DomainError(NOT_FOUND, "找不到该工单，或不在您的管辖范围内", "id")
    ticket, code, shop, region, maker = row
    cal = calendar or default_calendar()
    steps = _step_views(session, ticket, now, cal)
    changes = change_views(session, ticket.id)
    active = next((s for s in steps if s.status == "active"), None)
    in_scope = session.scalar(
        select(Ticket.id).where(Ticket.id == ticket.id, ticket_scope(principal, own=False))
    )
    may_decide = (
        active is not None and ticket.status in IN_QUEUE and in_scope is not None
        and ticket.maker_id != principal.user_id and active.role == principal.role
    )  # fmt: skip
    active_row = session.scalar(
        select(TicketStep).where(TicketStep.ticket_id == ticket.id, TicketStep.status == "active")
    )
    payload: dict[str, Any] = ticket.payload or {}
    return TicketView(
        id=ticket.id, type=ticket.type,
        type_name=getattr(ticket_types().get(ticket.type), "name", ticket.type),
        status=ticket.status, title=ticket.title, reason=ticket.reason,
        created_at=ticket.created_at, updated_at=ticket.updated_at, closed_at=ticket.closed_at,
        customer_id=ticket.customer_id, customer_code=code, shop_name=shop, region_name=region,
        maker_id=ticket.maker_id, maker_name=maker, payload=payload, steps=steps,
        changes=changes, warnings=list(payload.get("warnings", [])), active=active,
        may_decide=may_decide,
        single_reason=single_review_reason(ticket, active_row, now) if active_row else None,
        location=location_move(changes),
    )  # fmt: skip

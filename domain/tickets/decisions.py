"""Step decisions. The ticket row is locked first (then its customer), so concurrent
decisions serialise; the last approval applies the change once, or marks the ticket
``stale`` when the record moved on since the proposal."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.access import Principal
from domain.catalogue import field
from domain.catalogue.validate import validate_changes
from domain.customers.apply import apply_values
from domain.errors import FORBIDDEN, INVALID, NOT_FOUND, DomainError
from domain.models import Customer, Notification, Ticket, TicketChange, TicketStep
from domain.tickets.engine import activate, default_calendar, record_changes
from domain.tickets.places import keep_place_on_route
from domain.tickets.scope import in_ticket_scope
from domain.tickets.types import ticket_type
from domain.values import from_json
from domain.vault import Vault
from domain.workcal import WorkingCalendar

OPEN = ("open", "applied")  # applied tickets may still have verification steps

# Ticket types whose change is not one customer's values (a route plan): their own
# procedure applies them at the applying step (registered by the module that owns them).
ApplyProcedure = Callable[[Session, Principal, Ticket, Vault, dt.datetime], None]
APPLY_PROCEDURES: dict[str, ApplyProcedure] = {}


def _lock(session: Session, ticket_id: int) -> Ticket:
    stmt = select(Ticket).where(Ticket.id == ticket_id).with_for_update()
    # populate_existing: rows read earlier in the transaction are replaced by the locked ones
    ticket = session.scalar(stmt.execution_options(populate_existing=True))
    if ticket is None:
        raise DomainError(NOT_FOUND, "找不到该工单", "id")
    return ticket


def _steps(session: Session, ticket: Ticket) -> list[TicketStep]:
    stmt = select(TicketStep).where(TicketStep.ticket_id == ticket.id).order_by(TicketStep.position)
    return list(session.scalars(stmt.execution_options(populate_existing=True)))


def _active(steps: list[TicketStep]) -> TicketStep | None:
    return next((s for s in steps if s.status == "active"), None)


def _acting_step(
    session: Session, principal: Principal, ticket: Ticket
) -> tuple[TicketStep, list[TicketStep]]:
    """The active step the principal may decide, or a DomainError saying why not."""
    if not in_ticket_scope(session, principal, ticket):
        raise DomainError(NOT_FOUND, "找不到该工单，或不在您的管辖范围内", "id")
    if principal.user_id == ticket.maker_id:  # whatever the state: no race decides the answer
        raise DomainError(FORBIDDEN, "制单人不能审批自己的工单", "id")
    steps = _steps(session, ticket)
    step = _active(steps)
    if ticket.status == "returned":
        raise DomainError(INVALID, "该工单已退回制单人修改", "id")
    if ticket.status not in OPEN or step is None:
        raise DomainError(INVALID, f"该工单已结束（{ticket.status}），不能再审批", "id")
    if principal.role != step.role:
        raise DomainError(FORBIDDEN, f"当前步骤「{step.name}」不由您的角色办理", "id")
    return step, steps


def _decide(
    step: TicketStep, principal: Principal, decision: str, comment: str | None, now: dt.datetime
) -> None:
    step.decision = decision
    step.decided_by_id = principal.user_id
    step.decided_at = now
    step.comment = comment


def _notify_user(session: Session, user_id: int, ticket: Ticket, kind: str, text: str) -> None:
    session.add(Notification(kind=kind, user_id=user_id, ticket_id=ticket.id, text=text))


def mark_stale(session: Session, ticket: Ticket, now: dt.datetime, why: str) -> None:
    """The records moved on since the proposal: the ticket is closed as ``stale``, nothing
    applied, and its maker told ``why`` (the sentence after the ticket's title)."""
    ticket.status = "stale"
    ticket.closed_at = now
    _notify_user(session, ticket.maker_id, ticket, "ticket_stale", f"工单「{ticket.title}」{why}")


def _apply(
    session: Session,
    principal: Principal,
    ticket: Ticket,
    step: TicketStep,
    vault: Vault,
    now: dt.datetime,
) -> None:
    """The last approval: apply the ticket's values once, or mark it stale."""
    procedure = APPLY_PROCEDURES.get(ticket.type)
    if procedure is not None:
        procedure(session, principal, ticket, vault, now)
        return
    if ticket.customer_id is None:
        ticket.status = "applied"
        return
    customer = session.scalar(
        select(Customer)
        .where(Customer.id == ticket.customer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert customer is not None
    if customer.version != ticket.base_version:
        mark_stale(session, ticket, now, "提交后客户档案已有更新，未予执行，请按最新档案重新提交。")
        return
    if not keep_place_on_route(session, ticket, vault):  # a route's place taken meanwhile
        mark_stale(
            session, ticket, now,
            "提交后该线路上的这一送货顺序已被其他客户占用，未予执行，请按最新线路重新提交。",
        )  # fmt: skip
        return
    changes = session.scalars(select(TicketChange).where(TicketChange.ticket_id == ticket.id))
    values = {c.field_key: from_json(field(c.field_key), vault.open(c.new_value)) for c in changes}
    apply_values(
        session, customer, values, actor_id=principal.user_id, request_id=principal.request_id,
        source="ticket", vault=vault, ticket_id=ticket.id, now=now,
        location_input=(ticket.payload or {}).get("locationInput"),
    )  # fmt: skip
    ticket.status = "applied"
    spec = next(
        (s for s in ticket_type(ticket.type).steps if s.key == step.key.split(":")[0]), None
    )
    if spec is not None and spec.notify == "customers":
        session.add(
            Notification(
                kind=ticket.type, customer_id=customer.id, ticket_id=ticket.id,
                text=f"尊敬的{customer.shop_name}：您的{ticket_type(ticket.type).name}已生效，"
                "请留意新的订货日和送货日。",
            )
        )  # fmt: skip


def approve_ticket(
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
    """Approve the active step (filling its fields); the applying step applies the change."""
    ticket = _lock(session, ticket_id)
    step, steps = _acting_step(session, principal, ticket)
    if step.kind == "notice" and step.due_at is not None and now < step.due_at:
        raise DomainError(INVALID, f"公示期未满，{step.due_at:%Y-%m-%d %H:%M} 后方可办理", "id")
    if step.kind == "notice" and (ticket.payload or {}).get("appeal_open"):
        raise DomainError(INVALID, "公示期内的申诉尚未处理，处理后方可办理", "id")
    if values:
        not_fillable = [k for k in values if k not in step.fills]
        if not_fillable:
            raise DomainError(
                FORBIDDEN, f"本步骤不能填写：{', '.join(not_fillable)}", not_fillable[0]
            )
        customer = session.get(Customer, ticket.customer_id) if ticket.customer_id else None
        record_changes(
            session, ticket, customer, validate_changes(session, customer, values), vault
        )
        session.flush()
    _decide(step, principal, "approve", comment, now)
    step.status = "done"
    if step.applies:
        _apply(session, principal, ticket, step, vault, now)
    following = [s for s in steps if s.position > step.position]
    if ticket.status in OPEN and following:
        activate(following[0], now, calendar or default_calendar())
    elif ticket.status in OPEN:
        ticket.closed_at = now
    ticket.updated_at = now
    session.flush()
    return ticket


def reject_ticket(
    session: Session, principal: Principal, ticket_id: int, *, reason: str, now: dt.datetime
) -> Ticket:
    if not reason or not reason.strip():
        raise DomainError(INVALID, "驳回须填写理由", "reason")
    ticket = _lock(session, ticket_id)
    step, _ = _acting_step(session, principal, ticket)
    if ticket.status == "applied":
        raise DomainError(INVALID, "变更已执行，复核步骤只能退回或通过", "id")
    _decide(step, principal, "reject", reason.strip(), now)
    step.status = "done"
    ticket.status, ticket.closed_at, ticket.updated_at = "rejected", now, now
    _notify_user(
        session,
        ticket.maker_id,
        ticket,
        "ticket_rejected",
        f"工单「{ticket.title}」被驳回：{reason.strip()}",
    )
    session.flush()
    return ticket


def return_ticket(
    session: Session, principal: Principal, ticket_id: int, *, reason: str, now: dt.datetime
) -> Ticket:
    """Send the ticket back to its maker for correction; the same step resumes on resubmit."""
    if not reason or not reason.strip():
        raise DomainError(INVALID, "退回须填写理由", "reason")
    ticket = _lock(session, ticket_id)
    step, _ = _acting_step(session, principal, ticket)
    if ticket.status == "applied":
        raise DomainError(INVALID, "变更已执行，不能退回修改", "id")
    _decide(step, principal, "return", reason.strip(), now)
    ticket.status, ticket.updated_at = "returned", now
    _notify_user(
        session,
        ticket.maker_id,
        ticket,
        "ticket_returned",
        f"工单「{ticket.title}」被退回修改：{reason.strip()}",
    )
    session.flush()
    return ticket


def resubmit_ticket(
    session: Session,
    principal: Principal,
    ticket_id: int,
    *,
    vault: Vault,
    now: dt.datetime,
    values: Mapping[str, Any] | None = None,
    calendar: WorkingCalendar | None = None,
) -> Ticket:
    """The maker corrects a returned ticket; the step that returned it starts again."""
    ticket = _lock(session, ticket_id)
    if ticket.maker_id != principal.user_id:
        raise DomainError(FORBIDDEN, "只有制单人可以重新提交", "id")
    if ticket.status != "returned":
        raise DomainError(INVALID, "只有被退回的工单可以重新提交", "id")
    if values:
        customer = session.get(Customer, ticket.customer_id) if ticket.customer_id else None
        proposed = {
            c.field_key
            for c in session.scalars(
                select(TicketChange).where(TicketChange.ticket_id == ticket.id)
            )
        }
        extra = [k for k in values if k not in proposed]
        if extra:
            raise DomainError(
                INVALID, f"重新提交只能修改原提议的字段：{', '.join(extra)}", extra[0]
            )
        record_changes(
            session, ticket, customer, validate_changes(session, customer, values), vault
        )
    step = _active(_steps(session, ticket))
    assert step is not None
    step.decision = step.decided_by_id = step.decided_at = None
    activate(step, now, calendar or default_calendar())
    ticket.status, ticket.updated_at = "open", now
    session.flush()
    return ticket


def withdraw_ticket(
    session: Session, principal: Principal, ticket_id: int, *, now: dt.datetime
) -> Ticket:
    ticket = _lock(session, ticket_id)
    if ticket.maker_id != principal.user_id:
        if not in_ticket_scope(session, principal, ticket):  # its existence is not disclosed
            raise DomainError(NOT_FOUND, "找不到该工单，或不在您的管辖范围内", "id")
        raise DomainError(FORBIDDEN, "只有制单人可以撤回工单", "id")
    if ticket.status not in ("open", "returned"):
        raise DomainError(INVALID, f"该工单已结束（{ticket.status}），不能撤回", "id")
    step = _active(_steps(session, ticket))
    if step is not None:
        _decide(step, principal, "withdraw", None, now)
        step.status = "done"
    ticket.status, ticket.closed_at, ticket.updated_at = "withdrawn", now, now
    session.flush()
    return ticket

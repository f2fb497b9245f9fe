"""A ready plan becomes one ticket; its final approval applies every item through the
ledger, all or nothing, and the affected shops are notified (``apply_values`` tells a
customer whenever its route or order day changes).

If any shop of the plan changed since the plan was computed (its ``version``), or a place
(route, sequence) the plan gives is held meanwhile by a shop outside it, nothing is
applied: the ticket and the plan go ``stale`` and the maker is told to re-plan.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, insert, select, tuple_
from sqlalchemy.orm import Session

from domain.access import READ, Principal, field_right, role_rights
from domain.catalogue import field
from domain.customers.apply import apply_values
from domain.errors import FORBIDDEN, INVALID, NO_CHANGE, NOT_FOUND, DomainError
from domain.ledger import stored_form
from domain.models import Customer, RoutePlan, RoutePlanItem, Ticket, TicketChange
from domain.planning.service import may_plan
from domain.tickets.decisions import APPLY_PROCEDURES, mark_stale
from domain.tickets.engine import open_ticket
from domain.vault import Vault

ROUTE_TICKET = "route_plan"
VISIT_TICKET = "visit_plan"
FIELDS = {
    "delivery_route": ("old_route_id", "new_route_id"),
    "delivery_sequence": ("old_sequence", "new_sequence"),
    "order_batch": ("old_order_batch", "new_order_batch"),
    "visit_batch": ("old_visit_batch", "new_visit_batch"),
}
KIND_NAMES = {
    "day": "线路规划", "quarterly": "季度线路调整", "resequence": "线路重排送货顺序",
    "insert": "新客户插入线路", "visit_batches": "客户经理拜访批次", "move": "地图调整线路",
}  # fmt: skip


def get_plan(
    session: Session, principal: Principal, plan_id: int, *, lock: bool = False
) -> RoutePlan:
    """A plan its maker or a city-wide role may see."""
    stmt = select(RoutePlan).where(RoutePlan.id == plan_id)
    plan = session.scalar(stmt.with_for_update() if lock else stmt)
    visible = plan is not None and (
        plan.created_by_id == principal.user_id or role_rights(principal.role).scope == "city"
    )
    if plan is None or not visible:
        raise DomainError(NOT_FOUND, "找不到该线路规划", "id")
    return plan


def submit_plan(
    session: Session, principal: Principal, plan_id: int, *, reason: str | None,
    vault: Vault, now: dt.datetime,
) -> Ticket:  # fmt: skip
    plan = get_plan(session, principal, plan_id, lock=True)
    if plan.kind == "visit_batches":
        if field_right(principal, field("visit_batch")) == READ:
            raise DomainError(FORBIDDEN, "您无权提交拜访批次调整", "id")
    else:
        may_plan(principal)
    if plan.status != "ready":
        raise DomainError(
            INVALID, f"该规划当前状态为 {plan.status}，只有已算好的规划可以提交", "id"
        )
    items = list(session.scalars(select(RoutePlanItem).where(RoutePlanItem.plan_id == plan.id)))
    if not items:
        raise DomainError(NO_CHANGE, "该规划与现状相同，没有需要提交的调整", "id")
    ticket = open_ticket(
        session, principal, values={}, vault=vault, now=now, reason=reason, customer=None,
        type_key=VISIT_TICKET if plan.kind == "visit_batches" else ROUTE_TICKET,
        title=f"{KIND_NAMES[plan.kind]}（规划 #{plan.id}，涉及 {len(items)} 家客户）",
        payload={"planId": plan.id, "shops": len(items)},
    )  # fmt: skip
    rows = [
        {"ticket_id": ticket.id, "customer_id": item.customer_id, "field_key": key,
         "old_value": stored_form(field(key), getattr(item, old), vault),
         "new_value": stored_form(field(key), getattr(item, new), vault)}
        for item in items
        for key, (old, new) in FIELDS.items()
        if getattr(item, old) != getattr(item, new)
    ]  # fmt: skip
    session.execute(insert(TicketChange), rows)
    plan.status = "submitted"
    plan.ticket_id = ticket.id
    session.flush()
    return ticket


def apply_plan_ticket(
    session: Session, principal: Principal, ticket: Ticket, vault: Vault, now: dt.datetime
) -> None:
    """The final approval of a plan's ticket: apply all items, or none (stale)."""
    plan = session.scalar(
        select(RoutePlan).where(RoutePlan.ticket_id == ticket.id).with_for_update()
    )
    if plan is None:
        raise DomainError(NOT_FOUND, "工单对应的线路规划不存在", "id")
    items = {
        i.customer_id: i
        for i in session.scalars(select(RoutePlanItem).where(RoutePlanItem.plan_id == plan.id))
    }
    customers = session.scalars(
        select(Customer).where(Customer.id.in_(list(items))).order_by(Customer.id)
        .with_for_update().execution_options(populate_existing=True)
    ).all()  # fmt: skip
    moved = [c for c in customers if c.version != items[c.id].base_version]
    if moved or len(customers) != len(items):
        _stale(session, ticket, plan, now, len(moved) or len(items) - len(customers))
        return
    taken = _places_taken(session, list(items.values()))
    if taken:
        _stale(session, ticket, plan, now, taken)
        return
    for customer in customers:
        item = items[customer.id]
        values: dict[str, Any] = {
            key: getattr(item, new) for key, (old, new) in FIELDS.items()
            if getattr(item, old) != getattr(item, new)
        }  # fmt: skip
        apply_values(
            session, customer, values, actor_id=principal.user_id,
            request_id=principal.request_id, source="ticket", vault=vault,
            ticket_id=ticket.id, now=now,
        )  # fmt: skip
    ticket.status = "applied"
    plan.status = "applied"


def _places_taken(session: Session, items: list[RoutePlanItem]) -> int:
    """How many of the places (route, sequence) the plan gives are held meanwhile by a shop
    outside it (e.g. another plan approved first put one there): applying would break the
    route's unique sequence, so the plan is stale rather than an error at commit."""
    places = [(i.new_route_id, i.new_sequence) for i in items if i.new_route_id is not None]
    if not places:
        return 0
    held = select(func.count()).where(
        tuple_(Customer.delivery_route_id, Customer.delivery_sequence).in_(places),
        Customer.id.not_in([i.customer_id for i in items]),
    )
    return int(session.scalar(held) or 0)


def _stale(session: Session, ticket: Ticket, plan: RoutePlan, now: dt.datetime, n: int) -> None:
    plan.status = "stale"
    why = f"提交后有 {n} 家客户的档案已变更，整个规划未予执行，请重新规划后再提交。"
    mark_stale(session, ticket, now, why)


APPLY_PROCEDURES[ROUTE_TICKET] = apply_plan_ticket
APPLY_PROCEDURES[VISIT_TICKET] = apply_plan_ticket

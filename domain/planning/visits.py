"""Visit batches (拜访批次): a customer manager's shops split into N weekday batches,
compact on the map and balanced in size (±10 %), as a plan to approve; and the
consistency check over order day, delivery day and visit batch.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from domain.access import READ, Principal, customer_scope, field_right
from domain.catalogue import field
from domain.errors import FORBIDDEN, INVALID, NOT_FOUND, DomainError
from domain.jobs import Progress, enqueue
from domain.models import Customer, DeliveryRoute, RoutePlan, RoutePlanItem, User
from domain.planning.quarterly import best_days
from geo import vrp

BATCH_TOLERANCE = 0.10


def start_visit_batches(
    session: Session, principal: Principal, manager_id: int, batches: int
) -> RoutePlan:
    """Queue the computation of a manager's visit batches (weekdays 1..batches)."""
    from domain.planning.service import JOB_KIND

    if field_right(principal, field("visit_batch")) == READ:
        raise DomainError(FORBIDDEN, "您无权调整客户经理拜访批次", "managerId")
    if not 1 <= batches <= 7:
        raise DomainError(INVALID, "拜访批次数须在 1 到 7 之间", "batches")
    manager = session.get(User, manager_id)
    if manager is None or manager.role != "customer_manager":
        raise DomainError(NOT_FOUND, "找不到该客户经理", "managerId")
    shops = _shops_query(manager_id).where(customer_scope(principal))
    count = session.scalar(select(func.count()).select_from(shops.subquery()))
    total = session.scalar(select(func.count()).select_from(_shops_query(manager_id).subquery()))
    if not total or count != total:
        raise DomainError(NOT_FOUND, "该客户经理的客户不在您的管辖范围内", "managerId")
    if total < batches:
        raise DomainError(INVALID, f"该客户经理只有 {total} 家客户，少于批次数", "batches")
    plan = RoutePlan(
        kind="visit_batches",
        status="computing",
        manager_id=manager_id,
        params={"manager_id": manager_id, "batches": batches},
        created_by_id=principal.user_id,
    )
    session.add(plan)
    session.flush()
    plan.job_id = enqueue(session, JOB_KIND, {"plan_id": plan.id}, principal.user_id).id
    session.flush()
    return plan


def _shops_query(manager_id: int) -> Select[Any]:
    c = Customer
    return select(
        c.id, c.version, func.ST_X(c.location), func.ST_Y(c.location), c.visit_batch,
        c.delivery_route_id, c.delivery_sequence, c.order_batch,
    ).where(
        c.customer_manager_id == manager_id, c.status != "closed", c.location.is_not(None)
    )  # fmt: skip


def _spread_m(xy: np.ndarray, labels: np.ndarray) -> float:
    """Mean distance of a shop to its batch's centre, in metres."""
    total = 0.0
    for label in set(labels.tolist()):
        pts = xy[labels == label]
        total += float(np.linalg.norm(pts - pts.mean(axis=0), axis=1).sum())
    return round(total / len(xy), 1)


def compute_visits(
    session: Session, plan: RoutePlan, progress: Progress
) -> tuple[list[RoutePlanItem], dict[str, Any]]:
    manager_id, k = int(plan.params["manager_id"]), int(plan.params["batches"])
    rows = session.execute(_shops_query(manager_id).order_by(Customer.id)).all()
    progress.check(f"已载入 {len(rows)} 家客户，开始分批")
    xy = vrp.lnglat_to_xy([(r[2], r[3]) for r in rows])
    labels = vrp.balanced_clusters(xy, k, tolerance=BATCH_TOLERANCE, seed=1)
    batch_of = best_days(labels, [r.visit_batch for r in rows], list(range(1, k + 1)))
    items = []
    for label, row in zip(labels.tolist(), rows, strict=True):
        new = batch_of[label]
        if new == row.visit_batch:
            continue
        items.append(
            RoutePlanItem(
                plan_id=plan.id, customer_id=row.id, base_version=row.version,
                old_route_id=row.delivery_route_id, new_route_id=row.delivery_route_id,
                old_sequence=row.delivery_sequence, new_sequence=row.delivery_sequence,
                old_order_batch=row.order_batch, new_order_batch=row.order_batch,
                old_visit_batch=row.visit_batch, new_visit_batch=new,
            )
        )  # fmt: skip
    old = np.array([r.visit_batch or 0 for r in rows])
    summary = {
        "managerId": manager_id, "batches": k, "shops": len(rows),
        "before": {"sizes": _sizes(old.tolist()), "spreadM": _spread_m(xy, old)},
        "after": {"sizes": _sizes([batch_of[c] for c in labels.tolist()]),
                  "spreadM": _spread_m(xy, labels)},
    }  # fmt: skip
    return items, summary


def _sizes(batches: list[int]) -> dict[str, int]:
    return {str(b): n for b, n in sorted(Counter(batches).items())}


def batch_violations(
    session: Session,
    principal: Principal,
    *,
    manager_id: int | None = None,
    depot_id: int | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Shops whose order day, delivery day and visit batch don't fit together: no route or
    order day, an order day that does not precede the delivery day within the week
    (Monday's deliveries are ordered the week before: Friday to Sunday), or no visit
    batch. In the caller's scope, optionally one manager's or one depot's shops."""
    c, r = Customer, DeliveryRoute
    stmt = (
        select(c.id, c.customer_code, c.shop_name, c.order_batch, c.visit_batch, r.weekday)
        .outerjoin(r, r.id == c.delivery_route_id)
        .where(c.status != "closed", customer_scope(principal))
        .order_by(c.id)
    )
    if manager_id is not None:
        stmt = stmt.where(c.customer_manager_id == manager_id)
    if depot_id is not None:
        stmt = stmt.where(r.depot_id == depot_id)
    out = []
    for row in session.execute(stmt):
        for kind, text in _row_problems(row.order_batch, row.visit_batch, row.weekday):
            out.append({"customerId": row.id, "code": row.customer_code, "kind": kind,
                        "message": f"{row.shop_name}：{text}"})  # fmt: skip
            if len(out) >= limit:
                return out
    return out


def _row_problems(
    order: int | None, visit: int | None, weekday: int | None
) -> list[tuple[str, str]]:
    problems = []
    if weekday is None:
        problems.append(("no_route", "未分配送货线路"))
    if order is None:
        problems.append(("no_order_batch", "未设置订货批次"))
    elif weekday is not None and not _precedes(order, weekday):
        problems.append(("order_not_before_delivery", "订货日不在送货日之前"))
    if visit is None:
        problems.append(("no_visit_batch", "未分配拜访批次"))
    return problems


def _precedes(order: int, delivery: int) -> bool:
    if delivery == 1:
        return order in (5, 6, 7)
    return order < delivery

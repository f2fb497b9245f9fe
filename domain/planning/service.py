"""Route planning as a service: a planner's request becomes a stored plan computed by a
background job; nothing is applied until the plan's ticket is approved.

``start_route_plan`` validates the request and queues the job, returning the plan (status
``computing``) at once. The job computes the routes, stores one item per shop whose route,
sequence or order day changes, and the per-route figures before and after; the plan is
then ``ready`` (or ``failed``/``cancelled``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from domain.access import EDIT, Principal, customer_scope, field_right
from domain.catalogue import field
from domain.errors import FORBIDDEN, NOT_FOUND, DomainError
from domain.jobs import FAILURE_HOOKS, Progress, enqueue, handler
from domain.models import Customer, DeliveryRoute, Depot, Job, RoutePlan, RoutePlanItem
from domain.planning.compute import (
    DayResult,
    insert_shops,
    resequence_lane,
    route_figures,
    solve_day,
)
from domain.planning.problem import DayProblem, Shop, day_problem
from domain.planning.requests import PlanRequest, distinct, validate_request
from domain.planning.settings import PlanningSettings
from geo import vrp

JOB_KIND = "route_plan"
# Set by the composition root (api) before a worker runs jobs; tests pass their own.
SETTINGS: dict[str, PlanningSettings] = {"planning": PlanningSettings()}


def may_plan(principal: Principal) -> None:
    """Planning the delivery network is the job of those who maintain routes."""
    if field_right(principal, field("delivery_route")) != EDIT:
        raise DomainError(FORBIDDEN, "只有配送部可以进行线路规划", "input")


def start_route_plan(session: Session, principal: Principal, req: PlanRequest) -> RoutePlan:
    """Check the request, store the plan (computing) and queue its job."""
    may_plan(principal)
    validate_request(req)
    req = _resolve(session, principal, req)
    plan = RoutePlan(
        kind=req.mode, status="computing", depot_id=req.depot_id, weekday=req.weekday,
        params=req.to_json(), created_by_id=principal.user_id,
    )  # fmt: skip
    session.add(plan)
    session.flush()
    job = enqueue(session, JOB_KIND, {"plan_id": plan.id}, principal.user_id)
    plan.job_id = job.id
    session.flush()
    return plan


def _resolve(session: Session, principal: Principal, req: PlanRequest) -> PlanRequest:
    """Fill what follows from the request (a route's depot and weekday) and check ids."""
    if req.mode == "resequence":
        route = session.get(DeliveryRoute, req.route_id)
        if route is None:
            raise DomainError(NOT_FOUND, "找不到该送货线路", "routeId")
        return replace(req, depot_id=route.depot_id, weekday=route.weekday, customer_ids=(),
                       days=())  # fmt: skip
    if req.mode == "insert":
        ids = distinct(req.customer_ids)
        seen = set(session.scalars(
            select(Customer.id).where(Customer.id.in_(ids), customer_scope(principal))
        ))  # fmt: skip
        missing = [i for i in ids if i not in seen]
        if missing:
            raise DomainError(
                NOT_FOUND, f"找不到客户 {missing[0]}，或不在您的管辖范围内", "customerIds"
            )
        req = replace(req, customer_ids=ids, days=())
    if req.depot_id is not None and session.get(Depot, req.depot_id) is None:
        raise DomainError(NOT_FOUND, "找不到该配送站点", "depotId")
    return req


def _day(settings: PlanningSettings, session: Session, req: PlanRequest) -> DayProblem:
    assert req.depot_id is not None and req.weekday is not None
    return day_problem(
        settings, session, req.depot_id, req.weekday, max_stops=req.max_stops,
        service_min=req.service_min, extra_customer_ids=req.customer_ids,
        balance=vrp.Balance(rule=req.balance_rule, tolerance=req.balance_tolerance),  # type: ignore[arg-type]
    )  # fmt: skip


def solve_request(
    day: DayProblem, req: PlanRequest, budget_s: float, progress: Progress | None
) -> DayResult:
    """Run the mode's computation on a loaded day (no database access)."""

    def report(fraction: float) -> bool:
        return progress is None or progress(0.1 + 0.85 * fraction)

    if req.mode == "resequence":
        assert req.route_id is not None
        return resequence_lane(day, req.route_id, budget_s=min(budget_s, 30.0), seed=req.seed)
    if req.mode == "insert":
        return insert_shops(day, req.customer_ids)
    return solve_day(day, budget_s=budget_s, seed=req.seed,
                     locked_route_ids=req.locked_route_ids, on_progress=report)  # fmt: skip


def items_for(
    plan_id: int,
    day: DayProblem,
    routes: Sequence[Sequence[int]],
    order_batch: Mapping[int, int] | None = None,
) -> list[RoutePlanItem]:
    """One item per shop whose route, sequence or (given) order day changes."""
    items = []
    for k, route in enumerate(routes):
        lane = day.lanes[k]
        pinned = [s for s in day.unplaced if s.route_id == lane.route_id]
        for pos, shop in enumerate([*(day.shops[i] for i in route), *pinned], start=1):
            new_order = (order_batch or {}).get(lane.weekday, shop.order_batch)
            item = route_item(plan_id, shop, lane.route_id, pos, new_order)
            if item is not None:
                items.append(item)
    return items


def route_item(
    plan_id: int, shop: Shop, route_id: int, sequence: int, order_batch: Any
) -> RoutePlanItem | None:
    """The plan's item moving ``shop`` to ``sequence`` on ``route_id`` (with that order
    day); None when the shop is there already."""
    if (shop.route_id, shop.sequence, shop.order_batch) == (route_id, sequence, order_batch):
        return None
    return RoutePlanItem(
        plan_id=plan_id, customer_id=shop.id, base_version=shop.version,
        old_route_id=shop.route_id, old_sequence=shop.sequence,
        new_route_id=route_id, new_sequence=sequence,
        old_order_batch=shop.order_batch, new_order_batch=order_batch,
        old_visit_batch=shop.visit_batch, new_visit_batch=shop.visit_batch,
    )  # fmt: skip


def day_summary(
    day: DayProblem,
    result: DayResult,
    budget_s: float | None,
    wall_s: float,
    locked: Sequence[int] = (),
) -> dict[str, Any]:
    return {
        "depotId": day.depot_id, "weekday": day.weekday, "shops": len(day.shops),
        "before": route_figures(day, day.current, locked),
        "after": route_figures(day, result.routes, locked),
        "unassigned": [day.shops[i].id for i in result.unassigned],
        "unplaced": [s.id for s in day.unplaced], "solverS": round(result.solver_s, 3),
        "budgetS": budget_s, "wallS": round(wall_s, 3),
    }  # fmt: skip


@handler(JOB_KIND)
def run_plan_job(sessions: sessionmaker[Session], job: Job, progress: Progress) -> dict[str, Any]:
    """Load (one short read), solve (no transaction open), store (one short write)."""
    settings = SETTINGS["planning"]
    plan_id = int(job.params["plan_id"])
    started = time.monotonic()
    with sessions() as session:
        plan = session.get(RoutePlan, plan_id)
        if plan is None:
            raise DomainError(NOT_FOUND, "找不到该线路规划", "id")
        kind = plan.kind
        if kind == "visit_batches":
            from domain.planning.visits import compute_visits

            items, summary = compute_visits(session, plan, progress)
        else:
            req = PlanRequest.from_json(plan.params)
            loaded = _load(settings, session, req)
    if kind != "visit_batches":
        items, summary = _solve(settings, loaded, plan_id, req, progress, started)
    progress.check("保存规划结果")
    summary["moves"] = len(items)
    summary["routeChanges"] = sum(1 for i in items if i.old_route_id != i.new_route_id)
    summary["wallS"] = round(time.monotonic() - started, 3)
    with sessions.begin() as session:
        plan = session.get(RoutePlan, plan_id, with_for_update=True)
        assert plan is not None
        session.add_all(items)
        plan.summary = summary
        plan.status = "ready"
    return {"planId": plan_id, "moves": len(items)}


def _load(settings: PlanningSettings, session: Session, req: PlanRequest) -> Any:
    if req.mode == "quarterly":
        from domain.planning.quarterly import load_quarter

        return load_quarter(settings, session, req)
    return _day(settings, session, req)


def _solve(
    settings: PlanningSettings,
    loaded: Any,
    plan_id: int,
    req: PlanRequest,
    progress: Progress,
    started: float,
) -> tuple[list[RoutePlanItem], dict[str, Any]]:
    if req.mode == "quarterly":
        from domain.planning.quarterly import solve_quarter

        return solve_quarter(settings, loaded, plan_id, req, progress)
    day: DayProblem = loaded
    progress.check(f"已载入 {len(day.shops)} 家客户、{len(day.lanes)} 条线路，开始计算")
    budget = settings.budget_s(len(day.shops), req.time_limit_s)
    result = solve_request(day, req, budget, progress)
    items = items_for(plan_id, day, result.routes)
    return items, day_summary(day, result, budget, time.monotonic() - started, req.locked_route_ids)


def _plan_failed(session: Session, job: Job) -> None:
    plan = session.scalar(select(RoutePlan).where(RoutePlan.job_id == job.id))
    if plan is not None and plan.status == "computing":
        plan.status = "cancelled" if job.status == "cancelled" else "failed"


FAILURE_HOOKS[JOB_KIND] = _plan_failed

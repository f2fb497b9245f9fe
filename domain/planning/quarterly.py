"""The quarterly re-plan of a depot: every shop gets a delivery weekday and a route.

Shops are split into as many compact, balanced groups (±10 %) as the depot has delivery
days; each group goes to the weekday it overlaps most today (fewest shops change day);
then each day is planned on that day's routes and vehicles. A shop's order day becomes
the working day before its delivery day (Monday's deliveries are ordered on Friday).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.errors import INVALID, DomainError
from domain.jobs import Progress
from domain.models import Customer, DeliveryRoute, RoutePlanItem
from domain.planning.compute import route_figures, solve_day
from domain.planning.problem import (
    DayProblem,
    build_problem,
    current_routes,
    day_lanes,
    day_problem,
    depot_point,
    load_shops,
)
from domain.planning.requests import PlanRequest
from domain.planning.settings import PlanningSettings
from geo import vrp

DAY_TOLERANCE = 0.10


def order_day(weekday: int) -> int:
    """The order day (订货批次) for a delivery weekday: the working day before it."""
    return weekday - 1 if weekday > 1 else 5


@dataclass
class Quarter:
    depot_id: int
    days: list[int]
    before: list[DayProblem]
    after: list[DayProblem]
    moved_day: int


def best_days(labels: np.ndarray, current: Sequence[int | None], days: Sequence[int]) -> list[int]:
    """The day of each group (label 0..k-1): the one-to-one match of groups to ``days``
    that keeps the most items on their ``current`` day (fewest changes for the shops)."""
    k = len(days)
    overlap = np.zeros((k, k), dtype=np.int64)
    for label, day in zip(labels.tolist(), current, strict=True):
        if day in days:
            overlap[label, days.index(day)] += 1
    best = max(
        itertools.permutations(range(k)), key=lambda p: sum(overlap[c, p[c]] for c in range(k))
    )
    return [days[best[c]] for c in range(k)]


@dataclass(frozen=True)
class QuarterSize:
    shops: int  # the open shops with a point on the depot's active routes
    days: int  # the delivery days planned
    solver_s: float  # the solver's budgets of all days: about the plan's duration


def quarter_size(
    settings: PlanningSettings, session: Session, depot_id: int, req: PlanRequest
) -> QuarterSize:
    """What a depot's re-plan will cover and about how long it will compute (each day gets
    the budget ``solve_quarter`` gives it): told to the planner while it runs."""
    r, c = DeliveryRoute, Customer
    routes = select(r.id).where(r.depot_id == depot_id, r.is_active)
    days = len(set(req.days)) or len(
        set(session.scalars(select(r.weekday).where(r.depot_id == depot_id, r.is_active)))
    )
    count = select(func.count()).where(
        c.delivery_route_id.in_(routes.scalar_subquery()), c.status != "closed",
        c.location.is_not(None),
    )  # fmt: skip
    shops = int(session.scalar(count) or 0)
    per_day = round(shops / days) if days else 0
    return QuarterSize(shops, days, days * settings.budget_s(per_day, req.time_limit_s))


def load_quarter(settings: PlanningSettings, session: Session, req: PlanRequest) -> Quarter:
    assert req.depot_id is not None
    point = depot_point(session, req.depot_id)
    routes = session.execute(
        select(DeliveryRoute.id, DeliveryRoute.weekday).where(
            DeliveryRoute.depot_id == req.depot_id, DeliveryRoute.is_active
        )
    ).all()
    current_day = {r.id: r.weekday for r in routes}
    days = sorted(set(req.days) or set(current_day.values()))
    balance = vrp.Balance(rule=req.balance_rule, tolerance=req.balance_tolerance)  # type: ignore[arg-type]
    lanes = {d: day_lanes(session, req.depot_id, d, req.max_stops) for d in days}
    if not days or any(not lanes[d] for d in days):
        raise DomainError(INVALID, "所选送货日中有的没有可用线路和车辆", "days")
    shops, pinned = load_shops(session, route_ids=list(current_day))
    if len(shops) < len(days):
        raise DomainError(INVALID, "该站点的客户太少，无法按天分组", "depotId")
    xy = vrp.lnglat_to_xy([(s.lng, s.lat) for s in shops])
    labels = vrp.balanced_clusters(xy, len(days), tolerance=DAY_TOLERANCE, seed=req.seed)
    weekday_of = best_days(labels, [current_day.get(s.route_id or 0) for s in shops], days)
    before, after = [], []
    for c, day in enumerate(weekday_of):
        before.append(day_problem(settings, session, req.depot_id, day, max_stops=req.max_stops,
                                  service_min=req.service_min, balance=balance))  # fmt: skip
        group = [s for s, label in zip(shops, labels.tolist(), strict=True) if label == c]
        problem = build_problem(settings, session, point, group, lanes[day],
                                service_min=req.service_min, balance=balance)  # fmt: skip
        stay = [s for s in pinned if current_day.get(s.route_id or 0) == day]
        after.append(DayProblem(req.depot_id, point, day, lanes[day], group, problem,
                                current_routes(group, lanes[day]), stay))  # fmt: skip
    moved = sum(1 for s, label in zip(shops, labels.tolist(), strict=True)
                if current_day.get(s.route_id or 0) != weekday_of[label])  # fmt: skip
    return Quarter(req.depot_id, weekday_of, before, after, moved)


def solve_quarter(
    settings: PlanningSettings,
    quarter: Quarter,
    plan_id: int,
    req: PlanRequest,
    progress: Progress,
) -> tuple[list[RoutePlanItem], dict[str, Any]]:
    from domain.planning.service import items_for

    total = sum(len(d.shops) for d in quarter.after) or 1
    done = 0
    items: list[RoutePlanItem] = []
    per_day: list[dict[str, Any]] = []
    for before, day in zip(quarter.before, quarter.after, strict=True):
        started = time.monotonic()
        budget = settings.budget_s(len(day.shops), req.time_limit_s)
        base, share = done / total, len(day.shops) / total

        def report(f: float, base: float = base, share: float = share) -> bool:
            return progress(0.05 + 0.9 * (base + share * f))

        progress.check(f"规划周{'一二三四五六日'[day.weekday - 1]}：{len(day.shops)} 家客户")
        result = solve_day(day, budget_s=budget, seed=req.seed,
                           locked_route_ids=req.locked_route_ids, on_progress=report)  # fmt: skip
        items += items_for(plan_id, day, result.routes, {day.weekday: order_day(day.weekday)})
        per_day.append({
            "weekday": day.weekday, "shops": len(day.shops),
            "before": route_figures(before, before.current, req.locked_route_ids),
            "after": route_figures(day, result.routes, req.locked_route_ids),
            "unassigned": [day.shops[i].id for i in result.unassigned],
            "solverS": round(result.solver_s, 3), "budgetS": budget,
            "wallS": round(time.monotonic() - started, 3),
        })  # fmt: skip
        done += len(day.shops)
    summary = {
        "depotId": quarter.depot_id, "days": per_day, "shops": total,
        "shopsChangingDay": quarter.moved_day,
        "before": _merge([d["before"] for d in per_day]),
        "after": _merge([d["after"] for d in per_day]),
        "unassigned": [i for d in per_day for i in d["unassigned"]],
    }  # fmt: skip
    return items, summary


def _merge(figures: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "routes": [r for f in figures for r in f["routes"]],
        "travelS": sum(f["travelS"] for f in figures),
        "distanceM": sum(f["distanceM"] for f in figures),
        "durationS": sum(f["durationS"] for f in figures),
        "violations": [v for f in figures for v in f["violations"]],
    }

"""The planning computations on a ``DayProblem``: full day plan, re-sequence, insertion,
and the per-route figures before and after.

Each returns the new routes (per lane, stop indices in order) and the solver's plan; the
service turns them into plan items. Shops the solver could not place stay on their
current route, appended after its planned stops, and are listed as unassigned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from domain.errors import INVALID, DomainError
from domain.planning.problem import DayProblem
from geo import vrp

ProgressFn = Callable[[float], bool]


@dataclass(frozen=True)
class DayResult:
    routes: list[list[int]]
    unassigned: list[int]
    solver_s: float


def solve_day(
    day: DayProblem,
    *,
    budget_s: float,
    seed: int,
    locked_route_ids: Sequence[int],
    on_progress: ProgressFn | None,
) -> DayResult:
    locked = {
        k: day.current[k] for k, lane in enumerate(day.lanes) if lane.route_id in locked_route_ids
    }
    if len(locked) == len(day.lanes):
        raise DomainError(INVALID, "所有线路都已锁定，没有可规划的线路", "lockedRouteIds")
    plan = vrp.solve(
        day.problem, time_limit_s=budget_s, seed=seed, locked=locked, on_progress=on_progress
    )
    routes = [list(r) for r in plan.routes]
    unassigned = list(plan.unassigned)
    for i in unassigned:  # keep them where they are, after the planned stops
        k = next((k for k, r in enumerate(day.current) if i in r), None)
        if k is not None:
            routes[k].append(i)
    return DayResult(routes, unassigned, plan.solver_s)


def resequence_lane(day: DayProblem, route_id: int, *, budget_s: float, seed: int) -> DayResult:
    k = next((k for k, lane in enumerate(day.lanes) if lane.route_id == route_id), None)
    if k is None:
        raise DomainError(INVALID, "该线路不在所选送货日中", "routeId")
    routes = [list(r) for r in day.current]
    if len(routes[k]) > 1:
        routes[k] = list(
            vrp.resequence(day.problem, k, routes[k], time_limit_s=budget_s, seed=seed)
        )
    return DayResult(routes, [], 0.0)


def insert_shops(day: DayProblem, customer_ids: Sequence[int]) -> DayResult:
    """Each new shop at its cheapest feasible position; no other stop changes route."""
    index = {shop.id: i for i, shop in enumerate(day.shops)}
    routes: Sequence[Sequence[int]] = day.current
    for customer_id in customer_ids:
        i = index[customer_id]
        try:
            routes = vrp.insert(day.problem, routes, i)
        except vrp.NoFeasibleInsertion:
            raise DomainError(
                INVALID, f"客户 {day.shops[i].code} 在该送货日的任何线路上都无法满足装载、"
                "班次或点数限制，请增加车辆或放宽限制", "customerIds",
            ) from None  # fmt: skip
    return DayResult([list(r) for r in routes], [], 0.0)


def route_figures(
    day: DayProblem, routes: Sequence[Sequence[int]], locked_route_ids: Sequence[int] = ()
) -> dict[str, Any]:
    """Per-route stats and totals as stored in a plan's summary (JSON). A route is feasible
    when it keeps capacity, shift, stop limit and windows; being outside the balance band
    is listed among its violations (locked routes are not held to the band)."""
    exempt = [k for k, lane in enumerate(day.lanes) if lane.route_id in locked_route_ids]
    stats, violations = vrp.evaluate(day.problem, routes, exempt=exempt)
    per_route = []
    for k, (lane, s) in enumerate(zip(day.lanes, stats, strict=True)):
        broken = [v.kind for v in violations if v.vehicle == k]
        hard = [kind for kind in broken if kind != "balance"]
        per_route.append({
            "routeId": lane.route_id, "code": lane.code, "name": lane.name,
            "weekday": lane.weekday, "stops": s.stops, "load": s.load,
            "capacity": lane.vehicle.capacity, "distanceM": s.distance_m,
            "durationS": s.duration_s, "travelS": s.travel_s,
            "shiftS": lane.vehicle.shift_end_s - lane.vehicle.shift_start_s,
            "feasible": not hard, "violations": sorted(set(broken)),
        })  # fmt: skip
    return {
        "routes": per_route,
        "travelS": sum(s.travel_s for s in stats),
        "distanceM": sum(s.distance_m for s in stats),
        "durationS": sum(s.duration_s for s in stats),
        "violations": [
            {
                "kind": v.kind,
                "routeId": day.lanes[v.vehicle].route_id if v.vehicle is not None else None,
                "customerId": day.shops[v.stop].id if v.stop is not None else None,
                "detail": v.detail,
            }
            for v in violations
        ],
    }

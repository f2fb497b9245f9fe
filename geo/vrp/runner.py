"""One PyVRP run on part of a problem, and its routes handed back to concrete vehicles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyvrp

from geo.vrp.balance import stop_cap
from geo.vrp.build import Limits, SubProblem, build, from_solution, to_solution
from geo.vrp.clock import Clock
from geo.vrp.model import Cancelled, Problem

Routes = dict[int, list[int]]


@dataclass(frozen=True)
class Scope:
    """What one run plans: these stops, on these vehicles, within these extra limits."""

    stops: Sequence[int]
    vehicles: Sequence[int]
    limits: Limits


def own_limits(
    problem: Problem,
    stops: Sequence[int],
    vehicles: Sequence[int],
    used: int | None = None,
    cap: int | None = None,
) -> Limits:
    """Each vehicle's stop limit -- its own, and under rule "stops" with ``used`` given,
    the top of the band were the stops spread over that many vehicles -- and ``cap`` as
    the longest route allowed."""
    share = None
    if problem.balance.rule == "stops" and used:
        share = stop_cap(problem.balance.tolerance, len(stops), used)
    limit: dict[int, int] = {}
    for v in vehicles:
        bounds = [b for b in (problem.vehicles[v].max_stops, share) if b is not None]
        if bounds:
            limit[v] = min(bounds)
    return Limits(limit, cap)


def run(
    problem: Problem,
    scope: Scope,
    warm: Mapping[int, Sequence[int]],
    clock: Clock,
    until: float,
    seed: int,
) -> Routes:
    """PyVRP from ``warm`` (if any) until ``until`` of the budget; raises ``Cancelled``."""
    sub = build(problem, scope.stops, scope.vehicles, scope.limits)
    initial = to_solution(sub, warm) if any(warm.values()) else None
    result = pyvrp.solve(
        sub.data, stop=clock.until(until), seed=seed, collect_stats=False, initial_solution=initial
    )
    if clock.cancelled:
        raise Cancelled("the route planning was cancelled")
    return _assign(sub, from_solution(sub, result.best), warm)


def _assign(
    sub: SubProblem, found: list[tuple[int, list[int]]], warm: Mapping[int, Sequence[int]]
) -> Routes:
    """Give each route to a vehicle of its type, preferring the vehicle whose warm-start
    route it overlaps most, so an unchanged route stays with its vehicle."""
    routes: Routes = {v: [] for members in sub.types for v in members}
    for kind, members in enumerate(sub.types):
        mine = [route for t, route in found if t == kind]
        pairs = sorted(
            (-len(set(route) & set(warm.get(v, ()))), i, v)
            for i, route in enumerate(mine)
            for v in members
        )
        given: set[int] = set()
        for _, i, v in pairs:
            if i not in given and not routes[v]:
                routes[v] = mine[i]
                given.add(i)
    return routes

"""The phases of a solve between reading the input and checking the result.

1. zones: a very large day is first solved zone by zone (see ``decompose``);
2. search: PyVRP on the whole day; under rule "duration" in two steps, the second with
   every route capped at the mean duration of the first plus the tolerance;
3. leftovers: any stop the search left out goes where it fits most cheaply;
4. balance: the band is repaired (``rebalance``), then polished: PyVRP once more with
   every used vehicle capped at its current number of stops (and, for "duration", at
   the band's top), so only moves that keep the counts -- re-ordering, swaps -- pass.
   That wins back much of what the repair moves cost.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from geo.vrp.balance import balance_bounds
from geo.vrp.build import Limits
from geo.vrp.clock import Clock
from geo.vrp.decompose import zones
from geo.vrp.evaluate import schedule_route
from geo.vrp.insertion import insertion_options
from geo.vrp.model import Problem
from geo.vrp.rebalance import rebalance
from geo.vrp.runner import Routes, Scope, own_limits, run

ZONE_SHARE = 0.5  # of the search time, spent on the zones of a very large day
SEARCH_END = 0.85  # with a balance rule, the rest of the budget is the polish
FIRST_STEP = 0.4  # of the search time under rule "duration", before the cap is known
POLISH_ALWAYS = False
STOPS_TWO_STEP = True
_NEVER = np.iinfo(np.int64).max


def search(
    problem: Problem,
    stops: Sequence[int],
    vehicles: Sequence[int],
    warm: Routes,
    clock: Clock,
    seed: int,
) -> Routes:
    """Phases 1-4 for the free stops and vehicles; the budget ends at 1.0."""
    rule = problem.balance.rule
    balanced = rule != "none" or POLISH_ALWAYS
    until = SEARCH_END if balanced else 1.0
    two = rule == "duration" or (rule == "stops" and STOPS_TWO_STEP)
    step = until * FIRST_STEP if two else until
    scope = Scope(
        stops, vehicles, own_limits(problem, stops, vehicles, None if two else len(vehicles))
    )
    if not any(warm.values()):
        warm = _by_zones(problem, scope, clock, step * ZONE_SHARE, seed)
    routes = run(problem, scope, warm, clock, step, seed)
    if two:
        used = sum(1 for r in routes.values() if r) or len(vehicles)
        cap = None
        if rule == "duration":
            cap = int(_mean_duration(problem, routes) * (1 + problem.balance.tolerance))
        capped = Scope(stops, vehicles, own_limits(problem, stops, vehicles, used, cap))
        routes = run(problem, capped, routes, clock, until, seed)
    routes = place_leftovers(problem, routes, stops)
    return _balance(problem, routes, vehicles, clock, seed) if balanced else routes


def _by_zones(problem: Problem, scope: Scope, clock: Clock, until: float, seed: int) -> Routes:
    start = done = clock.fraction()
    routes: Routes = {}
    for zone_stops, zone_vehicles in zones(problem, scope.stops, scope.vehicles):
        done += (until - start) * len(zone_stops) / len(scope.stops)
        part = Scope(zone_stops, zone_vehicles, scope.limits)
        routes.update(run(problem, part, {}, clock, done, seed))
    return routes


def _mean_duration(problem: Problem, routes: Routes) -> float:
    durations = [_duration(problem, v, r) for v, r in routes.items() if r]
    return sum(durations) / len(durations) if durations else 0.0


def _duration(problem: Problem, vehicle: int, route: Sequence[int]) -> int:
    return schedule_route(problem, problem.vehicles[vehicle], route)[0].duration_s


def place_leftovers(problem: Problem, routes: Routes, stops: Sequence[int]) -> Routes:
    """Put stops the search left out where they fit, cheapest first, while any fits: the
    search treats stops as optional, so make sure none is left out needlessly."""
    placed = {s for route in routes.values() for s in route}
    left = [s for s in stops if s not in placed]
    options = {v: insertion_options(problem, v, r, left) for v, r in routes.items()}
    while left:
        best: tuple[int, int, int, int] | None = None  # cost, vehicle, stop row, position
        for v, (cost, ok) in options.items():
            if ok.any():
                flat = int(np.where(ok, cost, _NEVER).argmin())
                row, position = divmod(flat, ok.shape[1])
                option = (int(cost[row, position]), v, row, position)
                best = option if best is None or option < best else best
        if best is None:
            break
        _, v, row, position = best
        routes[v].insert(position, left.pop(row))
        options = {
            u: insertion_options(problem, u, routes[u], left)
            if u == v
            else (np.delete(cost, row, axis=0), np.delete(ok, row, axis=0))
            for u, (cost, ok) in options.items()
        }
    return routes


def _balance(
    problem: Problem, routes: Routes, vehicles: Sequence[int], clock: Clock, seed: int
) -> Routes:
    routes = rebalance(problem, routes, vehicles)
    used = [v for v in vehicles if routes.get(v)]
    if not used:
        return routes
    cap = None
    if problem.balance.rule == "duration":
        measured = [_duration(problem, v, routes[v]) for v in used]
        cap = int(balance_bounds("duration", problem.balance.tolerance, measured)[1])
    stops = [s for v in used for s in routes[v]]
    scope = Scope(stops, used, Limits({v: len(routes[v]) for v in used}, cap))
    polished = run(problem, scope, routes, clock, 1.0, seed)
    return rebalance(problem, {**routes, **polished}, vehicles)

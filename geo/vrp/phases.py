"""The phases of a solve between reading the input and checking the result.

1. zones: a very large day (see ``decompose.zones``) is first solved as angular zones;
2. search: PyVRP on the whole day. Under rule "stops" every vehicle is capped at the top
   of the band were the stops spread over all free vehicles (so the plan uses about all
   of them; measured cheaper than first finding out how many it needs). Under rule
   "duration" in two steps, the second with every route capped at the mean duration of
   the first plus the tolerance;
3. groups: on a very large day, the last part of the search improves a few neighbouring
   routes at a time (half the search time; measured 0.5 % shorter than spending it on
   the whole day, because PyVRP iterates about twice as fast on a third of the stops);
4. leftovers: any stop the search left out goes where it fits most cheaply;
5. balance: the band is repaired (``rebalance``), then polished: PyVRP once more with
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
from geo.vrp.decompose import ZONE_STOPS, Floats, Zone, is_large, positions, route_groups, zones
from geo.vrp.evaluate import schedule_route
from geo.vrp.insertion import insertion_options
from geo.vrp.model import Problem
from geo.vrp.rebalance import rebalance
from geo.vrp.runner import Routes, Scope, own_limits, run

ZONE_SHARE = 0.5  # of the search time before the joint search, spent on zones
GROUP_SHARE = 0.5  # of the search time, spent on groups of neighbouring routes at the end
GROUP_ROUNDS = 2
SEARCH_END = 0.85  # with a balance rule, the rest of the budget is the polish
FIRST_STEP = 0.4  # of the search time under rule "duration", before the cap is known
_NEVER = np.iinfo(np.int64).max


def search(
    problem: Problem,
    stops: Sequence[int],
    vehicles: Sequence[int],
    warm: Routes,
    clock: Clock,
    seed: int,
) -> Routes:
    """Phases 1-5 for the free stops and vehicles; the budget ends at 1.0."""
    rule = problem.balance.rule
    balanced = rule != "none"
    until = SEARCH_END if balanced else 1.0
    step = until * FIRST_STEP if rule == "duration" else until
    scope = Scope(stops, vehicles, own_limits(problem, stops, vehicles))
    xy = positions(problem) if is_large(stops, vehicles) else None
    parts = zones(problem, stops, vehicles, xy) if xy is not None else []
    joint = step - (step - clock.fraction()) * GROUP_SHARE if parts else step
    if parts and not any(warm.values()):
        warm = _by_zones(problem, scope, parts, clock, joint * ZONE_SHARE, seed)
    routes = run(problem, scope, warm, clock, joint, seed)
    if rule == "duration":
        cap = int(_mean_duration(problem, routes) * (1 + problem.balance.tolerance))
        scope = Scope(stops, vehicles, own_limits(problem, stops, vehicles, cap))
        joint = until - (until - clock.fraction()) * GROUP_SHARE if parts else until
        routes = run(problem, scope, routes, clock, joint, seed)
    if xy is not None and parts:
        routes = _by_groups(problem, scope, (routes, xy), clock, until, seed)
    routes = place_leftovers(problem, routes, stops)
    return _balance(problem, routes, vehicles, clock, seed) if balanced else routes


def _by_zones(
    problem: Problem, scope: Scope, parts: list[Zone], clock: Clock, until: float, seed: int
) -> Routes:
    start = done = clock.fraction()
    routes: Routes = {}
    for zone_stops, zone_vehicles in parts:
        done += (until - start) * len(zone_stops) / len(scope.stops)
        if zone_stops:
            part = Scope(zone_stops, zone_vehicles, scope.limits)
            routes.update(run(problem, part, {}, clock, done, seed))
    return routes


def _by_groups(
    problem: Problem,
    scope: Scope,
    state: tuple[Routes, Floats],
    clock: Clock,
    until: float,
    seed: int,
) -> Routes:
    """Improve neighbouring routes a few at a time, in rounds over groups of routes
    adjacent around the depot; every other round shifts the groups by half a group so
    that every border between routes lies inside some group."""
    routes, xy = dict(state[0]), state[1]
    for turn in range(GROUP_ROUNDS):
        groups = route_groups(routes, xy, ZONE_STOPS, turn % 2)
        start = done = clock.fraction()
        share = (until - start) / (GROUP_ROUNDS - turn)
        total = sum(len(routes[v]) for group in groups for v in group) or 1
        for group in groups:
            done += share * sum(len(routes[v]) for v in group) / total
            group_stops = [s for v in group for s in routes[v]]
            part = Scope(group_stops, group, scope.limits)
            routes.update(run(problem, part, {v: routes[v] for v in group}, clock, done, seed))
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

"""``solve``: the whole delivery day, PyVRP's iterated local search under one time budget.

Steps: set locked vehicles and their stops aside; report stops no vehicle could serve even
alone; solve the rest (in one piece, or zone by zone then jointly for very large days);
bring every route within the balance band; check the result with ``evaluate``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyvrp
from pyvrp.stop import StoppingCriterion

from geo.vrp.balance import stop_cap
from geo.vrp.build import Limits, SubProblem, build, from_solution, to_solution
from geo.vrp.clock import Clock, Progress
from geo.vrp.decompose import zones
from geo.vrp.evaluate import evaluate, route_is_feasible, schedule_route
from geo.vrp.insertion import cheapest_position
from geo.vrp.model import Cancelled, Plan, Problem
from geo.vrp.rebalance import rebalance

Routes = dict[int, list[int]]
ZONE_SHARE = 0.5  # share of the budget for solving zones of a very large day apart
_FIRST_PHASE = 0.4  # share of the budget before the duration cap is known


def solve(
    problem: Problem,
    *,
    time_limit_s: float,
    seed: int = 1,
    locked: Mapping[int, Sequence[int]] | None = None,
    initial: Sequence[Sequence[int]] | None = None,
    on_progress: Progress | None = None,
) -> Plan:
    """Minimise total travel time under capacity, shift, stop limits, windows and the
    balance rule. Locked vehicles keep their routes exactly; stops no route can take are
    returned in ``unassigned``. Raises ``Cancelled`` when ``on_progress`` returns False."""
    clock = Clock(time_limit_s, on_progress)
    clock.report(0.0)
    fixed = _checked_locked(problem, locked or {})
    vehicles = [v for v in range(len(problem.vehicles)) if v not in fixed]
    taken = {s for route in fixed.values() for s in route}
    stops = [s for s in range(problem.n) if s not in taken and _servable(problem, s, vehicles)]
    warm = _checked_initial(problem, initial, set(stops), vehicles)
    routes = _search(problem, stops, vehicles, warm, clock, seed) if stops and vehicles else {}
    routes = _place_leftovers(problem, routes, stops)
    if problem.balance.rule != "none":
        routes = rebalance(problem, routes, vehicles)
    clock.report(1.0)
    return _plan(problem, {**routes, **fixed}, set(fixed), clock.elapsed())


def _search(
    problem: Problem,
    stops: list[int],
    vehicles: list[int],
    warm: Routes,
    clock: Clock,
    seed: int,
) -> Routes:
    limits = _limits(problem, stops, vehicles, None)
    end = _FIRST_PHASE if problem.balance.rule == "duration" else 1.0
    if not any(warm.values()):
        warm = _by_zones(problem, (stops, vehicles, limits), clock, end * ZONE_SHARE, seed)
    first = _run(problem, (stops, vehicles, limits), warm, clock, end, seed)
    if problem.balance.rule != "duration":
        return first
    durations = [
        schedule_route(problem, problem.vehicles[v], route)[0].duration_s
        for v, route in first.items()
        if route
    ]
    if not durations:
        return first
    cap = int(sum(durations) / len(durations) * (1 + problem.balance.tolerance))
    limits = _limits(problem, stops, vehicles, cap)
    return _run(problem, (stops, vehicles, limits), first, clock, 1.0, seed)


def _by_zones(
    problem: Problem,
    scope: tuple[list[int], list[int], Limits],
    clock: Clock,
    until: float,
    seed: int,
) -> Routes:
    """A start for a very large day: each angular zone solved on its own (see decompose)."""
    stops, vehicles, limits = scope
    parts = zones(problem, stops, vehicles)
    start = done = clock.fraction()
    routes: Routes = {}
    for zone_stops, zone_vehicles in parts:
        done += (until - start) * len(zone_stops) / len(stops)
        routes.update(_run(problem, (zone_stops, zone_vehicles, limits), {}, clock, done, seed))
    return routes


def _limits(problem: Problem, stops: list[int], vehicles: list[int], cap: int | None) -> Limits:
    """Stop limits per vehicle (own limit, and the balance cap for rule "stops")."""
    balanced = problem.balance.rule == "stops"
    share = stop_cap(problem.balance.tolerance, len(stops), len(vehicles)) if balanced else None
    limit: dict[int, int] = {}
    for v in vehicles:
        own = problem.vehicles[v].max_stops
        bounds = [b for b in (own, share) if b is not None]
        if bounds:
            limit[v] = min(bounds)
    return Limits(limit, cap)


def _run(
    problem: Problem,
    scope: tuple[list[int], list[int], Limits],
    warm: Routes,
    clock: Clock,
    share: float,
    seed: int,
) -> Routes:
    """PyVRP until ``share`` of the budget, its routes handed to concrete vehicles."""
    stops, vehicles, limits = scope
    sub = build(problem, stops, vehicles, limits)
    best = _pyvrp(sub, warm, clock.until(share), seed, clock)
    return _assign(sub, from_solution(sub, best), warm)


def _pyvrp(
    sub: SubProblem, warm: Routes, stop: StoppingCriterion, seed: int, clock: Clock
) -> pyvrp.Solution:
    initial = to_solution(sub, warm) if any(warm.values()) else None
    result = pyvrp.solve(
        sub.data, stop=stop, seed=seed, collect_stats=False, initial_solution=initial
    )
    if clock.cancelled:
        raise Cancelled("the route planning was cancelled")
    return result.best


def _assign(sub: SubProblem, found: list[tuple[int, list[int]]], warm: Routes) -> Routes:
    """Give each route to a vehicle of its type, preferring the vehicle whose warm-start
    route it overlaps most, so an unchanged route stays with its vehicle."""
    routes: Routes = {v: [] for members in sub.types for v in members}
    for kind, members in enumerate(sub.types):
        mine = [route for t, route in found if t == kind]
        pairs = sorted(
            (
                (-len(set(route) & set(warm.get(v, ()))), i, v)
                for i, route in enumerate(mine)
                for v in members
            ),
        )
        done_routes: set[int] = set()
        for _, i, v in pairs:
            if i not in done_routes and not routes[v]:
                routes[v] = mine[i]
                done_routes.add(i)
    return routes


def _place_leftovers(problem: Problem, routes: Routes, stops: list[int]) -> Routes:
    """Put any stop the search left out where it fits most cheaply, if it fits anywhere:
    the search treats stops as optional, so make sure none is left out needlessly."""
    placed = {s for route in routes.values() for s in route}
    for stop in (s for s in stops if s not in placed):
        spot = cheapest_position(problem, routes, stop)
        if spot is not None:
            routes[spot[0]].insert(spot[1], stop)
    return routes


def _servable(problem: Problem, stop: int, vehicles: list[int]) -> bool:
    """Whether some vehicle could serve the stop on a route of its own."""
    return any(route_is_feasible(problem, v, [stop]) for v in _distinct(problem, vehicles))


def _distinct(problem: Problem, vehicles: list[int]) -> list[int]:
    seen: dict[object, int] = {}
    for v in vehicles:
        seen.setdefault(problem.vehicles[v], v)
    return list(seen.values())


def _checked_locked(problem: Problem, locked: Mapping[int, Sequence[int]]) -> Routes:
    seen: set[int] = set()
    for vehicle, route in locked.items():
        if not 0 <= vehicle < len(problem.vehicles):
            raise ValueError(f"locked vehicle {vehicle} does not exist")
        for stop in route:
            if not 0 <= stop < problem.n:
                raise ValueError(f"locked route {vehicle} names stop {stop}, which does not exist")
            if stop in seen:
                raise ValueError(f"stop {stop} is locked more than once")
            seen.add(stop)
    return {v: list(route) for v, route in locked.items()}


def _checked_initial(
    problem: Problem, initial: Sequence[Sequence[int]] | None, stops: set[int], vehicles: list[int]
) -> Routes:
    """The warm start restricted to free vehicles and the stops being planned."""
    if initial is None:
        return {}
    if len(initial) != len(problem.vehicles):
        raise ValueError(f"initial needs {len(problem.vehicles)} routes, got {len(initial)}")
    warm: Routes = {}
    placed: set[int] = set()
    for v in vehicles:
        warm[v] = [s for s in initial[v] if s in stops and s not in placed]
        placed.update(warm[v])
    return warm


def _plan(problem: Problem, routes: Routes, locked: set[int], elapsed: float) -> Plan:
    ordered = tuple(tuple(routes.get(v, ())) for v in range(len(problem.vehicles)))
    stats, violations = evaluate(problem, ordered, exempt=locked)
    placed = {s for route in ordered for s in route}
    return Plan(
        routes=ordered,
        stats=stats,
        unassigned=tuple(s for s in range(problem.n) if s not in placed),
        travel_s=sum(s.travel_s for s in stats),
        distance_m=sum(s.distance_m for s in stats),
        violations=violations,
        solver_s=elapsed,
    )

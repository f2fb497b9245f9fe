"""``solve``: the whole delivery day, PyVRP's iterated local search under one time budget.

Steps: set locked vehicles and their stops aside; report stops no vehicle could serve even
alone; plan the rest (``phases``); put the locked routes back; check it all with
``evaluate``, whose verdict is the plan's ``violations``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from geo.vrp.clock import Clock, Progress
from geo.vrp.evaluate import evaluate, route_is_feasible
from geo.vrp.model import Plan, Problem
from geo.vrp.phases import search
from geo.vrp.runner import Routes


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
    routes = search(problem, stops, vehicles, warm, clock, seed) if stops and vehicles else {}
    clock.report(1.0)
    return _plan(problem, {**routes, **fixed}, set(fixed), clock.elapsed())


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

"""One PyVRP run on part of a problem, and its routes handed back to concrete vehicles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyvrp
from pyvrp.stop import StoppingCriterion

from geo.vrp.balance import stop_cap
from geo.vrp.build import Limits, SubProblem, build, from_solution, to_solution
from geo.vrp.clock import Clock
from geo.vrp.model import Cancelled, Problem

Routes = dict[int, list[int]]
PATIENCE = 2_000  # iterations without a better plan before a fresh start is considered
_MAX_STARTS = 20


@dataclass(frozen=True)
class Scope:
    """What one run plans: these stops, on these vehicles, within these extra limits."""

    stops: Sequence[int]
    vehicles: Sequence[int]
    limits: Limits


def own_limits(
    problem: Problem, stops: Sequence[int], vehicles: Sequence[int], cap: int | None = None
) -> Limits:
    """Each vehicle's stop limit -- its own, and under rule "stops" the top of the band
    were the stops spread over all ``vehicles`` -- and ``cap`` as the longest route."""
    share = None
    if problem.balance.rule == "stops":
        share = stop_cap(problem.balance.tolerance, len(stops), len(vehicles))
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
    """PyVRP from ``warm`` (if any) until ``until`` of the budget; raises ``Cancelled``.

    Without a warm start, a run that stagnates (no better plan for as many iterations as
    it took to find the current best, and at least ``PATIENCE``) is ended and a fresh one
    with another seed gets the rest of the time; the best plan of all runs is kept. On
    small instances PyVRP settles within seconds (RC208: 0.4-4 s), after which only a new
    start helps; large days keep improving and never restart.
    """
    sub = build(problem, scope.stops, scope.vehicles, scope.limits)
    initial = to_solution(sub, warm) if any(warm.values()) else None
    best: tuple[float, pyvrp.Solution] | None = None
    for attempt in range(_MAX_STARTS):
        stalled = _Stagnation() if initial is None else None
        result = pyvrp.solve(
            sub.data,
            stop=_either(clock.until(until), stalled),
            seed=seed + attempt * 7919,
            collect_stats=False,
            initial_solution=initial,
        )
        if clock.cancelled:
            raise Cancelled("the route planning was cancelled")
        if best is None or result.cost() < best[0]:
            best = (result.cost(), result.best)
        if stalled is None or not stalled.stalled or clock.fraction() >= until:
            break
    assert best is not None
    return _assign(sub, from_solution(sub, best[1]), warm)


def _either(first: StoppingCriterion, second: StoppingCriterion | None) -> StoppingCriterion:
    if second is None:
        return first

    def stop(best_cost: int) -> bool:
        return first(best_cost) or second(best_cost)

    return stop


class _Stagnation:
    """Stops a run once it has gone as long without a better plan as it took to find
    the one it has (doubling rule), and at least ``PATIENCE`` iterations."""

    def __init__(self) -> None:
        self.iterations = 0
        self.found_at = 0
        self.best: int | None = None
        self.stalled = False

    def __call__(self, best_cost: int) -> bool:
        self.iterations += 1
        if self.best is None or best_cost < self.best:
            self.best, self.found_at = best_cost, self.iterations
        idle = self.iterations - self.found_at
        self.stalled = idle >= max(PATIENCE, self.found_at)
        return self.stalled


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

"""``resequence``: the best visiting order for one route's stops, nothing else moves."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pyvrp
from pyvrp import SolveParams
from pyvrp.IteratedLocalSearch import IteratedLocalSearchCallbacks, IteratedLocalSearchParams
from pyvrp.stop import MaxRuntime, MultipleCriteria, NoImprovement

from geo.vrp.build import Limits, build, from_solution, to_solution
from geo.vrp.evaluate import schedule_route
from geo.vrp.model import Balance, Problem, Vehicle

_PATIENCE = 5_000  # iterations without improvement after which a small route is done


def resequence(
    problem: Problem,
    vehicle: int,
    stops: Sequence[int],
    *,
    time_limit_s: float = 2.0,
    seed: int = 1,
) -> tuple[int, ...]:
    """The same stops in the order with the least travel time that keeps the vehicle's
    shift and the windows (a TSP with time windows). Capacity and the stop limit do not
    depend on the order, so they are not looked at. Never returns an order that is worse
    than ``stops``: less feasible, or as feasible and longer."""
    if not 0 <= vehicle < len(problem.vehicles):
        raise ValueError(f"vehicle {vehicle} does not exist")
    if len(set(stops)) != len(stops) or not all(0 <= s < problem.n for s in stops):
        raise ValueError("stops must be distinct stops of the problem")
    if len(stops) <= 1:
        return tuple(stops)
    own = problem.vehicles[vehicle]
    total = sum(problem.stops[s].demand for s in stops)
    alone = dataclasses.replace(
        problem,
        vehicles=[Vehicle(total, own.shift_start_s, own.shift_end_s)],
        balance=Balance("none"),
    )
    sub = build(alone, list(stops), [0], Limits({}), optional=False)
    stop = MultipleCriteria([MaxRuntime(time_limit_s), NoImprovement(_PATIENCE)])
    least_late = _LeastLate()
    result = pyvrp.solve(
        sub.data,
        stop=stop,
        seed=seed,
        collect_stats=False,
        initial_solution=to_solution(sub, {0: list(stops)}),
        params=SolveParams(ils=IteratedLocalSearchParams(callbacks=least_late)),
    )
    candidates: list[list[int]] = [list(stops)]
    for solution in (result.best, least_late.best):
        if solution is not None:
            candidates += [route for _, route in from_solution(sub, solution)]
    ranked = sorted((_rank(alone, route), i) for i, route in enumerate(candidates))
    return tuple(candidates[ranked[0][1]])


class _LeastLate(IteratedLocalSearchCallbacks):
    """Keeps the candidate with the least time warp, then travel: when no order keeps
    every window and the shift, PyVRP's "best" stays the input, but a less late order
    still helps the driver."""

    def __init__(self) -> None:
        self.best: pyvrp.Solution | None = None
        self._key: tuple[int, int] | None = None

    def on_iteration(
        self,
        current: pyvrp.Solution,
        candidate: pyvrp.Solution,
        best: pyvrp.Solution,
        cost_evaluator: pyvrp.CostEvaluator,
    ) -> None:
        key = (candidate.time_warp(), candidate.distance())
        if self._key is None or key < self._key:
            self.best, self._key = candidate, key


def _rank(problem: Problem, route: Sequence[int]) -> tuple[int, int]:
    """(seconds late at windows and shift end, travel time): lower is better."""
    stats, late = schedule_route(problem, problem.vehicles[0], route)
    lateness = sum(start - latest for _, start, latest in late)
    lateness += max(0, stats.end_s - problem.vehicles[0].shift_end_s)
    return lateness, stats.travel_s

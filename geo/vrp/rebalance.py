"""Bring every used route inside the balance band after the solver has done its part.

PyVRP bounds a route from above only (a capacity in a "stops" dimension, a maximum
duration); nothing stops it from leaving one route short. So the plan is repaired here:
stops move one at a time, each time the move that adds the least travel time, into a
route below the band (from routes that can spare one) or out of a route above it (into
routes that have room), and every move keeps both routes feasible. The number of used
routes does not change, so for rule "stops" the mean and the band stay put and each move
shrinks the total excess by one, which bounds the work.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from geo.vrp.balance import balance_bounds, route_measure
from geo.vrp.evaluate import route_is_feasible, schedule_route
from geo.vrp.insertion import insertion_options
from geo.vrp.model import Problem

Routes = dict[int, list[int]]
_TRIES = 40  # candidate moves checked in full before giving up on a route


def rebalance(problem: Problem, routes: Routes, vehicles: Sequence[int]) -> Routes:
    """``routes`` with the used ones among ``vehicles`` moved inside the balance band as
    far as feasible moves allow; what cannot be fixed stays (``evaluate`` reports it)."""
    routes = {v: list(r) for v, r in routes.items()}
    rule = problem.balance.rule
    if rule == "none":
        return routes
    for _ in range(4 * problem.n + 10):
        measure = {v: _measure(problem, v, routes[v]) for v in vehicles if routes.get(v)}
        if len(measure) < 2:
            break
        low, high = balance_bounds(rule, problem.balance.tolerance, list(measure.values()))
        outside = sorted(
            (v for v, m in measure.items() if not low <= m <= high),
            key=lambda v: -max(low - measure[v], measure[v] - high),
        )
        if not any(_fix(problem, routes, measure, v, (low, high)) for v in outside):
            break
    return routes


def _measure(problem: Problem, vehicle: int, route: Sequence[int]) -> int:
    stats, _ = schedule_route(problem, problem.vehicles[vehicle], route)
    return route_measure(problem.balance.rule, stats)


def _fix(
    problem: Problem,
    routes: Routes,
    measure: dict[int, int],
    vehicle: int,
    band: tuple[float, float],
) -> bool:
    """Make one move that brings ``vehicle`` towards the band; False if none is feasible."""
    low, high = band
    if measure[vehicle] < low:
        donors = [v for v, m in measure.items() if v != vehicle and m > low]
        moves = [(d, vehicle) for d in donors]
    else:
        takers = [v for v, m in measure.items() if v != vehicle and m < high]
        moves = [(vehicle, t) for t in takers]
    options = sorted(
        option for donor, taker in moves for option in _options(problem, routes, donor, taker)
    )
    for _, donor, taker, stop, position in options[:_TRIES]:
        if _try_move(problem, routes, (donor, taker, stop, position), band):
            return True
    return False


def _options(
    problem: Problem, routes: Routes, donor: int, taker: int
) -> list[tuple[int, int, int, int, int]]:
    """(added travel, donor, taker, stop, position) for the feasible moves of one stop from
    ``donor`` to ``taker``, each at its cheapest feasible position."""
    source = routes[donor]
    if not source:
        return []
    dur = problem.duration_s
    nodes = np.array([0, *(s + 1 for s in source), 0], dtype=np.int64)
    saved = dur[nodes[:-2], nodes[1:-1]] + dur[nodes[1:-1], nodes[2:]] - dur[nodes[:-2], nodes[2:]]
    cost, ok = insertion_options(problem, taker, routes[taker], source)
    masked = np.where(ok, cost, np.iinfo(np.int64).max)
    best = masked.argmin(axis=1)
    return [
        (int(cost[i, best[i]] - saved[i]), donor, taker, stop, int(best[i]))
        for i, stop in enumerate(source)
        if ok[i, best[i]]
    ]


def _try_move(
    problem: Problem,
    routes: Routes,
    move: tuple[int, int, int, int],
    band: tuple[float, float],
) -> bool:
    """Apply the move if both routes stay feasible and neither leaves the band the wrong
    way (the donor may not fall below it, the taker may not rise above it)."""
    donor, taker, stop, position = move
    source = [s for s in routes[donor] if s != stop]
    target = list(routes[taker])
    target.insert(position, stop)
    if not source:
        return False
    low, high = band
    if _measure(problem, donor, source) < low or _measure(problem, taker, target) > high:
        return False
    if not (
        route_is_feasible(problem, donor, source) and route_is_feasible(problem, taker, target)
    ):
        return False
    routes[donor], routes[taker] = source, target
    return True

"""Cheapest insertion of stops into existing routes, without touching anything else.

Feasibility of every position is decided in O(1) from two passes over the route
(Savelsbergh): the earliest time each stop is finished when the vehicle leaves at shift
start, and the latest time each stop may start so that the rest of the route still keeps
its windows and the shift end. Both are exact for routes that are feasible to begin with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from geo.vrp.evaluate import route_is_feasible
from geo.vrp.model import NoFeasibleInsertion, Problem

_OPEN = np.iinfo(np.int64).max // 4
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


def insertion_options(
    problem: Problem, vehicle: int, route: Sequence[int], stops: Sequence[int]
) -> tuple[Ints, Bools]:
    """Added travel time and feasibility of putting each of ``stops`` at each position of
    ``route`` (position p = before the p-th stop; len(route) = at the end), as two
    len(stops) x (len(route) + 1) arrays. Nothing is feasible on an infeasible route."""
    nodes = np.array([0, *(s + 1 for s in route), 0], dtype=np.int64)
    cand = np.asarray(stops, dtype=np.int64) + 1
    dur = problem.duration_s
    before, after = nodes[:-1], nodes[1:]
    to_stop, from_stop = dur[np.ix_(before, cand)].T, dur[np.ix_(cand, after)]
    cost = to_stop + from_stop - dur[before, after][None, :]
    if not route_is_feasible(problem, vehicle, route):
        return cost, np.zeros(cost.shape, dtype=np.bool_)
    finish, latest = _time_passes(problem, vehicle, route, nodes)
    early, late, service, demand = _stop_columns(problem, np.asarray(stops, dtype=np.int64))
    start = np.maximum(finish[None, :] + to_stop, early[:, None])
    ok = (start <= late[:, None]) & (start + service[:, None] + from_stop <= latest[None, :])
    info = problem.vehicles[vehicle]
    load = sum(problem.stops[s].demand for s in route)
    ok &= (load + demand <= info.capacity)[:, None]
    if info.max_stops is not None and len(route) + 1 > info.max_stops:
        ok[:] = False
    return cost, ok


def _time_passes(
    problem: Problem, vehicle: int, route: Sequence[int], nodes: Ints
) -> tuple[Ints, Ints]:
    """finish[p]: earliest time the p-th node (0 = depot) is done; latest[p]: latest
    arrival at node p + 1 that keeps the remainder of the route feasible."""
    dur = problem.duration_s
    info = problem.vehicles[vehicle]
    finish = np.empty(len(route) + 1, dtype=np.int64)
    finish[0] = info.shift_start_s
    for i, stop in enumerate(route, start=1):
        s = problem.stops[stop]
        arrive = int(finish[i - 1]) + int(dur[nodes[i - 1], nodes[i]])
        start = max(arrive, s.window[0]) if s.window is not None else arrive
        finish[i] = start + s.service_s
    latest = np.empty(len(route) + 1, dtype=np.int64)
    latest[len(route)] = info.shift_end_s
    for i in range(len(route) - 1, -1, -1):
        s = problem.stops[route[i]]
        closes = s.window[1] if s.window is not None else _OPEN
        leg = int(dur[nodes[i + 1], nodes[i + 2]])
        latest[i] = min(closes, int(latest[i + 1]) - leg - s.service_s)
    return finish, latest


def _stop_columns(problem: Problem, stops: Ints) -> tuple[Ints, Ints, Ints, Ints]:
    early, late, service, demand = (np.empty(len(stops), dtype=np.int64) for _ in range(4))
    for i, stop in enumerate(stops):
        s = problem.stops[int(stop)]
        early[i], late[i] = s.window if s.window is not None else (0, _OPEN)
        service[i], demand[i] = s.service_s, s.demand
    return early, late, service, demand


def cheapest_position(
    problem: Problem, routes: Mapping[int, Sequence[int]], stop: int
) -> tuple[int, int] | None:
    """(vehicle, position) among ``routes`` adding the least travel time feasibly; ties go
    to the lower vehicle index, then the earlier position. None if nothing is feasible."""
    best: tuple[int, int, int] | None = None
    for vehicle, route in sorted(routes.items()):
        cost, ok = insertion_options(problem, vehicle, route, [stop])
        if not ok.any():
            continue
        position = int(np.argmin(np.where(ok[0], cost[0], _OPEN)))
        option = (int(cost[0, position]), vehicle, position)
        best = option if best is None or option < best else best
    return None if best is None else (best[1], best[2])


def insert(
    problem: Problem, routes: Sequence[Sequence[int]], stop: int
) -> tuple[tuple[int, ...], ...]:
    """``routes`` with ``stop`` added where it adds the least travel time and every rule of
    the receiving route (capacity, stop limit, windows, shift) still holds. Every other
    route is returned unchanged; balance is not considered (a single shop cannot tip it
    meaningfully, and reshuffling is exactly what the caller does not want).
    Raises ``NoFeasibleInsertion`` when no route can take it."""
    if len(routes) != len(problem.vehicles):
        raise ValueError(f"expected {len(problem.vehicles)} routes, got {len(routes)}")
    if not 0 <= stop < problem.n:
        raise ValueError(f"stop {stop} does not exist")
    if any(stop in route for route in routes):
        raise ValueError(f"stop {stop} is already on a route")
    best = cheapest_position(problem, dict(enumerate(routes)), stop)
    if best is None:
        raise NoFeasibleInsertion(f"no route can take stop {stop} within its constraints")
    vehicle, position = best
    target = list(routes[vehicle])
    target.insert(position, stop)
    return tuple(tuple(target) if v == vehicle else tuple(route) for v, route in enumerate(routes))

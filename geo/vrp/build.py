"""Translate a (sub)problem into PyVRP's ``ProblemData`` and PyVRP solutions back.

PyVRP is told the *travel time* matrix as its distance, so its objective is exactly the
total travel time; service and waiting only enter through the time constraints.
Identical vehicles share one PyVRP vehicle type, which removes symmetric solutions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyvrp import Client, Depot, Location, ProblemData, Route, Solution, VehicleType

from geo.vrp.model import Problem

_OPEN = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Limits:
    """Per-vehicle bounds the solve adds on top of the vehicle's own (balance rules)."""

    stops: Mapping[int, int]  # vehicle -> most stops (max_stops and the balance cap)
    duration: int | None = None  # longest route allowed, seconds


@dataclass(frozen=True)
class SubProblem:
    """PyVRP data for some stops and vehicles of a problem, with the way back."""

    data: ProblemData
    stops: tuple[int, ...]  # PyVRP client j (at location j + 1) -> problem stop
    types: tuple[tuple[int, ...], ...]  # PyVRP vehicle type -> problem vehicles

    def vehicle_type(self, vehicle: int) -> int:
        """The PyVRP vehicle type that stands for a problem vehicle."""
        return next(t for t, members in enumerate(self.types) if vehicle in members)


def prize_for(problem: Problem) -> int:
    """A prize for serving a stop that outweighs any detour it can cause, so a stop is only
    left out (and reported unassigned) when no feasible route can take it.

    Stops are optional-with-prize even when every one can be served: on our shift-bound
    city days PyVRP then finds 0.5-2 % shorter plans in the same time (dropping and
    re-inserting a stop is an extra move), and on Solomon RC208 it is as good.
    """
    return 4 * int(problem.duration_s.max()) + 1


def build(
    problem: Problem,
    stops: Sequence[int],
    vehicles: Sequence[int],
    limits: Limits,
    *,
    optional: bool = True,
) -> SubProblem:
    """PyVRP data for ``stops`` served by ``vehicles``; a second load dimension counts
    stops whenever some vehicle has a stop limit."""
    nodes = np.array([0, *(s + 1 for s in stops)], dtype=np.int64)
    duration = np.ascontiguousarray(problem.duration_s[np.ix_(nodes, nodes)], dtype=np.int64)
    counted = any(v in limits.stops for v in vehicles)
    prize = prize_for(problem) if optional else 0
    clients = [_client(problem, s, i + 1, counted, prize, optional) for i, s in enumerate(stops)]
    groups: dict[tuple[int, ...], list[int]] = {}
    for v in vehicles:
        groups.setdefault(_type_key(problem, v, limits, counted), []).append(v)
    vehicle_types = [_vehicle_type(key, len(members)) for key, members in groups.items()]
    matrices: list[Any] = [duration]  # PyVRP's stubs spell the array type oddly
    data = ProblemData(
        locations=[Location(0.0, 0.0) for _ in nodes],
        clients=clients,
        depots=[Depot(location=0)],
        vehicle_types=vehicle_types,
        distance_matrices=matrices,
        duration_matrices=matrices,
    )
    return SubProblem(data, tuple(stops), tuple(tuple(m) for m in groups.values()))


def _client(
    problem: Problem, stop: int, location: int, counted: bool, prize: int, optional: bool
) -> Client:
    info = problem.stops[stop]
    early, late = info.window if info.window is not None else (0, _OPEN)
    return Client(
        location=location,
        delivery=[info.demand, 1] if counted else [info.demand],
        service_duration=info.service_s,
        tw_early=early,
        tw_late=late,
        prize=prize,
        required=not optional,
    )


def _type_key(problem: Problem, vehicle: int, limits: Limits, counted: bool) -> tuple[int, ...]:
    info = problem.vehicles[vehicle]
    key: tuple[int, ...] = (info.capacity, info.shift_start_s, info.shift_end_s)
    key += (limits.duration if limits.duration is not None else -1,)
    return key + ((limits.stops.get(vehicle, problem.n),) if counted else ())


def _vehicle_type(key: tuple[int, ...], count: int) -> VehicleType:
    capacity, start, end, duration, *stop_limit = key
    return VehicleType(
        num_available=count,
        capacity=[capacity, *stop_limit],
        tw_early=start,
        tw_late=end,
        shift_duration=duration if duration >= 0 else _OPEN,
    )


def to_solution(sub: SubProblem, routes: Mapping[int, Sequence[int]]) -> Solution:
    """A PyVRP solution from problem routes (vehicle -> problem stops); stops outside the
    subproblem are ignored, as are vehicles beyond what their type offers."""
    local = {s: j for j, s in enumerate(sub.stops)}
    used = [0] * len(sub.types)
    pyvrp_routes = []
    for vehicle, route in routes.items():
        visits = [local[s] for s in route if s in local]
        kind = next((t for t, m in enumerate(sub.types) if vehicle in m), None)
        if not visits or kind is None or used[kind] >= len(sub.types[kind]):
            continue
        used[kind] += 1
        pyvrp_routes.append(Route(sub.data, visits, kind))
    return Solution(sub.data, pyvrp_routes)


def from_solution(sub: SubProblem, solution: Solution) -> list[tuple[int, list[int]]]:
    """(PyVRP vehicle type, problem stops in order) for each non-empty route."""
    found = []
    for route in solution.routes():
        visits = [sub.stops[activity.idx] for activity in route if activity.is_client()]
        if visits:
            found.append((route.vehicle_type(), visits))
    return found

"""An independent checker: schedules routes in plain Python and lists every broken rule.

It shares no code with the solver on purpose, so tests, the domain ("before" figures of
the current routes) and the benchmark can trust a plan without trusting PyVRP.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from geo.vrp.balance import balance_bounds, route_measure
from geo.vrp.model import Problem, RouteStats, Vehicle, Violation

Late = tuple[int, int, int]  # stop, service start, latest allowed start


def schedule_route(
    problem: Problem, vehicle: Vehicle, route: Sequence[int]
) -> tuple[RouteStats, list[Late]]:
    """Schedule ``route`` leaving at shift start, waiting for windows, then delay the
    departure by as much as the waits absorb, so the duration holds no avoidable wait.

    Returns the stats and the stops served after their window closed.
    """
    dur, dist = problem.duration_s, problem.distance_m
    time, prev, travel, distance, load = vehicle.shift_start_s, 0, 0, 0, 0
    waited, slack, late = 0, None, []
    for stop in route:
        node = stop + 1
        leg = int(dur[prev, node])
        travel, distance = travel + leg, distance + int(dist[prev, node])
        arrival = time + leg
        start = arrival
        info = problem.stops[stop]
        if info.window is not None:
            start = max(arrival, info.window[0])
            waited += start - arrival
            room = waited + info.window[1] - start
            slack = room if slack is None else min(slack, room)
            if start > info.window[1]:
                late.append((stop, start, info.window[1]))
        load += info.demand
        time, prev = start + info.service_s, node
    travel, distance = travel + int(dur[prev, 0]), distance + int(dist[prev, 0])
    end = time + int(dur[prev, 0])
    delay = max(0, min(waited, waited if slack is None else slack)) if route else 0
    start_s = vehicle.shift_start_s + delay
    stats = RouteStats(len(route), load, distance, end - start_s, travel, start_s, end)
    return stats, late


def route_violations(
    problem: Problem, vehicle_index: int, stats: RouteStats, late: list[Late]
) -> list[Violation]:
    """The per-route rules: capacity, max stops, shift end, receiving windows."""
    vehicle = problem.vehicles[vehicle_index]
    found: list[Violation] = []
    if stats.load > vehicle.capacity:
        detail = f"load {stats.load} exceeds capacity {vehicle.capacity}"
        found.append(Violation(vehicle_index, None, "capacity", detail))
    if vehicle.max_stops is not None and stats.stops > vehicle.max_stops:
        detail = f"{stats.stops} stops exceed the limit of {vehicle.max_stops}"
        found.append(Violation(vehicle_index, None, "max_stops", detail))
    if stats.end_s > vehicle.shift_end_s:
        detail = f"back at {stats.end_s} s, after the shift end {vehicle.shift_end_s} s"
        found.append(Violation(vehicle_index, None, "shift", detail))
    for stop, start, latest in late:
        detail = f"served at {start} s, after the window closed at {latest} s"
        found.append(Violation(vehicle_index, stop, "window", detail))
    return found


def route_is_feasible(problem: Problem, vehicle_index: int, route: Sequence[int]) -> bool:
    """Whether one route keeps capacity, max stops, shift and windows."""
    stats, late = schedule_route(problem, problem.vehicles[vehicle_index], route)
    return not route_violations(problem, vehicle_index, stats, late)


def evaluate(
    problem: Problem,
    routes: Sequence[Sequence[int]],
    *,
    exempt: Collection[int] = (),
) -> tuple[tuple[RouteStats, ...], tuple[Violation, ...]]:
    """Stats per route and every violation, including stops missing or served twice and,
    unless the rule is "none", routes outside the balance band. Vehicles in ``exempt``
    (e.g. locked ones) are left out of the balance check only.
    """
    if len(routes) != len(problem.vehicles):
        raise ValueError(f"expected {len(problem.vehicles)} routes, got {len(routes)}")
    stats: list[RouteStats] = []
    violations: list[Violation] = []
    seen: set[int] = set()
    for index, route in enumerate(routes):
        for stop in route:
            if not 0 <= stop < problem.n:
                raise ValueError(f"route {index} names stop {stop}, which does not exist")
            if stop in seen:
                detail = "stop is visited more than once"
                violations.append(Violation(index, stop, "duplicate", detail))
            seen.add(stop)
        route_stats, late = schedule_route(problem, problem.vehicles[index], route)
        stats.append(route_stats)
        violations.extend(route_violations(problem, index, route_stats, late))
    for stop in range(problem.n):
        if stop not in seen:
            violations.append(Violation(None, stop, "unassigned", "stop is on no route"))
    violations.extend(_balance_violations(problem, stats, exempt))
    return tuple(stats), tuple(violations)


def _balance_violations(
    problem: Problem, stats: Sequence[RouteStats], exempt: Collection[int]
) -> list[Violation]:
    rule = problem.balance.rule
    if rule == "none":
        return []
    used = [i for i, s in enumerate(stats) if s.stops and i not in exempt]
    values = [route_measure(rule, stats[i]) for i in used]
    if not values:
        return []
    low, high = balance_bounds(rule, problem.balance.tolerance, values)
    unit = "stops" if rule == "stops" else "s"
    return [
        Violation(i, None, "balance", f"{value} {unit} outside the band [{low:g}, {high:g}]")
        for i, value in zip(used, values, strict=True)
        if not low <= value <= high
    ]

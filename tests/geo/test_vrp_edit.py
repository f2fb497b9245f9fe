"""insert() and resequence(): small edits of existing routes that touch nothing else."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from geo.vrp import (
    NoFeasibleInsertion,
    Problem,
    Stop,
    Vehicle,
    evaluate,
    insert,
    resequence,
    solve,
)
from geo.vrp.phases import place_leftovers
from tests.geo.vrp_instances import city_problem


@pytest.fixture(scope="module")
def day() -> tuple[Problem, tuple[tuple[int, ...], ...]]:
    """40 shops, half with receiving hours, and a plan for them."""
    problem = city_problem(40, 3, window_share=0.5, slack=1.3)
    plan = solve(problem, time_limit_s=0.5)
    assert plan.violations == ()
    return problem, plan.routes


def without(routes: tuple[tuple[int, ...], ...], stop: int) -> list[list[int]]:
    return [[s for s in route if s != stop] for route in routes]


def brute_force(problem: Problem, routes: list[list[int]], stop: int) -> list[tuple[int, bool]]:
    """(added travel, feasible) of every vehicle and position, via evaluate."""
    base = evaluate(problem, routes)[0]
    options = []
    for v, route in enumerate(routes):
        for p in range(len(route) + 1):
            trial = [list(r) for r in routes]
            trial[v] = [*route[:p], stop, *route[p:]]
            stats, violations = evaluate(problem, trial)
            feasible = not [x for x in violations if x.vehicle == v]
            options.append((stats[v].travel_s - base[v].travel_s, feasible))
    return options


def test_insertion_takes_the_cheapest_feasible_position_and_changes_nothing_else(
    day: tuple[Problem, tuple[tuple[int, ...], ...]],
) -> None:
    problem, routes = day
    windows_mattered = 0
    for stop in range(problem.n):
        # given the plan without one shop
        before = without(routes, stop)
        # when the shop is inserted again
        after = insert(problem, before, stop)
        # then exactly one route changed, by that shop alone, and it is still feasible
        changed = [v for v in range(len(before)) if list(after[v]) != before[v]]
        assert len(changed) == 1
        v = changed[0]
        assert [s for s in after[v] if s != stop] == before[v] and stop in after[v]
        assert not [x for x in evaluate(problem, after)[1] if x.vehicle == v]
        # and no feasible position in any route adds less travel time (brute force)
        options = brute_force(problem, before, stop)
        added = evaluate(problem, after)[0][v].travel_s - evaluate(problem, before)[0][v].travel_s
        assert added == min(cost for cost, ok in options if ok)
        windows_mattered += min(options)[1] is False
    # the instance is one where the cheapest position by travel alone is often infeasible
    assert windows_mattered >= 3


def test_a_stop_no_route_can_take_is_refused(
    day: tuple[Problem, tuple[tuple[int, ...], ...]],
) -> None:
    problem, routes = day
    stops = list(problem.stops)
    stops[5] = Stop(10_000, 180)
    heavy = dataclasses.replace(problem, stops=stops)
    with pytest.raises(NoFeasibleInsertion, match="no route can take stop 5 within its"):
        insert(heavy, without(routes, 5), 5)


def test_insertion_of_a_stop_already_planned_is_refused(
    day: tuple[Problem, tuple[tuple[int, ...], ...]],
) -> None:
    problem, routes = day
    with pytest.raises(ValueError, match="stop 3 is already on a route"):
        insert(problem, routes, 3)


def test_resequencing_keeps_the_stops_and_never_gets_worse(
    day: tuple[Problem, tuple[tuple[int, ...], ...]],
) -> None:
    problem, routes = day
    vehicle = max(range(len(routes)), key=lambda v: len(routes[v]))
    shuffled = list(np.random.default_rng(5).permutation(routes[vehicle]).tolist())
    for order in (list(routes[vehicle]), shuffled):
        # given a route in some order
        trial = [list(r) for r in routes]
        # when it is re-sequenced on its own
        trial[vehicle] = list(resequence(problem, vehicle, order, time_limit_s=0.5))
        # then it holds the same stops, keeps every rule, and travels no longer
        assert sorted(trial[vehicle]) == sorted(order)
        stats, violations = evaluate(problem, trial)
        assert violations == ()
        before = evaluate(problem, [order if v == vehicle else r for v, r in enumerate(routes)])
        assert stats[vehicle].travel_s <= before[0][vehicle].travel_s


def test_resequencing_repairs_a_scrambled_route() -> None:
    # given a route without windows visited in a random order
    problem = city_problem(30, 1, slack=2.0)
    order = list(range(30))
    # when re-sequenced
    better = resequence(problem, 0, order, time_limit_s=0.5)
    # then it is much shorter
    assert sorted(better) == order
    old, new = evaluate(problem, [order])[0][0], evaluate(problem, [better])[0][0]
    assert new.travel_s < 0.7 * old.travel_s


def test_resequencing_refuses_foreign_input() -> None:
    problem = city_problem(5, 1)
    with pytest.raises(ValueError, match="vehicle 3 does not exist"):
        resequence(problem, 3, [0, 1])
    with pytest.raises(ValueError, match="stops must be distinct stops of the problem"):
        resequence(problem, 0, [0, 0])


def test_stops_the_search_left_out_are_put_back_where_insert_would_put_them(
    day: tuple[Problem, tuple[tuple[int, ...], ...]],
) -> None:
    # given a plan missing one shop that fits, and one shop that cannot fit anywhere
    problem, routes = day
    stops = list(problem.stops)
    stops[9] = Stop(10_000, 180)
    heavy = dataclasses.replace(problem, stops=stops)
    missing = {v: [s for s in r if s not in (4, 9)] for v, r in enumerate(routes)}
    # when the leftovers are placed
    placed = place_leftovers(heavy, {v: list(r) for v, r in missing.items()}, range(40))
    # then the one that fits is where insert() puts it, the other stays out
    expected = insert(heavy, list(missing.values()), 4)
    assert tuple(tuple(placed[v]) for v in range(len(routes))) == expected


def test_a_route_that_cannot_keep_its_shift_is_still_shortened() -> None:
    # given 40 stops that no order fits into a one-hour shift
    problem = city_problem(40, 1, slack=2.0)
    short = dataclasses.replace(problem, vehicles=[Vehicle(10_000, 8 * 3600, 9 * 3600)])
    order = list(range(40))
    # when re-sequenced
    better = resequence(short, 0, order, time_limit_s=0.5)
    # then the driver is back much earlier than with the given order
    old, new = evaluate(short, [order])[0][0], evaluate(short, [better])[0][0]
    assert sorted(better) == order
    assert new.travel_s < 0.7 * old.travel_s and new.end_s < old.end_s

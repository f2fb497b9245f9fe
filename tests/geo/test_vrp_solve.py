"""solve(): every rule held (as evaluate sees it), nothing dropped, locks kept, cancel."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter

import pytest

from geo.vrp import Balance, Cancelled, Plan, Problem, Stop, Vehicle, evaluate, solve
from geo.vrp.model import BalanceRule
from tests.geo.vrp_instances import city_problem


def served_once(plan: Plan, problem: Problem) -> bool:
    """Every stop is on exactly one route or reported unassigned, never both."""
    counts = Counter(s for route in plan.routes for s in route)
    return all(counts[s] == (0 if s in plan.unassigned else 1) for s in range(problem.n))


def test_a_day_is_planned_within_every_rule() -> None:
    # given 80 shops, a third with receiving hours, three vehicles with tight stop limits
    problem = city_problem(80, 3, window_share=0.3, slack=1.1)
    # when planned for a second
    plan = solve(problem, time_limit_s=1.0)
    # then capacity, shift, stop limits and windows hold on every route, all shops served once
    stats, violations = evaluate(problem, plan.routes)
    assert violations == plan.violations == ()
    assert plan.unassigned == ()
    assert served_once(plan, problem)
    assert plan.stats == stats
    assert plan.travel_s == sum(s.travel_s for s in stats)
    assert plan.distance_m == sum(s.distance_m for s in stats)
    assert all(s.stops <= 30 for s in stats)  # max_stops = ceil(1.1 * 80 / 3) = 30
    assert 0 < plan.solver_s < 5


def test_a_stop_no_vehicle_can_carry_is_reported_not_dropped() -> None:
    # given one shop orders more than any vehicle holds
    problem = city_problem(40, 2)
    stops = list(problem.stops)
    stops[7] = Stop(10_000, 180)
    problem = dataclasses.replace(problem, stops=stops)
    # when planned
    plan = solve(problem, time_limit_s=0.5)
    # then that shop alone is unassigned, and reported as such
    assert plan.unassigned == (7,)
    assert [(v.kind, v.stop) for v in plan.violations] == [("unassigned", 7)]
    assert served_once(plan, problem)


def test_a_day_larger_than_the_fleet_leaves_stops_unassigned_but_feasible() -> None:
    # given two vehicles that can only carry about half the day's cartons
    problem = city_problem(50, 2, slack=0.6)
    # when planned
    plan = solve(problem, time_limit_s=1.5)
    # then some shops are unassigned, every route still keeps its rules
    assert 0 < len(plan.unassigned) < 50
    assert {v.kind for v in plan.violations} == {"unassigned"}
    assert sorted(v.stop for v in plan.violations) == list(plan.unassigned)
    assert served_once(plan, problem)
    assert all(s.load <= problem.vehicles[0].capacity for s in plan.stats)


def test_locked_routes_are_kept_exactly_and_their_stops_nowhere_else() -> None:
    # given a first plan of a day and its route of vehicle 1, reversed, locked
    problem = city_problem(60, 3)
    first = solve(problem, time_limit_s=0.5)
    kept = tuple(reversed(first.routes[1]))
    # when the day is planned again with that route locked
    plan = solve(problem, time_limit_s=0.5, locked={1: kept})
    # then vehicle 1 has exactly that route and its stops are on no other route
    assert plan.routes[1] == kept
    others = {s for v, route in enumerate(plan.routes) if v != 1 for s in route}
    assert not others & set(kept)
    assert served_once(plan, problem)
    assert plan.unassigned == ()


def test_locks_that_make_no_sense_are_refused() -> None:
    problem = city_problem(10, 2)
    with pytest.raises(ValueError, match="locked vehicle 5 does not exist"):
        solve(problem, time_limit_s=0.5, locked={5: [1]})
    with pytest.raises(ValueError, match="stop 3 is locked more than once"):
        solve(problem, time_limit_s=0.5, locked={0: [3], 1: [3]})


def test_a_warm_start_is_never_made_worse() -> None:
    # given a plan found in half a second
    problem = city_problem(60, 3, window_share=0.2)
    first = solve(problem, time_limit_s=0.5, seed=3)
    # when solved again from it
    again = solve(problem, time_limit_s=0.5, seed=4, initial=first.routes)
    # then the new plan is at least as short, still within every rule
    assert again.travel_s <= first.travel_s
    assert again.violations == ()
    with pytest.raises(ValueError, match="initial needs 3 routes, got 1"):
        solve(problem, time_limit_s=0.5, initial=[[0]])


def test_progress_is_reported_and_a_false_answer_cancels() -> None:
    # given a callback that records fractions and stops the run after 0.3 s
    problem = city_problem(60, 3)
    seen: list[float] = []
    began = time.perf_counter()

    def progress(fraction: float) -> bool:
        seen.append(fraction)
        return time.perf_counter() - began < 0.3

    # when a 5 s solve runs with it
    with pytest.raises(Cancelled, match="the route planning was cancelled"):
        solve(problem, time_limit_s=5.0, on_progress=progress)
    # then it stopped soon after, having reported growing fractions below 1
    assert time.perf_counter() - began < 2.0
    assert len(seen) >= 2 and seen == sorted(seen) and 0.0 == seen[0] < seen[-1] < 0.5


def test_progress_reaches_one_when_the_solve_completes() -> None:
    seen: list[float] = []
    solve(city_problem(20, 2), time_limit_s=0.5, on_progress=lambda f: seen.append(f) or True)
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)


@pytest.mark.parametrize("rule", ["stops", "duration"])
def test_balance_keeps_every_used_route_within_the_band(rule: BalanceRule) -> None:
    # given a day that, planned without balance, has routes far outside a +-10 % band
    problem = city_problem(120, 4, window_share=0.3, slack=1.5)
    free = solve(problem, time_limit_s=0.5)
    balanced = dataclasses.replace(problem, balance=Balance(rule, 0.10))
    assert {v.kind for v in evaluate(balanced, free.routes)[1]} == {"balance"}
    # when planned with the balance rule
    plan = solve(balanced, time_limit_s=1.5)
    # then every used route's stop count / duration is within 10 % of the mean of them
    measure = [s.stops if rule == "stops" else s.duration_s for s in plan.stats if s.stops]
    mean = sum(measure) / len(measure)
    assert all(mean * 0.9 - 1e-9 <= m <= mean * 1.1 + 1e-9 for m in measure), measure
    assert plan.violations == ()


def test_a_day_with_no_vehicle_free_reports_everything_unassigned() -> None:
    problem = Problem(
        city_problem(3, 1).duration_s,
        city_problem(3, 1).distance_m,
        [Stop(1, 60)] * 3,
        [Vehicle(10, 0, 100_000)],
        Balance("none"),
    )
    plan = solve(problem, time_limit_s=0.5, locked={0: [0]})
    assert plan.routes == ((0,),)
    assert plan.unassigned == (1, 2)

"""Public benchmarks through our own loader, checker and solver."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import vrplib

from geo.vrp import evaluate, load_vrplib, solve

DATA = Path("/work/shared/bench-data")
RC208, BEST_RC208 = DATA / "RC208.vrp", 776.1
pytestmark = pytest.mark.skipif(not DATA.exists(), reason="benchmark data not present")


def test_rc208_loads_with_the_dimacs_convention() -> None:
    # when RC208 is loaded
    problem, scale = load_vrplib(RC208)
    # then distances are x10 and truncated, times x10, the depot window is every shift
    assert scale == 10.0
    assert (problem.n, len(problem.vehicles)) == (100, 25)
    assert problem.vehicles[0].capacity == 1000
    assert (problem.vehicles[0].shift_start_s, problem.vehicles[0].shift_end_s) == (0, 9600)
    assert problem.stops[0].service_s == 100
    assert int(problem.duration_s[0, 1]) == int(10 * np.hypot(40 - 25, 50 - 85))  # 380
    assert problem.balance.rule == "none"


def test_the_published_best_rc208_solution_checks_out_at_776_1() -> None:
    # given the best known solution (customers numbered from 1, our stops from 0)
    problem, scale = load_vrplib(RC208)
    best = vrplib.read_solution(str(DATA / "RC208.sol"))["routes"]
    routes = [[c - 1 for c in r] for r in best] + [[]] * (len(problem.vehicles) - len(best))
    # when our checker schedules it
    stats, violations = evaluate(problem, routes)
    # then it is feasible and costs exactly the published 776.1
    assert violations == ()
    assert sum(s.travel_s for s in stats) / scale == BEST_RC208


def test_rc208_in_3_seconds_is_within_3_percent_of_the_best_known() -> None:
    problem, scale = load_vrplib(RC208)
    plan = solve(problem, time_limit_s=3.0, seed=1)
    assert plan.violations == ()
    assert BEST_RC208 <= plan.travel_s / scale <= BEST_RC208 * 1.03


@pytest.mark.slow
def test_rc208_in_10_seconds_is_within_1_percent_of_the_best_known() -> None:
    problem, scale = load_vrplib(RC208)
    plan = solve(problem, time_limit_s=10.0, seed=1)
    assert plan.violations == ()
    assert BEST_RC208 <= plan.travel_s / scale <= BEST_RC208 * 1.01


def test_e_n22_k4_is_solved_to_its_optimum_375() -> None:
    # given a CVRP with the TSPLIB convention (nearest integer) and 4 vehicles
    problem, scale = load_vrplib(DATA / "E-n22-k4.txt")
    assert (scale, len(problem.vehicles), problem.vehicles[0].capacity) == (1.0, 4, 6000)
    # when solved for a second, then the proven optimum is reached
    plan = solve(problem, time_limit_s=1.0)
    assert plan.violations == ()
    assert plan.travel_s == 375

"""evaluate(): the independent checker schedules routes and names every broken rule."""

from __future__ import annotations

import numpy as np
import pytest

from geo.vrp import Balance, Problem, RouteStats, Stop, Vehicle, Violation, evaluate

POSITIONS = [0, 100, 200, 300]  # depot, then stops 0..2 on a line; 1 unit = 1 s = 10 m


def line_problem(
    stops: list[Stop] | None = None,
    vehicles: list[Vehicle] | None = None,
    balance: Balance | None = None,
) -> Problem:
    x = np.array(POSITIONS, dtype=np.int64)
    duration = np.abs(x[:, None] - x[None, :])
    return Problem(
        duration,
        duration * 10,
        stops or [Stop(2, 10), Stop(3, 10), Stop(4, 10)],
        vehicles or [Vehicle(10, 1000, 5000, 3)],
        balance or Balance("none"),
    )


def test_a_route_is_scheduled_from_shift_start() -> None:
    # given three stops on a line and one vehicle
    problem = line_problem()
    # when the vehicle serves them in order
    stats, violations = evaluate(problem, [[0, 1, 2]])
    # then it leaves at 1000, drives 600 s / 6 km, serves 30 s, and no rule is broken
    assert stats == (RouteStats(3, 9, 6000, 630, 600, 1000, 1630),)
    assert violations == ()


def test_the_departure_is_delayed_by_the_wait_a_window_would_cause() -> None:
    # given the middle stop receives only from 1300 to 1400
    problem = line_problem(stops=[Stop(2, 10), Stop(3, 10, (1300, 1400)), Stop(4, 10)])
    # when the route is scheduled
    stats, violations = evaluate(problem, [[0, 1, 2]])
    # then the vehicle leaves 90 s later instead of waiting 90 s at the door
    assert stats == (RouteStats(3, 9, 6000, 630, 600, 1090, 1720),)
    assert violations == ()


def test_an_empty_route_has_zero_figures() -> None:
    problem = line_problem(vehicles=[Vehicle(10, 1000, 5000), Vehicle(10, 1000, 5000)])
    stats, _ = evaluate(problem, [[0, 1, 2], []])
    assert stats[1] == RouteStats(0, 0, 0, 0, 0, 1000, 1000)


def test_capacity_is_checked() -> None:
    problem = line_problem(stops=[Stop(5, 10), Stop(5, 10), Stop(5, 10)])
    _, violations = evaluate(problem, [[0, 1, 2]])
    assert violations == (Violation(0, None, "capacity", "load 15 exceeds capacity 10"),)


def test_the_shift_end_is_checked() -> None:
    problem = line_problem(vehicles=[Vehicle(10, 1000, 1500)])
    _, violations = evaluate(problem, [[0, 1, 2]])
    detail = "back at 1630 s, after the shift end 1500 s"
    assert violations == (Violation(0, None, "shift", detail),)


def test_the_stop_limit_is_checked() -> None:
    problem = line_problem(vehicles=[Vehicle(10, 1000, 5000, 2)])
    _, violations = evaluate(problem, [[0, 1, 2]])
    assert violations == (Violation(0, None, "max_stops", "3 stops exceed the limit of 2"),)


def test_a_window_served_late_is_reported() -> None:
    problem = line_problem(stops=[Stop(2, 10), Stop(3, 10), Stop(4, 10, (0, 1200))])
    _, violations = evaluate(problem, [[0, 1, 2]])
    detail = "served at 1320 s, after the window closed at 1200 s"
    assert violations == (Violation(0, 2, "window", detail),)


def test_a_missing_stop_is_reported_unassigned() -> None:
    _, violations = evaluate(line_problem(), [[0, 1]])
    assert violations == (Violation(None, 2, "unassigned", "stop is on no route"),)


def test_a_stop_served_twice_is_reported() -> None:
    problem = line_problem(vehicles=[Vehicle(10, 1000, 5000), Vehicle(10, 1000, 5000)])
    _, violations = evaluate(problem, [[0, 1], [1, 2]])
    assert violations == (Violation(1, 1, "duplicate", "stop is visited more than once"),)


def test_stop_counts_outside_the_balance_band_are_reported() -> None:
    # given a stop-count balance of +-10 % and three vehicles
    vehicles = [Vehicle(10, 1000, 5000)] * 3
    problem = line_problem(vehicles=vehicles, balance=Balance("stops", 0.10))
    # when two used routes have 1 and 2 stops (mean 1.5: the band admits 1 and 2)
    _, violations = evaluate(problem, [[0], [1, 2], []])
    # then that is balanced; the unused vehicle is not measured
    assert violations == ()
    # and 1 stop against 3 is not (mean 2, band [2, 2])
    zeros = np.zeros((5, 5), dtype=np.int64)
    four = Problem(zeros, zeros, [Stop(1, 10)] * 4, vehicles[:2], Balance("stops", 0.10))
    _, violations = evaluate(four, [[0], [1, 2, 3]])
    assert violations == (
        Violation(0, None, "balance", "1 stops outside the band [2, 2]"),
        Violation(1, None, "balance", "3 stops outside the band [2, 2]"),
    )


def test_durations_outside_the_balance_band_are_reported_unless_exempt() -> None:
    # given a duration balance of +-10 %
    problem = line_problem(vehicles=[Vehicle(10, 1000, 5000)] * 2, balance=Balance("duration", 0.1))
    # when one route takes 210 s and the other 620 s (mean 415)
    _, violations = evaluate(problem, [[0], [1, 2]])
    # then both are outside [373.5, 456.5]
    assert violations == (
        Violation(0, None, "balance", "210 s outside the band [373.5, 456.5]"),
        Violation(1, None, "balance", "620 s outside the band [373.5, 456.5]"),
    )
    # and with the first vehicle exempt (locked) only one route is measured: no violation
    assert evaluate(problem, [[0], [1, 2]], exempt={0})[1] == ()


def test_routes_must_match_the_vehicles() -> None:
    with pytest.raises(ValueError, match="expected 1 routes, got 2"):
        evaluate(line_problem(), [[0], [1]])
    with pytest.raises(ValueError, match="route 0 names stop 7, which does not exist"):
        evaluate(line_problem(), [[0, 7]])

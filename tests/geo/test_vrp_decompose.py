"""Zones for very large days: angular slices around the depot, vehicles by workload."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from geo.vrp import solve
from geo.vrp.decompose import embed, is_large, positions, route_groups, zones
from tests.geo.vrp_instances import city_problem


def test_the_embedding_reproduces_the_travel_times() -> None:
    # given a city's travel-time matrix (straight lines, so a plane fits it exactly)
    problem = city_problem(300, 3)
    # when it is embedded in the plane
    xy = embed(problem.duration_s)
    # then distances in the plane match the matrix to within a few seconds
    planar = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    assert np.abs(planar - problem.duration_s).max() < 5


@pytest.mark.parametrize("with_xy", [True, False])
def test_a_large_day_splits_into_slices_that_cover_it_once(with_xy: bool) -> None:
    # given 2,000 shops and 15 vehicles, with or without coordinates
    base = city_problem(2000, 15)
    problem = base if with_xy else dataclasses.replace(base, xy=None)
    # when zoned
    parts = zones(problem, range(2000), range(15), positions(problem))
    # then 3 zones of 5 vehicles hold every shop once, each a third of the work or so
    assert [len(vehicles) for _, vehicles in parts] == [5, 5, 5]
    assert sorted(s for stops, _ in parts for s in stops) == list(range(2000))
    assert sorted(v for _, vehicles in parts for v in vehicles) == list(range(15))
    assert all(550 <= len(stops) <= 780 for stops, _ in parts), [len(s) for s, _ in parts]
    # and each zone is one angular slice around the depot
    xy = base.xy
    assert xy is not None
    for stops, _ in parts:
        angle = np.sort(np.arctan2(*(xy[np.array(stops) + 1] - xy[0]).T[::-1]))
        gaps = np.diff(np.append(angle, angle[0] + 2 * math.pi))
        assert gaps.max() > 2 * math.pi * 0.5  # the rest of the circle is one empty gap


def test_routes_are_grouped_with_their_neighbours_around_the_depot() -> None:
    # given 12 routes of 50 stops, each a narrow slice of directions around the depot
    problem = city_problem(600, 12)
    xy = problem.xy
    assert xy is not None
    angle = np.arctan2(*(xy[1:] - xy[0]).T[::-1])
    by_angle = [int(s) for s in np.argsort(angle)]
    routes = {v: by_angle[50 * v : 50 * v + 50] for v in range(12)}
    routes[12] = []  # an unused vehicle is in no group
    # when grouped by about 200 stops, then shifted by half a group
    first = route_groups(routes, xy, 200, 0)
    second = route_groups(routes, xy, 200, 1)
    # then groups of 4 neighbouring routes cover the used vehicles once, borders moved
    for groups in (first, second):
        assert [len(g) for g in groups] == [4, 4, 4]
        assert sorted(v for g in groups for v in g) == list(range(12))
        for g in groups:
            ring = sorted((v - g[0]) % 12 for v in g)
            assert ring == [0, 1, 2, 3] or sorted((g[0] - v) % 12 for v in g) == [0, 1, 2, 3]
    assert {frozenset(g) for g in first}.isdisjoint({frozenset(g) for g in second})


def test_small_days_are_not_zoned() -> None:
    assert not is_large(range(1000), range(10))
    assert not is_large(range(2000), range(4))  # too few vehicles for two zones
    assert is_large(range(2000), range(15))


@pytest.mark.slow
def test_a_2000_stop_day_is_planned_in_40_seconds_within_every_rule() -> None:
    problem = city_problem(2000, 15, window_share=0.1)
    plan = solve(problem, time_limit_s=40.0)
    assert plan.violations == ()
    assert plan.solver_s < 45.0

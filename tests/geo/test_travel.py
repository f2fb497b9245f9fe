"""Straight-line travel costs: exact values, symmetry, market-type speeds, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geo.points import EARTH_RADIUS_M, haversine_m
from geo.travel import Matrix, StraightLineCosts, TravelCosts

XIAN = (108.94, 34.34)


def along_meridian(point: tuple[float, float], metres: float) -> tuple[float, float]:
    """The point ``metres`` north along the meridian: an arc of exactly that length."""
    return point[0], point[1] + math.degrees(metres / EARTH_RADIUS_M)


def xian_points(n: int, seed: int = 4) -> list[tuple[float, float]]:
    rng = np.random.default_rng(seed)
    return list(zip(rng.uniform(108.6, 109.3, n), rng.uniform(34.0, 34.6, n), strict=True))


def test_exact_values_for_a_known_pair() -> None:
    # Given Xi'an and the point exactly 10 km north of it (a 10 km meridian arc), and two
    # points 1 km apart along the equator
    points = [
        XIAN,
        along_meridian(XIAN, 10_000.0),
        (0.0, 0.0),
        (math.degrees(1e3 / 6371008.8), 0.0),
    ]
    # When costed with the defaults (circuity 1.3, 25 km/h urban)
    m = StraightLineCosts().matrix(points)
    # Then 10 km -> 13,000 m in 13,000 / (25 / 3.6) = 1,872 s; 1 km -> 1,300 m in 187.2 -> 187 s
    assert m.distance_m[0, 1] == m.distance_m[1, 0] == 13_000
    assert m.duration_s[0, 1] == m.duration_s[1, 0] == 1_872
    assert m.distance_m[2, 3] == 1_300 and m.duration_s[2, 3] == 187


def test_distances_are_the_rounded_haversine_times_circuity() -> None:
    # Given 40 points around Xi'an
    points = xian_points(40)
    # When costed with circuity 1.25
    m = StraightLineCosts(circuity=1.25).matrix(points)
    # Then every entry equals round(1.25 x haversine_m) computed pair by pair
    expected = [[round(1.25 * haversine_m(*a, *b)) for b in points] for a in points]
    assert m.distance_m.tolist() == expected


def test_matrix_is_square_int64_symmetric_with_zero_diagonal() -> None:
    # Given 300 points, a third of them rural
    points = xian_points(300)
    urban = [i % 3 != 0 for i in range(300)]
    # When costed
    m = StraightLineCosts().matrix(points, urban)
    # Then both matrices are square int64, exactly symmetric, zero on the diagonal
    for a in (m.distance_m, m.duration_s):
        assert a.shape == (300, 300) and a.dtype == np.int64
        assert np.array_equal(a, a.T)
        assert not np.diagonal(a).any()
    # And distinct points are apart
    off_diagonal = ~np.eye(300, dtype=bool)
    assert (m.distance_m[off_diagonal] > 0).all()


def test_triangle_inequality_holds_up_to_rounding() -> None:
    # Given 60 points / When costed
    d = StraightLineCosts().matrix(xian_points(60, seed=9)).distance_m
    # Then d[i, k] <= d[i, j] + d[j, k] + 1 for all triples (each entry rounded by <= 0.5 m)
    via = d[:, :, None] + d[None, :, :]  # via[i, j, k] = d[i, j] + d[j, k]
    assert (d[:, None, :] <= via + 1).all()


def test_speed_depends_on_both_ends_market_type() -> None:
    # Given three points on a meridian, 10 km apart: urban, urban, rural
    a = XIAN
    b = along_meridian(a, 10_000.0)
    c = along_meridian(a, 20_000.0)
    costs = StraightLineCosts(circuity=1.0, urban_kmh=20.0, rural_kmh=50.0)
    # When costed
    m = costs.matrix([a, b, c], urban=[True, True, False])
    # Then urban-urban legs run at 20 km/h (10 km in 1,800 s); legs touching the rural point
    # at 50 km/h (10 km in 720 s, 20 km in 1,440 s), in both directions
    assert m.distance_m.tolist() == [[0, 10_000, 20_000], [10_000, 0, 10_000], [20_000, 10_000, 0]]
    assert m.duration_s.tolist() == [[0, 1_800, 1_440], [1_800, 0, 720], [1_440, 720, 0]]


def test_no_market_types_means_all_urban_and_rural_everywhere_is_rural() -> None:
    # Given two points 10 km apart
    points = [XIAN, along_meridian(XIAN, 10_000.0)]
    costs = StraightLineCosts(circuity=1.0)
    # When costed without flags, all urban, all rural
    unflagged = costs.matrix(points)
    urban = costs.matrix(points, [True, True])
    rural = costs.matrix(points, [False, False])
    # Then no flags = urban (25 km/h: 1,440 s); rural = 45 km/h (800 s)
    assert unflagged.duration_s[0, 1] == urban.duration_s[0, 1] == 1_440
    assert rural.duration_s[0, 1] == 800


def test_empty_and_single_point_matrices() -> None:
    empty = StraightLineCosts().matrix([])
    assert empty.distance_m.shape == (0, 0) and empty.duration_s.dtype == np.int64
    single = StraightLineCosts().matrix([XIAN], [False])
    assert single.distance_m.tolist() == [[0]] and single.duration_s.tolist() == [[0]]


def test_blocks_join_seamlessly() -> None:
    # Given more points than one block of rows (256)
    points = xian_points(600, seed=2)
    full = StraightLineCosts().matrix(points)
    # Then the rows past the first block equal a matrix computed on their own
    tail = StraightLineCosts().matrix(points[500:])
    assert np.array_equal(full.distance_m[500:, 500:], tail.distance_m)
    assert np.array_equal(full.duration_s[500:, 500:], tail.duration_s)


def test_straight_line_costs_satisfy_the_protocol() -> None:
    costs: TravelCosts = StraightLineCosts()
    assert isinstance(costs.matrix([XIAN]), Matrix)


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"circuity": 0.0}, "circuity must be a finite number >= 1, not 0.0"),
        ({"circuity": 0.9}, "circuity must be a finite number >= 1, not 0.9"),
        ({"circuity": math.nan}, "circuity must be a finite number >= 1, not nan"),
        ({"circuity": math.inf}, "circuity must be a finite number >= 1, not inf"),
        ({"urban_kmh": 0.0}, "urban_kmh must be a finite number > 0, not 0.0"),
        ({"urban_kmh": -25.0}, "urban_kmh must be a finite number > 0, not -25.0"),
        ({"rural_kmh": math.inf}, "rural_kmh must be a finite number > 0, not inf"),
        ({"rural_kmh": "45"}, "rural_kmh must be a finite number > 0, not '45'"),
        ({"rural_kmh": True}, "rural_kmh must be a finite number > 0, not True"),
    ],
)
def test_parameters_are_validated(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        StraightLineCosts(**kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_parameters_are_kept_and_frozen() -> None:
    costs = StraightLineCosts(circuity=1.0, urban_kmh=30, rural_kmh=60.0)
    assert (costs.circuity, costs.urban_kmh, costs.rural_kmh) == (1.0, 30, 60.0)
    with pytest.raises(AttributeError):
        costs.circuity = 2.0  # type: ignore[misc]
    assert StraightLineCosts() == StraightLineCosts(1.3, 25.0, 45.0)


@pytest.mark.parametrize(
    ("points", "urban", "message"),
    [
        ([XIAN, (math.nan, 34.0)], None, "points must be finite numbers"),
        ([XIAN, (108.0, math.inf)], None, "points must be finite numbers"),
        (
            [(1.0, 2.0, 3.0)],
            None,
            r"points must be \(lng, lat\) pairs, got an array of shape \(1, 3\)",
        ),
        ([XIAN, XIAN], [True], r"urban must have one flag per point: \(1,\) for 2 points"),
    ],
)
def test_bad_input_is_refused(
    points: list[tuple[float, ...]], urban: list[bool] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        StraightLineCosts().matrix(points, urban)  # type: ignore[arg-type]

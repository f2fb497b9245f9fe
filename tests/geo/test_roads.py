"""Road-network travel costs: pgRouting's matrix over a network imported by osm2pgrouting,
against shortest paths computed independently in Python (tests/geo/osm_grid.py)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from geo.roads import (
    DEFAULT_MAPCONFIG,
    NoRoadNetworkError,
    RoadCosts,
    UnreachableError,
)
from tests.geo.osm_grid import (
    ACCESS_KMH,
    Reference,
    at,
    class_speeds,
    geodesic_m,
    gid,
    plain_grid,
)
from tests.geo.roads_support import (
    GridDb,
    import_into,
    require_osm2pgrouting,
)

require_osm2pgrouting()

# Points on junctions, inside blocks, two on one junction, one beside the disconnected scrap
# of road, one beside the one-way dead end, and pairs across a one-way street and a gap.
POINTS = [
    at(0, 0), at(5, 5), at(2, 3), at(1.45, 2.6), at(4.1, 0.3), at(3.9, 4.8),
    at(1.6, 7.0), at(2.05, 5.65), at(0.02, 0), at(2.9, 3.2), at(4, 2), at(0, 0.45),
    at(4, 1), at(4, 3), at(1, 2), at(1, 3),
]  # fmt: skip
BESIDE_SCRAP, BESIDE_DEAD_END, NEXT_TO_FIRST = 6, 7, 8
ROW4_WEST, ROW4_EAST, GAP_WEST, GAP_EAST = 12, 13, 14, 15


# --- the matrix -------------------------------------------------------------------------------


def test_matrix_equals_the_independent_shortest_paths(
    grid_db: GridDb, grid_conn: Connection
) -> None:
    # given the grid and points on and off its junctions
    distance, duration, _ = grid_db.reference.matrix(POINTS)
    # when pgRouting computes the matrix
    m = RoadCosts(grid_conn).matrix(POINTS)
    # then both matrices equal the Python Dijkstra's, to the metre and the second
    assert m.distance_m.dtype == m.duration_s.dtype == np.int64
    assert m.distance_m.tolist() == distance.tolist()
    assert m.duration_s.tolist() == duration.tolist()
    assert (np.diag(m.distance_m) == 0).all() and (np.diag(m.duration_s) == 0).all()
    # and small batches of sources (3 of the 12 junctions per pgRouting call) agree
    batched = RoadCosts(grid_conn, batch=3).matrix(POINTS)
    assert np.array_equal(batched.distance_m, m.distance_m)
    assert np.array_equal(batched.duration_s, m.duration_s)
    # and one-way streets make it asymmetric
    assert (m.distance_m != m.distance_m.T).sum() > 0
    assert (m.duration_s != m.duration_s.T).sum() > 0


def test_a_one_way_street_is_driven_one_way(grid_conn: Connection) -> None:
    # given two junctions on row 4, which runs west to east only
    west, east = POINTS[ROW4_WEST], POINTS[ROW4_EAST]
    along = geodesic_m(west, at(4, 2)) + geodesic_m(at(4, 2), east)
    # when the matrix is computed
    m = RoadCosts(grid_conn).matrix([west, east])
    # then eastwards is the two blocks along it (residential, 50 km/h), westwards a detour
    assert m.distance_m[0, 1] == round(along) == 294
    assert m.duration_s[0, 1] == round(along / (50 / 3.6)) == 21
    # westwards: up column 3, west along row 5 (one-way westwards), down column 1
    back = 2 * geodesic_m(at(4, 1), at(5, 1)) + geodesic_m(at(5, 1), at(5, 3))
    assert m.distance_m[1, 0] == round(back) == 583


def test_a_missing_block_forces_a_detour(grid_db: GridDb, grid_conn: Connection) -> None:
    # given the two ends of the missing block on row 1
    west, east = POINTS[GAP_WEST], POINTS[GAP_EAST]
    # when the matrix is computed, then the road goes round a neighbouring block
    m = RoadCosts(grid_conn).matrix([west, east])
    block = geodesic_m(west, east)
    round_a_block = block + 2 * geodesic_m(at(1, 2), at(2, 2))
    assert m.distance_m.tolist() == [[0, round(round_a_block)], [round(round_a_block), 0]]
    assert round(block) == 147


def test_distance_is_its_own_shortest_path_not_the_fastest_paths(grid_db: GridDb) -> None:
    # given the reference's shortest distances and the lengths of its fastest paths
    distance, _, fastest_len = grid_db.reference.matrix(POINTS)
    # then a fastest path is never shorter, and somewhere (a primary road's detour) longer:
    # distance_m is the shortest road distance, documented as such
    assert (np.rint(fastest_len) >= distance).all()
    assert (np.rint(fastest_len) > distance).sum() > 0


def test_points_snap_only_to_junctions_of_the_connected_grid(
    grid_db: GridDb, grid_conn: Connection
) -> None:
    # given points beside the disconnected scrap of road and beside the one-way dead end
    points = [POINTS[BESIDE_SCRAP], POINTS[BESIDE_DEAD_END]]
    # when they are snapped
    snapped = RoadCosts(grid_conn).snap(points)
    osm_ids = grid_conn.execute(
        text("SELECT osm_id FROM roads.ways_vertices_pgr WHERE id = ANY(:ids) ORDER BY id"),
        {"ids": snapped.vertex_ids.tolist()},
    ).scalars()
    # then both join the grid at column 5, row 2, as the reference says
    expected = [grid_db.reference.snap(p) for p in points]
    assert list(osm_ids) == [gid(2, 5)] == sorted({v for v, _ in expected})
    assert snapped.metres.round(6).tolist() == [round(mm, 6) for _, mm in expected]


def test_points_on_one_junction_cost_their_access_legs(grid_conn: Connection) -> None:
    # given a point on a junction and one 2.9 m north of it
    near = [POINTS[0], POINTS[NEXT_TO_FIRST]]
    leg = geodesic_m(*near)
    # when the matrix is computed, then each way costs the short walk at the access speed
    m = RoadCosts(grid_conn).matrix(near)
    assert m.distance_m.tolist() == [[0, round(leg)], [round(leg), 0]] == [[0, 3], [3, 0]]
    assert m.duration_s.tolist() == [[0, 1], [1, 0]]  # 2.9 m at 15 km/h: 0.69 s


def test_thousands_of_points_cost_one_pass_per_distinct_junction(
    grid_db: GridDb, grid_conn: Connection
) -> None:
    # given 2,000 random shops over the grid
    rng = np.random.default_rng(7)
    rows, cols = rng.uniform(-0.3, 5.3, 2000), rng.uniform(-0.3, 5.3, 2000)
    points = [at(r, c) for r, c in zip(rows, cols, strict=True)]
    # when the matrix is computed
    started = time.perf_counter()
    m = RoadCosts(grid_conn).matrix(points)
    elapsed = time.perf_counter() - started
    # then it equals the reference everywhere
    distance, duration, _ = grid_db.reference.matrix(points)
    assert m.distance_m.shape == (2000, 2000)
    assert np.array_equal(m.distance_m, distance) and np.array_equal(m.duration_s, duration)
    assert elapsed < 10, elapsed


def test_unreachable_pairs_are_refused_by_name(grid_conn: Connection) -> None:
    # given a network whose dead end was (wrongly) flagged routable
    grid_conn.execute(
        text("UPDATE roads.ways_vertices_pgr SET routable = true WHERE osm_id = 3003")
    )
    # when a point on the dead end and one on the grid are asked for
    with pytest.raises(UnreachableError) as caught:
        RoadCosts(grid_conn).matrix([at(2, 5.6), at(0, 0), at(2, 5.6)])
    # then every pair without a path is named: out of the dead end there is none
    assert caught.value.pairs == [(0, 1), (2, 1)]
    assert str(caught.value) == "no road path between points 0->1, 2->1"


def test_no_network_is_a_clear_error(db_conn: Connection) -> None:
    with pytest.raises(NoRoadNetworkError, match=r"^no road network in schema 'roads': import"):
        RoadCosts(db_conn).matrix([at(0, 0), at(1, 1)])


def test_matrix_inputs(grid_conn: Connection) -> None:
    costs = RoadCosts(grid_conn)
    assert costs.matrix([]).distance_m.shape == (0, 0)
    one = costs.matrix([at(1, 1)])
    assert one.distance_m.tolist() == one.duration_s.tolist() == [[0]]
    # urban is part of the interface; the roads carry their own speeds
    plain = costs.matrix(POINTS[:4])
    rural = costs.matrix(POINTS[:4], urban=[False] * 4)
    assert np.array_equal(plain.duration_s, rural.duration_s)
    with pytest.raises(ValueError, match=r"^urban must have one flag per point: 3 for 4 points$"):
        costs.matrix(POINTS[:4], urban=[True] * 3)
    with pytest.raises(ValueError, match=r"^points must be finite WGS-84"):
        costs.matrix([(108.9, 95.0)])
    with pytest.raises(ValueError, match=r"^access_kmh must be"):
        RoadCosts(grid_conn, access_kmh=0)


def test_access_speed_is_configurable(grid_db: GridDb, grid_conn: Connection) -> None:
    # given a junction and a point 62 m from it, off the road
    near = [at(0, 0), at(0.42, -0.1)]
    leg = geodesic_m(*near)
    # when the access speed doubles, then the distance stays and the walk takes half as long
    slow = RoadCosts(grid_conn, access_kmh=ACCESS_KMH).matrix(near)
    fast = RoadCosts(grid_conn, access_kmh=2 * ACCESS_KMH).matrix(near)
    assert slow.distance_m.tolist() == fast.distance_m.tolist() == [[0, 62], [62, 0]]
    assert round(leg) == 62
    assert slow.duration_s[0, 1] == round(leg * 3.6 / ACCESS_KMH) == 15
    assert fast.duration_s[0, 1] == round(leg * 3.6 / (2 * ACCESS_KMH)) == 7


@pytest.mark.slow
def test_a_larger_city_matches_the_reference(fresh_db_url: str, tmp_path: Path) -> None:
    # given a 40 x 40 grid (1,600 junctions) and 1,000 shops, most on distinct junctions
    osm = plain_grid(40, 40)
    import_into(osm.write(tmp_path / "big.osm"), fresh_db_url)
    rng = np.random.default_rng(11)
    points = [at(r, c) for r, c in zip(*rng.uniform(0, 39, (2, 1000)), strict=True)]
    # when the matrix is computed
    engine = create_engine(fresh_db_url, poolclass=NullPool)
    with engine.connect() as conn:
        m = RoadCosts(conn, batch=200).matrix(points)
    engine.dispose()
    # then a sample of it equals the reference (snapping does not depend on the other points)
    sample = sorted(rng.choice(1000, 25, replace=False).tolist())
    reference = Reference(osm, class_speeds(DEFAULT_MAPCONFIG))
    distance, duration, _ = reference.matrix([points[i] for i in sample])
    assert np.array_equal(m.distance_m[np.ix_(sample, sample)], distance)
    assert np.array_equal(m.duration_s[np.ix_(sample, sample)], duration)

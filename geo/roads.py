"""Road-network travel costs (issue 6, part 4b): shortest road distances and times
between points with pgRouting, over the network ``import_osm`` loaded (``geo.road_import``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, text

from geo.road_import import (
    DEFAULT_MAPCONFIG,
    ConnParams,
    ImportSummary,
    RoadImportError,
    RoadsError,
    check_schema,
    conn_params,
    edges_sql,
    import_osm,
)
from geo.travel import Matrix, TravelCosts

__all__ = [
    "DEFAULT_MAPCONFIG",
    "ConnParams",
    "ImportSummary",
    "NoRoadNetworkError",
    "RoadCosts",
    "RoadImportError",
    "RoadsError",
    "Snapped",
    "UnreachableError",
    "conn_params",
    "import_osm",
]

IdArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


class NoRoadNetworkError(RoadsError):
    """No network imported by ``import_osm`` in the schema asked for."""


class UnreachableError(RoadsError):
    """Some points cannot reach others by road. ``pairs`` lists every (from, to) index."""

    def __init__(self, pairs: list[tuple[int, int]]) -> None:
        shown = ", ".join(f"{i}->{j}" for i, j in pairs[:10])
        more = f" and {len(pairs) - 10} more" if len(pairs) > 10 else ""
        super().__init__(f"no road path between points {shown}{more}")
        self.pairs = pairs


@dataclass(frozen=True)
class Snapped:
    """Each point's nearest routable junction and the straight-line metres to it."""

    vertex_ids: IdArray
    metres: FloatArray


_SNAP_SQL = """
SELECT v.id, v.metres
FROM unnest(CAST(:lng AS float8[]), CAST(:lat AS float8[])) WITH ORDINALITY AS p(lng, lat, i)
CROSS JOIN LATERAL (
    SELECT c.id, ST_Distance(c.the_geom::geography, p.geom::geography) AS metres
    FROM (SELECT ST_SetSRID(ST_MakePoint(p.lng, p.lat), 4326) AS geom) AS p
    CROSS JOIN LATERAL (
        SELECT id, the_geom FROM "{schema}".ways_vertices_pgr WHERE routable
        ORDER BY the_geom <-> p.geom LIMIT {candidates}
    ) AS c
    ORDER BY metres, c.id LIMIT 1
) AS v
ORDER BY p.i
"""
# One row of three arrays, not a row per pair: converting a million result rows cost more
# than pgRouting's own work.
_COST_SQL = text(
    "SELECT array_agg(start_vid), array_agg(end_vid), array_agg(agg_cost) FROM pgr_dijkstraCost("
    " CAST(:edges AS text), CAST(:starts AS bigint[]), CAST(:ends AS bigint[]), true)"
)
_NETWORK_SQL = text(
    "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(:vertices)"
    " AND attname = 'routable' AND NOT attisdropped"
)


class RoadCosts(TravelCosts):
    """Shortest road distances and times between points, from an imported network.

    A point joins the network at its nearest routable junction (see ``import_osm``),
    reached in a straight line at ``access_kmh``: that leg is added at both ends of every
    pair. ``duration_s`` is the fastest directed road time (osm2pgrouting's ``cost_s``:
    length at the way's maxspeed, or its class's speed in the map configuration), one-way
    streets honoured. ``distance_m`` is the shortest directed road distance, on its own
    shortest path: it can differ from the fastest path's length (a detour over a faster
    road), and is what the distance network can prove cheaply for thousands of pairs.
    Points on the same junction cost only their two legs. ``urban`` is accepted for the
    interface and ignored: the roads carry their own speeds.

    Unreachable pairs raise ``UnreachableError`` listing them: with junctions restricted to
    one strongly connected part this does not happen unless the network was altered.
    Distances are computed among distinct junctions only, ``batch`` sources per pgRouting
    call (ids are bound as arrays: the SQL text stays the same size). Reads only; runs in
    the caller's transaction.
    """

    def __init__(
        self,
        conn: Connection,
        *,
        schema: str = "roads",
        access_kmh: float = 15.0,
        batch: int = 256,
        candidates: int = 8,
    ) -> None:
        check_schema(schema)
        if not (np.isfinite(access_kmh) and access_kmh > 0):
            raise ValueError(f"access_kmh must be a finite number > 0, not {access_kmh!r}")
        if batch < 1 or candidates < 1:
            raise ValueError("batch and candidates must be at least 1")
        self.conn, self.schema, self.access_kmh, self.batch = conn, schema, access_kmh, batch
        # Candidates by planar distance in degrees, then the nearest by metres among them.
        self._snap_sql = text(_SNAP_SQL.format(schema=schema, candidates=int(candidates)))

    def matrix(
        self, points: Sequence[tuple[float, float]], urban: Sequence[bool] | None = None
    ) -> Matrix:
        lng, lat = _coordinates(points)
        n = len(lng)
        if urban is not None and len(urban) != n:
            raise ValueError(f"urban must have one flag per point: {len(urban)} for {n} points")
        if n == 0:
            empty = np.zeros((0, 0), dtype=np.int64)
            return Matrix(distance_m=empty, duration_s=empty.copy())
        snapped = self._snap(lng, lat)
        vids, idx = np.unique(snapped.vertex_ids, return_inverse=True)
        road_s = self._road_costs(vids, "duration")
        if np.isnan(road_s).any():
            bad = np.argwhere(np.isnan(road_s)[np.ix_(idx, idx)])
            raise UnreachableError([(int(i), int(j)) for i, j in bad])
        road_m = self._road_costs(vids, "distance")
        leg_s = snapped.metres * (3.6 / self.access_kmh)
        return Matrix(
            distance_m=_assemble(road_m, idx, snapped.metres),
            duration_s=_assemble(road_s, idx, leg_s),
        )

    def snap(self, points: Sequence[tuple[float, float]]) -> Snapped:
        """Each point's junction (``ways_vertices_pgr.id``) and its straight-line metres."""
        return self._snap(*_coordinates(points))

    def _snap(self, lng: FloatArray, lat: FloatArray) -> Snapped:
        vertices = f'"{self.schema}".ways_vertices_pgr'
        if self.conn.execute(_NETWORK_SQL, {"vertices": vertices}).first() is None:
            raise NoRoadNetworkError(
                f"no road network in schema {self.schema!r}: import one (retailgis roads import)"
            )
        rows = self.conn.execute(self._snap_sql, {"lng": lng.tolist(), "lat": lat.tolist()})
        found = rows.all()
        if len(found) != len(lng):
            raise NoRoadNetworkError(f"the road network in {self.schema!r} has no junctions")
        ids = np.fromiter((r[0] for r in found), dtype=np.int64, count=len(found))
        metres = np.fromiter((r[1] for r in found), dtype=np.float64, count=len(found))
        return Snapped(vertex_ids=ids, metres=metres)

    def _road_costs(self, vids: IdArray, metric: str) -> FloatArray:
        """Directed shortest costs among sorted junction ids; NaN where there is no path."""
        u = len(vids)
        out = np.full((u, u), np.nan)
        np.fill_diagonal(out, 0.0)
        edges, ends = edges_sql(self.schema, metric), vids.tolist()
        for lo in range(0, u if u > 1 else 0, self.batch):
            params = {"edges": edges, "starts": ends[lo : lo + self.batch], "ends": ends}
            starts, targets, costs = self.conn.execute(_COST_SQL, params).one()
            if starts:  # NULL arrays when no pair of the batch has a path
                src = np.searchsorted(vids, np.asarray(starts, dtype=np.int64))
                dst = np.searchsorted(vids, np.asarray(targets, dtype=np.int64))
                out[src, dst] = np.asarray(costs, dtype=np.float64)
        return out


def _coordinates(points: Sequence[tuple[float, float]]) -> tuple[FloatArray, FloatArray]:
    arr = np.asarray(points, dtype=np.float64)
    if arr.size == 0:
        return np.zeros(0), np.zeros(0)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"points must be (lng, lat) pairs, got an array of shape {arr.shape}")
    lng, lat = arr[:, 0], arr[:, 1]
    if not (np.all(np.isfinite(arr)) and np.all(np.abs(lng) <= 180) and np.all(np.abs(lat) <= 90)):
        raise ValueError("points must be finite WGS-84 (lng, lat) degrees")
    return lng.copy(), lat.copy()


def _assemble(road: FloatArray, idx: IdArray, leg: FloatArray) -> npt.NDArray[np.int64]:
    """Point-to-point costs: access leg + junction-to-junction road cost + access leg."""
    full = road[np.ix_(idx, idx)]
    full += leg[:, None]
    full += leg[None, :]
    np.fill_diagonal(full, 0.0)
    return np.rint(full).astype(np.int64)

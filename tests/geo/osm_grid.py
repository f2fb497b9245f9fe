"""Synthetic OpenStreetMap street grids in Xi'an, and their true shortest paths computed here
in plain Python (ellipsoidal lengths, Dijkstra), independently of PostGIS and pgRouting.

``Reference`` rebuilds what osm2pgrouting is documented to build from the same file (a way
is routable when the map configuration lists its highway class; speed from ``maxspeed`` or
else the class's speed; ``oneway=yes`` forward only, ``oneway=-1`` backward only; junctions
are way ends and nodes shared by ways) and answers what ``RoadCosts`` must answer.
"""

from __future__ import annotations

import heapq
import math
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import numpy.typing as npt

LNG0, LAT0 = 108.94, 34.34  # Xi'an, near the Bell Tower
DLNG, DLAT = 0.0016, 0.0013  # one block: about 147 m east-west, 144 m north-south
ACCESS_KMH = 15.0


def at(r: float, c: float) -> tuple[float, float]:
    """(lng, lat) of grid row ``r`` (south to north), column ``c`` (west to east)."""
    return (round(LNG0 + c * DLNG, 9), round(LAT0 + r * DLAT, 9))


def gid(r: int, c: int) -> int:
    """OSM id of the grid node at row r, column c."""
    return 1000 + 10 * r + c


@dataclass(frozen=True)
class OsmWay:
    osm_id: int
    nodes: tuple[int, ...]
    tags: Mapping[str, str]


@dataclass
class OsmMap:
    nodes: dict[int, tuple[float, float]] = field(default_factory=dict)  # id -> (lng, lat)
    ways: list[OsmWay] = field(default_factory=list)

    def way(self, nodes: Iterable[int], **tags: str) -> None:
        self.ways.append(OsmWay(len(self.ways) + 1, tuple(nodes), tags))

    def xml(self) -> str:
        lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="t">']
        for nid, (lng, lat) in sorted(self.nodes.items()):
            lines.append(f'  <node id="{nid}" version="1" lat="{lat!r}" lon="{lng!r}"/>')
        for way in self.ways:
            lines.append(f'  <way id="{way.osm_id}" version="1">')
            lines += [f'    <nd ref="{ref}"/>' for ref in way.nodes]
            lines += [f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in way.tags.items()]
            lines.append("  </way>")
        lines.append("</osm>")
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> Path:
        path.write_text(self.xml(), encoding="utf-8")
        return path


def street_grid() -> OsmMap:
    """6 x 6 junctions with mixed classes and speeds (one street faster southwards), one-way
    streets (both tag forms), two missing blocks, a bent block, a footway (not for cars), a
    disconnected scrap of road and a one-way dead end (neither strongly connected to the
    grid)."""
    osm = OsmMap()
    for r in range(6):
        for c in range(6):
            osm.nodes[gid(r, c)] = at(r, c)
    osm.nodes[2000] = at(-0.15, 0.5)  # the bend in row 0, between columns 0 and 1
    row = [[gid(r, c) for c in range(6)] for r in range(6)]
    col = [[gid(r, c) for r in range(6)] for c in range(6)]
    osm.way([row[0][0], 2000, *row[0][1:]], highway="residential", name="南大街")
    osm.way(row[1][:3], highway="residential")
    osm.way(row[1][3:], highway="residential")  # no block between columns 2 and 3
    osm.way(row[2], highway="primary", maxspeed="60")
    osm.way(row[3], highway="residential", maxspeed="30")
    osm.way(row[4], highway="residential", oneway="yes")  # west to east only
    osm.way(row[5], highway="residential", oneway="-1", maxspeed="40")  # east to west only
    osm.way(col[0], highway="residential")
    osm.way(col[1], highway="residential", **{"maxspeed:forward": "30", "maxspeed:backward": "60"})
    osm.way(col[2], highway="primary")
    osm.way(col[3][:4], highway="residential")
    osm.way(col[3][4:], highway="residential")  # no block between rows 3 and 4
    osm.way(col[4], highway="living_street")
    osm.way(col[5], highway="residential", oneway="yes")  # south to north only
    osm.way([gid(0, 0), gid(1, 1)], highway="footway")
    osm.nodes.update({3001: at(1.2, 7), 3002: at(2.2, 7), 3003: at(2, 5.6)})
    osm.way([3001, 3002], highway="service")  # touches nothing
    osm.way([gid(2, 5), 3003], highway="residential", oneway="yes")  # in, never out
    return osm


def plain_grid(rows: int, cols: int) -> OsmMap:
    """A uniform two-way residential grid, for size and speed checks."""
    osm = OsmMap()
    for r in range(rows):
        for c in range(cols):
            osm.nodes[100_000 + r * cols + c] = at(r, c)
    for r in range(rows):
        osm.way((100_000 + r * cols + c for c in range(cols)), highway="residential")
    for c in range(cols):
        osm.way((100_000 + r * cols + c for r in range(rows)), highway="residential")
    return osm


def class_speeds(mapconfig: Path) -> dict[str, float]:
    """highway class -> km/h, as the map configuration lists them (osm2pgrouting: 50 when
    a class has no maxspeed attribute)."""
    root = ET.parse(mapconfig).getroot()
    return {
        value.attrib["name"]: float(value.attrib.get("maxspeed", 50))
        for key in root.iter("tag_name")
        if key.attrib["name"] == "highway"
        for value in key.iter("tag_value")
    }


def geodesic_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Vincenty's inverse formula on WGS-84 (sub-millimetre for city distances)."""
    f = 1 / 298.257223563
    big_a = 6378137.0
    small_b = (1 - f) * big_a
    u1 = math.atan((1 - f) * math.tan(math.radians(a[1])))
    u2 = math.atan((1 - f) * math.tan(math.radians(b[1])))
    big_l = math.radians(b[0] - a[0])
    lam = big_l
    for _ in range(200):
        sin_lam, cos_lam = math.sin(lam), math.cos(lam)
        sin_s = math.hypot(
            math.cos(u2) * sin_lam,
            math.cos(u1) * math.sin(u2) - math.sin(u1) * math.cos(u2) * cos_lam,
        )
        if sin_s == 0:
            return 0.0
        cos_s = math.sin(u1) * math.sin(u2) + math.cos(u1) * math.cos(u2) * cos_lam
        sigma = math.atan2(sin_s, cos_s)
        sin_al = math.cos(u1) * math.cos(u2) * sin_lam / sin_s
        cos2_al = 1 - sin_al**2
        cos_2sm = cos_s - 2 * math.sin(u1) * math.sin(u2) / cos2_al if cos2_al else 0.0
        cc = f / 16 * cos2_al * (4 + f * (4 - 3 * cos2_al))
        prev = lam
        lam = big_l + (1 - cc) * f * sin_al * (
            sigma + cc * sin_s * (cos_2sm + cc * cos_s * (-1 + 2 * cos_2sm**2))
        )
        if abs(lam - prev) < 1e-13:
            break
    u_sq = cos2_al * (big_a**2 - small_b**2) / small_b**2
    k_a = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    k_b = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    d_sigma = (
        k_b
        * sin_s
        * (
            cos_2sm
            + k_b
            / 4
            * (
                cos_s * (-1 + 2 * cos_2sm**2)
                - k_b / 6 * cos_2sm * (-3 + 4 * sin_s**2) * (-3 + 4 * cos_2sm**2)
            )
        )
    )
    return small_b * k_a * (sigma - d_sigma)


Arc = tuple[int, float, float]  # (to node, metres, seconds)
FloatArray = npt.NDArray[np.float64]


class Reference:
    """The directed network of an ``OsmMap`` under a map configuration's speeds."""

    def __init__(self, osm: OsmMap, speeds: Mapping[str, float]) -> None:
        self.osm = osm
        ways = [w for w in osm.ways if w.tags.get("highway") in speeds]
        uses: dict[int, int] = defaultdict(int)
        for way in ways:
            for ref in way.nodes:
                uses[ref] += 1
        self.junctions = {ref for ref, n in uses.items() if n > 1}
        self.junctions |= {end for way in ways for end in (way.nodes[0], way.nodes[-1])}
        self.segments = sum(
            sum(1 for ref in way.nodes[1:] if ref in self.junctions) for way in ways
        )
        self.out: dict[int, list[Arc]] = defaultdict(list)
        self.into: dict[int, list[Arc]] = defaultdict(list)
        for way in ways:
            kmh = float(way.tags.get("maxspeed", speeds[way.tags["highway"]]))
            forward = float(way.tags.get("maxspeed:forward", kmh))
            backward = float(way.tags.get("maxspeed:backward", kmh))
            oneway = way.tags.get("oneway", "no")
            for a, b in zip(way.nodes, way.nodes[1:], strict=False):
                metres = geodesic_m(osm.nodes[a], osm.nodes[b])
                if oneway != "-1":
                    self._arc(a, b, metres, metres / (forward / 3.6))
                if oneway not in ("yes", "1", "true"):
                    self._arc(b, a, metres, metres / (backward / 3.6))
        self.routable = self._main_component()

    def _arc(self, a: int, b: int, metres: float, seconds: float) -> None:
        self.out[a].append((b, metres, seconds))
        self.into[b].append((a, metres, seconds))

    def _reach(self, start: int, arcs: Mapping[int, list[Arc]]) -> set[int]:
        seen, todo = {start}, [start]
        while todo:
            for nxt, _, _ in arcs.get(todo.pop(), []):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    def _main_component(self) -> set[int]:
        """The junctions of the largest strongly connected component."""
        best: set[int] = set()
        left = set(self.junctions)
        while left:
            seed = min(left)
            comp = self._reach(seed, self.out) & self._reach(seed, self.into) & self.junctions
            left -= comp | {seed}
            if len(comp) > len(best):
                best = comp
        return best

    def snap(self, point: tuple[float, float]) -> tuple[int, float]:
        """Nearest routable junction (OSM id) and the metres to it."""
        metres, junction = min((geodesic_m(point, self.osm.nodes[j]), j) for j in self.routable)
        return junction, metres

    def costs(self, source: int, metric: int) -> dict[int, tuple[float, float]]:
        """Dijkstra on metres (metric 1) or seconds (2): node -> (metres, seconds) of the
        best path by that metric."""
        best = {source: (0.0, 0.0)}
        heap = [(0.0, 0.0, 0.0, source)]
        while heap:
            _, metres, seconds, node = heapq.heappop(heap)
            if best[node] != (metres, seconds):
                continue
            for nxt, dm, ds in self.out.get(node, []):
                cand = (metres + dm, seconds + ds)
                if nxt not in best or cand[metric - 1] < best[nxt][metric - 1]:
                    best[nxt] = cand
                    heapq.heappush(heap, (cand[metric - 1], *cand, nxt))
        return best

    def matrix(
        self, points: list[tuple[float, float]]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Expected (distance_m, duration_s), and the metres driven on the fastest paths:
        access leg + junction-to-junction road cost + access leg, 0 on the diagonal."""
        snaps = [self.snap(p) for p in points]
        junctions = sorted({v for v, _ in snaps})
        u = len(junctions)
        road_m, road_s, fastest_m = np.zeros((u, u)), np.zeros((u, u)), np.zeros((u, u))
        for a, source in enumerate(junctions):
            by_metres, by_time = self.costs(source, 1), self.costs(source, 2)
            for b, target in enumerate(junctions):
                road_m[a, b] = by_metres[target][0]
                road_s[a, b], fastest_m[a, b] = by_time[target][1], by_time[target][0]
        idx = np.array([junctions.index(v) for v, _ in snaps], dtype=np.int64)
        leg = np.array([metres for _, metres in snaps])

        def full(road: npt.NDArray[np.float64], legs: npt.NDArray[np.float64]) -> FloatArray:
            out = road[np.ix_(idx, idx)] + legs[:, None] + legs[None, :]
            np.fill_diagonal(out, 0.0)
            return out

        leg_s = leg * 3.6 / ACCESS_KMH
        distance = np.rint(full(road_m, leg)).astype(np.int64)
        return distance, np.rint(full(road_s, leg_s)).astype(np.int64), full(fastest_m, leg)

"""Where the shops are: a street grid in the core, clusters along town streets, villages.

Each region gets its share of the shops; its points come from three processes (the city
grid around the Bell Tower, town main and cross streets, scattered villages) and are
redrawn until they fall inside the region polygon and the service area.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely

from domain.demo.common import (
    BoolArray,
    FloatArray,
    IntArray,
    from_metres,
    largest_remainder,
    to_metres,
)
from domain.demo.districts import (
    GRID_SIGMA_SUBURBAN_M,
    GRID_SIGMA_URBAN_M,
    GRID_SPACING_M,
    URBAN_RADIUS_M,
    Town,
)
from domain.demo.geography import City, Region
from domain.demo.names import village_names

Draw = dict[str, FloatArray | IntArray]
Made = tuple[Draw, list[str], list[str], list[str]]  # points, addresses, segments, localities


@dataclass(frozen=True)
class Places:
    lng: FloatArray
    lat: FloatArray
    region: IntArray  # index into City.regions
    urban: BoolArray  # market type 城网
    address: list[str]
    segment: list[str]  # street or village, for 送货路段
    locality: list[str]  # street in the city, else the town (for bank branch names)

    def take(self, idx: IntArray) -> Places:
        order = idx.tolist()
        return Places(
            self.lng[idx],
            self.lat[idx],
            self.region[idx],
            self.urban[idx],
            [self.address[i] for i in order],
            [self.segment[i] for i in order],
            [self.locality[i] for i in order],
        )


def _fill(n: int, draw: Callable[[int], Draw], region: Region, city: City) -> Draw:
    """Draw batches until ``n`` points lie inside the region and the service area."""
    parts: list[Draw] = []
    have = 0
    batch = max(64, 2 * n)
    while have < n:
        got = draw(batch)
        lng, lat = from_metres(got["x"].astype(np.float64), got["y"].astype(np.float64))
        lng, lat = np.round(lng, 7), np.round(lat, 7)
        ok = shapely.contains_xy(region.geom, lng, lat) & shapely.contains_xy(
            city.service_area, lng, lat
        )
        kept: Draw = {k: v[ok] for k, v in got.items()}
        kept["lng"], kept["lat"] = lng[ok], lat[ok]
        parts.append(kept)
        have += int(ok.sum())
        batch = max(64, 2 * (n - have) * batch // max(int(ok.sum()), 1))
    return {k: np.concatenate([p[k] for p in parts])[:n] for k in parts[0]}


def _side_offset(rng: np.random.Generator, n: int) -> FloatArray:
    """Shops stand on both sides of a street, 8-20 m from its centre line."""
    side = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    return side * (8.0 + np.abs(rng.normal(0.0, 4.0, n)))


def _grid_points(rng: np.random.Generator, n: int, region: Region, city: City) -> Made:
    sigma = GRID_SIGMA_URBAN_M if region.spec.kind == "urban_district" else GRID_SIGMA_SUBURBAN_M

    def draw(k: int) -> Draw:
        x = rng.normal(0.0, sigma, k)
        y = rng.normal(0.0, sigma, k)
        north_south = rng.random(k) < 0.5
        offset = _side_offset(rng, k)
        line = np.round(np.where(north_south, x, y) / GRID_SPACING_M).astype(np.int64)
        snapped = line * GRID_SPACING_M + offset
        along = np.where(north_south, y, x)
        return {
            "x": np.where(north_south, snapped, x),
            "y": np.where(north_south, y, snapped),
            "line": line,
            "ns": north_south.astype(np.int64),
            "num": (np.abs(along) // 14).astype(np.int64) * 2 + (offset > 0),
        }

    got = _fill(n, draw, region, city)
    streets = region.spec.streets
    name = region.spec.name
    street_idx = (got["line"] * 7 + got["ns"] * 3) % len(streets)
    addresses, segments = [], []
    for s, num in zip(street_idx.tolist(), got["num"].tolist(), strict=True):
        street = streets[s]
        addresses.append(f"西安市{name}{street}{num % 900 + 1}号")
        segments.append(street)
    return got, addresses, segments, segments


def _town_points(rng: np.random.Generator, n: int, region: Region, city: City) -> Made:
    towns = region.spec.towns
    weights = np.array([t.weight for t in towns])
    angles = rng.uniform(0.0, np.pi, len(towns))
    cx, cy = to_metres(np.array([t.lng for t in towns]), np.array([t.lat for t in towns]))
    length = np.array([t.length_m for t in towns])

    def draw(k: int) -> Draw:
        town = rng.choice(len(towns), size=k, p=weights / weights.sum())
        street = np.searchsorted(np.array([0.6, 0.8]), rng.random(k), side="right")
        theta = angles[town] + np.where(street == 0, 0.0, np.pi / 2)
        main_len = length[town]
        street_len = np.where(street == 0, main_len, main_len / 2)
        along = np.clip(rng.normal(0.0, street_len / 4), -street_len / 2, street_len / 2)
        shift = np.where(street == 0, 0.0, np.where(street == 1, -0.25, 0.25) * main_len)
        offset = _side_offset(rng, k)
        ux, uy = np.cos(theta), np.sin(theta)
        base_x = cx[town] + shift * np.cos(angles[town])
        base_y = cy[town] + shift * np.sin(angles[town])
        return {
            "x": base_x + along * ux - offset * uy,
            "y": base_y + along * uy + offset * ux,
            "town": town,
            "street": street,
            "num": (np.abs(along + street_len) // 5).astype(np.int64) * 2 + (offset > 0),
        }

    got = _fill(n, draw, region, city)
    addresses, segments, localities = [], [], []
    for t, s, num in zip(
        got["town"].tolist(), got["street"].tolist(), got["num"].tolist(), strict=True
    ):
        town: Town = towns[t]
        street = town.streets[s % len(town.streets)]
        addresses.append(f"西安市{region.spec.name}{town.admin}{street}{num % 1600 + 1}号")
        segments.append(street)
        localities.append(town.name)
    return got, addresses, segments, localities


def _village_points(rng: np.random.Generator, n: int, region: Region, city: City) -> Made:
    towns = region.spec.towns
    minx, miny, maxx, maxy = region.geom.bounds
    count = max(3, round(n / 7))
    x0, y0 = to_metres(np.array([minx]), np.array([miny]))
    x1, y1 = to_metres(np.array([maxx]), np.array([maxy]))

    def draw_centre(k: int) -> Draw:
        return {"x": rng.uniform(x0[0], x1[0], k), "y": rng.uniform(y0[0], y1[0], k)}

    centres = _fill(count, draw_centre, region, city)
    names = village_names(rng, count)
    tx, ty = to_metres(np.array([t.lng for t in towns]), np.array([t.lat for t in towns]))
    nearest = np.argmin(np.hypot(centres["x"][:, None] - tx, centres["y"][:, None] - ty), axis=1)

    def draw(k: int) -> Draw:
        village = rng.integers(0, count, size=k)
        return {
            "x": centres["x"][village] + rng.normal(0.0, 90.0, k),
            "y": centres["y"][village] + rng.normal(0.0, 90.0, k),
            "village": village,
            "group": rng.integers(1, 9, size=k),
            "num": rng.integers(1, 80, size=k),
        }

    got = _fill(n, draw, region, city)
    addresses, segments, localities = [], [], []
    for v, g, num in zip(
        got["village"].tolist(), got["group"].tolist(), got["num"].tolist(), strict=True
    ):
        village = names[v]
        admin = towns[int(nearest[v])].admin
        addresses.append(f"西安市{region.spec.name}{admin}{village}{g}组{num}号")
        segments.append(village)
        localities.append(towns[int(nearest[v])].name)
    return got, addresses, segments, localities


def generate_places(city: City, n: int, rng: np.random.Generator) -> Places:
    """``n`` shop locations with addresses, region by region (ordered by region)."""
    counts = largest_remainder(n, [r.spec.share for r in city.regions])
    lng: list[FloatArray] = []
    lat: list[FloatArray] = []
    region_idx: list[IntArray] = []
    addresses: list[str] = []
    segments: list[str] = []
    localities: list[str] = []
    for i, (region, count) in enumerate(zip(city.regions, counts.tolist(), strict=True)):
        spec = region.spec
        has_towns = len(spec.towns) > 0
        town_share = 1.0 - spec.grid - spec.villages if has_towns else 0.0
        parts = largest_remainder(count, [spec.grid, town_share, spec.villages if has_towns else 0])
        makers = (_grid_points, _town_points, _village_points)
        for make, k in zip(makers, parts.tolist(), strict=True):
            if k == 0:
                continue
            got, addr, seg, local = make(rng, k, region, city)
            lng.append(got["lng"].astype(np.float64))
            lat.append(got["lat"].astype(np.float64))
            region_idx.append(np.full(k, i, dtype=np.int64))
            addresses.extend(addr)
            segments.extend(seg)
            localities.extend(local)
    all_lng, all_lat = np.concatenate(lng), np.concatenate(lat)
    regions = np.concatenate(region_idx)
    x, y = to_metres(all_lng, all_lat)
    is_urban_region = np.array([r.spec.is_urban for r in city.regions])[regions]
    urban = is_urban_region & (np.hypot(x, y) < URBAN_RADIUS_M)
    return Places(all_lng, all_lat, regions, urban, addresses, segments, localities)

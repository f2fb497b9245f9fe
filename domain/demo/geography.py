"""Region polygons (Voronoi cells clipped to the envelope), the service area and the depots."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon

from domain.demo.common import FloatArray, IntArray, from_metres, to_metres
from domain.demo.districts import DEPOTS, ENVELOPE, REGIONS, DepotSpec, RegionSpec

SERVICE_AREA_NAME = "西安市烟草专卖局(公司)服务区域"
SERVICE_AREA_BUFFER_M = 500
PRECISION_DEG = 1e-7


@dataclass(frozen=True)
class Region:
    id: int
    spec: RegionSpec
    geom: MultiPolygon


@dataclass(frozen=True)
class Depot:
    id: int
    spec: DepotSpec
    region_id: int
    parent_id: int | None

    @property
    def serves_routes(self) -> bool:
        return self.spec.kind != "pickup_point"


@dataclass(frozen=True)
class City:
    regions: tuple[Region, ...]
    service_area: MultiPolygon
    depots: tuple[Depot, ...]

    def region_of(self, lng: FloatArray, lat: FloatArray) -> IntArray:
        """Index into ``regions`` of each point, -1 outside every region."""
        out = np.full(len(lng), -1, dtype=np.int64)
        for i, region in enumerate(self.regions):
            inside = shapely.contains_xy(region.geom, lng, lat)
            out[inside & (out < 0)] = i
        return out


def _to_local(geom: Any) -> Any:
    return shapely.transform(geom, lambda c: np.column_stack(to_metres(c[:, 0], c[:, 1])))


def _to_lnglat(geom: Any) -> Any:
    return shapely.transform(geom, lambda c: np.column_stack(from_metres(c[:, 0], c[:, 1])))


def _as_multi(geom: Any) -> MultiPolygon:
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    polys = [g for g in shapely.get_parts(geom) if isinstance(g, Polygon) and not g.is_empty]
    return MultiPolygon(polys)


def build_regions() -> tuple[tuple[Region, ...], MultiPolygon]:
    """Voronoi cells of every region's sites (in local metres), merged per region and clipped."""
    envelope = Polygon(ENVELOPE)
    sites = [(site, idx) for idx, spec in enumerate(REGIONS) for site in spec.sites]
    points_local = _to_local(MultiPoint([s for s, _ in sites]))
    cells = shapely.get_parts(
        shapely.voronoi_polygons(points_local, extend_to=_to_local(envelope).buffer(50_000))
    )
    cells_lnglat = [_to_lnglat(c) for c in cells]
    owner: list[int] = []
    for cell in cells_lnglat:
        hits = [idx for (lng, lat), idx in sites if cell.contains(Point(lng, lat))]
        owner.append(hits[0])
    regions = []
    for idx, spec in enumerate(REGIONS):
        merged = shapely.union_all(
            [c for c, o in zip(cells_lnglat, owner, strict=True) if o == idx]
        )
        clipped = shapely.set_precision(shapely.intersection(merged, envelope), PRECISION_DEG)
        regions.append(Region(id=idx + 1, spec=spec, geom=_as_multi(clipped)))
    area = shapely.set_precision(shapely.union_all([r.geom for r in regions]), PRECISION_DEG)
    return tuple(regions), _as_multi(area)


def build_city() -> City:
    """The fixed geography of the demo city (no randomness)."""
    regions, service_area = build_regions()
    lng = np.array([d.lng for d in DEPOTS])
    lat = np.array([d.lat for d in DEPOTS])
    probe = City(regions, service_area, ())
    region_idx = probe.region_of(lng, lat)
    if (region_idx < 0).any():
        raise ValueError("a demo depot lies outside every region")
    suppliers = [i for i, d in enumerate(DEPOTS) if d.kind != "pickup_point"]
    x, y = to_metres(lng, lat)
    depots = []
    for i, spec in enumerate(DEPOTS):
        parent: int | None = None
        if spec.kind == "transit_station":
            parent = 1  # supplied from the distribution centre
        elif spec.kind == "pickup_point":
            dist = np.hypot(x[suppliers] - x[i], y[suppliers] - y[i])
            parent = suppliers[int(np.argmin(dist))] + 1
        depots.append(Depot(i + 1, spec, int(region_idx[i]) + 1, parent))
    return City(regions, service_area, tuple(depots))


def polygon_ewkb(geom: MultiPolygon) -> str:
    """Hex EWKB with SRID 4326, for COPY into a geometry column."""
    return str(shapely.to_wkb(shapely.set_srid(geom, 4326), hex=True, include_srid=True))

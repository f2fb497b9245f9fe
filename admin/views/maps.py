"""The background every admin map draws when no tiles are configured (or reachable): the
county regions and the service area, in the basemap's coordinate system; and the layers of
routes before and after a change, drawn by the approval queue and the planner's map."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin.basemaps import Basemap
from admin.web import config, db, view
from domain.models import Region, ServiceArea

# Simplification tolerance of the background shapes, in degrees (≈ 50 m).
TOLERANCE = 0.0005
ROUTE_COLOURS = ("#1f5fa8", "#b26a00", "#7b1fa2", "#00838f", "#c2185b", "#558b2f", "#5d4037")
ROUTE_LEGEND = "虚线：调整前　实线：调整后"

Lines = Mapping[int, Sequence[tuple[float, float]]]


def display_geometry(basemap: Basemap, geometry: dict[str, Any]) -> dict[str, Any]:
    """A GeoJSON geometry (WGS-84) converted to the basemap's coordinate system."""
    if basemap.name == "offline" or str(basemap.crs) == "WGS84":
        return geometry

    def walk(c: Any) -> Any:
        if c and isinstance(c[0], (int, float)):
            return list(basemap.to_display(float(c[0]), float(c[1])))
        return [walk(x) for x in c]

    return {**geometry, "coordinates": walk(geometry["coordinates"])}


def _features(request: Request) -> dict[str, Any]:
    basemap = config(request).basemap
    shape = func.ST_AsGeoJSON(func.ST_SimplifyPreserveTopology(Region.geom, TOLERANCE), 6)
    area = func.ST_AsGeoJSON(func.ST_SimplifyPreserveTopology(ServiceArea.geom, TOLERANCE), 6)
    features: list[dict[str, Any]] = []
    with db(request) as session:
        for name, kind, urban, geom in session.execute(
            select(Region.name, Region.kind, Region.is_urban, shape).order_by(Region.code)
        ):
            features.append(
                {"type": "Feature", "properties": {"layer": "region", "name": name,
                 "kind": kind, "urban": urban},
                 "geometry": display_geometry(basemap, json.loads(geom))}
            )  # fmt: skip
        for name, geom in session.execute(select(ServiceArea.name, area)):
            features.append(
                {"type": "Feature", "properties": {"layer": "service_area", "name": name},
                 "geometry": display_geometry(basemap, json.loads(geom))}
            )  # fmt: skip
    return {"type": "FeatureCollection", "features": features}


def route_map(before: Lines, after: Lines, basemap: Basemap) -> dict[str, Any]:
    """Each route before (dashed) and after (solid), one colour per route: the layers of a
    map island (map.js). Each layer names its route, so the planner's map can colour it
    as it colours the route's shops."""
    layers: list[dict[str, Any]] = []
    for n, rid in enumerate(sorted(set(before) | set(after))):
        colour = ROUTE_COLOURS[n % len(ROUTE_COLOURS)]
        for lines, dashed in ((before, True), (after, False)):
            coords = [list(basemap.to_display(*p)) for p in lines.get(rid, [])]
            if len(coords) >= 2:
                layers.append({"kind": "line", "coordinates": coords, "color": colour,
                               "dashed": dashed, "route": rid})  # fmt: skip
    return {"layers": layers, "legend": ROUTE_LEGEND}


@view
def background(request: Request) -> Response:
    body = json.dumps(_features(request), ensure_ascii=False, separators=(",", ":"))
    return Response(
        body, media_type="application/geo+json", headers={"Cache-Control": "private, max-age=300"}
    )


ROUTES: list[BaseRoute] = [Route("/map/background.geojson", background)]

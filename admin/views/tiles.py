"""The planner's map data: the shops as vector tiles (MVT), the route lines and depots as
GeoJSON, both in the basemap's coordinate system, and the filters they share."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin.basemaps import Basemap
from admin.views.maps import display_geometry
from admin.web import config, db, principal, view
from domain.access import role_rights
from domain.catalogue import choice_codes
from domain.errors import INVALID, DomainError
from domain.planning import mapview
from domain.planning.mapview import MapFilter
from domain.planning.stats import route_lines
from geo.crs import Crs

MVT = "application/vnd.mapbox-vector-tile"
FILTER_KEYS = ("depot", "weekday", "route", "manager", "format")


def _int(params: Mapping[str, Any], key: str, label: str) -> int | None:
    raw = str(params.get(key) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise DomainError(INVALID, f"{label}无效", key)
    return int(raw)


def parse_filter(params: Mapping[str, Any]) -> MapFilter:
    """The map filter of a query string or form (empty values: no filter)."""
    weekday = _int(params, "weekday", "送货日")
    if weekday is not None and not 1 <= weekday <= 7:
        raise DomainError(INVALID, "送货日须为 1 到 7", "weekday")
    fmt = str(params.get("format") or "").strip() or None
    if fmt is not None and fmt not in choice_codes("business_format"):
        raise DomainError(INVALID, "零售业态无效", "format")
    return MapFilter(
        depot_id=_int(params, "depot", "配送站点"), weekday=weekday,
        route_id=_int(params, "route", "送货线路"), manager_id=_int(params, "manager", "客户经理"),
        business_format=fmt,
    )  # fmt: skip


def filter_query(f: MapFilter) -> str:
    """The filter as a query string (what the tiles and the overlay are asked with)."""
    values = {"depot": f.depot_id, "weekday": f.weekday, "route": f.route_id,
              "manager": f.manager_id, "format": f.business_format}  # fmt: skip
    return urlencode({k: v for k, v in values.items() if v is not None})


def tile_shift(basemap: Basemap, z: int, x: int, y: int) -> tuple[float, float]:
    """The display system's offset (degrees) at the tile's centre: zero for WGS-84."""
    if basemap.crs is Crs.WGS84:
        return (0.0, 0.0)
    lng, lat = mapview.tile_centre(z, x, y)
    wlng, wlat = basemap.from_display(lng, lat)
    return (lng - wlng, lat - wlat)


def _bad(err: DomainError) -> Response:
    return Response(err.message, status_code=400, media_type="text/plain; charset=utf-8")


@view
def tile(request: Request) -> Response:
    p = request.path_params
    z, x, y = int(p["z"]), int(p["x"]), int(p["y"])
    try:
        f = parse_filter(request.query_params)
        mapview.check_tile(z, x, y)
    except DomainError as err:
        return _bad(err)
    shift = tile_shift(config(request).basemap, z, x, y)
    with db(request) as session:
        data = mapview.shop_tile(session, principal(request), z, x, y, f, shift)
    return Response(data, media_type=MVT, headers={"Cache-Control": "private, max-age=60"})


def _point(basemap: Basemap, lng: float, lat: float) -> dict[str, Any]:
    return display_geometry(basemap, {"type": "Point", "coordinates": [lng, lat]})


def overlay_features(request: Request, f: MapFilter) -> dict[str, Any]:
    """Route lines (depot → stops → depot) of the day shown and the depots. Lines pass
    through every stop of a route, so only city-wide roles (who see all shops) get them."""
    basemap = config(request).basemap
    who = principal(request)
    features: list[dict[str, Any]] = []
    with db(request) as session:
        if role_rights(who.role).scope == "city" and f.depot_id is not None:
            shown = mapview.routes(session, depot_id=f.depot_id, weekday=f.weekday)
            ids = mapview.visible_route_ids(shown, f)
            lines = route_lines(session, ids)
            for r in shown:
                if r.id in lines:
                    features.append(
                        {"type": "Feature", "properties": {"layer": "route", "routeId": r.id,
                         "code": r.code, "name": r.name, "colour": r.colour},
                         "geometry": display_geometry(basemap, json.loads(lines[r.id]))}
                    )  # fmt: skip
        for d in mapview.depots(session):
            features.append(
                {"type": "Feature", "properties": {"layer": "depot", "id": d.id,
                 "name": d.name, "kind": d.kind, "current": d.id == f.depot_id},
                 "geometry": _point(basemap, d.lng, d.lat)}
            )  # fmt: skip
    return {"type": "FeatureCollection", "features": features}


@view
def overlay(request: Request) -> Response:
    try:
        f = parse_filter(request.query_params)
    except DomainError as err:
        return _bad(err)
    body = json.dumps(overlay_features(request, f), ensure_ascii=False, separators=(",", ":"))
    return Response(
        body, media_type="application/geo+json", headers={"Cache-Control": "private, no-cache"}
    )


ROUTES: list[BaseRoute] = [
    Route("/planner/tiles/{z:int}/{x:int}/{y:int}.pbf", tile),
    Route("/planner/overlay.geojson", overlay),
]

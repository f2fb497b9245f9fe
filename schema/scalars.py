"""The GeoJSON scalar (RFC 7946: WGS-84, longitude first, no `crs` member) and point input."""

from __future__ import annotations

import math
from enum import Enum
from typing import Any, NewType

import shapely
import shapely.geometry
import strawberry
from graphql import GraphQLError, ValueNode, value_from_ast_untyped

from geo.crs import Crs as GeoCrs
from geo.crs import from_wgs84

GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
MAX_POSITIONS = 10_000


def _positions(coords: Any, depth: int) -> int:
    if depth == 0:
        if not (isinstance(coords, list) and len(coords) in (2, 3)):
            raise ValueError("a position is [longitude, latitude]")
        lng, lat = coords[0], coords[1]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in coords):
            raise ValueError("coordinates must be numbers")
        if not all(math.isfinite(v) for v in coords):
            raise ValueError("coordinates must be finite")
        if not (-180 <= lng <= 180 and -90 <= lat <= 90):
            raise ValueError("longitude must be within ±180 and latitude within ±90")
        return 1
    if not isinstance(coords, list) or not coords:
        raise ValueError("coordinates are nested lists of positions")
    return sum(_positions(c, depth - 1) for c in coords)


DEPTH = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}


def parse_geojson(value: Any) -> dict[str, Any]:
    """Validate a GeoJSON geometry; raise ValueError with a reason."""
    if not isinstance(value, dict):
        raise ValueError("GeoJSON must be an object")
    if "crs" in value:
        raise ValueError("RFC 7946 GeoJSON has no `crs` member: coordinates are WGS-84")
    kind = value.get("type")
    if kind not in GEOMETRY_TYPES:
        raise ValueError(f"unsupported geometry type {kind!r}")
    if _positions(value.get("coordinates"), DEPTH[kind]) > MAX_POSITIONS:
        raise ValueError(f"geometry has more than {MAX_POSITIONS} positions")
    if kind in ("Polygon", "MultiPolygon"):
        rings = (
            value["coordinates"]
            if kind == "Polygon"
            else [r for p in value["coordinates"] for r in p]
        )
        for ring in rings:
            if len(ring) < 4 or ring[0] != ring[-1]:
                raise ValueError("polygon rings must be closed and have at least 4 positions")
        # a bow-tie or a hole outside its shell has no inside that PostGIS can answer for
        reason = shapely.is_valid_reason(shapely.geometry.shape(value))
        if reason != "Valid Geometry":
            raise ValueError(f"polygon is not valid: {reason.lower()}")
    return {"type": kind, "coordinates": value["coordinates"]}


def parse_geojson_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
    """A GeoJSON written into the document: graphql-core reports a GraphQLError raised
    while validating a literal, but any other exception escapes as a server error."""
    try:
        return parse_geojson(value_from_ast_untyped(node, variables))
    except ValueError as err:
        message = f"Expected value of type 'GeoJSON', but encountered error '{err}'"
        raise GraphQLError(message) from None


GeoJSON = strawberry.scalar(
    NewType("GeoJSON", dict),
    description="A GeoJSON geometry (RFC 7946): WGS-84, longitude first",
    serialize=lambda v: v,
    parse_value=parse_geojson,
    parse_literal=parse_geojson_literal,
)


@strawberry.enum(description="Coordinate system of an input point")
class Crs(Enum):
    WGS84 = "WGS84"
    GCJ02 = "GCJ02"
    BD09 = "BD09"


@strawberry.input(description="A point; WGS-84 unless `crs` says otherwise")
class PointInput:
    lng: float
    lat: float
    crs: Crs = Crs.WGS84


def _convert(coords: Any, crs: GeoCrs) -> Any:
    """Positions of any GeoJSON geometry converted from WGS-84 for display."""
    if coords and isinstance(coords[0], (int, float)):
        lng, lat = from_wgs84(float(coords[0]), float(coords[1]), crs)
        return [round(lng, 7), round(lat, 7)]
    return [_convert(c, crs) for c in coords]


def in_crs(value: dict[str, Any] | None, crs: Crs) -> dict[str, Any] | None:
    """A WGS-84 GeoJSON geometry with its positions in ``crs`` (for AMap/Baidu basemaps).

    Strictly, RFC 7946 GeoJSON is WGS-84; the converted form is for display only and is
    what the client asked for with the ``crs`` argument."""
    if value is None or crs == Crs.WGS84:
        return value
    return {"type": value["type"], "coordinates": _convert(value["coordinates"], GeoCrs(crs.value))}

"""Field values as JSON (ledger, tickets, API) and back, driven by the catalogue type.

JSON forms: null for empty; dates as "YYYY-MM-DD"; decimals as strings (exact);
int/bool as themselves; enum codes and text as strings; references as integer ids;
``point`` as a GeoJSON Point in WGS-84 (longitude first); ``json`` unchanged.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from geoalchemy2 import WKBElement, WKTElement
from geoalchemy2.shape import to_shape
from shapely.geometry import Point

from domain.catalogue import FieldSpec

JSON = Any


def point_to_geojson(value: WKBElement | WKTElement | Point) -> dict[str, Any]:
    shape = value if isinstance(value, Point) else to_shape(value)
    return {"type": "Point", "coordinates": [float(shape.x), float(shape.y)]}


def geojson_to_element(value: dict[str, Any]) -> WKTElement:
    lng, lat = value["coordinates"]
    return WKTElement(f"POINT({float(lng)!r} {float(lat)!r})", srid=4326)


def to_json(spec: FieldSpec, value: Any) -> JSON:
    """The JSON form of a stored (Python/ORM) value of the field."""
    if value is None:
        return None
    if spec.type == "point":
        return point_to_geojson(value)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def from_json(spec: FieldSpec, value: JSON) -> Any:
    """The stored (Python/ORM) value for the JSON form of a field value."""
    if value is None:
        return None
    kind = spec.type
    if kind == "point":
        return geojson_to_element(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "datetime":
        return dt.datetime.fromisoformat(value)
    if kind == "decimal":
        return Decimal(str(value))
    return value

"""The planner's map: the shops of a depot's day as Mapbox vector tiles (``ST_AsMVT``),
the shops inside a drawn polygon, and what the filters offer; all in the caller's scope.

Tiles are cut in Web Mercator (EPSG:3857). The shops are searched with the tile's
envelope transformed to WGS-84 (exact: Mercator maps a lng/lat rectangle to a rectangle),
so the GiST index on ``customers.location`` serves every tile without a functional index.
A display system with an offset (GCJ-02) passes the offset at the tile's centre as
``shift`` (degrees): the shops are drawn shifted by it and searched in the envelope
shifted back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal_column, select
from sqlalchemy.orm import Session

from domain.access import Principal, customer_scope
from domain.errors import INVALID, DomainError
from domain.models import Customer, DeliveryRoute, Depot, User

EXTENT = 4096  # tile coordinate space
BUFFER = 64  # tile units drawn beyond the edge (a point on the edge is not cut)
MAX_ZOOM = 22
HALF_WORLD_M = 20037508.342789244
PALETTE = 12  # colours the map cycles through; a route's is ``id % PALETTE``
MAX_VERTICES = 5000
LAYER = "shops"


@dataclass(frozen=True)
class MapFilter:
    depot_id: int | None = None
    weekday: int | None = None
    route_id: int | None = None
    manager_id: int | None = None
    business_format: str | None = None


@dataclass(frozen=True)
class SelectedShop:
    id: int
    code: str
    name: str
    route_id: int | None
    route_code: str | None
    manager: str | None


@dataclass(frozen=True)
class Selection:
    total: int  # all shops inside, in scope and filter
    shops: list[SelectedShop]  # the first ``limit`` of them, by code


def colour_of(route_id: int | None) -> int:
    """The palette index of a route (-1: no route)."""
    return -1 if route_id is None else route_id % PALETTE


def _colour() -> ColumnElement[int]:
    return func.coalesce(DeliveryRoute.id % PALETTE, -1)


def _where(principal: Principal, f: MapFilter) -> list[ColumnElement[bool]]:
    c, r = Customer, DeliveryRoute
    conds: list[ColumnElement[bool]] = [
        customer_scope(principal), c.status != "closed", c.location.is_not(None),
    ]  # fmt: skip
    if f.depot_id is not None:
        conds.append(r.depot_id == f.depot_id)
    if f.weekday is not None:
        conds.append(r.weekday == f.weekday)
    if f.route_id is not None:
        conds.append(c.delivery_route_id == f.route_id)
    if f.manager_id is not None:
        conds.append(c.customer_manager_id == f.manager_id)
    if f.business_format is not None:
        conds.append(c.business_format == f.business_format)
    return conds


def _shops(stmt: Select[Any], principal: Principal, f: MapFilter) -> Select[Any]:
    joined = stmt.select_from(Customer).outerjoin(
        DeliveryRoute, DeliveryRoute.id == Customer.delivery_route_id
    )
    return joined.where(*_where(principal, f))


# -- tiles -------------------------------------------------------------------------------


def check_tile(z: int, x: int, y: int) -> None:
    if not (0 <= z <= MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z):
        raise DomainError(INVALID, "瓦片坐标超出范围", "tile")


def tile_centre(z: int, x: int, y: int) -> tuple[float, float]:
    """The lng/lat of a tile's centre (in the coordinates the tile is drawn in)."""
    n = 2.0**z
    lng = (x + 0.5) / n * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + 0.5) / n))))
    return lng, lat


def tile_query(
    principal: Principal, z: int, x: int, y: int, f: MapFilter,
    shift: tuple[float, float] = (0.0, 0.0),
) -> Select[Any]:  # fmt: skip
    """The statement answering one tile: one bytea, the MVT layer ``shops``."""
    check_tile(z, x, y)
    dlng, dlat = shift
    envelope = func.ST_TileEnvelope(z, x, y)
    margin = 2 * HALF_WORLD_M / 2**z * BUFFER / EXTENT
    search = func.ST_Transform(func.ST_Expand(envelope, margin), 4326)
    point: Any = Customer.location
    if shift != (0.0, 0.0):
        search = func.ST_Translate(search, -dlng, -dlat)
        point = func.ST_Translate(point, dlng, dlat)
    geom = func.ST_AsMVTGeom(func.ST_Transform(point, 3857), envelope, EXTENT, BUFFER, True)
    rows = _shops(
        select(
            geom.label("geom"), Customer.id.label("id"), Customer.customer_code.label("code"),
            DeliveryRoute.code.label("route"), _colour().label("colour"),
        ),
        principal, f,
    ).where(Customer.location.op("&&")(search)).subquery(LAYER)  # fmt: skip
    return select(func.ST_AsMVT(literal_column(LAYER), LAYER, EXTENT, "geom")).select_from(rows)


def shop_tile(
    session: Session, principal: Principal, z: int, x: int, y: int, f: MapFilter,
    shift: tuple[float, float] = (0.0, 0.0),
) -> bytes:  # fmt: skip
    """The MVT tile z/x/y of the shops in scope and filter (empty bytes: no shop)."""
    data = session.scalar(tile_query(principal, z, x, y, f, shift))
    return bytes(data or b"")


# -- selection ---------------------------------------------------------------------------


def _ring(raw: Any) -> list[tuple[float, float]]:
    if not isinstance(raw, list) or len(raw) < 3:
        raise DomainError(INVALID, "选择范围至少需要 3 个点", "polygon")
    ring: list[tuple[float, float]] = []
    for point in raw:
        ok = isinstance(point, list) and len(point) >= 2
        if not ok or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in point[:2]):
            raise DomainError(INVALID, "选择范围的坐标无效", "polygon")
        lng, lat = float(point[0]), float(point[1])
        if not (-180 <= lng <= 180 and -90 <= lat <= 90):
            raise DomainError(INVALID, "选择范围的坐标超出经纬度范围", "polygon")
        ring.append((lng, lat))
    if ring[0] != ring[-1]:
        ring.append(ring[0])
    if len(ring) < 4:
        raise DomainError(INVALID, "选择范围至少需要 3 个点", "polygon")
    if len(ring) > MAX_VERTICES:
        raise DomainError(INVALID, f"选择范围的点数不能超过 {MAX_VERTICES}", "polygon")
    return ring


def checked_polygon(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A GeoJSON Polygon (one outer ring) checked for shape and coordinates."""
    if raw.get("type") != "Polygon" or not isinstance(raw.get("coordinates"), list):
        raise DomainError(INVALID, "选择范围须为一个多边形", "polygon")
    rings = raw["coordinates"]
    if len(rings) != 1:
        raise DomainError(INVALID, "选择范围须为一个不带洞的多边形", "polygon")
    return {"type": "Polygon", "coordinates": [[list(p) for p in _ring(rings[0])]]}


def shops_in_polygon(
    session: Session, principal: Principal, polygon: Mapping[str, Any], f: MapFilter,
    *, limit: int,
) -> Selection:  # fmt: skip
    """The shops in scope and filter inside a WGS-84 polygon (a lasso may cross itself:
    it is made valid first)."""
    shape = checked_polygon(polygon)
    area = func.ST_MakeValid(func.ST_SetSRID(func.ST_GeomFromGeoJSON(json.dumps(shape)), 4326))
    inside = func.ST_Intersects(Customer.location, area)
    total = session.scalar(_shops(select(func.count()), principal, f).where(inside)) or 0
    manager = select(User.display_name).where(User.id == Customer.customer_manager_id)
    rows = session.execute(
        _shops(select(Customer.id, Customer.customer_code, Customer.shop_name,
                      DeliveryRoute.id, DeliveryRoute.code,
                      manager.scalar_subquery()), principal, f)
        .where(inside).order_by(Customer.customer_code).limit(limit)
    ).all()  # fmt: skip
    return Selection(int(total), [SelectedShop(*row) for row in rows])


# -- what the filters offer ------------------------------------------------------------


@dataclass(frozen=True)
class RouteOption:
    id: int
    code: str
    name: str
    depot_id: int
    weekday: int
    colour: int


@dataclass(frozen=True)
class DepotPoint:
    id: int
    code: str
    name: str
    kind: str
    lng: float
    lat: float


def depots(session: Session) -> list[DepotPoint]:
    rows = session.execute(
        select(Depot.id, Depot.code, Depot.name, Depot.kind, func.ST_X(Depot.location),
               func.ST_Y(Depot.location)).order_by(Depot.id)
    ).all()  # fmt: skip
    return [DepotPoint(*row) for row in rows]


def routes(
    session: Session, *, depot_id: int | None = None, weekday: int | None = None
) -> list[RouteOption]:
    """The active routes, optionally of one depot and weekday, by code."""
    r = DeliveryRoute
    stmt = select(r.id, r.code, r.name, r.depot_id, r.weekday).where(r.is_active)
    if depot_id is not None:
        stmt = stmt.where(r.depot_id == depot_id)
    if weekday is not None:
        stmt = stmt.where(r.weekday == weekday)
    rows = session.execute(stmt.order_by(r.code)).all()
    return [RouteOption(*row, colour=colour_of(row[0])) for row in rows]


def route_days(session: Session, depot_id: int) -> list[int]:
    """The weekdays on which a depot's active routes deliver."""
    r = DeliveryRoute
    stmt = select(r.weekday).where(r.depot_id == depot_id, r.is_active).distinct()
    return sorted(session.scalars(stmt))


def managers_in_scope(session: Session, principal: Principal) -> list[tuple[int, str]]:
    """The customer managers of the shops the principal sees: (id, name)."""
    ids = select(Customer.customer_manager_id).where(customer_scope(principal)).distinct()
    rows = session.execute(
        select(User.id, User.display_name).where(User.id.in_(ids.scalar_subquery()))
        .order_by(User.display_name, User.id)
    ).all()  # fmt: skip
    return [(row[0], row[1]) for row in rows]


def extent(
    session: Session, principal: Principal, f: MapFilter
) -> tuple[float, float, float, float] | None:
    """The WGS-84 bounding box (min lng, min lat, max lng, max lat) of the shops shown."""
    box = func.ST_Extent(Customer.location)
    row = session.execute(
        _shops(select(func.ST_XMin(box), func.ST_YMin(box), func.ST_XMax(box),
                      func.ST_YMax(box)), principal, f)
    ).one()  # fmt: skip
    return None if row[0] is None else (row[0], row[1], row[2], row[3])


def visible_route_ids(routes_shown: Sequence[RouteOption], f: MapFilter) -> list[int]:
    return [r.id for r in routes_shown if f.route_id is None or r.id == f.route_id]

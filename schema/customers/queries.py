"""customers(filter, first, after, orderBy) and customer(id, code)."""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from enum import Enum
from typing import Any

import strawberry
from geoalchemy2 import Geography
from sqlalchemy import ColumnElement, Float, Text, bindparam, cast, func, or_
from strawberry.utils.str_converters import to_camel_case

from domain.access import customer_scope
from domain.catalogue import field as catalogue_field
from domain.catalogue.normalise import normalise_value
from domain.errors import INVALID, OUT_OF_RANGE, DomainError
from domain.models import Customer as CustomerRow
from geo.crs import Crs as GeoCrs
from geo.crs import to_wgs84
from geo.points import PointError, check_point
from schema.context import Context, Info
from schema.customers.page import customer_one_by, customer_page
from schema.customers.types import Customer, CustomerConnection
from schema.pagination import decode_cursor, page_size, selected_names, wants_total
from schema.scalars import GeoJSON, PointInput


@strawberry.input
class NearInput:
    point: PointInput
    radius_m: float


@strawberry.input(description="Customer filters; all given conditions must hold")
class CustomerFilter:
    search: str | None = None
    status: str | None = None
    business_format: str | None = None
    market_type: str | None = None
    business_scale: int | None = None
    credit_rating: str | None = None
    route_id: int | None = None
    manager_id: int | None = None
    region_id: int | None = None
    incomplete_only: bool | None = None
    within: GeoJSON | None = None  # type: ignore[valid-type]
    near: NearInput | None = None
    bbox: list[float] | None = strawberry.field(
        default=None, description="[minLng, minLat, maxLng, maxLat]"
    )


@strawberry.enum
class CustomerOrder(Enum):
    CODE = "customer_code"
    NAME = "shop_name"
    JOINED_ON = "joined_on"
    ROUTE_SEQUENCE = "delivery_sequence"


EQUAL = {
    "status": "status",
    "business_format": "business_format",
    "market_type": "market_type",
    "business_scale": "business_scale",
    "credit_rating": "credit_rating",
    "route_id": "delivery_route_id",
    "manager_id": "customer_manager_id",
    "region_id": "admin_region_id",
}  # fmt: skip  (filter field → customers column)
METRES_PER_DEGREE = 111_320.0
NEAR_REFUSED = {
    "not_finite": "经纬度须为有限数值",
    "out_of_range": "经度须在-180到180之间、纬度须在-90到90之间",
    "swapped": "经纬度是否颠倒？应先经度后纬度",
}


def filter_values(f: CustomerFilter) -> dict[str, Any]:
    """The filter's values by bind name, checked (a refused one raises ``DomainError``).

    Which names are present decides the conditions' form (``filter_conditions``), so a
    statement built for one set of names serves every request with the same set, with
    only the values changing (``schema.customers.sql``)."""
    values: dict[str, Any] = {}
    if f.search:
        term = f.search.strip()
        values["search_like"], values["search_exact"] = f"%{term}%", term
    for name in EQUAL:
        if (value := getattr(f, name)) is not None:
            values[f"filter_{name}"] = _catalogued(name, value) if name in CATALOGUED else value
    if f.within is not None:
        values["within"] = json.dumps(f.within)
    if f.near is not None:
        values.update(_near_values(f.near))
    if f.bbox is not None:
        if len(f.bbox) != 4 or not (f.bbox[0] < f.bbox[2] and f.bbox[1] < f.bbox[3]):
            raise DomainError(INVALID, "bbox 须为 [minLng, minLat, maxLng, maxLat]", "bbox")
        values.update(zip(BBOX, f.bbox, strict=True))
    return values


CATALOGUED = ("status", "business_format", "market_type", "business_scale", "credit_rating")


def _catalogued(name: str, value: str | int) -> str | int:
    """A filter value of a catalogue field in its stored form (a code, or its Chinese
    label, as the field's input takes it); a value the column cannot hold is refused here,
    not by the database."""
    spec = catalogue_field(name)
    where = to_camel_case(name)
    try:
        stored = normalise_value(spec, value)
    except DomainError as err:
        raise DomainError(err.code, err.message, where) from None
    if stored is None:
        raise DomainError(INVALID, f"{spec.label_zh}筛选值为空；不按此项筛选时请省略", where)
    return stored  # type: ignore[no-any-return]


BBOX = ("bbox_west", "bbox_south", "bbox_east", "bbox_north")
NEAR_BOX = ("near_west", "near_south", "near_east", "near_north")


def _near_values(near: NearInput) -> dict[str, float]:
    """The point in WGS-84 (converted from GCJ-02/BD-09 when it says so), the radius, and
    the lng/lat box around the point that holds every point within the radius."""
    if not 0 < near.radius_m <= 50_000:
        raise DomainError(INVALID, "半径须在 0 到 50000 米之间", "near.radiusM")
    point = near.point
    try:
        check_point(point.lng, point.lat, GeoCrs(point.crs.value))
    except PointError as err:  # the search of a point that cannot be meant
        raise DomainError(OUT_OF_RANGE, NEAR_REFUSED[err.reason], "near.point") from None
    lng, lat = to_wgs84(point.lng, point.lat, GeoCrs(point.crs.value))
    dlat = near.radius_m / METRES_PER_DEGREE * 1.01
    dlng = dlat / max(math.cos(math.radians(lat)), 0.01)
    box = (lng - dlng, lat - dlat, lng + dlng, lat + dlat)
    return {"near_lng": lng, "near_lat": lat, "near_radius": near.radius_m,
            **dict(zip(NEAR_BOX, box, strict=True))}  # fmt: skip


def filter_conditions(values: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    """The conditions of ``filter_values``, each value a bind parameter of that name."""
    c = CustomerRow.__table__.c

    def bound(name: str, type_: Any) -> Any:
        return bindparam(name, values[name], type_=type_)

    where: list[ColumnElement[bool]] = []
    if "search_like" in values:
        like = bound("search_like", Text())
        texts = (c.customer_code, c.shop_name, c.licence_no, c.address)
        exact = c.phone == bound("search_exact", c.phone.type)
        where.append(or_(*(t.like(like) for t in texts), exact))
    for name, column in EQUAL.items():
        if f"filter_{name}" in values:
            where.append(c[column] == bound(f"filter_{name}", c[column].type))
    if "within" in values:
        geom = func.ST_SetSRID(func.ST_GeomFromGeoJSON(bound("within", Text())), 4326)
        where.append(func.ST_Within(c.location, geom))
    if "near_lng" in values:
        # a box on the geometry (served by the GiST index), then the exact distance on the
        # spheroid through geography
        box = func.ST_MakeEnvelope(*(bound(n, Float()) for n in NEAR_BOX), 4326)
        point = func.ST_SetSRID(
            func.ST_MakePoint(bound("near_lng", Float()), bound("near_lat", Float())), 4326
        )
        exact = func.ST_DWithin(
            cast(c.location, Geography), cast(point, Geography), bound("near_radius", Float())
        )
        where += [c.location.intersects(box), exact]
    if "bbox_west" in values:
        box = func.ST_MakeEnvelope(*(bound(n, Float()) for n in BBOX), 4326)
        where.append(c.location.intersects(box))
    return where


def customer_where(ctx: Context, f: CustomerFilter | None) -> list[ColumnElement[bool]]:
    """The caller's scope (refusing an anonymous caller) and the filter's conditions."""
    where = [customer_scope(ctx.require())]
    if f is not None:
        where += filter_conditions(filter_values(f))
    return where


def customers_connection(
    ctx: Context,
    names: Collection[str],
    total: bool,
    filter: CustomerFilter | None,
    first: int | None,
    after: str | None,
    order_by: CustomerOrder,
) -> CustomerConnection:
    """``customers``: also run by the fast path (``schema.customers.fast``)."""
    size, offset = page_size(first), decode_cursor(after)
    where = customer_where(ctx, filter)
    return customer_page(
        ctx, names, where, order_column=order_by.value, size=size, offset=offset, total=total
    )


def customer_by(
    ctx: Context, names: Collection[str], id: int | None, code: str | None
) -> Customer | None:
    """``customer``: also run by the fast path (``schema.customers.fast``)."""
    if (id is None) == (code is None):
        raise DomainError(INVALID, "请提供 id 或 code 之一", "id")
    if id is not None:
        return customer_one_by(ctx, names, "id", id)
    return customer_one_by(ctx, names, "customer_code", code)


@strawberry.type
class CustomerQueries:
    @strawberry.field(description="Customers in the caller's scope")
    def customers(
        self,
        info: Info,
        filter: CustomerFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        order_by: CustomerOrder = CustomerOrder.CODE,
    ) -> CustomerConnection:
        fields = info.selected_fields
        names = {n for f in fields for n in selected_names(f.selections, "edges", "node")}
        return customers_connection(
            info.context, names, wants_total(info), filter, first, after, order_by
        )

    @strawberry.field(description="One customer by id or customer code, if in the caller's scope")
    def customer(
        self, info: Info, id: int | None = None, code: str | None = None
    ) -> Customer | None:
        names = {n for f in info.selected_fields for n in selected_names(f.selections)}
        return customer_by(info.context, names, id, code)

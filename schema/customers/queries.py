"""customers(filter, first, after, orderBy) and customer(id, code)."""

from __future__ import annotations

import math
from collections.abc import Collection
from enum import Enum

import strawberry
from geoalchemy2 import Geography
from sqlalchemy import ColumnElement, cast, func, or_

from domain.access import customer_scope
from domain.errors import INVALID, OUT_OF_RANGE, DomainError
from domain.models import Customer as CustomerRow
from geo.crs import Crs as GeoCrs
from geo.crs import to_wgs84
from geo.points import PointError, check_point
from schema.context import Context, Info
from schema.customers.page import customer_one, customer_page
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


def _point(p: PointInput) -> ColumnElement[object]:
    """The point in WGS-84 (SRID 4326), converted from GCJ-02/BD-09 when it says so."""
    lng, lat = to_wgs84(p.lng, p.lat, GeoCrs(p.crs.value))
    return func.ST_SetSRID(func.ST_MakePoint(lng, lat), 4326)


def _conditions(f: CustomerFilter) -> list[ColumnElement[bool]]:
    c = CustomerRow
    where: list[ColumnElement[bool]] = []
    if f.search:
        like = f"%{f.search.strip()}%"
        texts = (c.customer_code, c.shop_name, c.licence_no, c.address)
        where.append(or_(*(t.like(like) for t in texts), c.phone == f.search.strip()))
    equal = {
        "status": c.status, "business_format": c.business_format, "market_type": c.market_type,
        "business_scale": c.business_scale, "credit_rating": c.credit_rating,
        "route_id": c.delivery_route_id, "manager_id": c.customer_manager_id,
        "region_id": c.admin_region_id,
    }  # fmt: skip
    for name, column in equal.items():
        value = getattr(f, name)
        if value is not None:
            where.append(column == value)
    if f.within is not None:
        geom = func.ST_SetSRID(func.ST_GeomFromGeoJSON(_json(f.within)), 4326)
        where.append(func.ST_Within(c.location, geom))
    if f.near is not None:
        if not 0 < f.near.radius_m <= 50_000:
            raise DomainError(INVALID, "半径须在 0 到 50000 米之间", "near.radiusM")
        try:
            check_point(f.near.point.lng, f.near.point.lat, GeoCrs(f.near.point.crs.value))
        except PointError as err:  # the search of a point that cannot be meant
            raise DomainError(OUT_OF_RANGE, NEAR_REFUSED[err.reason], "near.point") from None
        where.extend(_near(f.near))
    if f.bbox is not None:
        if len(f.bbox) != 4 or not (f.bbox[0] < f.bbox[2] and f.bbox[1] < f.bbox[3]):
            raise DomainError(INVALID, "bbox 须为 [minLng, minLat, maxLng, maxLat]", "bbox")
        where.append(c.location.intersects(func.ST_MakeEnvelope(*f.bbox, 4326)))
    return where


METRES_PER_DEGREE = 111_320.0
NEAR_REFUSED = {
    "not_finite": "经纬度须为有限数值",
    "out_of_range": "经度须在-180到180之间、纬度须在-90到90之间",
    "swapped": "经纬度是否颠倒？应先经度后纬度",
}


def _near(near: NearInput) -> list[ColumnElement[bool]]:
    """Within radiusM metres: a bounding box on the geometry (served by the GiST index),
    then the exact distance on the spheroid through geography."""
    point, radius = near.point, near.radius_m
    dlat = radius / METRES_PER_DEGREE * 1.01
    dlng = dlat / max(math.cos(math.radians(point.lat)), 0.01)
    box = func.ST_MakeEnvelope(
        point.lng - dlng, point.lat - dlat, point.lng + dlng, point.lat + dlat, 4326
    )
    exact = func.ST_DWithin(
        cast(CustomerRow.location, Geography), cast(_point(point), Geography), radius
    )
    return [CustomerRow.location.intersects(box), exact]


def _json(value: object) -> str:
    import json

    return json.dumps(value)


def customer_where(ctx: Context, f: CustomerFilter | None) -> list[ColumnElement[bool]]:
    """The caller's scope (refusing an anonymous caller) and the filter's conditions."""
    where = [customer_scope(ctx.require())]
    if f is not None:
        where += _conditions(f)
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
    key = CustomerRow.id == id if id is not None else CustomerRow.customer_code == code
    return customer_one(ctx, names, [*customer_where(ctx, None), key])


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

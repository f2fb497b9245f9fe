"""customers(filter, first, after, orderBy) and customer(id, code)."""

from __future__ import annotations

import math
from enum import Enum

import strawberry
from geoalchemy2 import Geography
from sqlalchemy import ColumnElement, Select, cast, func, or_, select

from domain.access import customer_scope
from domain.errors import INVALID, DomainError
from domain.models import Customer as CustomerRow
from geo.crs import Crs as GeoCrs
from geo.crs import to_wgs84
from schema.context import Info
from schema.customers.types import Customer, CustomerConnection, customer_node
from schema.pagination import Edge, PageInfo, decode_cursor, encode_cursor, page, page_size
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
        where.extend(_near(f.near))
    if f.bbox is not None:
        if len(f.bbox) != 4 or not (f.bbox[0] < f.bbox[2] and f.bbox[1] < f.bbox[3]):
            raise DomainError(INVALID, "bbox 须为 [minLng, minLat, maxLng, maxLat]", "bbox")
        where.append(c.location.intersects(func.ST_MakeEnvelope(*f.bbox, 4326)))
    return where


METRES_PER_DEGREE = 111_320.0


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


def _query(info: Info, f: CustomerFilter | None) -> Select[CustomerRow]:
    principal = info.context.require()
    stmt = select(CustomerRow).where(customer_scope(principal))
    if f is not None:
        stmt = stmt.where(*_conditions(f))
    return stmt


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
        size, offset = page_size(first), decode_cursor(after)
        stmt = _query(info, filter)
        session = info.context.session
        column = getattr(CustomerRow, order_by.value)
        rows, has_next, total = page(info, session, stmt, (column, CustomerRow.id), size, offset)
        edges = [
            Edge(cursor=encode_cursor(offset + i), node=customer_node(r))
            for i, r in enumerate(rows)
        ]
        return CustomerConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=has_next,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=total,
        )

    @strawberry.field(description="One customer by id or customer code, if in the caller's scope")
    def customer(
        self, info: Info, id: int | None = None, code: str | None = None
    ) -> Customer | None:
        if (id is None) == (code is None):
            raise DomainError(INVALID, "请提供 id 或 code 之一", "id")
        stmt = _query(info, None)
        stmt = (
            stmt.where(CustomerRow.id == id)
            if id is not None
            else stmt.where(CustomerRow.customer_code == code)
        )
        row = info.context.session.scalar(stmt)
        return customer_node(row) if row is not None else None

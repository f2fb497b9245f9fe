"""Customer, its connection and nested objects.

A node comes in two builds. ``customer_node`` takes an ORM row and presents every
catalogue field (mutation payloads, a route's stops, a ticket's customer).
``lean_node`` takes a row holding only the columns a query asked for
(``schema.customers.columns``): the list path builds no ORM object and masks only the
personal fields that are selected. Either way masking is ``domain.masking.mask``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from geoalchemy2.shape import to_shape
from strawberry.scalars import JSON

from domain.catalogue import catalogue
from domain.masking import mask
from domain.models import Customer as CustomerRow
from schema.context import Info
from schema.customers.extras import (
    Completeness,
    LedgerEntry,
    completeness_of,
    customer_history,
    record_at,
)
from schema.customers.fields import CustomerFields
from schema.pagination import Edge, PageInfo
from schema.scalars import Crs, GeoJSON, in_crs

if TYPE_CHECKING:
    from schema.places.types import DeliveryRoute
    from schema.tickets.types import Ticket
    from schema.users import User

_SPECS = [s for s in catalogue() if s.type != "point"]


def point_geojson(location: object) -> dict[str, Any] | None:
    """A stored location as a GeoJSON Point (WGS-84): from the geometry of an ORM row, or
    from the ``(lng, lat)`` a lean row selected (``ST_X``, ``ST_Y``)."""
    if location is None:
        return None
    if isinstance(location, tuple):
        return {"type": "Point", "coordinates": [location[0], location[1]]}
    point = to_shape(location)  # type: ignore[arg-type]
    return {"type": "Point", "coordinates": [point.x, point.y]}


@strawberry.type(description="A retail customer (零售客户): catalogue fields, personal ones masked")
class Customer(CustomerFields):
    id: int
    version: int
    # the stored geometry (ORM row) or its (lng, lat) (lean row); None: no location
    _location: strawberry.Private[object]
    # the ORM row, for asOf and completeness (None on a lean node: those select it)
    _row: strawberry.Private[CustomerRow | None]

    @strawberry.field(
        description="地理位置 (GeoJSON Point)：存储为 WGS-84；crs 指定显示用坐标系"
        "（GCJ02 用于高德/腾讯底图，BD09 用于百度底图）"
    )
    def location(self, crs: Crs = Crs.WGS84) -> GeoJSON | None:  # type: ignore[valid-type]
        return in_crs(point_geojson(self._location), crs)

    @strawberry.field(description="客户经理")
    async def customer_manager(
        self, info: Info
    ) -> Annotated[User, strawberry.lazy("schema.users")] | None:
        if self.customer_manager_id is None:
            return None
        return await info.context.loaders["user"].load(self.customer_manager_id)  # type: ignore[no-any-return]

    @strawberry.field(description="送货线路")
    async def route(
        self, info: Info
    ) -> Annotated[DeliveryRoute, strawberry.lazy("schema.places.types")] | None:
        if self.delivery_route_id is None:
            return None
        return await info.context.loaders["route"].load(self.delivery_route_id)  # type: ignore[no-any-return]

    @strawberry.field(description="该客户的工单（最近 50 张）")
    async def tickets(
        self, info: Info
    ) -> list[Annotated[Ticket, strawberry.lazy("schema.tickets.types")]]:
        return await info.context.loaders["customer_tickets"].load(self.id)  # type: ignore[no-any-return]

    @strawberry.field(description="修改台帐（最新在前；个人敏感信息脱敏）")
    async def history(self, info: Info, limit: int = 50) -> list[LedgerEntry]:
        return await customer_history(info, self.id, limit)

    @strawberry.field(
        description="某一时刻的档案（字段键 → JSON 值；个人敏感信息脱敏）：当前档案撤销其后的修改"
    )
    def as_of(self, info: Info, at: dt.datetime) -> JSON:
        assert self._row is not None  # a query selecting asOf loads the ORM row
        return JSON(record_at(info, self._row, at))

    @strawberry.field(description="档案完整率（按今天的上海日期计算期限）")
    def completeness(self, info: Info) -> Completeness:
        assert self._row is not None  # a query selecting completeness loads the ORM row
        return completeness_of(info, self._row)


def customer_node(row: CustomerRow) -> Customer:
    """The node for an in-scope ORM row: every catalogue field, personal values masked."""
    values: dict[str, Any] = {}
    for spec in _SPECS:
        value = getattr(row, spec.column)
        name = f"{spec.key}_id" if spec.type.startswith("ref:") else spec.key
        values[name] = mask(spec.type, value) if spec.personal else value
    return Customer(id=row.id, version=row.version, _location=row.location, _row=row, **values)


def lean_node(values: dict[str, Any]) -> Customer:
    """A node holding only the attributes a query selected (already masked), by their
    Python names. Reading any other attribute raises AttributeError, so a field that the
    column plan forgot fails loudly instead of answering null."""
    node = Customer.__new__(Customer)
    node.__dict__.update(values)
    return node


@strawberry.type
class CustomerConnection:
    edges: list[Edge[Customer]]
    page_info: PageInfo
    total_count: int

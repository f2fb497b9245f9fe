"""Customer, its connection and nested objects."""

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
from schema.scalars import GeoJSON

if TYPE_CHECKING:
    from schema.places.types import DeliveryRoute
    from schema.tickets.types import Ticket
    from schema.users import User

_SPECS = [s for s in catalogue() if s.type != "point"]


@strawberry.type(description="A retail customer (零售客户): catalogue fields, personal ones masked")
class Customer(CustomerFields):
    id: int
    version: int
    _location: strawberry.Private[object]
    _row: strawberry.Private[CustomerRow]

    @strawberry.field(description="地理位置 (GeoJSON Point, WGS-84)")
    def location(self) -> GeoJSON | None:  # type: ignore[valid-type]
        if self._location is None:
            return None
        point = to_shape(self._location)  # type: ignore[arg-type]
        return {"type": "Point", "coordinates": [point.x, point.y]}

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
        return JSON(record_at(info, self._row, at))

    @strawberry.field(description="档案完整率（按今天的上海日期计算期限）")
    def completeness(self, info: Info) -> Completeness:
        return completeness_of(info, self._row)


def customer_node(row: CustomerRow) -> Customer:
    """The node for an in-scope row: every catalogue field, personal values masked."""
    values: dict[str, Any] = {}
    for spec in _SPECS:
        value = getattr(row, spec.column)
        name = f"{spec.key}_id" if spec.type.startswith("ref:") else spec.key
        values[name] = mask(spec.type, value) if spec.personal else value
    return Customer(id=row.id, version=row.version, _location=row.location, _row=row, **values)


@strawberry.type
class CustomerConnection:
    edges: list[Edge[Customer]]
    page_info: PageInfo
    total_count: int

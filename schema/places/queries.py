"""depots, regions, serviceArea, routes(depotId, weekday) and route(id): for any signed-in
caller (places are not customer-scoped; a route's stops are)."""

from __future__ import annotations

import strawberry
from sqlalchemy import func, select

from domain.errors import INVALID, DomainError
from domain.models import DeliveryRoute as RouteRow
from domain.models import Depot as DepotRow
from domain.models import Region as RegionRow
from domain.models import ServiceArea as ServiceAreaRow
from schema.context import Info
from schema.places.loaders import GEOJSON_DIGITS, depots_select
from schema.places.types import (
    DeliveryRoute,
    Depot,
    Region,
    ServiceArea,
    depot_node,
    geojson,
    route_node,
)


@strawberry.type
class PlaceQueries:
    @strawberry.field(description="配送中心、中转站和定点取货点")
    def depots(self, info: Info) -> list[Depot]:
        info.context.require()
        rows = info.context.session.execute(depots_select().order_by(DepotRow.id))
        return [depot_node(r) for r in rows]

    @strawberry.field(description="行政区域（区、县）及其边界")
    def regions(self, info: Info) -> list[Region]:
        info.context.require()
        r = RegionRow
        rows = info.context.session.execute(
            select(
                r.id, r.code, r.name, r.kind, r.is_urban, func.ST_AsGeoJSON(r.geom, GEOJSON_DIGITS)
            ).order_by(r.code)
        )
        return [
            Region(id=i, code=c, name=n, kind=k, is_urban=u, _geometry=geojson(g))
            for i, c, n, k, u, g in rows
        ]

    @strawberry.field(description="公司服务区域及其边界")
    def service_area(self, info: Info) -> ServiceArea | None:
        info.context.require()
        a = ServiceAreaRow
        row = info.context.session.execute(
            select(a.name, a.buffer_m, func.ST_AsGeoJSON(a.geom, GEOJSON_DIGITS))
            .order_by(a.id)
            .limit(1)
        ).first()
        if row is None:
            return None
        name, buffer_m, text = row
        return ServiceArea(name=name, buffer_m=float(buffer_m), _geometry=geojson(text))

    @strawberry.field(description="送货线路（全部线路，可按站点和送货日筛选），按线路代码排序")
    def routes(
        self, info: Info, depot_id: int | None = None, weekday: int | None = None
    ) -> list[DeliveryRoute]:
        info.context.require()
        stmt = select(RouteRow).order_by(RouteRow.code)
        if depot_id is not None:
            stmt = stmt.where(RouteRow.depot_id == depot_id)
        if weekday is not None:
            if not 1 <= weekday <= 7:
                raise DomainError(INVALID, "送货日须在 1（周一）到 7（周日）之间", "weekday")
            stmt = stmt.where(RouteRow.weekday == weekday)
        return [route_node(r) for r in info.context.session.scalars(stmt)]

    @strawberry.field(description="一条送货线路")
    async def route(self, info: Info, id: int) -> DeliveryRoute | None:
        info.context.require()
        return await info.context.loaders["route"].load(id)  # type: ignore[no-any-return]

"""Depots, regions, the service area, vehicles and delivery routes.

Geometry is read as GeoJSON text from PostGIS (``ST_AsGeoJSON(geom, 6)``) and parsed once
into the ``GeoJSON`` scalar's value. (The GIS issue adds route geometry, distance,
duration and display coordinate systems.)
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from domain.models import DeliveryRoute as RouteRow
from domain.models import Vehicle as VehicleRow
from schema.context import Info
from schema.scalars import Crs, GeoJSON, in_crs

if TYPE_CHECKING:
    from schema.customers.types import Customer


def geojson(text: str | None) -> dict[str, Any] | None:
    """The GeoJSON text PostGIS produced, as the scalar's value."""
    return None if text is None else json.loads(text)


@strawberry.type(description="配送中心、中转站或定点取货点")
class Depot:
    id: int
    code: str
    name: str
    kind: str = strawberry.field(
        description="distribution_centre (配送中心) | transit_station (中转站)"
        " | pickup_point (定点取货点)"
    )
    address: str | None
    region_id: int | None = strawberry.field(description="所在行政区域")
    parent_id: int | None = strawberry.field(description="供货的上级站点（中转站、取货点）")
    _location: strawberry.Private[dict[str, Any] | None]

    @strawberry.field(description="位置 (GeoJSON Point)；crs 指定显示用坐标系（默认 WGS84）")
    def location(self, crs: Crs = Crs.WGS84) -> GeoJSON:  # type: ignore[valid-type]
        return in_crs(self._location, crs)


def depot_node(row: Any) -> Depot:
    """From a row of ``schema.places.loaders.DEPOT_COLUMNS``."""
    return Depot(
        id=row.id, code=row.code, name=row.name, kind=row.kind, address=row.address,
        region_id=row.region_id, parent_id=row.parent_id, _location=geojson(row.geojson),
    )  # fmt: skip


@strawberry.type(description="行政区域（区、县）")
class Region:
    id: int
    code: str
    name: str
    kind: str = strawberry.field(description="urban_district | suburban_district | county")
    is_urban: bool
    _geometry: strawberry.Private[dict[str, Any] | None]

    @strawberry.field(description="边界 (GeoJSON MultiPolygon)；crs 指定显示用坐标系")
    def geometry(self, crs: Crs = Crs.WGS84) -> GeoJSON:  # type: ignore[valid-type]
        return in_crs(self._geometry, crs)


@strawberry.type(description="公司服务区域；超出区域（含缓冲）的位置被拒绝")
class ServiceArea:
    name: str
    buffer_m: float = strawberry.field(description="边界外允许的缓冲距离（米）")
    _geometry: strawberry.Private[dict[str, Any] | None]

    @strawberry.field(description="边界 (GeoJSON MultiPolygon)；crs 指定显示用坐标系")
    def geometry(self, crs: Crs = Crs.WGS84) -> GeoJSON:  # type: ignore[valid-type]
        return in_crs(self._geometry, crs)


@strawberry.type(description="送货车辆")
class Vehicle:
    id: int
    code: str
    plate: str
    capacity_cartons: int = strawberry.field(description="装载能力（条）")
    shift_start: dt.time = strawberry.field(description="班次开始（当地时间）")
    shift_end: dt.time = strawberry.field(description="班次结束（当地时间）")


def vehicle_node(row: VehicleRow) -> Vehicle:
    return Vehicle(
        id=row.id, code=row.code, plate=row.plate, capacity_cartons=row.capacity_cartons,
        shift_start=row.shift_start, shift_end=row.shift_end,
    )  # fmt: skip


@strawberry.type(description="线路统计（整条线路，不受调用者客户范围限制）")
class RouteStats:
    _route_id: strawberry.Private[int]

    @strawberry.field(description="线路上的客户数（送货点数）")
    async def stops(self, info: Info) -> int:
        return await info.context.loaders["route_stops"].load(self._route_id)  # type: ignore[no-any-return]

    @strawberry.field(
        description="Average weekly cartons over the last 3 purchase months (预计每趟条数): the"
        " cartons the route's shops bought in the three most recent months of the purchase"
        " records, divided by 13 weeks (3 × 52/12), to one decimal. A route runs once a week,"
        " so this is the expected load of one delivery."
    )
    async def volume(self, info: Info) -> float:
        return await info.context.loaders["route_volume"].load(self._route_id)  # type: ignore[no-any-return]

    @strawberry.field(
        description="行驶里程（公里）：配送站点 → 各送货点（按送货顺序）→ 回站，"
        "按配置的行程估算（直线距离 × 绕行系数，或导入的道路网）"
    )
    async def distance_km(self, info: Info) -> float:
        figures = await info.context.loaders["route_figures"].load(self._route_id)
        return round(figures.distance_m / 1000, 2)

    @strawberry.field(description="出车时长（分钟）：行驶时间 + 每点服务时间（+ 等待）")
    async def duration_min(self, info: Info) -> float:
        figures = await info.context.loaders["route_figures"].load(self._route_id)
        return round(figures.duration_s / 60, 1)

    @strawberry.field(description="是否满足车辆装载能力和班次时长")
    async def feasible(self, info: Info) -> bool:
        figures = await info.context.loaders["route_figures"].load(self._route_id)
        return figures.feasible  # type: ignore[no-any-return]

    @strawberry.field(description="不满足的约束：capacity（超载）、shift（超出班次）等")
    async def violations(self, info: Info) -> list[str]:
        figures = await info.context.loaders["route_figures"].load(self._route_id)
        return list(figures.violations)


@strawberry.type(description="送货线路: one vehicle from one depot on a fixed weekday")
class DeliveryRoute:
    id: int
    code: str
    name: str
    weekday: int = strawberry.field(description="送货日 1 (周一) … 7 (周日)")
    depot_id: int
    vehicle_id: int | None
    is_active: bool

    @strawberry.field(description="出发站点")
    async def depot(self, info: Info) -> Depot:
        return await info.context.loaders["depot"].load(self.depot_id)  # type: ignore[no-any-return]

    @strawberry.field(description="车辆")
    async def vehicle(self, info: Info) -> Vehicle | None:
        if self.vehicle_id is None:
            return None
        return await info.context.loaders["vehicle"].load(self.vehicle_id)  # type: ignore[no-any-return]

    @strawberry.field(
        description="送货点：线路上的客户按送货顺序排列（含暂停、歇业的，见 status），"
        "仅含调用者管辖范围内的客户"
    )
    async def stops(
        self, info: Info
    ) -> list[Annotated[Customer, strawberry.lazy("schema.customers.types")]]:
        loader = info.context.loaders["route_stop_nodes"](info.context.require())
        return await loader.load(self.id)  # type: ignore[no-any-return]

    @strawberry.field
    def stats(self) -> RouteStats:
        return RouteStats(_route_id=self.id)

    @strawberry.field(
        description="线路走向 (GeoJSON LineString)：配送站点 → 送货点（按顺序）→ 回站；"
        "crs 指定显示用坐标系（默认 WGS84）"
    )
    async def geometry(self, info: Info, crs: Crs = Crs.WGS84) -> GeoJSON | None:  # type: ignore[valid-type]
        text = await info.context.loaders["route_line"].load(self.id)
        return in_crs(geojson(text), crs)


def route_node(row: RouteRow) -> DeliveryRoute:
    return DeliveryRoute(
        id=row.id, code=row.code, name=row.name, weekday=row.weekday, depot_id=row.depot_id,
        vehicle_id=row.vehicle_id, is_active=row.is_active,
    )  # fmt: skip

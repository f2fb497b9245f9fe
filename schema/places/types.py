"""Delivery routes (the GIS issue adds geometry, volume, distance and duration)."""

from __future__ import annotations

import strawberry

from domain.models import DeliveryRoute as RouteRow
from schema.context import Info


@strawberry.type
class RouteStats:
    stops: int


@strawberry.type(description="送货线路: one vehicle from one depot on a fixed weekday")
class DeliveryRoute:
    id: int
    code: str
    name: str
    weekday: int
    depot_id: int
    vehicle_id: int | None

    @strawberry.field
    async def stats(self, info: Info) -> RouteStats:
        stops = await info.context.loaders["route_stops"].load(self.id)
        return RouteStats(stops=stops)


def route_node(row: RouteRow) -> DeliveryRoute:
    return DeliveryRoute(
        id=row.id, code=row.code, name=row.name, weekday=row.weekday, depot_id=row.depot_id,
        vehicle_id=row.vehicle_id,
    )  # fmt: skip

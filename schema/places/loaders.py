"""Batch loaders for routes and depots: one statement per kind of nested object per request.

Registered by ``schema.loaders.make_loaders``. Route stops depend on the caller's scope, so
their entry is a per-principal family of loaders (one DataLoader per principal, cached for
the request).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from strawberry.dataloader import DataLoader

from domain.access import Principal, customer_scope
from domain.models import Customer as CustomerRow
from domain.models import Depot, Vehicle
from domain.planning import SETTINGS as PLANNING
from domain.planning import stats as planning_stats
from domain.planning.volumes import route_volumes
from schema.customers.types import Customer, customer_node
from schema.places.types import depot_node, vehicle_node

GEOJSON_DIGITS = 6

StopsLoader = Callable[[Principal], DataLoader[int, list[Customer]]]


def depots_select() -> Select[Any]:
    """The columns of a Depot node, with its location as GeoJSON text."""
    return select(
        Depot.id, Depot.code, Depot.name, Depot.kind, Depot.address, Depot.region_id,
        Depot.parent_id, func.ST_AsGeoJSON(Depot.location, GEOJSON_DIGITS).label("geojson"),
    )  # fmt: skip


def _stops_loaders(session: Session) -> StopsLoader:
    @cache
    def for_principal(principal: Principal) -> DataLoader[int, list[Customer]]:
        async def load(keys: list[int]) -> list[list[Customer]]:
            rows = session.scalars(
                select(CustomerRow)
                .where(CustomerRow.delivery_route_id.in_(keys), customer_scope(principal))
                .order_by(CustomerRow.delivery_route_id, CustomerRow.delivery_sequence)
            )
            grouped: dict[int, list[Customer]] = {k: [] for k in keys}
            for row in rows:
                grouped[row.delivery_route_id].append(customer_node(row))  # type: ignore[index]
            return [grouped[k] for k in keys]

        return DataLoader(load)

    return for_principal


def place_loaders(session: Session) -> dict[str, Any]:
    async def depots(keys: list[int]) -> list[Any]:
        rows = session.execute(depots_select().where(Depot.id.in_(keys))).all()
        found = {r.id: depot_node(r) for r in rows}
        return [found.get(k) for k in keys]

    async def vehicles(keys: list[int]) -> list[Any]:
        rows = session.scalars(select(Vehicle).where(Vehicle.id.in_(keys)))
        found = {r.id: vehicle_node(r) for r in rows}
        return [found.get(k) for k in keys]

    async def volumes(keys: list[int]) -> list[float]:
        found = route_volumes(session, keys)
        return [found.get(k, 0.0) for k in keys]

    async def figures(keys: list[int]) -> list[Any]:
        found = planning_stats.route_figures(PLANNING["planning"], session, keys)
        return [found.get(k) for k in keys]

    async def lines(keys: list[int]) -> list[str | None]:
        found = planning_stats.route_lines(session, keys)
        return [found.get(k) for k in keys]

    return {
        "depot": DataLoader(depots),
        "vehicle": DataLoader(vehicles),
        "route_volume": DataLoader(volumes),
        "route_figures": DataLoader(figures),
        "route_line": DataLoader(lines),
        "route_stop_nodes": _stops_loaders(session),
    }

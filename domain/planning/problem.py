"""A depot's delivery day as a routing problem: its routes (one vehicle each), the shops on
them, their expected loads, and the travel matrix between the depot and the shops.

Index conventions follow ``geo.vrp``: matrix index 0 is the depot, index ``i + 1`` is
``shops[i]``; lane ``k`` (a route of the day and its vehicle) is solver vehicle ``k``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from geoalchemy2.shape import to_shape
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from domain.errors import INVALID, NOT_FOUND, DomainError
from domain.models import Customer, DeliveryRoute, Depot, Vehicle
from domain.planning.settings import PlanningSettings
from domain.planning.travel import travel_costs
from domain.planning.volumes import one_of, shop_volumes
from geo import vrp


@dataclass(frozen=True)
class Shop:
    id: int
    code: str
    lng: float
    lat: float
    urban: bool
    demand: int
    version: int
    route_id: int | None
    sequence: int | None
    order_batch: int | None
    visit_batch: int | None


@dataclass(frozen=True)
class Lane:
    """A route of the day with its vehicle."""

    route_id: int
    code: str
    name: str
    weekday: int
    vehicle: vrp.Vehicle
    service_min: int


@dataclass
class DayProblem:
    depot_id: int
    depot_point: tuple[float, float]
    weekday: int
    lanes: list[Lane]
    shops: list[Shop]
    problem: vrp.Problem
    # Per lane, the stop indices in the current delivery sequence.
    current: list[list[int]] = field(default_factory=list)
    # Shops on the day's routes that are not planned (closed, or without a location): they
    # keep their route, after the planned stops, so sequences stay unique.
    unplaced: list[Shop] = field(default_factory=list)


def _seconds(t: dt.time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def depot_point(session: Session, depot_id: int) -> tuple[float, float]:
    depot = session.get(Depot, depot_id)
    if depot is None:
        raise DomainError(NOT_FOUND, "找不到该配送站点", "depotId")
    if depot.kind == "pickup_point":
        raise DomainError(INVALID, "定点取货点没有送货线路，请选择配送中心或中转站", "depotId")
    point = to_shape(depot.location)
    return float(point.x), float(point.y)


def day_lanes(session: Session, depot_id: int, weekday: int, max_stops: int | None) -> list[Lane]:
    """The active routes of a depot on a weekday that have an active vehicle."""
    return lanes_where(
        session, max_stops, DeliveryRoute.depot_id == depot_id, DeliveryRoute.weekday == weekday,
        DeliveryRoute.is_active.is_(True), Vehicle.is_active.is_(True),
    )  # fmt: skip


def lanes_where(
    session: Session, max_stops: int | None, *conditions: ColumnElement[bool]
) -> list[Lane]:
    rows = session.execute(
        select(DeliveryRoute, Vehicle)
        .join(Vehicle, Vehicle.id == DeliveryRoute.vehicle_id)
        .where(*conditions)
        .order_by(DeliveryRoute.id)
    ).all()
    return [
        Lane(
            route_id=r.id, code=r.code, name=r.name, weekday=r.weekday,
            vehicle=vrp.Vehicle(
                capacity=v.capacity_cartons, shift_start_s=_seconds(v.shift_start),
                shift_end_s=_seconds(v.shift_end), max_stops=max_stops,
            ),
            service_min=r.service_min_per_stop,
        )
        for r, v in rows
    ]  # fmt: skip


def load_shops(
    session: Session,
    customer_ids: Sequence[int] | None = None,
    route_ids: Sequence[int] | None = None,
) -> tuple[list[Shop], list[Shop]]:
    """Shops on the given routes (by route, sequence) and/or with the given ids: the open
    ones with a location to plan, and apart those that cannot be planned (closed, or
    without a location; their coordinates are NaN)."""
    c = Customer
    cond = []
    if route_ids is not None:
        cond.append(one_of(c.delivery_route_id, route_ids, "route_ids"))
    if customer_ids is not None:
        cond.append(one_of(c.id, customer_ids, "customer_ids"))
    stmt = (
        select(
            c.id, c.customer_code, func.ST_X(c.location), func.ST_Y(c.location), c.market_type,
            c.version, c.delivery_route_id, c.delivery_sequence, c.order_batch, c.visit_batch,
            c.status,
        )
        .where(or_(*cond))
        .order_by(c.delivery_route_id, c.delivery_sequence, c.id)
    )  # fmt: skip
    rows = session.execute(stmt).all()
    volumes = shop_volumes(session, [r[0] for r in rows])
    shops: list[Shop] = []
    pinned: list[Shop] = []
    for cid, code, lng, lat, market, version, route_id, seq, order, visit, status in rows:
        demand = max(1, math.ceil(volumes.get(cid, 0.0) - 1e-9))
        plannable = lng is not None and status != "closed"
        shop = Shop(
            cid, code, float(lng) if plannable else math.nan,
            float(lat) if plannable else math.nan, market != "rural", demand, version,
            route_id, seq, order, visit,
        )  # fmt: skip
        (shops if plannable else pinned).append(shop)
    return shops, pinned


def build_problem(
    settings: PlanningSettings,
    session: Session,
    point: tuple[float, float],
    shops: Sequence[Shop],
    lanes: Sequence[Lane],
    *,
    service_min: int | None,
    balance: vrp.Balance,
) -> vrp.Problem:
    """The solver's problem: matrix over depot + shops, one vehicle per lane."""
    minutes = service_min if service_min is not None else _common_service(lanes, settings)
    costs = travel_costs(session, settings)
    points = [point, *[(s.lng, s.lat) for s in shops]]
    urban = [True, *[s.urban for s in shops]]
    matrix = costs.matrix(points, urban)
    stops = [vrp.Stop(demand=s.demand, service_s=minutes * 60) for s in shops]
    return vrp.Problem(
        duration_s=matrix.duration_s, distance_m=matrix.distance_m, stops=stops,
        vehicles=[lane.vehicle for lane in lanes], balance=balance, xy=vrp.lnglat_to_xy(points),
    )  # fmt: skip


def _common_service(lanes: Sequence[Lane], settings: PlanningSettings) -> int:
    """The service time most of the day's routes use (their configured value)."""
    if not lanes:
        return settings.service_min
    return Counter(lane.service_min for lane in lanes).most_common(1)[0][0]


def current_routes(shops: Sequence[Shop], lanes: Sequence[Lane]) -> list[list[int]]:
    """Per lane, the stop indices of the shops on its route, by delivery sequence."""
    index = {lane.route_id: k for k, lane in enumerate(lanes)}
    routes: list[list[int]] = [[] for _ in lanes]
    for i, shop in enumerate(shops):
        k = index.get(shop.route_id) if shop.route_id is not None else None
        if k is not None:
            routes[k].append(i)
    for route in routes:
        route.sort(key=lambda i: (shops[i].sequence or 0, shops[i].id))
    return routes


def day_problem(
    settings: PlanningSettings,
    session: Session,
    depot_id: int,
    weekday: int,
    *,
    max_stops: int | None = None,
    service_min: int | None = None,
    balance: vrp.Balance | None = None,
    extra_customer_ids: Sequence[int] = (),
) -> DayProblem:
    if not 1 <= weekday <= 7:
        raise DomainError(INVALID, "送货日须在 1（周一）到 7（周日）之间", "weekday")
    point = depot_point(session, depot_id)
    lanes = day_lanes(session, depot_id, weekday, max_stops)
    if not lanes:
        raise DomainError(INVALID, "该站点在这一天没有可用的送货线路和车辆", "weekday")
    route_ids = [lane.route_id for lane in lanes]
    shops, unplaced = load_shops(session, list(extra_customer_ids) or None, route_ids)
    problem = build_problem(
        settings, session, point, shops, lanes, service_min=service_min,
        balance=balance or vrp.Balance(),
    )  # fmt: skip
    return DayProblem(
        depot_id=depot_id, depot_point=point, weekday=weekday, lanes=lanes, shops=shops,
        problem=problem, current=current_routes(shops, lanes), unplaced=unplaced,
    )  # fmt: skip

"""Vehicles and delivery routes by a simple sweep, stops sequenced by nearest neighbour.

Each shop is served by the nearest depot (the distribution centre or a transit station).
Per depot the shops are sorted by polar angle and cut into vehicles × 5 equal chunks; a
vehicle's five consecutive chunks (one sector) are its Monday..Friday routes. Good enough
for a demo and deliberately improvable by a real planner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from domain.demo.common import (
    WEEKDAYS_ZH,
    FloatArray,
    IntArray,
    chunk_index,
    largest_remainder,
    to_metres,
)
from domain.demo.geography import City, Depot
from domain.demo.names import person_names
from domain.demo.pgcopy import Column
from domain.demo.shops import Shops

MIN_VEHICLES = 36
SHOPS_PER_VEHICLE = 750
DELIVERY_DAYS = 5
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
CAPACITY_FACTORS = (1.0, 1.15, 1.3, 1.5)
CALLS_PER_CLERK = 400


@dataclass(frozen=True)
class VehicleRow:
    id: int
    code: str
    plate: str
    depot_id: int
    driver: str
    capacity: int


@dataclass(frozen=True)
class RouteRow:
    id: int
    code: str
    name: str
    depot_id: int
    vehicle_id: int
    weekday: int


@dataclass(frozen=True)
class Fleet:
    vehicles: tuple[VehicleRow, ...]
    routes: tuple[RouteRow, ...]
    route: IntArray  # per shop: route id
    sequence: IntArray  # per shop: 1..n within its route

    def route_row(self, route_id: int) -> RouteRow:
        return self.routes[route_id - 1]


def order_batch(weekday: IntArray) -> IntArray:
    """The order day precedes the delivery day: Monday's deliveries are ordered on Friday."""
    return np.where(weekday > 1, weekday - 1, 5)


def nearest_neighbour(x: FloatArray, y: FloatArray, start_x: float, start_y: float) -> IntArray:
    """Visit order of the points by repeatedly going to the closest unvisited one."""
    n = len(x)
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out
    dist = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    current = np.hypot(x - start_x, y - start_y)
    for step in range(n):
        nxt = int(np.argmin(current))
        out[step] = nxt
        dist[:, nxt] = np.inf
        current = dist[nxt].copy()
    return out


def _plates(rng: np.random.Generator, count: int) -> list[str]:
    picks = rng.choice(len(PLATE_LETTERS) * 10_000, size=count, replace=False)
    return [f"陕A·{PLATE_LETTERS[p // 10_000]}{p % 10_000:04d}" for p in picks.tolist()]


def plan_routes(
    city: City, shops: Shops, weekly_cartons: FloatArray, rng: np.random.Generator
) -> Fleet:
    """Vehicles, routes and every shop's route and sequence; sets the service columns."""
    depots: list[Depot] = [d for d in city.depots if d.serves_routes]
    dx, dy = to_metres(
        np.array([d.spec.lng for d in depots]), np.array([d.spec.lat for d in depots])
    )
    x, y = to_metres(shops.places.lng, shops.places.lat)
    home = np.argmin(np.hypot(x[:, None] - dx, y[:, None] - dy), axis=1)
    counts = np.bincount(home, minlength=len(depots))
    total = max(MIN_VEHICLES, math.ceil(shops.n / SHOPS_PER_VEHICLE))
    per_depot = largest_remainder(total, counts, minimum=1)
    # Capacity in cartons: the busiest depot's average daily route load plus a margin.
    depot_load = np.bincount(home, weights=weekly_cartons, minlength=len(depots))
    route_load = depot_load / np.maximum(per_depot * DELIVERY_DAYS, 1)
    base_capacity = max(600, math.ceil(float(route_load.max()) * 1.1 / 100) * 100)
    drivers = person_names(rng, total)
    plates = _plates(rng, total)
    factors = rng.choice(CAPACITY_FACTORS, size=total)

    vehicles: list[VehicleRow] = []
    routes: list[RouteRow] = []
    route = np.zeros(shops.n, dtype=np.int64)
    sequence = np.zeros(shops.n, dtype=np.int64)
    ids = shops.ids
    for d_idx, depot in enumerate(depots):
        short = depot.spec.short
        first_route = len(routes) + 1
        for k in range(int(per_depot[d_idx])):
            v_id = len(vehicles) + 1
            capacity = int(round(base_capacity * float(factors[v_id - 1]) / 100) * 100)
            vehicles.append(
                VehicleRow(
                    v_id,
                    f"V-{short}-{k + 1:02d}",
                    plates[v_id - 1],
                    depot.id,
                    drivers[v_id - 1],
                    capacity,
                )
            )
            for weekday in range(1, DELIVERY_DAYS + 1):
                r_id = len(routes) + 1
                name = f"{depot.spec.name} {k + 1}号车 {WEEKDAYS_ZH[weekday - 1]}"
                routes.append(
                    RouteRow(
                        r_id, f"R-{short}-{k + 1:02d}-{weekday}", name, depot.id, v_id, weekday
                    )
                )
        members = np.flatnonzero(home == d_idx)
        if len(members) == 0:
            continue
        angle = np.arctan2(y[members] - dy[d_idx], x[members] - dx[d_idx])
        ordered = members[np.lexsort((ids[members], angle))]
        chunks = chunk_index(len(ordered), int(per_depot[d_idx]) * DELIVERY_DAYS)
        bounds = np.searchsorted(chunks, np.arange(int(per_depot[d_idx]) * DELIVERY_DAYS + 1))
        for j in range(len(bounds) - 1):
            stops = ordered[bounds[j] : bounds[j + 1]]
            visit = nearest_neighbour(x[stops], y[stops], float(dx[d_idx]), float(dy[d_idx]))
            route[stops[visit]] = first_route + j
            sequence[stops[visit]] = np.arange(1, len(stops) + 1)

    fleet = Fleet(tuple(vehicles), tuple(routes), route, sequence)
    _service_columns(shops, fleet, rng)
    return fleet


def _service_columns(shops: Shops, fleet: Fleet, rng: np.random.Generator) -> None:
    cols = shops.cols
    weekday = np.array([r.weekday for r in fleet.routes], dtype=np.int64)[fleet.route - 1]
    vehicle = np.array([r.vehicle_id for r in fleet.routes], dtype=np.int64)[fleet.route - 1]
    drivers = [v.driver for v in fleet.vehicles]
    cols["delivery_route_id"] = Column("int", fleet.route)
    cols["delivery_sequence"] = Column("int", fleet.sequence)
    cols["delivery_person"] = Column("text", [drivers[v - 1] for v in vehicle.tolist()])
    cols["delivery_segment"] = Column("text", shops.places.segment)
    batch = order_batch(weekday)
    cols["order_batch"] = Column("int", batch)
    cols["call_batch"] = Column("int", batch)
    # Order-desk clerks (电话订货员): each calls ~400 shops on their batch day, route by route.
    clerk_names = person_names(
        rng, DELIVERY_DAYS * max(2, math.ceil(shops.n / DELIVERY_DAYS / CALLS_PER_CLERK))
    )
    per_day = len(clerk_names) // DELIVERY_DAYS
    clerk = np.zeros(shops.n, dtype=np.int64)
    for day in range(1, DELIVERY_DAYS + 1):
        members = np.flatnonzero(batch == day)
        ordered = members[np.lexsort((fleet.sequence[members], fleet.route[members]))]
        clerk[ordered] = (day - 1) * per_day + chunk_index(len(ordered), per_day)
    cols["phone_order_clerk"] = Column("text", [clerk_names[c] for c in clerk.tolist()])

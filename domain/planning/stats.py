"""Figures of existing routes: stops in sequence, distance, duration (travel plus service
time per stop), load against capacity and whether the route fits its vehicle's shift;
and the route's line (depot → stops in sequence → depot)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from domain.access.rowsecurity import city_wide
from domain.models import DeliveryRoute, Depot
from domain.planning.problem import Lane, Shop, lanes_where, load_shops
from domain.planning.settings import PlanningSettings
from domain.planning.travel import travel_costs
from geo import vrp

DEFAULT_SHIFT = (8 * 3600, 18 * 3600)


@dataclass(frozen=True)
class RouteFigures:
    stops: int
    load: int
    distance_m: int
    duration_s: int
    travel_s: int
    feasible: bool
    violations: tuple[str, ...]


# A shop moved to (route, sequence): the figures of a proposal before it is applied.
Moves = Mapping[int, tuple[int | None, int | None]]


def route_figures(
    settings: PlanningSettings,
    session: Session,
    route_ids: Sequence[int],
    moves: Moves | None = None,
) -> dict[int, RouteFigures]:
    """Each route as it is today, scheduled from its vehicle's shift start; with ``moves``
    (customer id -> new route and sequence), as it would be with those shops moved."""
    routes = session.execute(
        select(DeliveryRoute.id, DeliveryRoute.depot_id, DeliveryRoute.weekday,
               func.ST_X(Depot.location), func.ST_Y(Depot.location))
        .join(Depot, Depot.id == DeliveryRoute.depot_id)
        .where(DeliveryRoute.id.in_(route_ids))
    ).all()  # fmt: skip
    moved = moves or {}
    # The route's figures are the whole route's, whoever asks (numbers, no shop's data).
    with city_wide(session):
        shops, _ = load_shops(
            session, route_ids=[r[0] for r in routes], customer_ids=list(moved) if moved else None
        )
    if moved:
        shops = [
            replace(s, route_id=moved[s.id][0], sequence=moved[s.id][1]) if s.id in moved else s
            for s in shops
        ]
        shops.sort(key=lambda s: (s.sequence is None, s.sequence or 0, s.id))
    costs = travel_costs(session, settings)
    lanes = {x.route_id: x for x in lanes_where(session, None, DeliveryRoute.id.in_(route_ids))}
    by_route: dict[int | None, list[Shop]] = {}
    for shop in shops:  # in sequence order
        by_route.setdefault(shop.route_id, []).append(shop)
    out: dict[int, RouteFigures] = {}
    for route_id, _depot_id, _weekday, lng, lat in routes:
        stops = by_route.get(route_id, [])
        lane = lanes.get(route_id) or _lane_without_vehicle(session, route_id)
        points = [(float(lng), float(lat)), *[(s.lng, s.lat) for s in stops]]
        matrix = costs.matrix(points, [True, *[s.urban for s in stops]])
        problem = vrp.Problem(
            duration_s=matrix.duration_s, distance_m=matrix.distance_m,
            stops=[vrp.Stop(demand=s.demand, service_s=lane.service_min * 60) for s in stops],
            vehicles=[lane.vehicle], balance=vrp.Balance(rule="none"),
        )  # fmt: skip
        (stat,), violations = vrp.evaluate(problem, [list(range(len(stops)))])
        kinds = tuple(sorted({v.kind for v in violations}))
        out[route_id] = RouteFigures(
            stops=stat.stops, load=stat.load, distance_m=stat.distance_m,
            duration_s=stat.duration_s, travel_s=stat.travel_s, feasible=not kinds,
            violations=kinds,
        )  # fmt: skip
    return out


def route_lane(session: Session, route_id: int) -> Lane:
    """One route with its vehicle (active or not), or as a route without one (below)."""
    found = lanes_where(session, None, DeliveryRoute.id == route_id)
    return found[0] if found else _lane_without_vehicle(session, route_id)


def _lane_without_vehicle(session: Session, route_id: int) -> Lane:
    """A route with no vehicle assigned: no capacity to respect, a day shift of
    ``DEFAULT_SHIFT`` (routes with a vehicle, active or not, come from ``lanes_where``)."""
    route = session.get(DeliveryRoute, route_id)
    assert route is not None
    vehicle = vrp.Vehicle(capacity=10**9, shift_start_s=DEFAULT_SHIFT[0],
                          shift_end_s=DEFAULT_SHIFT[1])  # fmt: skip
    return Lane(route.id, route.code, route.name, route.weekday, vehicle,
                route.service_min_per_stop)  # fmt: skip


ROUTE_LINES = text(
    """
    SELECT r.id, ST_AsGeoJSON(ST_MakeLine(
               ARRAY[d.location] || COALESCE(s.points, '{}') || ARRAY[d.location]), 6)
    FROM delivery_routes r
    JOIN depots d ON d.id = r.depot_id
    LEFT JOIN LATERAL (
        SELECT array_agg(c.location ORDER BY c.delivery_sequence) AS points
        FROM customers c
        WHERE c.delivery_route_id = r.id AND c.status <> 'closed' AND c.location IS NOT NULL
    ) s ON true
    WHERE r.id = ANY(:ids)
    """
)


def route_lines(session: Session, route_ids: Sequence[int]) -> dict[int, str]:
    """GeoJSON text of each route's line: depot, its stops by sequence, back to the depot."""
    rows = session.execute(ROUTE_LINES, {"ids": list(route_ids)}).all()
    return {route_id: line for route_id, line in rows}

"""Route lines before and after a plan or a proposed move: depot → stops by sequence →
depot, as WGS-84 (lng, lat) points. The approval queue draws a route ticket's routes
with them and the planner's map draws a computed plan's, so both show the same lines.

Before: each route as stored. After: each route with the moves applied (a shop moved
away leaves the line, a shop moved in joins it at its new sequence).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from domain.models import Customer, DeliveryRoute, Depot, RoutePlan, RoutePlanItem
from domain.planning.stats import route_lines

MAX_ROUTES_DRAWN = 40

Lnglat = tuple[float, float]
# A shop moved to (route, sequence).
Moves = Mapping[int, tuple[int | None, int | None]]


@dataclass(frozen=True)
class RouteLines:
    before: dict[int, list[Lnglat]]
    after: dict[int, list[Lnglat]]


def lines_after(session: Session, route_ids: set[int], moves: Moves) -> dict[int, list[Lnglat]]:
    """Each route's line with the moves applied: depot, stops by sequence, depot."""
    depots = dict(
        (rid, (float(x), float(y)))
        for rid, x, y in session.execute(
            select(DeliveryRoute.id, func.ST_X(Depot.location), func.ST_Y(Depot.location))
            .join(Depot, Depot.id == DeliveryRoute.depot_id)
            .where(DeliveryRoute.id.in_(route_ids))
        )
    )
    joining = [cid for cid, (route, _) in moves.items() if route in depots]
    c = Customer
    rows = session.execute(
        select(c.id, c.delivery_route_id, c.delivery_sequence,
               func.ST_X(c.location), func.ST_Y(c.location))
        .where(or_(c.delivery_route_id.in_(route_ids), c.id.in_(joining)),
               c.status != "closed", c.location.is_not(None))
    ).all()  # fmt: skip
    stops: dict[int, list[tuple[int, int, Lnglat]]] = {rid: [] for rid in depots}
    for cid, route, seq, lng, lat in rows:
        route, seq = moves.get(cid, (route, seq))
        if route in stops:
            stops[route].append((seq or 0, cid, (float(lng), float(lat))))
    return {
        rid: [depots[rid], *(p for _, _, p in sorted(stops[rid])), depots[rid]] for rid in stops
    }


def lines_before(session: Session, route_ids: set[int]) -> dict[int, list[Lnglat]]:
    """Each route's line as stored."""
    out = {}
    for rid, text in route_lines(session, list(route_ids)).items():
        geometry = json.loads(text) if text else None
        if geometry and geometry.get("coordinates"):
            out[rid] = [(float(x), float(y)) for x, y, *_ in geometry["coordinates"]]
    return out


def route_lines_of(session: Session, route_ids: Iterable[int], moves: Moves) -> RouteLines:
    """The lines of (at most ``MAX_ROUTES_DRAWN`` of) the routes before and after."""
    drawn = set(sorted(set(route_ids))[:MAX_ROUTES_DRAWN])
    return RouteLines(lines_before(session, drawn), lines_after(session, drawn, moves))


def plan_moves(session: Session, plan: RoutePlan) -> dict[int, dict[str, Any]]:
    """A plan's items as moves: old and new route, sequence and visit batch per shop."""
    items = session.scalars(select(RoutePlanItem).where(RoutePlanItem.plan_id == plan.id))
    return {
        i.customer_id: {
            "old_route": i.old_route_id, "new_route": i.new_route_id,
            "old_sequence": i.old_sequence, "new_sequence": i.new_sequence,
            "old_visit": i.old_visit_batch, "new_visit": i.new_visit_batch,
        }
        for i in items
    }  # fmt: skip


def moved_routes(moves: Mapping[int, Mapping[str, Any]]) -> set[int]:
    """The routes a shop leaves or joins."""
    return {r for m in moves.values() for r in (m["old_route"], m["new_route"]) if r is not None}


def plan_lines(session: Session, plan: RoutePlan, weekday: int | None = None) -> RouteLines:
    """The lines of the routes a computed plan changes (those of ``weekday`` only, when
    given: a quarterly plan is drawn one delivery day at a time)."""
    moves = plan_moves(session, plan)
    route_ids = moved_routes(moves)
    if weekday is not None:
        route_ids = routes_on_day(session, route_ids, weekday)
    moved = {cid: (m["new_route"], m["new_sequence"]) for cid, m in moves.items()}
    return route_lines_of(session, route_ids, moved)


def routes_on_day(session: Session, route_ids: set[int], weekday: int) -> set[int]:
    """Those of the routes that deliver on ``weekday``."""
    if not route_ids:
        return set()
    found = session.scalars(
        select(DeliveryRoute.id).where(
            DeliveryRoute.id.in_(route_ids), DeliveryRoute.weekday == weekday
        )
    )
    return set(found)

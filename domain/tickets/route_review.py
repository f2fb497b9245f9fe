"""What a reviewer of a route change sees before approving: the shops it moves (old and
new route and sequence), each affected route's figures before and after (stops, load,
distance, duration) and the routes' lines before and after.

A ``route_change`` ticket proposes one shop's route and sequence: its figures after are
computed as if the shop were moved (``domain.planning.stats.route_figures`` with moves).
A ``route_plan`` / ``visit_plan`` ticket has a stored plan whose summary holds the figures
before and after as the planner saw them; its items are the moves.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from domain.models import Customer, DeliveryRoute, Depot, RoutePlan, RoutePlanItem, TicketChange
from domain.planning import SETTINGS
from domain.planning.stats import RouteFigures, route_figures, route_lines

ROUTE_TYPES = ("route_change", "route_plan", "visit_plan")
MAX_SHOPS_LISTED = 200
MAX_ROUTES_DRAWN = 40

Lnglat = tuple[float, float]


@dataclass(frozen=True)
class MovedShop:
    customer_id: int
    customer_code: str
    shop_name: str
    old_route: str | None
    new_route: str | None
    old_sequence: int | None
    new_sequence: int | None
    old_visit_batch: int | None = None
    new_visit_batch: int | None = None


@dataclass(frozen=True)
class RouteStats:
    route_id: int
    label: str
    before: dict[str, Any] | None  # stops, load, distanceM, durationS, feasible
    after: dict[str, Any] | None


@dataclass(frozen=True)
class RouteReview:
    shops: list[MovedShop]
    shop_count: int
    routes: list[RouteStats]
    lines_before: dict[int, list[Lnglat]] = field(default_factory=dict)
    lines_after: dict[int, list[Lnglat]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)  # a plan's stored summary


def _figures(f: RouteFigures | None) -> dict[str, Any] | None:
    if f is None:
        return None
    return {"stops": f.stops, "load": f.load, "distanceM": f.distance_m,
            "durationS": f.duration_s, "feasible": f.feasible}  # fmt: skip


def _labels(session: Session, route_ids: set[int]) -> dict[int, str]:
    rows = session.execute(
        select(DeliveryRoute.id, DeliveryRoute.code, DeliveryRoute.name).where(
            DeliveryRoute.id.in_(route_ids)
        )
    )
    return {rid: f"{code} {name}" for rid, code, name in rows}


def _lines_after(
    session: Session, route_ids: set[int], moves: Mapping[int, tuple[int | None, int | None]]
) -> dict[int, list[Lnglat]]:
    """Each route's line with the moves applied: depot, stops by sequence, depot."""
    depots = dict(
        (rid, (float(x), float(y)))
        for rid, x, y in session.execute(
            select(DeliveryRoute.id, func.ST_X(Depot.location), func.ST_Y(Depot.location))
            .join(Depot, Depot.id == DeliveryRoute.depot_id)
            .where(DeliveryRoute.id.in_(route_ids))
        )
    )
    c = Customer
    rows = session.execute(
        select(c.id, c.delivery_route_id, c.delivery_sequence,
               func.ST_X(c.location), func.ST_Y(c.location))
        .where(or_(c.delivery_route_id.in_(route_ids), c.id.in_(list(moves))),
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


def _lines_before(session: Session, route_ids: set[int]) -> dict[int, list[Lnglat]]:
    out = {}
    for rid, text in route_lines(session, list(route_ids)).items():
        geometry = json.loads(text) if text else None
        if geometry and geometry.get("coordinates"):
            out[rid] = [(float(x), float(y)) for x, y, *_ in geometry["coordinates"]]
    return out


def _shops(
    session: Session, moves: dict[int, dict[str, Any]], labels: Mapping[int, str]
) -> list[MovedShop]:
    ids = sorted(moves)[:MAX_SHOPS_LISTED]
    names = {
        cid: (code, name)
        for cid, code, name in session.execute(
            select(Customer.id, Customer.customer_code, Customer.shop_name).where(
                Customer.id.in_(ids)
            )
        )
    }
    out = []
    for cid in ids:
        m = moves[cid]
        code, name = names.get(cid, ("", ""))
        out.append(
            MovedShop(
                customer_id=cid, customer_code=code, shop_name=name,
                old_route=labels.get(m.get("old_route") or -1),
                new_route=labels.get(m.get("new_route") or -1),
                old_sequence=m.get("old_sequence"), new_sequence=m.get("new_sequence"),
                old_visit_batch=m.get("old_visit"), new_visit_batch=m.get("new_visit"),
            )
        )  # fmt: skip
    return out


def _change_moves(session: Session, ticket_id: int) -> dict[int, dict[str, Any]]:
    """The moves of a route-change ticket (one shop; values are plain ids and numbers)."""
    rows = session.scalars(select(TicketChange).where(TicketChange.ticket_id == ticket_id))
    moves: dict[int, dict[str, Any]] = {}
    for row in rows:
        if row.customer_id is None or row.field_key not in ("delivery_route", "delivery_sequence"):
            continue
        m = moves.setdefault(row.customer_id, {})
        name = "route" if row.field_key == "delivery_route" else "sequence"
        m[f"old_{name}"], m[f"new_{name}"] = row.old_value, row.new_value
    current = session.execute(
        select(Customer.id, Customer.delivery_route_id, Customer.delivery_sequence).where(
            Customer.id.in_(list(moves))
        )
    )
    for cid, route, seq in current:  # a field not proposed stays as it is
        m = moves[cid]
        m.setdefault("old_route", route), m.setdefault("new_route", route)
        m.setdefault("old_sequence", seq), m.setdefault("new_sequence", seq)
    return moves


def _plan_moves(session: Session, plan: RoutePlan) -> dict[int, dict[str, Any]]:
    items = session.scalars(select(RoutePlanItem).where(RoutePlanItem.plan_id == plan.id))
    return {
        i.customer_id: {
            "old_route": i.old_route_id, "new_route": i.new_route_id,
            "old_sequence": i.old_sequence, "new_sequence": i.new_sequence,
            "old_visit": i.old_visit_batch, "new_visit": i.new_visit_batch,
        }
        for i in items
    }  # fmt: skip


def _route_ids(moves: dict[int, dict[str, Any]]) -> set[int]:
    return {r for m in moves.values() for r in (m["old_route"], m["new_route"]) if r is not None}


def _plan_stats(summary: dict[str, Any], labels: Mapping[int, str]) -> list[RouteStats]:
    def by_route(part: str) -> dict[int, dict[str, Any]]:
        return {r["routeId"]: r for r in (summary.get(part) or {}).get("routes", [])}

    before, after = by_route("before"), by_route("after")
    return [
        RouteStats(rid, labels.get(rid, str(rid)), before.get(rid), after.get(rid))
        for rid in sorted(set(before) | set(after))
    ]


def route_review(session: Session, ticket_type: str, ticket_id: int) -> RouteReview | None:
    """The before/after of a route ticket (None for other types or a plan not found)."""
    if ticket_type not in ROUTE_TYPES:
        return None
    summary: dict[str, Any] = {}
    if ticket_type == "route_change":
        moves = _change_moves(session, ticket_id)
    else:
        plan = session.scalar(select(RoutePlan).where(RoutePlan.ticket_id == ticket_id))
        if plan is None:
            return None
        moves, summary = _plan_moves(session, plan), plan.summary or {}
    route_ids = _route_ids(moves)
    labels = _labels(session, route_ids)
    shops = _shops(session, moves, labels)
    if ticket_type == "visit_plan":
        return RouteReview(shops, len(moves), [], summary=summary)
    moved = {cid: (m["new_route"], m["new_sequence"]) for cid, m in moves.items()}
    if ticket_type == "route_change":
        settings = SETTINGS["planning"]
        before = route_figures(settings, session, sorted(route_ids))
        after = route_figures(settings, session, sorted(route_ids), moves=moved)
        stats = [
            RouteStats(rid, labels.get(rid, str(rid)), _figures(before.get(rid)),
                       _figures(after.get(rid)))
            for rid in sorted(route_ids)
        ]  # fmt: skip
    else:
        stats = _plan_stats(summary, labels)
    drawn = set(sorted(route_ids)[:MAX_ROUTES_DRAWN])
    return RouteReview(
        shops, len(moves), stats, _lines_before(session, drawn),
        _lines_after(session, drawn, moved), summary,
    )  # fmt: skip

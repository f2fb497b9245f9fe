"""What a reviewer of a route change sees before approving: the shops it moves (old and
new route and sequence), each affected route's figures before and after (stops, load,
distance, duration) and the routes' lines before and after.

A ``route_change`` ticket proposes one shop's route and sequence: its figures after are
computed as if the shop were moved (``domain.planning.stats.route_figures`` with moves).
A ``route_plan`` / ``visit_plan`` ticket has a stored plan whose summary holds the figures
before and after as the planner saw them; its items are the moves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.models import Customer, DeliveryRoute, RoutePlan, TicketChange
from domain.planning import SETTINGS
from domain.planning.lines import (
    Lnglat,
    moved_routes,
    plan_moves,
    route_lines_of,
    routes_on_day,
)
from domain.planning.stats import RouteFigures, route_figures

ROUTE_TYPES = ("route_change", "route_plan", "visit_plan")
MAX_SHOPS_LISTED = 200


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
    # A quarterly plan is shown one delivery day at a time: its days, and the day whose
    # routes the figures and lines are (None: every route the ticket changes).
    days: list[int] = field(default_factory=list)
    day: int | None = None


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


def _plan_stats(summary: dict[str, Any], labels: Mapping[int, str]) -> list[RouteStats]:
    def by_route(part: str) -> dict[int, dict[str, Any]]:
        return {r["routeId"]: r for r in (summary.get(part) or {}).get("routes", [])}

    before, after = by_route("before"), by_route("after")
    return [
        RouteStats(rid, labels.get(rid, str(rid)), before.get(rid), after.get(rid))
        for rid in sorted(set(before) | set(after))
    ]


def route_review(
    session: Session, ticket_type: str, ticket_id: int, weekday: int | None = None
) -> RouteReview | None:
    """The before/after of a route ticket (None for other types or a plan not found); of a
    quarterly plan, the figures and lines of one delivery day (``weekday`` when the plan
    has it, else its first)."""
    if ticket_type not in ROUTE_TYPES:
        return None
    summary: dict[str, Any] = {}
    days: list[int] = []
    day: int | None = None
    if ticket_type == "route_change":
        moves = _change_moves(session, ticket_id)
    else:
        plan = session.scalar(select(RoutePlan).where(RoutePlan.ticket_id == ticket_id))
        if plan is None:
            return None
        moves, summary = plan_moves(session, plan), plan.summary or {}
        if plan.kind == "quarterly":
            days = sorted(d["weekday"] for d in summary.get("days") or [])
    route_ids = moved_routes(moves)
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
    elif days:  # one delivery day's routes: its figures as the plan stored them, its lines
        day = weekday if weekday in days else days[0]
        stats = _plan_stats(next(d for d in summary["days"] if d["weekday"] == day), labels)
        route_ids = routes_on_day(session, route_ids, day)
    else:
        stats = _plan_stats(summary, labels)
    lines = route_lines_of(session, route_ids, moved)
    return RouteReview(shops, len(moves), stats, lines.before, lines.after, summary, days, day)

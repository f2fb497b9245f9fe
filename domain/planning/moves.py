"""Shops selected on the planner's map (rectangle or lasso) moved to one route: a plan of
kind ``move``, computed at once (no job: one route's insertion takes milliseconds) and
submitted as ONE ``route_plan`` ticket, whose approval applies every move through the
ledger, or none when a shop changed meanwhile (see ``domain.planning.submit``).

Where the shops go: each moved shop is put into the target route at its cheapest insertion
position (the least added travel time, ``geo.vrp``'s Savelsbergh insertion), the cheapest
of the remaining shops first. A position that keeps the route's capacity, stop limit and
shift is preferred; when none does (the route is full, or becomes so) the shop still goes
where it adds the least travel: the move is the planner's decision, and the figures after
show the route as infeasible for the approver to see. Shops without a location go to the
end of the route. The target route is renumbered 1..n, so its stops after an inserted shop
are items of the plan too (their sequence changes); the routes the shops leave keep their
sequences (a gap changes nothing on the road, and untouched shops cannot make the ticket
stale). A moved shop whose order day (订货批次) would not precede its new delivery day
gets the working day before it, as the quarterly re-plan does.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.access import Principal, customer_scope
from domain.catalogue import field
from domain.catalogue.checks import describe_ref_rules, ref_states
from domain.errors import (
    INVALID,
    NO_CHANGE,
    NOT_ALLOWED_VALUE,
    NOT_FOUND,
    DomainError,
    ValidationFailed,
)
from domain.models import Customer, DeliveryRoute, RoutePlan, RoutePlanItem
from domain.planning.problem import Lane, Shop, build_problem, depot_point, load_shops
from domain.planning.quarterly import order_day
from domain.planning.service import SETTINGS, may_plan, route_item
from domain.planning.settings import PlanningSettings
from domain.planning.stats import RouteFigures, route_figures, route_lane
from domain.tickets.proposals import MAX_ROUTE_CUSTOMERS
from geo import vrp
from geo.vrp.insertion import insertion_options

PLAN_KIND = "move"
NOT_IN_SCOPE = "找不到该客户，或不在您的管辖范围内"


def plan_move(
    session: Session,
    principal: Principal,
    customer_ids: Sequence[int],
    route_id: int,
    *,
    now: dt.datetime,
    settings: PlanningSettings | None = None,
) -> RoutePlan:
    """A ready plan moving the shops (in the principal's scope, open, not already on it)
    to the route, with the affected routes' figures before and after; all or nothing.
    The shops are locked (primary-key order) until the caller's transaction ends."""
    may_plan(principal)
    ids = list(dict.fromkeys(customer_ids))
    if not 1 <= len(ids) <= MAX_ROUTE_CUSTOMERS:
        raise DomainError(INVALID, f"请选择 1 到 {MAX_ROUTE_CUSTOMERS} 个客户", "customerIds")
    customers = _customers(session, principal, ids)
    route = _target(session, route_id)
    _check_movable(customers, route.id)
    settings = settings or SETTINGS["planning"]
    lane = route_lane(session, route.id)
    moving, staying = _shops(session, ids, route.id)
    order = _placement(settings, session, route, lane, moving, staying)
    plan = RoutePlan(
        kind=PLAN_KIND, status="ready", depot_id=route.depot_id, weekday=route.weekday,
        params={"customer_ids": ids, "route_id": route.id}, created_by_id=principal.user_id,
        created_at=now,
    )  # fmt: skip
    session.add(plan)
    session.flush()
    items = _items(plan.id, route, order, {s.id for s in moving})
    session.add_all(items)
    plan.summary = _summary(settings, session, route, ids, items)
    session.flush()
    return plan


def _customers(session: Session, principal: Principal, ids: list[int]) -> list[Customer]:
    """The customers in scope, locked in primary-key order; every one missing is named."""
    found = {
        c.id: c
        for c in session.scalars(
            select(Customer).where(Customer.id.in_(ids), customer_scope(principal))
            .order_by(Customer.id).with_for_update()
        )
    }  # fmt: skip
    missing = [i for i in sorted(ids) if i not in found]
    if missing:
        raise ValidationFailed(
            [DomainError(NOT_FOUND, f"客户 {i}：{NOT_IN_SCOPE}", "customerIds") for i in missing]
        )
    return [found[i] for i in ids]


def _target(session: Session, route_id: int) -> DeliveryRoute:
    """The route, checked by the catalogue's rules for ``delivery_route`` (exists, active)."""
    spec = field("delivery_route")
    state = ref_states(session, [(spec, route_id)])[spec.key]
    if state is None:
        raise DomainError(NOT_FOUND, f"{spec.label_zh}不存在", "routeId")
    if not state:
        raise DomainError(
            NOT_ALLOWED_VALUE, f"{spec.label_zh}{describe_ref_rules(spec)}", "routeId"
        )
    route = session.get(DeliveryRoute, route_id)
    assert route is not None
    return route


def _check_movable(customers: Sequence[Customer], route_id: int) -> None:
    errors = []
    for c in customers:
        if c.status == "closed":
            text = f"客户 {c.customer_code} 已歇业，不能调整送货线路"
            errors.append(DomainError(INVALID, text, "customerIds"))
        elif c.delivery_route_id == route_id:
            text = f"客户 {c.customer_code} 已在该线路上"
            errors.append(DomainError(NO_CHANGE, text, "customerIds"))
    if errors:
        raise errors[0] if len(errors) == 1 else ValidationFailed(errors)


def _shops(session: Session, ids: list[int], route_id: int) -> tuple[list[Shop], list[Shop]]:
    """The moved shops (in the order given) and the target route's shops (by sequence);
    those without a location come last in each list (``math.nan`` coordinates)."""
    plannable, pinned = load_shops(session, customer_ids=ids, route_ids=[route_id])
    rank = {cid: n for n, cid in enumerate(ids)}
    every = [*plannable, *pinned]
    moving = sorted((s for s in every if s.id in rank), key=lambda s: (_nowhere(s), rank[s.id]))
    staying = [s for s in every if s.id not in rank]
    return moving, staying


def _nowhere(shop: Shop) -> bool:
    return math.isnan(shop.lng)


def _placement(
    settings: PlanningSettings,
    session: Session,
    route: DeliveryRoute,
    lane: Lane,
    moving: list[Shop],
    staying: list[Shop],
) -> list[Shop]:
    """The target route's stops in their new order (see the module's docstring)."""
    moved = {s.id for s in moving}
    located = [s for s in [*staying, *moving] if not _nowhere(s)]
    if not any(s.id in moved for s in located):
        return [*staying, *moving]
    problem = build_problem(
        settings, session, depot_point(session, route.depot_id), located, [lane],
        service_min=lane.service_min, balance=vrp.Balance(rule="none"),
    )  # fmt: skip
    order = [i for i, s in enumerate(located) if s.id not in moved]
    left = [i for i, s in enumerate(located) if s.id in moved]
    while left:
        cost, ok = insertion_options(problem, 0, order, left)
        ranked = np.where(ok, cost, np.iinfo(np.int64).max) if ok.any() else cost
        pick, position = np.unravel_index(int(np.argmin(ranked)), ranked.shape)
        order.insert(int(position), left.pop(int(pick)))
    nowhere = [s for s in [*staying, *moving] if _nowhere(s)]  # staying ones first
    return [*(located[i] for i in order), *nowhere]


def _order_batch(current: int | None, weekday: int) -> int:
    """The shop's order day if it still precedes the delivery day, else the day before
    (Monday's deliveries are ordered the week before: Friday to Sunday)."""
    fits = current is not None and (current in (5, 6, 7) if weekday == 1 else current < weekday)
    return current if fits and current is not None else order_day(weekday)


def _items(
    plan_id: int, route: DeliveryRoute, order: list[Shop], moved: set[int]
) -> list[RoutePlanItem]:
    """One item per shop of the target route whose route, sequence or order day changes."""
    items = []
    for position, shop in enumerate(order, start=1):
        new_order = (
            _order_batch(shop.order_batch, route.weekday) if shop.id in moved else shop.order_batch
        )
        item = route_item(plan_id, shop, route.id, position, new_order)
        if item is not None:
            items.append(item)
    return items


def _summary(
    settings: PlanningSettings,
    session: Session,
    route: DeliveryRoute,
    ids: list[int],
    items: list[RoutePlanItem],
) -> dict[str, Any]:
    """The affected routes' figures before and after, in the shape every plan stores."""
    given = set(ids)
    moved = [i for i in items if i.customer_id in given]
    route_ids = sorted({route.id} | {i.old_route_id for i in moved if i.old_route_id is not None})
    moves = {i.customer_id: (i.new_route_id, i.new_sequence) for i in items}
    lanes = {rid: route_lane(session, rid) for rid in route_ids}
    before = route_figures(settings, session, route_ids)
    after = route_figures(settings, session, route_ids, moves=moves)
    return {
        "depotId": route.depot_id, "weekday": route.weekday, "routeId": route.id,
        "customerIds": ids, "shops": len(ids),
        "before": _figures_json(lanes, before), "after": _figures_json(lanes, after),
        "moves": len(items), "routeChanges": sum(1 for i in items if i.old_route_id != route.id),
    }  # fmt: skip


def _figures_json(lanes: dict[int, Lane], figures: dict[int, RouteFigures]) -> dict[str, Any]:
    routes: list[dict[str, Any]] = []
    for rid, lane in lanes.items():
        f = figures[rid]
        routes.append({
            "routeId": rid, "code": lane.code, "name": lane.name, "weekday": lane.weekday,
            "stops": f.stops, "load": f.load, "capacity": lane.vehicle.capacity,
            "distanceM": f.distance_m, "durationS": f.duration_s, "travelS": f.travel_s,
            "shiftS": lane.vehicle.shift_end_s - lane.vehicle.shift_start_s,
            "feasible": f.feasible, "violations": list(f.violations),
        })  # fmt: skip
    return {
        "routes": routes,
        "travelS": sum(r["travelS"] for r in routes),
        "distanceM": sum(r["distanceM"] for r in routes),
        "durationS": sum(r["durationS"] for r in routes),
        "violations": [
            {"kind": kind, "routeId": rid, "customerId": None, "detail": ""}
            for rid, f in figures.items() if rid in lanes for kind in f.violations
        ],
    }  # fmt: skip

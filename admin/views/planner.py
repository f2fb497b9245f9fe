"""The planner's map (配送地图): the shops of a depot's day coloured by route, filters in
the side panel (an htmx partial; the tiles are reloaded by planner.js), shops selected
by rectangle or lasso and moved to another route as one plan and its one route-plan
ticket (the approver sees the shops and the routes' figures before and after). The page
shows the plan of ``?plan=ID`` (admin.views.plans), so a reload resumes a running plan."""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin.basemaps import Basemap
from admin.views.plan_form import form_context
from admin.views.plan_present import map_context, plan_context
from admin.views.plans import plan_fragment
from admin.views.tiles import filter_query, parse_filter
from admin.web import config, db, field_errors, form, now, principal, render, view
from domain.access import EDIT, READ, Principal, field_right
from domain.catalogue import field
from domain.errors import INVALID, DomainError
from domain.planning import mapview, may_plan, plan_move, submit_plan
from domain.planning.mapview import MapFilter
from domain.tickets.proposals import MAX_ROUTE_CUSTOMERS

WEEKDAYS = {1: "周一", 2: "周二", 3: "周三", 4: "周四", 5: "周五", 6: "周六", 7: "周日"}
DEFAULT_REASON = "配送地图框选调整送货线路"


def _defaults(session: Session, request: Request, f: MapFilter) -> MapFilter:
    """First visit: the distribution centre, and today's delivery day if it has routes."""
    if f.depot_id is not None or f.weekday is not None:
        return f
    with_routes = {r.depot_id for r in mapview.routes(session)}
    depots = [d for d in mapview.depots(session) if d.id in with_routes]
    if not depots:
        return f
    depot = next((d for d in depots if d.kind == "distribution_centre"), depots[0])
    days = mapview.route_days(session, depot.id)
    today = now(request).astimezone(config(request).calendar.tz).isoweekday()
    weekday = today if today in days else (days[0] if days else None)
    return MapFilter(depot.id, weekday, None, f.manager_id, f.business_format)


def _bounds(basemap: Basemap, box: tuple[float, float, float, float] | None) -> list[float]:
    if box is None:
        return []
    west, south = basemap.to_display(box[0], box[1])
    east, north = basemap.to_display(box[2], box[3])
    return [west, south, east, north]


def _may_plan(who: Principal) -> bool:
    try:
        may_plan(who)
    except DomainError:
        return False
    return True


def panel_context(request: Request, session: Session, f: MapFilter) -> dict[str, Any]:
    who = principal(request)
    active = mapview.routes(session)
    with_routes = {r.depot_id for r in active}
    routes = mapview.routes(session, depot_id=f.depot_id, weekday=f.weekday)
    query = filter_query(f)
    quarterly = form_context(session, f.depot_id, routes=active)
    return {
        "f": f,
        "depots": [d for d in mapview.depots(session) if d.id in with_routes],
        "weekdays": WEEKDAYS,
        "days": quarterly["q_days"] if f.depot_id else list(WEEKDAYS),
        "routes": routes,
        "managers": mapview.managers_in_scope(session, who),
        "formats": field("business_format").choices,
        "query": query,
        "bounds": _bounds(config(request).basemap, mapview.extent(session, who, f)),
        "may_plan": _may_plan(who),
        "may_batch": field_right(who, field("visit_batch")) != READ,
        "edits_routes": field_right(who, field("delivery_route")) == EDIT,
        **quarterly,
    }


def _filter_or_none(request: Request, params: Any) -> tuple[MapFilter, str | None]:
    try:
        return parse_filter(params), None
    except DomainError as err:
        return MapFilter(), err.message


@view
def page(request: Request) -> Response:
    f, error = _filter_or_none(request, request.query_params)
    with db(request) as session:
        f = _defaults(session, request, f)
        ctx = panel_context(request, session, f)
    plan_html = plan_fragment(request, request.query_params.get("plan"))
    return render(
        request, "planner/page.html",
        {**ctx, "filter_error": error, "plan_html": Markup(plan_html) if plan_html else None},
    )  # fmt: skip


@view
def panel(request: Request) -> Response:
    f, error = _filter_or_none(request, request.query_params)
    with db(request) as session:
        if f.route_id is not None and f.route_id not in {
            r.id for r in mapview.routes(session, depot_id=f.depot_id, weekday=f.weekday)
        }:
            f = MapFilter(f.depot_id, f.weekday, None, f.manager_id, f.business_format)
        ctx = panel_context(request, session, f)
    return render(request, "planner/page.html", {**ctx, "filter_error": error}, block="panel")


def _polygon_wgs84(basemap: Basemap, raw: str) -> dict[str, Any]:
    """The drawn polygon (GeoJSON in the display system) back in WGS-84."""
    try:
        shape = json.loads(raw)
    except ValueError:
        raise DomainError(INVALID, "选择范围无效", "polygon") from None
    if not isinstance(shape, dict):
        raise DomainError(INVALID, "选择范围须为一个多边形", "polygon")
    checked = mapview.checked_polygon(shape)
    ring = [list(basemap.from_display(p[0], p[1])) for p in checked["coordinates"][0]]
    return {"type": "Polygon", "coordinates": [ring]}


@view
def select_shops(request: Request) -> Response:
    data = form(request)
    who = principal(request)
    ctx: dict[str, Any] = {
        "max": MAX_ROUTE_CUSTOMERS, "reason": DEFAULT_REASON, "may_move": _may_plan(who),
    }  # fmt: skip
    try:
        f = parse_filter(data)
        polygon = _polygon_wgs84(config(request).basemap, str(data.get("polygon") or ""))
        with db(request) as session:
            ctx["selection"] = mapview.shops_in_polygon(
                session, who, polygon, f, limit=MAX_ROUTE_CUSTOMERS
            )
            ctx["targets"] = mapview.routes(session, depot_id=f.depot_id, weekday=f.weekday)
            if not ctx["targets"]:
                ctx["targets"] = mapview.routes(session)
    except DomainError as err:
        ctx["errors"] = field_errors(err)
    return render(request, "planner/selection.html", ctx)


def _ids(values: list[Any]) -> list[int]:
    ids = []
    for v in values:
        if not str(v).isdigit() or len(str(v)) > 18:
            raise DomainError(INVALID, "客户编号无效", "customerIds")
        ids.append(int(v))
    return ids


@view
def move_shops(request: Request) -> Response:
    data = form(request)
    cfg = config(request)
    reason = str(data.get("reason") or "").strip()[:500] or DEFAULT_REASON
    try:
        ids = _ids(data.getlist("customer"))
        route = str(data.get("target_route") or "")
        if not route.isdigit() or len(route) > 18:
            raise DomainError(INVALID, "请选择目标线路", "routeId")
        who, at = principal(request), now(request)
        with db(request) as session:  # the plan and its ticket in one transaction
            plan = plan_move(session, who, ids, int(route), now=at)
            ticket = submit_plan(session, who, plan.id, reason=reason, vault=cfg.vault, now=at)
            done = {"id": ticket.id, "title": ticket.title, **plan_context(plan, None),
                    **map_context(session, who, cfg.basemap, plan, None)}  # fmt: skip
    except DomainError as err:
        errors = [m for ms in field_errors(err).values() for m in ms]
        return render(request, "planner/moved.html", {"errors": errors})
    return render(request, "planner/moved.html", {"ticket": done})


ROUTES: list[BaseRoute] = [
    Route("/planner", page),
    Route("/planner/panel", panel),
    Route("/planner/select", select_shops, methods=["POST"]),
    Route("/planner/move", move_shops, methods=["POST"]),
]

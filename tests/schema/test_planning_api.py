"""Route planning over GraphQL: planRoutes answers at once with the plan and its job, the
worker computes it, routePlan shows before/after and the moves, submitRoutePlan opens the
ticket, approveTicket by another planner applies it; and the geo fields (route stats,
geometry in a display crs, points entered in GCJ-02)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from domain.jobs import run_next
from domain.models import Customer, Job, RoutePlan, Ticket
from geo.crs import Crs, from_wgs84, wgs84_to_gcj02
from tests.domain.planning_city import busiest_day as busiest_of
from tests.schema.conftest import Gql

PLAN = """
mutation($input: PlanRoutesInput!) {
  planRoutes(input: $input) {
    plan { id status kind depotId weekday }
    job { id status progress }
    errors { field code message }
  }
}"""
ROUTE_PLAN = """
query($id: Int!) {
  routePlan(id: $id) {
    id status saving movesCount unassignedIds
    before { travelMin distanceKm violations } after { travelMin distanceKm violations }
    routes { routeId code before { stops feasible } after { stops load capacity feasible } }
    moves(first: 500) { customerId fromRouteId toRouteId fromSequence toSequence }
    job { status progress }
  }
}"""


def busiest_day(engine: Engine) -> tuple[int, int]:
    with Session(engine) as s:
        return busiest_of(s)


def counts(engine: Engine) -> tuple[int, ...]:
    with Session(engine) as s:
        return tuple(
            s.scalar(select(func.count()).select_from(t)) or 0 for t in (Job, RoutePlan, Ticket)
        )


def test_plan_submit_and_approve_over_graphql(gql: Gql, api_db: Engine, username_of: Any) -> None:
    depot, weekday = busiest_day(api_db)
    planner, checker = username_of("delivery_dept"), "delivery_dept_2"
    variables = {"input": {"depotId": depot, "weekday": weekday, "timeLimitSeconds": 1}}
    # when a planner asks for a plan: answered at once, computing, with a queued job
    out = gql(PLAN, variables, user=planner)["data"]["planRoutes"]
    assert out["errors"] == [] and out["plan"]["status"] == "computing"
    assert (out["plan"]["kind"], out["plan"]["depotId"], out["plan"]["weekday"]) == (
        "day", depot, weekday,
    )  # fmt: skip
    assert (out["job"]["status"], out["job"]["progress"]) == ("queued", 0.0)
    plan_id = out["plan"]["id"]
    # then the worker computes it, and routePlan shows the figures and the moves
    assert run_next(sessionmaker(api_db)) == out["job"]["id"]
    plan = gql(ROUTE_PLAN, {"id": plan_id}, user=planner)["data"]["routePlan"]
    assert (plan["status"], plan["job"]) == ("ready", {"status": "done", "progress": 1.0})
    assert plan["after"]["violations"] == 0 and plan["movesCount"] == len(plan["moves"]) > 0
    assert all(r["after"]["feasible"] and r["after"]["load"] <= r["after"]["capacity"]
               for r in plan["routes"])  # fmt: skip
    assert plan["after"]["travelMin"] <= plan["before"]["travelMin"]
    # another user's plan is not visible to a customer manager
    manager = username_of("customer_manager")
    assert gql(ROUTE_PLAN, {"id": plan_id}, user=manager)["data"]["routePlan"] is None
    # when submitted, a route-plan ticket awaits another planner; approval applies it
    submit = """mutation($id: Int!) { submitRoutePlan(id: $id, reason: "均衡线路") {
        plan { status } ticket { id type status } errors { code } } }"""
    sub = gql(submit, {"id": plan_id}, user=planner)["data"]["submitRoutePlan"]
    assert sub["errors"] == [] and sub["plan"]["status"] == "submitted"
    assert (sub["ticket"]["type"], sub["ticket"]["status"]) == ("route_plan", "open")
    approve = """mutation($id: Int!) { approveTicket(id: $id) { ticket { status }
        errors { code } } }"""
    own = gql(approve, {"id": sub["ticket"]["id"]}, user=planner)["data"]["approveTicket"]
    assert [e["code"] for e in own["errors"]] == ["FORBIDDEN"]
    done = gql(approve, {"id": sub["ticket"]["id"]}, user=checker)["data"]["approveTicket"]
    assert done == {"ticket": {"status": "applied"}, "errors": []}
    with Session(api_db) as s:
        for move in plan["moves"]:
            c = s.get(Customer, move["customerId"])
            assert c is not None
            assert (c.delivery_route_id, c.delivery_sequence) == (
                move["toRouteId"], move["toSequence"],
            )  # fmt: skip


def test_planning_refusals_are_payload_errors_and_change_nothing(
    gql: Gql, api_db: Engine, username_of: Any
) -> None:
    before = counts(api_db)
    manager = username_of("customer_manager")
    denied = gql(PLAN, {"input": {"depotId": 1, "weekday": 1}}, user=manager)["data"]
    assert [(e["code"], e["field"]) for e in denied["planRoutes"]["errors"]] == [
        ("FORBIDDEN", "input")
    ]
    bad = gql(PLAN, {"input": {"weekday": 8, "maxStops": 0}}, user=username_of("delivery_dept"))
    assert [(e["code"], e["field"]) for e in bad["data"]["planRoutes"]["errors"]] == [
        ("INVALID", "depotId"), ("INVALID", "weekday"), ("INVALID", "maxStops"),
    ]  # fmt: skip
    unknown = """mutation { submitRoutePlan(id: 999999) { ticket { id } errors { code field } } }"""
    assert gql(unknown, user=username_of("delivery_dept"))["data"]["submitRoutePlan"] == {
        "ticket": None, "errors": [{"code": "NOT_FOUND", "field": "id"}],
    }  # fmt: skip
    assert counts(api_db) == before


def test_route_stats_geometry_and_display_crs(gql: Gql, api_db: Engine, username_of: Any) -> None:
    depot, weekday = busiest_day(api_db)
    query = """query($d: Int!, $w: Int!) { routes(depotId: $d, weekday: $w) {
        id stats { stops volume distanceKm durationMin feasible violations }
        wgs: geometry gcj: geometry(crs: GCJ02) depot { location } } }"""
    routes = gql(query, {"d": depot, "w": weekday}, user=username_of("delivery_dept"))
    busy = [r for r in routes["data"]["routes"] if r["stats"]["stops"] > 1]
    assert busy
    for route in busy:
        stats = route["stats"]
        assert stats["distanceKm"] > 0 and stats["durationMin"] > 0
        assert stats["feasible"] == (stats["violations"] == [])
        line = route["wgs"]["coordinates"]
        # depot → stops → depot
        assert route["wgs"]["type"] == "LineString" and len(line) == stats["stops"] + 2
        assert line[0] == line[-1] == route["depot"]["location"]["coordinates"]
        for (lng, lat), shown in zip(line, route["gcj"]["coordinates"], strict=True):
            assert shown == [round(v, 7) for v in from_wgs84(lng, lat, Crs.GCJ02)]


def test_a_gcj02_point_is_stored_as_wgs84_and_a_mixup_is_flagged(
    gql: Gql, api_db: Engine, username_of: Any
) -> None:
    with Session(api_db) as s:
        shop = s.scalars(
            select(Customer).where(Customer.status == "active").order_by(Customer.id)
        ).first()
        assert shop is not None
        lng, lat = s.execute(select(func.ST_X(shop.location), func.ST_Y(shop.location))).one()
    propose = """mutation($id: Int!, $p: PointInput!) { proposeLocation(customerId: $id,
        point: $p) { ticket { id changes { field new } warnings { code crs message } }
        errors { code field message } } }"""
    user = username_of("delivery_dept")
    # an AMap (GCJ-02) reading of the shop's own place, labelled WGS-84: flagged
    g_lng, g_lat = wgs84_to_gcj02(lng, lat)
    out = gql(propose, {"id": shop.id, "p": {"lng": g_lng, "lat": g_lat}}, user=user)
    ticket = out["data"]["proposeLocation"]["ticket"]
    assert [(w["code"], w["crs"]) for w in ticket["warnings"]] == [("LIKELY_CRS_MIXUP", "GCJ02")]
    # a real 300 m move entered in GCJ-02 is converted to WGS-84 and not flagged
    moved = (lng + 0.003, lat)
    m_lng, m_lat = wgs84_to_gcj02(*moved)
    out = gql(propose, {"id": shop.id, "p": {"lng": m_lng, "lat": m_lat, "crs": "GCJ02"}},
              user=user)  # fmt: skip
    ticket = out["data"]["proposeLocation"]["ticket"]
    assert ticket["warnings"] == []
    new = next(c["new"] for c in ticket["changes"] if c["field"] == "location")
    assert (
        abs(new["coordinates"][0] - moved[0]) < 1e-7
        and abs(new["coordinates"][1] - moved[1]) < 1e-7
    )
    # swapped coordinates are refused with the field named
    bad = gql(propose, {"id": shop.id, "p": {"lng": lat, "lat": lng}}, user=user)
    errors = bad["data"]["proposeLocation"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("OUT_OF_RANGE", "point")]
    assert "颠倒" in errors[0]["message"]


def test_a_customer_location_is_shown_in_the_asked_display_crs(
    gql: Gql, api_db: Engine, username_of: Any
) -> None:
    with Session(api_db) as s:
        code, lng, lat = s.execute(
            select(Customer.customer_code, func.ST_X(Customer.location),
                   func.ST_Y(Customer.location)).order_by(Customer.id).limit(1)
        ).one()  # fmt: skip
    query = """query($code: String!) { customer(code: $code) {
        wgs: location gcj: location(crs: GCJ02) bd: location(crs: BD09) } }"""
    shown = gql(query, {"code": code}, user=username_of("market_dept"))["data"]["customer"]
    assert shown["wgs"]["coordinates"] == [lng, lat]
    for key, crs in (("gcj", Crs.GCJ02), ("bd", Crs.BD09)):
        assert shown[key]["coordinates"] == [round(v, 7) for v in from_wgs84(lng, lat, crs)]

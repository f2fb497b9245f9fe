"""The planner's map over HTTP: vector tiles with exactly the shops in scope and filter,
selection by polygon, moving shops to a route as one route-plan ticket (refusals change
nothing), and route planning as a job with progress, before/after table and a ticket."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from admin.basemaps import make_basemap
from admin.views.tiles import tile_shift
from domain.models import Job, RoutePlan, RoutePlanItem, Ticket, TicketChange
from domain.planning import mapview
from domain.planning.mapview import MapFilter
from domain.tickets.proposals import MAX_ROUTE_CUSTOMERS
from geo.crs import Crs, from_wgs84
from tests.admin.conftest import Demo, SignIn
from tests.admin.planner_support import (
    assignment,
    counts,
    decode,
    in_tile,
    inside,
    move,
    principal_of,
    rectangle,
    run_job,
    select_shops,
    selected_ids,
    shops,
    tile,
    tile_of,
    tile_px,
    user_id,
)

CITY = (108.9, 34.25)  # Xi'an: the demo city's centre
HY_WED = {"depot": "4", "weekday": "3"}  # 鄠邑中转站, Wednesday: the move tests' shops
HY_01_3, HY_02_3 = 168, 173  # its routes R-HY-01-3 and R-HY-02-3


# -- tiles ---------------------------------------------------------------------------------


def test_a_tile_holds_exactly_the_shops_of_the_filter_at_their_place(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    sign_in(admin_demo.user("delivery_dept"))
    every = shops(admin_demo.engine)
    for z in (7, 11, 13):
        x, y = tile_of(*CITY, z)
        for params in ({}, {"depot": "1", "weekday": "2"}, {"format": "grocery"}):
            # when the tile is asked for with these filters
            features = decode(tile(browser_client, z, x, y, **params))
            # then it holds exactly the shops inside the tile (and its buffer) that match
            expected = {
                s.id for s in every
                if in_tile(s.lng, s.lat, z, x, y)
                and (not params.get("depot") or s.depot_id == 1)
                and (not params.get("weekday") or s.weekday == 2)
                and (not params.get("format") or s.business_format == "grocery")
            }  # fmt: skip
            got = {f["properties"]["id"] for f in features}
            assert got == expected and expected, (z, params)
            # each drawn where its point falls, with its code, route and colour
            by_id = {s.id: s for s in every}
            for f in features:
                shop = by_id[f["properties"]["id"]]
                px, py = tile_px(shop.lng, shop.lat, z, x, y)
                gx, gy = f["geometry"]["coordinates"]
                assert abs(gx - px) <= 1 and abs(gy - py) <= 1
                colour = -1 if shop.route_id is None else shop.route_id % mapview.PALETTE
                assert f["properties"]["colour"] == colour
                assert len(f["properties"]["code"]) == 12


def test_a_customer_managers_tile_never_holds_another_managers_shop(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    manager = admin_demo.user("customer_manager", 2)
    me = user_id(admin_demo.engine, manager)
    sign_in(manager)
    z = 6
    x, y = tile_of(*CITY, z)
    every = shops(admin_demo.engine)
    assert all(in_tile(s.lng, s.lat, z, x, y) for s in every)  # the whole city in one tile
    got = {f["properties"]["id"] for f in decode(tile(browser_client, z, x, y))}
    assert got == {s.id for s in every if s.manager_id == me} and got
    # and filtering by another manager shows nothing at all
    other = next(s.manager_id for s in every if s.manager_id not in (me, None))
    assert decode(tile(browser_client, z, x, y, manager=str(other))) == []


def test_an_empty_tile_outside_the_city_and_bad_tiles_refused(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    sign_in(admin_demo.user("delivery_dept"))
    x, y = tile_of(116.4, 39.9, 12)  # Beijing
    assert tile(browser_client, 12, x, y) == b""
    for path in ("3/8/0", "23/0/0"):
        res = browser_client.get(f"/admin/planner/tiles/{path}.pbf")
        assert (res.status_code, res.text) == (400, "瓦片坐标超出范围")
    res = browser_client.get("/admin/planner/tiles/7/102/52.pbf", params={"format": "shoes"})
    assert (res.status_code, res.text) == (400, "零售业态无效")


def test_signed_out_tiles_are_refused(browser_client: TestClient) -> None:
    res = browser_client.get("/admin/planner/tiles/7/102/52.pbf", follow_redirects=False)
    assert res.status_code in (303, 401) and not res.content.startswith(b"\x1a")


def test_on_a_gcj02_basemap_a_tile_is_shifted_by_the_offset_at_its_centre(
    admin_demo: Demo,
) -> None:
    amap = make_basemap("amap")
    who = principal_of(admin_demo.engine, admin_demo.user("delivery_dept"))
    z = 15
    shop = next(s for s in shops(admin_demo.engine) if s.id == 61)
    glng, glat = from_wgs84(shop.lng, shop.lat, Crs.GCJ02)
    x, y = tile_of(glng, glat, z)  # the tile the shop appears in on the AMap basemap
    shift = tile_shift(amap, z, x, y)
    clng, clat = mapview.tile_centre(z, x, y)
    wlng, wlat = from_wgs84(clng, clat, Crs.GCJ02)  # the offset varies by metres: ≈ the same
    assert abs(shift[0] - (wlng - clng)) < 1e-5 and abs(shift[1] - (wlat - clat)) < 1e-5
    assert 0.003 < shift[0] < 0.008 and -0.003 < shift[1] < 0  # GCJ-02 near Xi'an
    with Session(admin_demo.engine) as s:
        features = decode(mapview.shop_tile(s, who, z, x, y, MapFilter(), shift))
    got = {f["properties"]["id"]: f["geometry"]["coordinates"] for f in features}
    px, py = tile_px(glng, glat, z, x, y)
    # drawn where AMap shows the shop: within a pixel (16 units) of its GCJ-02 point
    assert abs(got[61][0] - px) <= 16 and abs(got[61][1] - py) <= 16
    assert tile_shift(make_basemap("offline"), z, x, y) == (0.0, 0.0)


def test_the_tile_query_uses_the_spatial_index(admin_demo: Demo) -> None:
    who = principal_of(admin_demo.engine, admin_demo.user("delivery_dept"))
    x, y = tile_of(*CITY, 13)
    stmt = mapview.tile_query(who, 13, x, y, MapFilter(depot_id=1, weekday=1), (0.004, 0.001))
    with admin_demo.engine.connect() as conn:
        compiled = stmt.compile(dialect=conn.dialect)
        conn.exec_driver_sql("SET enable_seqscan = off")
        plan = "\n".join(
            r[0] for r in conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params)
        )
    assert "idx_customers_location" in plan, plan


# -- the page and its panel ---------------------------------------------------------------


def test_the_planner_page_and_its_panel(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    sign_in(admin_demo.user("delivery_dept"))
    page = browser_client.get("/admin/planner", params=HY_WED)
    assert page.status_code == 200
    assert 'data-query="depot=4&amp;weekday=3"' in page.text
    assert "R-HY-01-3" in page.text and "R-LT-01-3" not in page.text
    assert 'id="plan-day"' in page.text and "planner.js" in page.text
    panel = browser_client.get("/admin/planner/panel", params={**HY_WED, "route": str(HY_01_3)})
    assert panel.text.lstrip().startswith('<div id="planner-panel"')
    assert f"route={HY_01_3}" in panel.text and "<html" not in panel.text
    # a route of another day is dropped from the filter
    other = browser_client.get("/admin/planner/panel", params={**HY_WED, "route": "146"})
    assert 'data-query="depot=4&amp;weekday=3"' in other.text
    # the overlay: the day's route lines and the depots
    geo = browser_client.get("/admin/planner/overlay.geojson", params=HY_WED).json()
    lines = {
        f["properties"]["code"] for f in geo["features"] if f["properties"]["layer"] == "route"
    }
    assert lines == {"R-HY-01-3", "R-HY-02-3", "R-HY-03-3"}
    assert sum(f["properties"]["layer"] == "depot" for f in geo["features"]) == 8


def test_a_customer_manager_gets_no_route_lines_and_no_planning(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    sign_in(admin_demo.user("customer_manager", 7))
    page = browser_client.get("/admin/planner", params=HY_WED)
    assert "线路规划由配送部进行" in page.text and 'id="plan-day"' not in page.text
    geo = browser_client.get("/admin/planner/overlay.geojson", params=HY_WED).json()
    assert {f["properties"]["layer"] for f in geo["features"]} == {"depot"}


# -- selection and moves ------------------------------------------------------------------


def test_a_drawn_polygon_lists_the_shops_inside_in_scope_and_filter(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    csrf = sign_in(admin_demo.user("delivery_dept"))
    every = shops(admin_demo.engine)
    box = (108.55, 34.0, 108.75, 34.2)
    html = select_shops(browser_client, csrf, rectangle(*box), **HY_WED)
    expected = {s.id for s in every if inside(s, *box) and (s.depot_id, s.weekday) == (4, 3)}
    assert set(selected_ids(html)) == expected == {15, 284, 179, 145, 116, 60}
    assert f'data-count="{len(expected)}"' in html and 'name="target_route"' in html
    # a lasso (a triangle, crossing itself is allowed) and no filter
    tri = {"type": "Polygon", "coordinates": [[[108.5, 34.0], [109.0, 34.0], [108.5, 34.5]]]}
    html = select_shops(browser_client, csrf, tri)
    assert set(selected_ids(html)) == {
        s.id for s in every if s.lat - 34.0 <= 34.5 - 34.0 - (s.lng - 108.5) and s.lng >= 108.5
    }
    # a customer manager's selection holds only own shops
    manager = admin_demo.user("customer_manager", 7)  # cm008 (鄠邑's shops)
    browser_client.cookies.clear()
    csrf = sign_in(admin_demo.user("customer_manager", 0))
    assert selected_ids(select_shops(browser_client, csrf, rectangle(*box), **HY_WED)) == []
    browser_client.cookies.clear()
    csrf = sign_in(manager)
    assert (
        set(selected_ids(select_shops(browser_client, csrf, rectangle(*box), **HY_WED))) == expected
    )
    # a broken polygon is refused with a message
    bad = select_shops(browser_client, csrf, {"type": "Polygon", "coordinates": [[[1, 2]]]})
    assert "选择范围至少需要 3 个点" in bad


def test_moving_selected_shops_opens_one_route_plan_ticket_and_changes_nothing_else(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    csrf = sign_in(admin_demo.user("delivery_dept"))
    before, routes_before = counts(admin_demo), assignment(admin_demo)
    # given the shops of route R-HY-01-3 selected on the map
    html = select_shops(browser_client, csrf, rectangle(108.59, 34.09, 108.61, 34.12),
                  **HY_WED, route=str(HY_01_3))  # fmt: skip
    ids = selected_ids(html)
    assert sorted(ids) == [15, 284] and 'id="move-submit"' in html
    # when they are moved to R-HY-02-3
    res = browser_client.post(
        "/admin/planner/move",
        data={"customer": ids, "target_route": str(HY_02_3), "reason": "均衡线路"},
        headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
    )  # fmt: skip
    assert res.status_code == 200 and 'id="move-result"' in res.text, res.text
    numbers = [int(n) for n in re.findall(r"工单 #(\d+)", res.text)]
    # then ONE route-plan ticket for the move, its plan of kind "move", nothing applied
    assert len(numbers) == 1
    with Session(admin_demo.engine) as s:
        ticket = s.get(Ticket, numbers[0])
        assert ticket is not None
        assert (ticket.type, ticket.status, ticket.reason) == ("route_plan", "open", "均衡线路")
        plan = s.scalar(select(RoutePlan).where(RoutePlan.ticket_id == ticket.id))
        assert plan is not None and (plan.kind, plan.status) == ("move", "submitted")
        items = s.scalars(select(RoutePlanItem).where(RoutePlanItem.plan_id == plan.id)).all()
        changes = s.execute(
            select(TicketChange.customer_id, TicketChange.field_key, TicketChange.new_value)
            .where(TicketChange.ticket_id == ticket.id)
        ).all()  # fmt: skip
        summary = plan.summary or {}
    # the two shops change route and sequence; shops of R-HY-02-3 behind an inserted one
    # change sequence only: one change per changed field per shop, nothing else
    assert {i.customer_id for i in items if i.old_route_id == HY_01_3} == {15, 284}
    assert all(i.new_route_id == HY_02_3 for i in items)
    expected = {
        (i.customer_id, k)
        for i in items
        for k, changed in (("delivery_route", i.old_route_id != i.new_route_id),
                           ("delivery_sequence", i.old_sequence != i.new_sequence))
        if changed
    }  # fmt: skip
    assert sorted((c, k) for c, k, _ in changes) == sorted(expected)
    assert {(c, v) for c, k, v in changes if k == "delivery_route"} == {
        (15, HY_02_3), (284, HY_02_3)
    }  # fmt: skip
    # and R-HY-02-3 would run 1..n, its own stops keeping their relative order
    staying = [c for _, c in sorted((v[1], c) for c, v in routes_before.items()
                                    if v[0] == HY_02_3)]  # fmt: skip
    new_seq = {c: routes_before[c][1] for c in staying} | {
        i.customer_id: i.new_sequence for i in items
    }
    assert sorted(new_seq.values()) == list(range(1, len(staying) + 3))
    assert [c for c in sorted(new_seq, key=lambda c: new_seq[c]) if c in staying] == staying
    # the result names the ticket and shows both routes' figures before and after
    assert {r["routeId"] for r in summary["after"]["routes"]} == {HY_01_3, HY_02_3}
    stops = {r["routeId"]: r["stops"] for r in summary["after"]["routes"]}
    was = {r["routeId"]: r["stops"] for r in summary["before"]["routes"]}
    assert (stops[HY_01_3], stops[HY_02_3]) == (was[HY_01_3] - 2, was[HY_02_3] + 2)
    assert 'id="move-figures"' in res.text and "R-HY-02-3" in res.text
    assert f"{was[HY_02_3]} → {stops[HY_02_3]}" in res.text
    now = counts(admin_demo)
    assert now == (before[0] + 1, before[1] + len(expected), before[2] + 1)
    assert assignment(admin_demo) == routes_before


def test_refused_moves_change_nothing(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    csrf = sign_in(admin_demo.user("delivery_dept"))
    before, routes_before = counts(admin_demo), assignment(admin_demo)
    # too many shops: the selection says so and offers no move, the server refuses one
    html = select_shops(browser_client, csrf, rectangle(108.0, 33.5, 110.0, 35.0))
    assert 'id="selection-too-many"' in html and 'name="target_route"' not in html
    too_many = sorted(routes_before)[: MAX_ROUTE_CUSTOMERS + 1]
    out = move(browser_client, csrf, too_many, HY_02_3)
    assert 'id="move-errors"' in out and f"请选择 1 到 {MAX_ROUTE_CUSTOMERS} 个客户" in out
    # no target route chosen, or one that does not exist
    assert "请选择目标线路" in move(browser_client, csrf, [179], "")
    assert "送货线路不存在" in move(browser_client, csrf, [179], 999999)
    # a shop already on the target route: all or nothing
    out = move(browser_client, csrf, [179, 116], HY_02_3)
    assert "已在该线路上" in out
    # a shop that does not exist: named, nothing opened
    out = move(browser_client, csrf, [179, 10**9], HY_01_3)
    assert f"客户 {10**9}：找不到该客户，或不在您的管辖范围内" in out
    # no right: a customer manager is offered no move, and the server refuses one
    browser_client.cookies.clear()
    csrf = sign_in(admin_demo.user("customer_manager", 7))  # cm008: 鄠邑's shops
    html = select_shops(browser_client, csrf, rectangle(108.55, 34.0, 108.75, 34.2), **HY_WED)
    assert 'id="move-not-allowed"' in html and 'name="target_route"' not in html
    out = move(browser_client, csrf, [116], HY_02_3)
    assert 'id="move-errors"' in out and "只有配送部可以进行线路规划" in out
    # without the CSRF header nothing is even read
    res = browser_client.post("/admin/planner/move", data={"customer": [116], "target_route": "1"})
    assert res.status_code == 403
    assert counts(admin_demo) == before and assignment(admin_demo) == routes_before


# -- route planning ---------------------------------------------------------------------


def test_plan_the_day_poll_the_job_see_before_after_and_submit_a_ticket(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    csrf = sign_in(admin_demo.user("delivery_dept"))
    hx = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    routes_before = assignment(admin_demo)
    # when a day plan is started: the job is queued and the partial polls it
    res = browser_client.post(
        "/admin/planner/plans", data={"mode": "day", "depot": "1", "weekday": "2",
                                      "time_limit": "1"}, headers=hx,
    )  # fmt: skip
    assert 'hx-trigger="every 1s"' in res.text and 'id="plan-progress"' in res.text
    plan_id = int(re.search(r"规划 #(\d+)", res.text).group(1))  # type: ignore[union-attr]
    with Session(admin_demo.engine) as s:
        plan = s.get(RoutePlan, plan_id)
        assert plan is not None and (plan.kind, plan.depot_id, plan.weekday) == ("day", 1, 2)
        job_id = plan.job_id
    poll = browser_client.get(f"/admin/planner/plans/{plan_id}")
    assert "排队等待后台任务" in poll.text and 'data-value="0.0"' in poll.text
    # then the worker runs it; the partial stops polling and shows before/after per route
    assert job_id is not None
    run_job(admin_demo.engine, job_id)
    done = browser_client.get(f"/admin/planner/plans/{plan_id}")
    assert "every 1s" not in done.text and 'id="plan-table"' in done.text
    with Session(admin_demo.engine) as s:
        plan = s.get(RoutePlan, plan_id)
        assert plan is not None and plan.status == "ready"
        codes = [r["code"] for r in plan.summary["after"]["routes"]]
    assert all(code in done.text for code in codes) and len(codes) == 19
    # when submitted, a route-plan ticket; the shops stay where they are until approval
    sub = browser_client.post(f"/admin/planner/plans/{plan_id}/submit",
                              data={"reason": "均衡线路"}, headers=hx)  # fmt: skip
    number = int(re.search(r"已提交为工单 <a[^>]*>#(\d+)", sub.text).group(1))  # type: ignore[union-attr]
    with Session(admin_demo.engine) as s:
        ticket = s.get(Ticket, number)
        assert ticket is not None and (ticket.type, ticket.status) == ("route_plan", "open")
        assert s.get(RoutePlan, plan_id).ticket_id == number  # type: ignore[union-attr]
    assert assignment(admin_demo) == routes_before
    # submitting twice is refused
    again = browser_client.post(f"/admin/planner/plans/{plan_id}/submit", headers=hx)
    assert "只有已算好的规划可以提交" in again.text


def test_cancel_a_queued_plan_and_planning_refused_without_the_right(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    csrf = sign_in(admin_demo.user("delivery_dept"))
    hx = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    form = {"mode": "resequence", **HY_WED, "route": str(HY_02_3)}
    res = browser_client.post("/admin/planner/plans", headers=hx, data=form)
    plan_id = int(re.search(r"规划 #(\d+)", res.text).group(1))  # type: ignore[union-attr]
    assert "线路重排送货顺序" in res.text
    cancelled = browser_client.post(f"/admin/planner/plans/{plan_id}/cancel", headers=hx)
    assert 'id="plan-cancelled"' in cancelled.text and "every 1s" not in cancelled.text
    with Session(admin_demo.engine) as s:
        plan = s.get(RoutePlan, plan_id)
        assert plan is not None and plan.status == "cancelled"
        assert s.get(Job, plan.job_id).status == "cancelled"  # type: ignore[union-attr]
    # a customer manager may not plan routes: refused, nothing stored
    before = counts(admin_demo)
    browser_client.cookies.clear()
    csrf = sign_in(admin_demo.user("customer_manager", 7))
    res = browser_client.post("/admin/planner/plans", data={"mode": "day", **HY_WED},
                              headers={"X-CSRF-Token": csrf})  # fmt: skip
    assert "只有配送部可以进行线路规划" in res.text
    assert counts(admin_demo) == before
    # nor see the delivery dept's plan
    other = browser_client.get(f"/admin/planner/plans/{plan_id}")
    assert "找不到该线路规划" in other.text and "规划 #" not in other.text


def test_visit_batches_of_a_manager(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    csrf = sign_in(admin_demo.user("delivery_dept"))
    hx = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    manager = user_id(admin_demo.engine, admin_demo.user("customer_manager", 8))
    res = browser_client.post("/admin/planner/visits", headers=hx,
                              data={"manager": str(manager), "batches": "5"})  # fmt: skip
    plan_id = int(re.search(r"规划 #(\d+)", res.text).group(1))  # type: ignore[union-attr]
    with Session(admin_demo.engine) as s:
        job_id = s.get(RoutePlan, plan_id).job_id  # type: ignore[union-attr]
    assert job_id is not None
    run_job(admin_demo.engine, job_id)
    done = browser_client.get(f"/admin/planner/plans/{plan_id}")
    assert "客户经理拜访批次" in done.text and 'id="plan-table"' in done.text
    assert done.text.count("<tr><td>周") == 5
    missing = browser_client.post("/admin/planner/visits", headers=hx, data={"batches": "5"})
    assert "请先在筛选中选择客户经理" in missing.text

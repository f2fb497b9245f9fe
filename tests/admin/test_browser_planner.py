"""In Debian's headless Chromium, the acceptance of the planner's map: select shops on the
map and move them to another route, producing one ticket; a day plan run from the map
with its progress bar, before/after table and ticket; and a depot's quarterly re-plan with
its progress (surviving a reload), its routes before and after drawn on the map day by
day, and its one ticket. No CSP violation, no page error."""

from __future__ import annotations

import re
import threading
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.models import Customer, DeliveryRoute, RoutePlan, RoutePlanItem, Ticket, TicketChange
from tests.admin.conftest import BrowserPage, Demo
from tests.admin.planner_support import run_job, shops

LT_02_3, LT_01_3 = 153, 148  # 蓝田中转站, Wednesday: R-LT-02-3 (shops 18, 113) and R-LT-01-3
ON_SCREEN = """(points) => {
  const map = document.getElementById("planner-map").rgisMap;
  const box = map.getContainer().getBoundingClientRect();
  return points.map((p) => {
    const c = map.latLngToContainerPoint([p[1], p[0]]);
    return [c.x + box.left, c.y + box.top];
  });
}"""


def _open_planner(browser_page: BrowserPage, admin_demo: Demo, url: str) -> Any:
    """The planner as the delivery department sees it at ``url``, its tiles loaded."""
    page = browser_page.page
    page.set_viewport_size({"width": 1400, "height": 900})
    browser_page.sign_in(admin_demo.user("delivery_dept"), admin_demo.password)
    page.goto(url)
    page.wait_for_selector("#planner-map[data-tiles-state=loaded]")
    return page


def _run_in_background(demo: Demo, job_id: int) -> tuple[threading.Thread, list[Any]]:
    """The worker running the job in a thread of its own, while the page polls; the list
    gets what it raised, to be asserted in the test's thread."""
    errors: list[Any] = []

    def work() -> None:
        try:
            run_job(demo.engine, job_id)
        except Exception as exc:
            errors.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    return worker, errors


def test_select_shops_on_the_map_and_move_them_to_another_route_producing_a_ticket(
    browser_page: BrowserPage, admin_demo: Demo
) -> None:
    # given the planner on 蓝田中转站's Wednesday, its tiles loaded
    page = _open_planner(browser_page, admin_demo, "/admin/planner?depot=3&weekday=3")
    assert page.locator("#planner-legend li").count() == 4
    # when the route R-LT-02-3 is chosen in the side panel (htmx), the tiles reload
    page.select_option("select[name=route]", str(LT_02_3))
    page.wait_for_selector(
        f'#planner-map[data-tiles-state=loaded][data-tiles-query*="route={LT_02_3}"]'
    )
    assert page.locator(".leaflet-plannerShops-pane canvas").count() >= 1
    browser_page.screenshot("filtered")
    # and a rectangle is drawn around its shops with Shift + drag
    targets = [s for s in shops(admin_demo.engine) if s.route_id == LT_02_3]
    assert sorted(s.id for s in targets) == [18, 113]
    pts: list[list[float]] = page.evaluate(ON_SCREEN, [[s.lng, s.lat] for s in targets])
    x0, y0 = min(p[0] for p in pts) - 30, min(p[1] for p in pts) - 30
    x1, y1 = max(p[0] for p in pts) + 30, max(p[1] for p in pts) + 30
    page.keyboard.down("Shift")
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
    page.mouse.move(x1, y1, steps=4)
    page.mouse.up()
    page.keyboard.up("Shift")
    # then the selected shops are listed
    count = page.locator("#selected-count")
    count.wait_for()
    assert count.inner_text() == "已选中 2 家客户"
    assert page.locator(".selection-list tbody tr").count() == 2
    browser_page.screenshot("selected")
    # when a target route is chosen and the move submitted
    page.select_option("#target-route", str(LT_01_3))
    page.click("#move-submit")
    page.locator("#move-result").wait_for()
    links = page.locator("#move-result a.ticket-no")
    assert links.count() == 1
    number = int(re.search(r"#(\d+)", links.inner_text()).group(1))  # type: ignore[union-attr]
    assert page.locator("#move-figures tbody tr").count() == 2  # the two routes, before/after
    browser_page.screenshot("tickets")
    # then ONE route-plan ticket moving exactly those shops, nothing applied before approval
    with Session(admin_demo.engine) as s:
        ticket = s.get(Ticket, number)
        assert ticket is not None and (ticket.type, ticket.status) == ("route_plan", "open")
        moved = s.execute(
            select(TicketChange.customer_id, TicketChange.new_value)
            .where(TicketChange.ticket_id == number, TicketChange.field_key == "delivery_route")
            .order_by(TicketChange.customer_id)
        ).all()
        assert [tuple(m) for m in moved] == [(18, LT_01_3), (113, LT_01_3)]
        routes = s.scalars(select(Customer.delivery_route_id).where(Customer.id.in_([18, 113])))
        assert list(routes) == [LT_02_3, LT_02_3]
    # and the lasso (mode button, plain drag) selects the same shops by a freehand ring
    page.click(".planner-modes button[data-mode=lasso]")
    page.mouse.move(x0, y0)
    page.mouse.down()
    for x, y in ((x1, y0), (x1, y1), (x0, y1), (x0, y0 + 5)):
        page.mouse.move(x, y, steps=3)
    page.mouse.up()
    page.locator('#selected-count[data-count="2"]').wait_for()
    assert page.locator(".selection-list tbody tr").count() == 2
    assert browser_page.problems == []


def test_plan_a_day_from_the_map_with_a_progress_bar_and_submit_it(
    browser_page: BrowserPage, admin_demo: Demo
) -> None:
    page = _open_planner(browser_page, admin_demo, "/admin/planner?depot=2&weekday=4")
    page.fill("input[name=time_limit]", "1")
    # when the day is planned: the job is queued and the progress bar polls it
    page.click("#plan-day")
    page.locator("#plan-progress").wait_for()
    heading = page.locator("#plan-box h2").inner_text()
    plan_id = int(re.search(r"#(\d+)", heading).group(1))  # type: ignore[union-attr]
    with Session(admin_demo.engine) as s:
        job_id = s.get(RoutePlan, plan_id).job_id  # type: ignore[union-attr]
    assert job_id is not None
    browser_page.screenshot("plan-queued")
    # and the worker runs it meanwhile
    worker, errors = _run_in_background(admin_demo, job_id)
    # then, without a reload, the table of before/after per route appears
    page.locator("#plan-table").wait_for(timeout=60_000)
    worker.join(60)
    assert errors == []
    assert page.locator("#plan-progress").count() == 0
    assert page.locator("#plan-table tbody tr").count() == 10  # its 10 routes
    browser_page.screenshot("plan-ready")
    # when submitted, the ticket number is shown
    page.click("#plan-submit")
    ticket = page.locator("#plan-ticket")
    ticket.wait_for()
    number = int(re.search(r"#(\d+)", ticket.inner_text()).group(1))  # type: ignore[union-attr]
    with Session(admin_demo.engine) as s:
        row = s.get(Ticket, number)
        assert row is not None and (row.type, row.status) == ("route_plan", "open")
    browser_page.screenshot("plan-ticket")
    assert browser_page.problems == []


PLAN_LINES = """el => {
  let dashed = 0, solid = 0;
  el.rgisMap.eachLayer(l => {
    if (l instanceof L.Polyline && l.options.pane === "plannerPlan") {
      if (l.options.dashArray) { dashed += 1; } else { solid += 1; }
    }
  });
  return [dashed, solid];
}"""


QUEUE_LINES = """el => {
  let dashed = 0, solid = 0;
  el.rgisMap.eachLayer(l => {
    if (l instanceof L.Polyline && !(l instanceof L.Polygon) && !l.feature) {
      if (l.options.dashArray) { dashed += 1; } else { solid += 1; }
    }
  });
  return [dashed, solid];
}"""
QUEUE_LINES_DRAWN = f"""n => {{
  const el = document.querySelector("#route-day .route-map");
  return !!(el && el.rgisMap) && ({QUEUE_LINES})(el).reduce((a, b) => a + b) === n;
}}"""


def _moved_routes_of_day(demo: Demo, plan_id: int, weekday: int) -> set[int]:
    with Session(demo.engine) as s:
        rows = s.execute(
            select(RoutePlanItem.old_route_id, RoutePlanItem.new_route_id)
            .where(RoutePlanItem.plan_id == plan_id)
        ).all()  # fmt: skip
        day = dict(s.execute(select(DeliveryRoute.id, DeliveryRoute.weekday)).all())
    return {r for pair in rows for r in pair if r is not None and day[r] == weekday}


def test_a_quarterly_replan_with_progress_drawn_on_the_map_and_submitted(
    browser_page: BrowserPage, admin_demo: Demo
) -> None:
    # given the planner on 蓝田中转站 (all its days): the quarterly form is open
    page = _open_planner(browser_page, admin_demo, "/admin/planner?depot=3")
    assert page.locator("#quarterly-form input[name=days]:checked").count() == 5
    page.fill("#quarterly-form input[name=time_limit]", "1")
    # when the week is re-planned: the job is queued, the box says how long, the address
    # names the plan
    page.click("#plan-quarter")
    page.locator("#plan-progress").wait_for()
    assert "预计需计算约" in page.locator("#plan-expect").inner_text()
    plan_id = int(re.search(r"#(\d+)", page.locator("#plan-box h2").inner_text()).group(1))  # type: ignore[union-attr]
    page.wait_for_url(f"**/admin/planner?depot=3&plan={plan_id}")
    # and a reload resumes the progress bar
    page.reload()
    page.locator("#plan-progress").wait_for()
    with Session(admin_demo.engine) as s:
        job_id = s.get(RoutePlan, plan_id).job_id  # type: ignore[union-attr]
    assert job_id is not None
    worker, errors = _run_in_background(admin_demo, job_id)
    # then the bar moves on with the day being planned
    page.locator("#plan-message", has_text="规划周").wait_for(timeout=60_000)
    browser_page.screenshot("quarterly-running")
    # and, without a reload, the week's figures and the routes on the map appear
    page.locator("#quarter-days").wait_for(timeout=60_000)
    worker.join(60)
    assert errors == []
    assert page.locator("#plan-progress").count() == 0
    assert page.locator("#quarter-days tbody tr").count() == 5
    assert page.locator("#quarter-total").count() == 1
    monday = _moved_routes_of_day(admin_demo, plan_id, 1)
    assert monday
    page.wait_for_selector(f'#planner-map[data-plan-lines="{2 * len(monday)}"]')
    assert page.eval_on_selector("#planner-map", PLAN_LINES) == [len(monday), len(monday)]
    page.click("#plan-day-1 summary")
    browser_page.screenshot("quarterly-ready")
    # when Wednesday is chosen, its routes are drawn instead
    wednesday = _moved_routes_of_day(admin_demo, plan_id, 3)
    page.select_option("#plan-map-day", "3")
    page.wait_for_selector(f'#plan-lines[data-plan-key="{plan_id}-3"]')
    page.wait_for_selector(f'#planner-map[data-plan-lines="{2 * len(wednesday)}"]')
    assert page.eval_on_selector("#planner-map", PLAN_LINES) == [len(wednesday), len(wednesday)]
    browser_page.screenshot("quarterly-wednesday")
    # when submitted: ONE route-plan ticket
    page.fill("#plan-box input[name=reason]", "季度调整")
    page.click("#plan-submit")
    ticket = page.locator("#plan-ticket")
    ticket.wait_for()
    number = int(re.search(r"#(\d+)", ticket.inner_text()).group(1))  # type: ignore[union-attr]
    # and the map still shows the day chosen
    assert page.locator(f'#plan-lines[data-plan-key="{plan_id}-3"]').count() == 1
    assert page.eval_on_selector("#planner-map", PLAN_LINES) == [len(wednesday), len(wednesday)]
    with Session(admin_demo.engine) as s:
        row = s.get(Ticket, number)
        assert row is not None and (row.type, row.status, row.reason) == (
            "route_plan",
            "open",
            "季度调整",
        )
        assert (
            s.scalar(
                select(func.count()).select_from(RoutePlan).where(RoutePlan.ticket_id == number)
            )
            == 1
        )
    browser_page.screenshot("quarterly-ticket")
    # and on the ticket's page in the approval queue, Monday's routes are drawn, then
    # Wednesday's when chosen (the map is built again for the swapped part)
    page.goto(f"/admin/queue/{number}")
    page.wait_for_function(QUEUE_LINES_DRAWN, arg=2 * len(monday))
    assert page.eval_on_selector("#route-day .route-map", QUEUE_LINES) == [len(monday)] * 2
    page.select_option("#route-day-select", "3")
    page.wait_for_selector('#route-day-select option[value="3"][selected]', state="attached")
    page.wait_for_function(QUEUE_LINES_DRAWN, arg=2 * len(wednesday))
    assert page.eval_on_selector("#route-day .route-map", QUEUE_LINES) == [len(wednesday)] * 2
    browser_page.screenshot("quarterly-ticket-in-queue")
    assert browser_page.problems == []
